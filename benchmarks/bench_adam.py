"""Per-step time of Adam on the MNIST MLP's parameters (784-128-64-10, float32, 109,386 floats).

Three measurements, after the machine header:

1. **In training** (the one that matters): every engine trains the reference model on MNIST at
   batch 32; after ``--warmup`` epochs (warm state: moving averages with the zeros and tiny
   values of real training), every ``opt.step()`` of the next ``--epochs`` epochs is timed
   inside the loop, where the forward and backward passes have just pushed the optimizer's
   state out of the caches. Epochs are interleaved between the engines. Engines:
   gradengine's ``Adam`` (default: the fused one-pass implementation), gradengine's
   ``Adam(fast=False)`` (the formulas as written), ``torch.optim.Adam(fused=True)`` and torch's
   default (foreach).
2. **Isolated**: the step alone, repeated on fixed gradients (state and parameters hot in cache),
   best of 7 x 500 steps: a naive per-parameter NumPy Adam, gradengine's optimizers, torch's.
3. **After one or two BLAS threads**: gradengine's step right after a forward + backward at
   batch 32 whose products ran on one BLAS thread or on ``--threads``, the two alternating on one
   model (the step itself makes no BLAS call). A step after two-thread products is slower. Our
   reading: the other core has just read part of each weight matrix, and every write of the
   step to those cache lines waits for that core to drop its copy. The section ends with the
   test of that reading: the first layer's weights, right after only its forward product, each
   half of the rows updated alone by the same ``adam()`` call. After a one-thread product both
   halves take the same time; after a two-thread one, the half the other thread read is the
   slow one. So a second BLAS thread speeds up the products but slows the optimizer down.

::

    python benchmarks/bench_adam.py            # about a minute
    python benchmarks/bench_adam.py --quick    # smoke run: seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import print_machine_header  # noqa: E402
from _args import nonnegative_int, positive_int, run  # noqa: E402
from bench_mnist import IDLE, REPO, batches, initial_weights, setup_gradengine, setup_torch, subnormals  # noqa: E402

from gradengine import cli, optim  # noqa: E402
from gradengine import functional as F  # noqa: E402
from gradengine.data import load_mnist  # noqa: E402
from gradengine.tensor import Tensor  # noqa: E402

SHAPES = [(128, 784), (128,), (64, 128), (64,), (10, 64), (10,)]
TARGET = 1.5  # issue 12: Adam step in training <= 1.5x torch.optim.Adam(fused=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("GRADENGINE_DATA") or str(REPO.parent / "shared" / "data" / "mnist"),
                   help="MNIST directory (default: $GRADENGINE_DATA, else ../shared/data/mnist from the repo)")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N training images")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--warmup", type=nonnegative_int, default=2, help="untimed epochs before the timed ones")
    p.add_argument("--epochs", type=positive_int, default=5, help="epochs whose steps are timed (the median of 5 survives two disturbed epochs: on a shared machine a stretch of seconds can run the step at a third of its speed)")
    p.add_argument("--threads", type=positive_int, default=2, help="torch threads")
    p.add_argument("--quick", action="store_true", help="smoke run: 1000 images, 1 + 1 epochs, short isolated timing")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.warmup, args.epochs = min(args.limit or 1000, 1000), min(args.warmup, 1), 1
    return args


def in_training(args: argparse.Namespace) -> None:
    (x_tr, y_tr), _ = load_mnist(args.data_dir, download=False, verbose=False)
    x, y = cli.to_float(x_tr[:args.limit]), y_tr[:args.limit]
    init = initial_weights(0)
    steps: dict[str, list] = {}
    runs = {}
    for name, setup, kw in [("gradengine Adam", setup_gradengine, {}),
                            ("gradengine Adam(fast=False)", setup_gradengine, {"fast": False}),
                            ("torch Adam(fused=True)", setup_torch, {"fused": True}),
                            ("torch Adam (default: foreach)", setup_torch, {})]:
        steps[name] = []
        runs[name] = setup(init, steps[name], **kw)[0]
    print(f"in training: MNIST {len(x)} images, batch {args.batch_size}, {args.warmup} warm-up epoch(s), then "
          f"{args.epochs} timed; median microseconds per opt.step(), engines interleaved per epoch")
    medians: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for e in range(args.warmup + args.epochs):
        for name in names[e % len(names):] + names[:e % len(names)]:
            steps[name].clear()
            time.sleep(IDLE)  # let the other engine's worker threads go idle (see bench_mnist.IDLE)
            runs[name](batches(x, y, args.batch_size, e))
            if e >= args.warmup:
                medians[name].append(statistics.median(steps[name]) * 1e6)
    fused = statistics.median(medians["torch Adam(fused=True)"])
    for name in names:
        us = statistics.median(medians[name])
        opt = runs[name].optimizer
        arrays = ([st["exp_avg"] for st in opt.state.values()] if name.startswith("gradengine")
                  else [st["exp_avg"].numpy() for st in opt.state.values()])
        print(f"  {name:32s} {us:7.1f} us/step   / torch fused {us / fused:5.3f}   "
              f"per epoch: {' '.join(f'{m:.1f}' for m in medians[name])}   subnormals in exp_avg: {subnormals(arrays)}")
    ratio = statistics.median(medians["gradengine Adam"]) / fused
    print(f"  target: gradengine Adam <= {TARGET}x torch fused: {ratio:.3f} {'ok' if ratio <= TARGET else 'MISSED'}\n")


class NaiveAdam:
    """The obvious per-parameter NumPy Adam (temporaries everywhere)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.b1, self.b2), self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p.data) for p in params]
        self.v = [np.zeros_like(p.data) for p in params]

    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g * g
            m_hat = m / (1 - self.b1 ** self.t)
            v_hat = v / (1 - self.b2 ** self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def isolated(args: argparse.Namespace) -> None:
    import torch

    number, repeat = (50, 3) if args.quick else (500, 7)
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in SHAPES]

    def best(fn, n=number):
        fn()
        return min(timeit.repeat(fn, number=n, repeat=repeat)) / n * 1e6

    def params():
        ps = [Tensor(a, requires_grad=True) for a in init]
        for p, g in zip(ps, grads):
            p.grad = g.copy()
        return ps

    print(f"isolated: the step alone on fixed gradients, state hot in cache; best of {repeat} x {number} steps")
    results = {
        "naive per-parameter NumPy Adam": best(NaiveAdam(params()).step),
        "gradengine Adam (fused, one pass)": best(optim.Adam(params(), lr=1e-3).step),
        "gradengine Adam(fast=False) (the formulas)": best(optim.Adam(params(), lr=1e-3, fast=False).step),
        "gradengine AdamW": best(optim.AdamW(params(), lr=1e-3).step),
        "gradengine SGD(momentum=0.9)": best(optim.SGD(params(), lr=1e-2, momentum=0.9).step),
    }
    torch.set_num_threads(args.threads)
    for kw in (dict(foreach=True), dict(foreach=False), dict(fused=True)):
        tp = [torch.tensor(a, requires_grad=True) for a in init]
        for p, g in zip(tp, grads):
            p.grad = torch.tensor(g)
        label = f"torch Adam({', '.join(f'{k}={v}' for k, v in kw.items())}), {args.threads} threads"
        results[label] = best(torch.optim.Adam(tp, lr=1e-3, **kw).step)
    model = cli.mlp((128, 64), 0)  # context: one forward + backward on a batch of 32
    xb, yb = rng.random((32, 784), dtype=np.float32), rng.integers(0, 10, 32)

    def fwd_bwd():
        model.zero_grad()
        F.cross_entropy(model(xb), yb).backward()

    results["context: MLP forward+backward, batch 32 (gradengine)"] = best(fwd_bwd, n=max(number // 2, 1))
    for k, v in results.items():
        print(f"  {k:55s} {v:7.1f} us/step")


def after_threads(args: argparse.Namespace) -> None:
    from threadpoolctl import threadpool_limits

    steps, warmup = (100, 20) if args.quick else (1200, 100)
    rng = np.random.default_rng(0)
    model = cli.mlp((128, 64), 0)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xs, ys = rng.random((8, 32, 784), dtype=np.float32), rng.integers(0, 10, (8, 32))
    many = max(args.threads, 2)
    times: dict[int, list[float]] = {1: [], many: []}
    for i in range(warmup + steps):
        for n in sorted(times, reverse=bool(i % 2)):  # alternate which goes first
            with threadpool_limits(n, user_api="blas"):
                opt.zero_grad()
                F.cross_entropy(model(xs[i % 8]), ys[i % 8]).backward()
            t0 = time.perf_counter()
            opt.step()
            if i >= warmup:
                times[n].append(time.perf_counter() - t0)
    print(f"after one or {many} BLAS threads: gradengine's opt.step() right after a forward + backward "
          f"(batch 32) on n BLAS threads, alternating, median of {steps} steps each")
    for n, ts in times.items():
        print(f"  products on {n} thread(s): {statistics.median(ts) * 1e6:7.1f} us/step")

    # Which part: the first layer's weights, its two halves of rows updated separately (the same
    # adam() call the optimizer makes) right after only its forward product, x @ W.T.
    layer = model[1]
    w = layer.weight.data
    halves = {"rows 0-63": slice(0, 64), "rows 64-127": slice(64, 128)}
    state = {k: (np.zeros_like(w[r]), np.zeros_like(w[r]), np.full_like(w[r], 1e-3)) for k, r in halves.items()}
    part: dict[tuple[int, str], list[float]] = {(n, k): [] for n in times for k in halves}
    for i in range(warmup + steps):
        for n in sorted(times, reverse=bool(i % 2)):
            for k in sorted(halves, reverse=bool(i // 2 % 2)):
                with threadpool_limits(n, user_api="blas"):
                    F.linear(xs[i % 8], layer.weight, layer.bias)
                m, v, g = state[k]
                t0 = time.perf_counter()
                optim.adam.adam([w[halves[k]]], [g], [m], [v], [None], [1], amsgrad=False, beta1=0.9, beta2=0.999,
                                lr=0.0, weight_decay=0.0, eps=1e-8, maximize=False, decoupled_weight_decay=False)
                if i >= warmup:
                    part[n, k].append(time.perf_counter() - t0)
    print(f"  the first layer's weights ({w.shape[0]} x {w.shape[1]}), right after only its forward product, each half "
          f"of the rows updated alone (median us):")
    for n in times:
        print(f"    forward on {n} thread(s): " + ", ".join(f"{k} {statistics.median(part[n, k]) * 1e6:6.1f}" for k in halves))


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print_machine_header()
    in_training(args)
    isolated(args)
    print()
    after_threads(args)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
