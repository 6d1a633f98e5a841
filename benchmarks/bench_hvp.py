#!/usr/bin/env python
"""Hessian-vector product vs gradient on the MNIST MLP's parameters: gradengine and PyTorch, one run.

The model is the reference MLP of ``gradengine train`` (``cli.mlp``: 784-128-64-10, ReLU,
softmax cross-entropy, 109,386 parameters, float32), written as a function of its six parameter
arrays. For each batch size the benchmark times, interleaved round by round so that a busier or
quieter machine affects every engine alike:

* gradengine: ``func.grad(loss, argnums=(0..5))`` (forward + reverse pass) and
  ``func.hvp(loss, params, v)`` (reverse-over-reverse: the gradient recorded as a graph, dotted
  with ``v``, differentiated again);
* PyTorch: ``torch.autograd.grad`` (forward + backward), the same reverse-over-reverse
  (``create_graph=True`` then a second ``autograd.grad``), and ``torch.func.jvp(torch.func.grad)``
  (forward-over-reverse, the ``torch.func`` recipe for hvp).

Each figure is the median over ``--repeats`` rounds of the mean time of ``--calls`` calls; the
ratios are hvp time / gradient time within each engine. The issue's budget is "hvp at most 5x a
gradient". Before timing, gradengine's hvp is checked against torch's on the same weights, data
and ``v``, in float64 and float32 (max |difference| / max |torch|); the exit status is 1 if
either disagrees beyond ``--rtol64`` / ``--rtol32``.

Threads: NumPy's BLAS gets ``--threads`` through ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` /
``OMP_NUM_THREADS`` (set before NumPy is imported, unless already set), torch gets
``torch.set_num_threads(--threads)``. The default is 1: on a small shared machine two BLAS
threads per process oversubscribe the cores and make every figure noisy.

::

    python benchmarks/bench_hvp.py                 # real MNIST, batch 32 and 128
    python benchmarks/bench_hvp.py --quick         # a few seconds: batch 32, few repeats
    python benchmarks/bench_hvp.py --synthetic     # random images and labels, no data needed
    python benchmarks/bench_hvp.py --profile       # also cProfile gradengine's hvp
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", default="32,128", help="comma-separated batch sizes (default: 32,128)")
    p.add_argument("--repeats", type=int, default=15, help="timed rounds per engine and batch size (median reported)")
    p.add_argument("--calls", type=int, default=10, help="calls averaged within one round")
    p.add_argument("--threads", type=int, default=1, help="threads for PyTorch and NumPy's BLAS (default: 1)")
    p.add_argument("--data-dir", default=os.environ.get("GRADENGINE_DATA") or str(REPO.parent / "shared" / "data" / "mnist"),
                   help="MNIST directory (default: $GRADENGINE_DATA, else ../shared/data/mnist from the repo)")
    p.add_argument("--synthetic", action="store_true", help="random images and labels instead of MNIST")
    p.add_argument("--quick", action="store_true", help="batch 32 only, 3 rounds of 3 calls (a smoke run)")
    p.add_argument("--profile", action="store_true", help="also profile gradengine's hvp with cProfile (largest batch)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the batch and v")
    p.add_argument("--rtol64", type=float, default=1e-9, help="largest accepted float64 error vs torch (default: 1e-9)")
    p.add_argument("--rtol32", type=float, default=1e-5, help="largest accepted float32 error vs torch (default: 1e-5)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.repeats, args.calls = "32", 3, 3
    try:
        args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    except ValueError:
        p.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        p.error("--batch-sizes needs at least one positive batch size")
    if args.repeats < 1 or args.calls < 1 or args.threads < 1:
        p.error("--repeats, --calls and --threads must be at least 1")
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, str(ARGS.threads))

import numpy as np  # noqa: E402  (after the thread settings)

import gradengine.functional as F  # noqa: E402
from gradengine import cli, func  # noqa: E402
from gradengine.data import MNISTError, load_mnist  # noqa: E402

NAMES = ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]  # cli.mlp's state dict keys


# ---------------------------------------------------------------------------------------------
# The machine and the data
# ---------------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def batch(args: argparse.Namespace, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` flattened float32 images in [0, 1] and their int64 labels."""
    rng = np.random.default_rng(args.seed)
    if args.synthetic:
        return rng.random((batch_size, 784), dtype=np.float32), rng.integers(0, 10, batch_size)
    (x, y), _ = _mnist(args.data_dir)
    idx = rng.choice(len(x), size=batch_size, replace=False)
    return cli.to_float(x[idx]).reshape(batch_size, -1), y[idx].astype(np.int64)


