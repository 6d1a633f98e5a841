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
    python benchmarks/bench_mnist.py --steady              # steady state: 10 epochs per engine
    python benchmarks/bench_mnist.py --steady --runs 3     # three in a row, then every target run by run
    python benchmarks/bench_mnist.py --steady --quick      # smoke run (seconds)

``--steady`` is the measurement of training as it goes on, not of fresh epochs: gradengine and
PyTorch (``Adam(fused=True)``) each train one model for ``--epochs`` epochs, every epoch timed,
and the optimizer step timed inside the loop. The engines, the matmul-only floor and the bare
batch gather take turns in chunks of 12,000 images (five per epoch), so the two epochs of a row
ran at the same time, in turns a fraction of a second long. Per batch size it prints every
epoch, the medians of epochs 2..N and the median of the per-epoch ratios gradengine/torch (a
disturbance of a shared machine hits both epochs of a row alike, so the paired ratio cancels
most of it), epoch N / epoch 2 for each engine (a slowdown as training goes on shows here), the
NumPy matmul-only time of the same shapes (the eight matmuls of one forward+backward per batch:
the floor for an engine built on NumPy's BLAS) with gradengine's ratio to it, the time of a bare
pass of the ``DataLoader`` (gathering the batches, which both engines do), the sum of the
matmul-only time, the gather and gradengine's Adam steps (what no engine that gathers its
batches and steps Adam that fast can go below), the float32 subnormals in Adam's ``exp_avg``,
and a line checking issue 12's targets. ``--runs N`` repeats all of it and ends with every
target's figure run by run and how many runs met it (the README quotes that summary).

Also printed (fresh-epoch mode): the forward+backward time without the optimizer step (the
engine alone; the optimizers differ: the NumPy baseline's Adam allocates temporaries, PyTorch
uses its default), the last-batch losses (the engines compute the same
thing, so they should be close), and the peak RSS after every epoch (flat: no leak).
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _args import positive_int, positive_int_list, run  # noqa: E402  (no NumPy: before the thread settings)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=positive_int_list, default="32,128,512", help="comma-separated batch sizes")
    p.add_argument("--rounds", type=positive_int, default=5, help="timed epochs per engine and batch size")
    p.add_argument("--threads", type=positive_int, default=2, help="threads for PyTorch and NumPy's BLAS")
    p.add_argument("--data-dir", default=os.environ.get("GRADENGINE_DATA") or str(REPO.parent / "shared" / "data" / "mnist"),
                   help="MNIST directory (default: $GRADENGINE_DATA, else ../shared/data/mnist from the repo)")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engines", default="gradengine,torch,numpy", help="comma-separated subset to run")
    p.add_argument("--full", action="store_true", help="also train gradengine for --epochs epochs and report test accuracy")
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs of the --steady run and of the --full accuracy run")
    p.add_argument("--steady", action="store_true", help="steady-state mode: both engines train --epochs epochs, interleaved")
    p.add_argument("--runs", type=positive_int, default=1, help="--steady: repeat the whole measurement N times, then summarise")
    p.add_argument("--quick", action="store_true", help="smoke run: 1000 images, 2 rounds, 3 epochs, batch 32 and 128")
    args = p.parse_args(argv)
    if args.runs > 1 and not args.steady:
        p.error("--runs repeats the --steady measurement; add --steady (fresh epochs take --rounds)")
    if args.quick:
        args.limit = min(args.limit or 1000, 1000)
        args.rounds, args.epochs = min(args.rounds, 2), min(args.epochs, 3)
        if args.batch_sizes == p.get_default("batch_sizes"):
            args.batch_sizes = "32,128"
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, str(ARGS.threads))

import numpy as np  # noqa: E402  (after the thread settings)

import gradengine.functional as F  # noqa: E402
from gradengine import cli, optim  # noqa: E402
from gradengine.data import DataLoader, load_mnist  # noqa: E402

