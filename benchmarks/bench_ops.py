#!/usr/bin/env python
"""Where a training step's time goes: every op's forward and every vjp rule, timed inside real
MNIST training (gradengine's reference model, Adam), per step.

Each op record's ``array`` forward and ``vjps`` rules are wrapped with a clock for the run (the
wrappers add about 0.2 us a call), the model trains one untimed epoch, then one timed epoch, and
the table lists per-step totals, calls per step and the median per call, largest first, with
the optimizer step beside them. Use it to see what an engine change buys::

    python benchmarks/bench_ops.py                      # batch 32
    python benchmarks/bench_ops.py --batch-size 512 --threads 1
    python benchmarks/bench_ops.py --quick              # smoke run: 2,000 images
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _args import positive_int, run  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--threads", type=positive_int, default=2, help="threads of NumPy's BLAS (set before NumPy is imported)")
    p.add_argument("--data-dir", default=os.environ.get("GRADENGINE_DATA") or str(REPO.parent / "shared" / "data" / "mnist"))
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N training images")
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 images")
    args = p.parse_args(argv)
    for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(k, str(args.threads))
    from _machine import print_machine_header

    import gradengine.functional as F
    from gradengine import cli, optim
    from gradengine.autograd import OPS
    from gradengine.data import DataLoader, load_mnist

    print_machine_header()
    (x, y), _ = load_mnist(args.data_dir, download=False, normalize=True, verbose=False)
    limit = 2000 if args.quick else args.limit
    if limit:
        x, y = x[:limit], y[:limit]
    times: dict[str, list[float]] = collections.defaultdict(list)
    clock = time.perf_counter

    def timed(name, fn):
        def run(*a):
            t0 = clock()
            out = fn(*a)
            times[name].append(clock() - t0)
            return out
        return run

    saved = {op: (op.array, op.vjps) for op in OPS.values()}
    for op in OPS.values():
        op.array = timed(f"{op.name} forward", op.array)
        if op.nin is not None:
            op.vjps = tuple(timed(f"{op.name} vjp {i}", v) for i, v in enumerate(op.vjps))
    try:
        model = cli.mlp(seed=0)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        steps = 0
        for epoch in range(2):
            if epoch == 1:
                times.clear()
            for xb, yb in DataLoader(x, y, batch_size=args.batch_size, shuffle=True, seed=epoch):
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                t0 = clock()
                opt.step()
                times["Adam step (optimizer)"].append(clock() - t0)
                steps += epoch
    finally:
        for op, (array, vjps) in saved.items():
            op.array, op.vjps = array, vjps
    print(f"\nbatch {args.batch_size}, {len(x)} images, {steps} timed steps; microseconds")
    print(f"{'':<28}{'per step':>10}{'calls/step':>12}{'median/call':>13}")
    total = 0.0
    for name, ts in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        per_step = sum(ts) / steps * 1e6
        total += per_step
        print(f"{name:<28}{per_step:>10.1f}{len(ts) / steps:>12.1f}{statistics.median(ts) * 1e6:>13.1f}")
    print(f"{'total timed':<28}{total:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