_MNIST: dict = {}


def _mnist(root: str):
    if root not in _MNIST:
        try:
            _MNIST[root] = load_mnist(root, download=False, verbose=False)
        except (MNISTError, OSError) as e:
            first = str(e).splitlines()[0]
            raise SystemExit(f"bench_hvp: cannot read MNIST from --data-dir {root}: {first}\n"
                             f"pass --data-dir DIR, set GRADENGINE_DATA=DIR, or use --synthetic") from None
    return _MNIST[root]


def weights(seed: int) -> list[np.ndarray]:
    """The reference model's initial weights (PyTorch-style init), in NAMES order."""
    state = cli.mlp(seed=seed).state_dict()
    return [np.ascontiguousarray(state[k]) for k in NAMES]


def tangents(params: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
    """A random direction ``v`` with one array per parameter."""
    rng = np.random.default_rng(seed + 1)
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


# ---------------------------------------------------------------------------------------------
# The loss as a function of the parameters, for each engine
# ---------------------------------------------------------------------------------------------
def gradengine_fns(x: np.ndarray, y: np.ndarray, v: Sequence[np.ndarray]):
    """``(grad_fn, hvp_fn)``: each takes the six parameter arrays and returns ndarrays."""

    def loss(w1, b1, w2, b2, w3, b3):
        h = F.linear(x, w1, b1).relu()
        h = F.linear(h, w2, b2).relu()
        return F.cross_entropy(F.linear(h, w3, b3), y)

    grad = func.grad(loss, argnums=tuple(range(6)))

    def grad_fn(*params):
        return grad(*params)

    def hvp_fn(*params):
        return func.hvp(loss, params, v)[1]

    return grad_fn, hvp_fn


def torch_fns(x: np.ndarray, y: np.ndarray, v: Sequence[np.ndarray]):
    """``(grad_fn, hvp_rr_fn, hvp_fr_fn)`` on torch tensors: the gradient, reverse-over-reverse
    hvp (double backward) and forward-over-reverse hvp (``torch.func.jvp`` of ``torch.func.grad``)."""
    import torch
    import torch.nn.functional as tF

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    vt = tuple(torch.from_numpy(a) for a in v)

    def loss(w1, b1, w2, b2, w3, b3):
        h = tF.relu(tF.linear(xt, w1, b1))
        h = tF.relu(tF.linear(h, w2, b2))
        return tF.cross_entropy(tF.linear(h, w3, b3), yt)

    def grad_fn(*params):
        params = [p.detach().requires_grad_() for p in params]
        return torch.autograd.grad(loss(*params), params)

    def hvp_rr_fn(*params):
        params = [p.detach().requires_grad_() for p in params]
        gs = torch.autograd.grad(loss(*params), params, create_graph=True)
        dot = sum((g * t).sum() for g, t in zip(gs, vt))
        return torch.autograd.grad(dot, params)

    grad_all = torch.func.grad(loss, argnums=tuple(range(6)))

    def hvp_fr_fn(*params):
        return torch.func.jvp(lambda *p: grad_all(*p), tuple(params), vt)[1]

    return grad_fn, hvp_rr_fn, hvp_fr_fn


def rel_error(ours: Sequence[np.ndarray], ref: Sequence[np.ndarray]) -> float:
    """max |ours - ref| / max |ref| over all parameters together."""
    a = np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in ours])
    b = np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in ref])
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def check_against_torch(args: argparse.Namespace, x: np.ndarray, y: np.ndarray) -> tuple[bool, list[str]]:
    """gradengine's hvp vs torch's double backward and torch.func, in float64 and float32."""
    import torch

    ok, lines = True, []
    for dtype, rtol in ((np.float64, args.rtol64), (np.float32, args.rtol32)):
        params = [p.astype(dtype) for p in weights(args.seed)]
        v = tangents(params, args.seed)
        xd = x.astype(dtype)
        ours = gradengine_fns(xd, y, v)[1](*params)
        _, rr, fr = torch_fns(xd, y, v)
        tparams = [torch.from_numpy(p) for p in params]
        ref_rr = [t.numpy() for t in rr(*tparams)]
        ref_fr = [t.numpy() for t in fr(*tparams)]
        e_rr, e_fr = rel_error(ours, ref_rr), rel_error(ours, ref_fr)
        good = e_rr <= rtol and e_fr <= rtol
        ok &= good
        lines.append(f"  {np.dtype(dtype).name}: max|ge - torch| / max|torch| = {e_rr:.2e} (double backward), "
                     f"{e_fr:.2e} (torch.func)   tolerance {rtol:.0e}  {'ok' if good else 'FAILED'}")
    return ok, lines


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int, calls: int) -> dict[str, float]:
    """Median over ``repeats`` rounds of the mean seconds per call; the functions take turns."""
    for fn in fns.values():  # warm-up: caches, BLAS buffers, lazy imports
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls)
    return {name: statistics.median(s) for name, s in samples.items()}


