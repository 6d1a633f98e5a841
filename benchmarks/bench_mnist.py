#!/usr/bin/env python
"""MNIST epoch time: gradengine vs PyTorch vs hand-written NumPy, side by side in one process.

The model is the reference MLP ``Flatten, Linear(784, 128), ReLU, Linear(128, 64), ReLU,
Linear(64, 10)`` with cross-entropy and Adam (lr 1e-3), float32. All three engines start every
timed epoch from the same initial weights and see the same shuffled batches of the same
in-memory float32 data. Rounds are interleaved (gradengine, torch, numpy, gradengine, ...),
so a machine that gets busier or quieter affects all three alike; the table shows the median.

Threads: PyTorch gets ``torch.set_num_threads(--threads)``; NumPy's BLAS gets the same number
through ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OMP_NUM_THREADS`` (set before NumPy
is imported, unless already set in the environment).

::

    python benchmarks/bench_mnist.py                       # batch sizes 32,128,512, 5 rounds
    python benchmarks/bench_mnist.py --limit 6000 --rounds 3  # quick
    python benchmarks/bench_mnist.py --full                # also: 10 epochs, test accuracy

Also printed: the forward+backward time without the optimizer step (the engine alone; the
optimizers differ: gradengine's Adam updates one flat buffer, the NumPy baseline updates each
parameter, PyTorch uses its default), the last-batch losses (the engines compute the same
thing, so they should be close), and the peak RSS after every epoch (flat: no leak).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", default="32,128,512", help="comma-separated batch sizes")
    p.add_argument("--rounds", type=int, default=5, help="timed epochs per engine and batch size")
    p.add_argument("--threads", type=int, default=2, help="threads for PyTorch and NumPy's BLAS")
    p.add_argument("--data-dir", default=os.environ.get("GRADENGINE_DATA") or str(REPO.parent / "shared" / "data" / "mnist"),
                   help="MNIST directory (default: $GRADENGINE_DATA, else ../shared/data/mnist from the repo)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engines", default="gradengine,torch,numpy", help="comma-separated subset to run")
    p.add_argument("--full", action="store_true", help="also train gradengine for --epochs epochs and report test accuracy")
    p.add_argument("--epochs", type=int, default=10, help="epochs of the --full accuracy run")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, str(ARGS.threads))

import numpy as np  # noqa: E402  (after the thread settings)

import gradengine.functional as F  # noqa: E402
from gradengine import cli, optim  # noqa: E402
from gradengine.data import DataLoader, load_mnist  # noqa: E402

SIZES = [(784, 128), (128, 64), (64, 10)]
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def initial_weights(seed: int) -> dict[str, np.ndarray]:
    """PyTorch-style init (from gradengine's Linear), keyed like the torch state dict."""
    return cli.mlp(seed=seed).state_dict()


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> DataLoader:
    return DataLoader(x, y, batch_size=batch_size, shuffle=True, seed=seed)


# ---------------------------------------------------------------------------------------------
# The three engines. Each ``setup_*`` builds a fresh model + optimizer from the initial
# weights (not timed) and returns ``epoch(loader) -> last loss`` and ``fwd_bwd(xb, yb)``.
# ---------------------------------------------------------------------------------------------
def setup_gradengine(init: dict[str, np.ndarray]):
    model = cli.mlp()
    model.load_state_dict(init)
    opt = optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)

    def epoch(loader) -> float:
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        return float(loss.data)

    def fwd_bwd(xb, yb) -> None:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()

    return epoch, fwd_bwd


def setup_torch(init: dict[str, np.ndarray]):
    import torch

    tnn = torch.nn
    model = tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 128), tnn.ReLU(), tnn.Linear(128, 64), tnn.ReLU(),
                           tnn.Linear(64, 10))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
    cross_entropy = tnn.functional.cross_entropy

    def epoch(loader) -> float:
        for xb, yb in loader:
            opt.zero_grad()
            loss = cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
            loss.backward()
            opt.step()
        return loss.item()

    def fwd_bwd(xb, yb) -> None:
        opt.zero_grad()
        cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()

    return epoch, fwd_bwd


def setup_numpy(init: dict[str, np.ndarray]):
    """The network written out by hand: forward, backward and Adam (torch's formula)."""
    names = ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
    params = [init[k].copy() for k in names]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2 = BETAS
    t = 0

    def forward_backward(xb, yb):
        w1, b1, w2, b2, w3, b3 = params
        n = len(xb)
        x = xb.reshape(n, -1)
        h1 = x @ w1.T
        h1 += b1
        mask1 = h1 > 0
        a1 = h1 * mask1
        h2 = a1 @ w2.T
        h2 += b2
        mask2 = h2 > 0
        a2 = h2 * mask2
        z = a2 @ w3.T
        z += b3
        shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float(np.mean(np.log(s[:, 0]) - shifted[rows, yb]))
        dz = e / s  # d loss / d z = (softmax - onehot) / n
        dz[rows, yb] -= 1
        dz /= n
        d2 = (dz @ w3) * mask2
        d1 = (d2 @ w2) * mask1
        grads = [d1.T @ x, d1.sum(axis=0), d2.T @ a1, d2.sum(axis=0), dz.T @ a2, dz.sum(axis=0)]
        return loss, grads

    def adam(grads) -> None:
        nonlocal t
        t += 1
        step_size = LR / (1 - beta1**t)
        bc2_sqrt = (1 - beta2**t) ** 0.5
        for p, g, m_, v_ in zip(params, grads, m, v):
            m_ *= beta1
            m_ += (1 - beta1) * g
            v_ *= beta2
            v_ += (1 - beta2) * (g * g)
            denom = np.sqrt(v_)
            denom /= bc2_sqrt
            denom += EPS
            p -= step_size * (m_ / denom)

    def epoch(loader) -> float:
        for xb, yb in loader:
            loss, grads = forward_backward(xb, yb)
            adam(grads)
        return loss

    def fwd_bwd(xb, yb) -> None:
        forward_backward(xb, yb)

    return epoch, fwd_bwd