from _machine import print_machine_header  # noqa: E402

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
def setup_gradengine(init: dict[str, np.ndarray], step_times: list | None = None, **adam_kw):
    """``step_times``: if given, the seconds of every ``opt.step()`` are appended to it.
    The optimizer is returned as ``epoch.optimizer``."""
    model = cli.mlp()
    model.load_state_dict(init)
    opt = optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS, **adam_kw)
    clock = time.perf_counter

    def epoch(loader) -> float:
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            if step_times is None:
                opt.step()
            else:
                t0 = clock()
                opt.step()
                step_times.append(clock() - t0)
        return float(loss.data)

    epoch.optimizer = opt

    def fwd_bwd(xb, yb) -> None:
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()

    return epoch, fwd_bwd


def setup_torch(init: dict[str, np.ndarray], step_times: list | None = None, **adam_kw):
    """As :func:`setup_gradengine`; ``adam_kw`` e.g. ``fused=True``."""
    import torch

    tnn = torch.nn
    model = tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 128), tnn.ReLU(), tnn.Linear(128, 64), tnn.ReLU(),
                           tnn.Linear(64, 10))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS, **adam_kw)
    cross_entropy = tnn.functional.cross_entropy
    clock = time.perf_counter

    def epoch(loader) -> float:
        for xb, yb in loader:
            opt.zero_grad()
            loss = cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
            loss.backward()
            if step_times is None:
                opt.step()
            else:
                t0 = clock()
                opt.step()
                step_times.append(clock() - t0)
        return loss.item()

    epoch.optimizer = opt

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


# Seconds of idle time before each timed epoch: the BLAS and OpenMP worker threads of the engine
# that ran last spin for a while after their work (OpenBLAS: about 0.1 s); on a 2-core machine
# they would steal the cores of the next engine's threads, and torch's epoch took up to 10x as long.
IDLE = 0.5


def subnormals(arrays) -> int:
    """How many entries of the float32 arrays are subnormal (nonzero, below 2**-126)."""
    tiny = np.finfo(np.float32).tiny
    return sum(int(np.count_nonzero((a != 0) & (np.abs(a) < tiny))) for a in arrays)


def current_rss_mb() -> float:
    """Resident memory now (Linux; else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def matmul_only(batch_size: int, rng: np.random.Generator):
    """``run(steps)``: the eight matmuls of one forward+backward of the reference MLP, ``steps``
    times, in NumPy float32 on fixed arrays: the floor for an engine built on NumPy's BLAS."""
    b = batch_size
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    x, w1, w2, w3 = f32(b, 784), f32(128, 784), f32(64, 128), f32(10, 64)
    a1, a2, dz, d2, d1 = f32(b, 128), f32(b, 64), f32(b, 10), f32(b, 64), f32(b, 128)

    def run(steps: int) -> None:
        for _ in range(steps):
            x @ w1.T, a1 @ w2.T, a2 @ w3.T  # forward
            dz @ w3, d2 @ w2, d1.T @ x, d2.T @ a1, dz.T @ a2  # backward: inputs, then weights

    return run


# The steady-state run interleaves the engines, the floor and the gather in chunks of this many
# images (375 steps at batch 32, 23 at 512), not whole epochs: on a shared machine a slow stretch
# lasts seconds, and chunks a fraction of a second apart see the same machine. Each chunk starts
# after CHUNK_IDLE seconds of rest, longer than OpenBLAS's worker threads spin after a call
# (2**28 cycles, about 0.1 s), so no engine runs beside the other's spinning threads.
CHUNK_IMAGES, CHUNK_IDLE = 12000, 0.2

# Issue 12's targets, checked at the end of each batch size's table: gradengine / torch (median
# of per-epoch ratios), gradengine / the matmul-only floor, Adam step / torch fused, and (batch
# 32) epoch N / epoch 2.
TORCH_TARGET, FLOOR_TARGET = {32: 0.7, 128: 0.85, 512: 0.85}, {128: 1.5, 512: 1.15}
ADAM_TARGET, SLOWDOWN_TARGET = 1.5, 1.1