def bench(args: argparse.Namespace, batch_size: int, have_torch: bool) -> dict[str, float]:
    x, y = batch(args, batch_size)
    params = weights(args.seed)
    v = tangents(params, args.seed)
    ge_grad, ge_hvp = gradengine_fns(x, y, v)
    fns = {"ge grad": lambda: ge_grad(*params), "ge hvp": lambda: ge_hvp(*params)}
    if have_torch:
        import torch

        tparams = [torch.from_numpy(p) for p in params]
        t_grad, t_rr, t_fr = torch_fns(x, y, v)
        fns.update({"torch grad": lambda: t_grad(*tparams), "torch hvp rr": lambda: t_rr(*tparams),
                    "torch hvp fr": lambda: t_fr(*tparams)})
    return time_interleaved(fns, args.repeats, args.calls)


def profile_hvp(args: argparse.Namespace, batch_size: int, top: int = 25) -> None:
    """cProfile of gradengine's hvp: where its time goes, by total time per function."""
    import cProfile
    import pstats

    x, y = batch(args, batch_size)
    params = weights(args.seed)
    _, ge_hvp = gradengine_fns(x, y, tangents(params, args.seed))
    ge_hvp(*params)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(max(args.calls, 5)):
        ge_hvp(*params)
    prof.disable()
    print(f"\ncProfile of gradengine hvp, batch {batch_size}, {max(args.calls, 5)} calls, top {top} by total time")
    pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(top)


def main(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: gradengine only, no correctness check (pip install torch==2.13.0)")
    if torch is not None:
        torch.set_num_threads(args.threads)
    blas = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
    versions = f"python {sys.version.split()[0]}, numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else "")
    n_params = sum(p.size for p in weights(args.seed))
    load = ", ".join(f"{a:.2f}" for a in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average {load}")
    print(f"{versions}; threads: torch {args.threads}, BLAS env {blas}")
    print(f"model 784-128-64-10 ReLU, cross-entropy, {n_params} parameters, float32; "
          f"data: {'synthetic (random)' if args.synthetic else 'MNIST ' + args.data_dir}; "
          f"median of {args.repeats} rounds x {args.calls} calls, interleaved")

    ok = True
    if torch is not None:
        print(f"\ncorrectness: gradengine func.hvp vs torch, same weights, batch {args.batch_sizes[0]}, same v")
        sys.stdout.flush()
        ok, lines = check_against_torch(args, *batch(args, args.batch_sizes[0]))
        print("\n".join(lines))

    print("\nmedian milliseconds per call; ratio = hvp / grad within each engine (budget: gradengine <= 5x)")
    head = f"{'batch':>5}  {'ge grad':>8} {'ge hvp':>8} {'ge ratio':>8}"
    if torch is not None:
        head += f"  {'t grad':>8} {'t hvp rr':>8} {'rr ratio':>8} {'t hvp fr':>8} {'fr ratio':>8}"
    print(head)
    worst = 0.0
    for bs in args.batch_sizes:
        t = bench(args, bs, torch is not None)
        ge_ratio = t["ge hvp"] / t["ge grad"]
        worst = max(worst, ge_ratio)
        row = f"{bs:>5}  {t['ge grad'] * 1e3:>8.3f} {t['ge hvp'] * 1e3:>8.3f} {ge_ratio:>7.2f}x"
        if torch is not None:
            row += (f"  {t['torch grad'] * 1e3:>8.3f} {t['torch hvp rr'] * 1e3:>8.3f} {t['torch hvp rr'] / t['torch grad']:>7.2f}x"
                    f" {t['torch hvp fr'] * 1e3:>8.3f} {t['torch hvp fr'] / t['torch grad']:>7.2f}x")
        print(row, flush=True)
    print("\nrr: reverse-over-reverse (double backward, gradengine's method); fr: forward-over-reverse (torch.func.jvp of grad)")
    print(f"gradengine's largest hvp/grad ratio: {worst:.2f}x ({'within' if worst <= 5 else 'ABOVE'} the 5x budget)")
    if args.profile:
        profile_hvp(args, max(args.batch_sizes))
    if not ok:
        print("bench_hvp: gradengine's hvp disagrees with torch's (see 'correctness' above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