SETUPS = {"gradengine": setup_gradengine, "torch": setup_torch, "numpy": setup_numpy}


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)


def bench_batch_size(engines, init, x, y, batch_size, rounds, seed):
    """Interleaved rounds; returns {engine: [seconds per round]}, losses, RSS after each epoch."""
    times = {e: [] for e in engines}
    losses, rss = {}, []
    for r in range(rounds):
        for name in engines:
            epoch, _ = SETUPS[name](init)
            loader = batches(x, y, batch_size, seed + r)
            t0 = time.perf_counter()
            losses[name] = epoch(loader)
            times[name].append(time.perf_counter() - t0)
            rss.append(peak_rss_mb())
    return times, losses, rss


def bench_fwd_bwd(engines, init, x, y, batch_size, steps=300, repeats=5):
    """Median microseconds per forward+backward (no optimizer step), interleaved."""
    xb, yb = np.ascontiguousarray(x[:batch_size]), np.ascontiguousarray(y[:batch_size])
    fns = {name: SETUPS[name](init)[1] for name in engines}
    out = {name: [] for name in engines}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn(xb, yb)
            out[name].append((time.perf_counter() - t0) / steps * 1e6)
    return {name: statistics.median(v) for name, v in out.items()}


def main(args: argparse.Namespace) -> int:
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(SETUPS)
    if unknown:
        raise SystemExit(f"unknown engine(s) {sorted(unknown)}; choose from {list(SETUPS)}")
    if "torch" in engines:
        import torch

        torch.set_num_threads(args.threads)
    (x_tr, y_tr), (x_te, y_te) = load_mnist(args.data_dir, download=False, verbose=False)
    x_all = cli.to_float(x_tr)  # converted once; --limit takes a view, --full reuses it
    x, y = (x_all[:args.limit], y_tr[:args.limit]) if args.limit else (x_all, y_tr)
    init = initial_weights(args.seed)
    blas = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
    print(f"MNIST {len(x)} training images, float32; model 784-128-64-10, Adam lr {LR}; "
          f"{args.rounds} interleaved rounds; threads: torch {args.threads}, BLAS env {blas}")
    versions = f"numpy {np.__version__}"
    if "torch" in engines:
        versions += f", torch {torch.__version__}"
    print(f"python {sys.version.split()[0]}, {versions}, {os.cpu_count()} CPUs\n")

    header = f"{'batch':>5}  " + "  ".join(f"{e:>10}" for e in engines)
    if "gradengine" in engines:
        header += "".join(f"  {'ge/' + e:>10}" for e in engines if e != "gradengine")
    print("median seconds per epoch")
    print(header)
    details = []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        times, losses, rss = bench_batch_size(engines, init, x, y, bs, args.rounds, args.seed)
        med = {e: statistics.median(t) for e, t in times.items()}
        row = f"{bs:>5}  " + "  ".join(f"{med[e]:>10.3f}" for e in engines)
        if "gradengine" in engines:
            row += "".join(f"  {med['gradengine'] / med[e]:>10.3f}" for e in engines if e != "gradengine")
        print(row, flush=True)
        details.append((bs, times, losses, rss))

    print("\nper-round seconds, last-batch loss, peak RSS (MB) after each epoch")
    for bs, times, losses, rss in details:
        for e in engines:
            print(f"  batch {bs:>4} {e:>10}: " + " ".join(f"{t:.3f}" for t in times[e]) + f"   loss {losses[e]:.4f}")
        print(f"  batch {bs:>4} peak RSS: " + " ".join(f"{m:.0f}" for m in rss))

    print("\nforward+backward only (no optimizer), median microseconds per step")
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        us = bench_fwd_bwd(engines, init, x, y, bs)
        line = "  ".join(f"{e} {us[e]:7.1f}" for e in engines)
        if "gradengine" in engines and "numpy" in engines:
            line += f"   ge/numpy {us['gradengine'] / us['numpy']:.3f}"
        print(f"  batch {bs:>4}: {line}", flush=True)

    if args.full:
        print(f"\n--full: gradengine, {args.epochs} epochs, batch 32, seed {args.seed}, full training set")
        data = ((x_all, y_tr), (cli.to_float(x_te), y_te))

        def report(result):
            h = result["history"]
            print(f"  epoch {result['epoch']:>2}  train loss {h['train_loss'][-1]:.4f}  "
                  f"test acc {h['test_acc'][-1]:.4f}  {h['seconds'][-1]:.2f}s  peak RSS {peak_rss_mb():.0f} MB", flush=True)

        result = cli.train_mnist(data, epochs=args.epochs, seed=args.seed, on_epoch=report)
        print(f"  test accuracy after {args.epochs} epochs: {result['history']['test_acc'][-1]:.4f}")
    print(f"\npeak RSS of the whole run: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