def steady_state(init, x, y, batch_size: int, epochs: int, seed: int) -> dict[str, tuple]:
    """Both engines train one model each for ``epochs`` epochs, interleaved; print the table.
    Returns ``{figure: (value, target or None)}``: the targets line, and the floors' bound.

    Every epoch of each engine is timed as the sum of its chunks (``CHUNK_IMAGES``); the chunks
    of gradengine, torch, the matmul-only floor and a bare pass of the ``DataLoader`` (the batch
    gather, which both engines do) take turns, who goes first rotating."""
    steps = {"gradengine": [], "torch": []}
    runs = {"gradengine": setup_gradengine(init, steps["gradengine"])[0],
            "torch": setup_torch(init, steps["torch"], fused=True)[0]}
    rows, floor = [], matmul_only(batch_size, np.random.default_rng(seed))
    n_steps, chunk = -(-len(x) // batch_size), max(1, CHUNK_IMAGES // batch_size)
    for e in range(epochs):
        row = {"gradengine": 0.0, "torch": 0.0, "matmul": 0.0, "gather": 0.0}
        loaders = {name: iter(batches(x, y, batch_size, seed + e)) for name in [*runs, "gather"]}
        for name in steps:
            steps[name].clear()
        for c, start in enumerate(range(0, n_steps, chunk)):
            k = min(chunk, n_steps - start)
            order = ["gradengine", "torch", "matmul", "gather"]
            for name in order[c % 4:] + order[:c % 4]:
                time.sleep(CHUNK_IDLE)
                t0 = time.perf_counter()
                if name == "matmul":
                    floor(k)
                elif name == "gather":
                    for _ in itertools.islice(loaders[name], k):
                        pass
                else:
                    runs[name](itertools.islice(loaders[name], k))
                row[name] += time.perf_counter() - t0
        for name in steps:
            row[name + " step"] = statistics.median(steps[name]) * 1e6
        # What no engine that gathers its batches and takes this Adam step can go below.
        row["bound"] = row["matmul"] + row["gather"] + sum(steps["gradengine"])
        row["rss"] = current_rss_mb()
        ge_opt, t_opt = runs["gradengine"].optimizer, runs["torch"].optimizer
        row["sub ge"] = subnormals(st["exp_avg"] for st in ge_opt.state.values())
        row["sub torch"] = subnormals(st["exp_avg"].numpy() for st in t_opt.state.values())
        rows.append(row)
        print(f"{e + 1:>5}  {row['gradengine']:>10.3f}  {row['torch']:>8.3f}  {row['gradengine'] / row['torch']:>8.3f}"
              f"  {row['gradengine step']:>9.1f}  {row['torch step']:>9.1f}  {row['matmul']:>8.3f}"
              f"  {row['gather']:>8.3f}"
              f"  {row['sub ge']:>8}  {row['sub torch']:>9}  {row['rss']:>6.0f}", flush=True)
    later = rows[1:] or rows
    med = {k: statistics.median(r[k] for r in later)
           for k in ("gradengine", "torch", "matmul", "gather", "bound", "gradengine step", "torch step")}
    # Ratios are medians of per-epoch ratios: the engines' chunks of one row ran in turns, so a
    # disturbance of the shared machine hits them alike, and the paired ratio cancels most of it.
    paired = lambda a, b: statistics.median(r[a] / r[b] for r in later)  # noqa: E731
    print(f"  median of epochs 2-{epochs}: gradengine {med['gradengine']:.3f} s, torch {med['torch']:.3f} s, "
          f"matmul-only {med['matmul']:.3f} s; median per-epoch ratios: gradengine/torch "
          f"{paired('gradengine', 'torch'):.3f}, gradengine/matmul-only {paired('gradengine', 'matmul'):.3f}")
    print(f"  Adam step inside training (median us, epochs 2-{epochs}): gradengine {med['gradengine step']:.1f}, "
          f"torch fused {med['torch step']:.1f}, median per-epoch ratio {paired('gradengine step', 'torch step'):.3f}")
    print(f"  matmul-only + batch gather ({med['gather']:.3f} s) + gradengine's Adam steps: {med['bound']:.3f} s, "
          f"{paired('bound', 'matmul'):.3f}x the matmul-only time before any other op (no engine that gathers its "
          f"batches and steps Adam this fast goes below it); gradengine / that: {paired('gradengine', 'bound'):.3f}")
    if epochs >= 2:
        first, last = rows[1], rows[-1]
        print(f"  epoch {epochs} / epoch 2: gradengine {last['gradengine'] / first['gradengine']:.3f}, "
              f"torch {last['torch'] / first['torch']:.3f}; each against the matmul-only time of its epoch "
              f"(a disturbance of the machine cancels): gradengine "
              f"{(last['gradengine'] / last['matmul']) / (first['gradengine'] / first['matmul']):.3f}, "
              f"torch {(last['torch'] / last['matmul']) / (first['torch'] / first['matmul']):.3f}")
    checks = [("gradengine/torch", paired("gradengine", "torch"), TORCH_TARGET.get(batch_size)),
              ("gradengine/matmul-only", paired("gradengine", "matmul"), FLOOR_TARGET.get(batch_size)),
              ("Adam step/torch fused", paired("gradengine step", "torch step"), ADAM_TARGET)]
    if epochs >= 2 and batch_size == 32:
        checks.append((f"epoch {epochs}/epoch 2", rows[-1]["gradengine"] / rows[1]["gradengine"], SLOWDOWN_TARGET))
    print("  targets (issue 12): " + "; ".join(f"{name} {value:.3f} <= {target} {'met' if value <= target else 'MISSED'}"
                                               for name, value, target in checks if target is not None))
    print(flush=True)
    results = {name: (value, target) for name, value, target in checks}
    results["bound/matmul-only"] = (paired("bound", "matmul"), None)
    return results


def print_summary(runs: list[dict[int, dict[str, tuple]]]) -> None:
    """Every figure of every run, one line per batch size and figure, and how often its target held."""
    print(f"summary of {len(runs)} run(s): each figure as the targets line printed it, run by run")
    for bs in runs[0]:
        for name, (_, target) in runs[0][bs].items():
            values = [run[bs][name][0] for run in runs]
            line = f"  batch {bs:>3}  {name:<24} " + " ".join(f"{v:6.3f}" for v in values)
            if target is not None:
                met = sum(v <= target for v in values)
                line += f"   target <= {target}: met in {met} of {len(values)}"
            print(line)
    print(flush=True)


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
    print_machine_header()
    if args.steady:
        print(f"steady state: MNIST {len(x)} training images, float32; model 784-128-64-10, Adam lr {LR}; "
              f"{args.epochs} epochs per engine, interleaved; torch Adam(fused=True), {args.threads} threads")
        print("targets (issue 12): batch 32 median <= 0.7x torch, epoch 10 <= 1.1x epoch 2; batch 128/512 <= 0.85x "
              "torch; vs matmul-only <= 1.5x (128), <= 1.15x (512); Adam step in training <= 1.5x torch fused\n")
        runs = []
        for r in range(args.runs):
            if args.runs > 1:
                print(f"run {r + 1} of {args.runs}")
            results = {}
            for bs in [int(b) for b in args.batch_sizes.split(",")]:
                print(f"batch {bs}: seconds per epoch; Adam step median us; subnormals in exp_avg (of 109,386); RSS MB")
                print(f"{'epoch':>5}  {'gradengine':>10}  {'torch':>8}  {'ge/torch':>8}  {'ge step':>9}  {'torch step':>9}"
                      f"  {'matmul':>8}  {'gather':>8}  {'sub ge':>8}  {'sub torch':>9}  {'rss':>6}")
                results[bs] = steady_state(init, x, y, bs, args.epochs, args.seed)
            runs.append(results)
        print_summary(runs)
        print(f"peak RSS of the whole run: {peak_rss_mb():.0f} MB")
        return 0
    print(f"MNIST {len(x)} training images, float32; model 784-128-64-10, Adam lr {LR}; "
          f"{args.rounds} interleaved rounds; threads: torch {args.threads}\n")

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
        us = bench_fwd_bwd(engines, init, x, y, bs, **({"steps": 20, "repeats": 2} if args.quick else {}))
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
    sys.exit(run(main, ARGS))
