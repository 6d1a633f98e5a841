"""gradengine's scalar engine vs micrograd, side by side, on micrograd's own demo workload.

The workload is micrograd's ``demo.ipynb`` training step: ``MLP(2, [16, 16, 1])`` on 100
two-moons points, SVM max-margin loss + 1e-4 * L2, full batch; one step = build the graph
(forward), ``zero_grad``, ``backward``, SGD update. Both engines run the very same code.

Each measurement runs in its own fresh Python process (the cyclic garbage collector's cost
depends on everything alive in the process), engines interleaved round by round, in two modes:

* ``gc on``: as users run it;
* ``gc off``: the cyclic collector disabled during the timed step (and a ``gc.collect()``
  between steps, untimed): the pure compute comparison.

It also times building and backpropagating a chain of 1,000,000 nodes (micrograd's recursive
topological sort raises RecursionError there).

    python benchmarks/bench_scalar.py                 # full run (about two minutes)
    python benchmarks/bench_scalar.py --rounds 1 --steps 2 --chain 10000   # smoke run
    python benchmarks/bench_scalar.py --quick                               # the same smoke run
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _args import positive_int  # noqa: E402

TARGETS = {"on": 0.05}  # issue 12: GC on, as users run it
CHAIN_TARGET = 3.0  # issue 12: seconds to build and differentiate the 1,000,000-node chain


def _engine(name: str):
    if name == "gradengine":
        from gradengine import Value
        from gradengine.nn import MLP
    else:
        from micrograd.engine import Value
        from micrograd.nn import MLP
    return Value, MLP


def _moons():
    from gradengine.data import make_moons

    X, y = make_moons(100, noise=0.1, seed=1)
    return X.tolist(), (y * 2 - 1).tolist()  # labels in {-1, 1}, as in micrograd's demo


def worker_step(name: str, gc_mode: str, steps: int) -> dict:
    """Time ``steps`` training steps of micrograd's demo in this process."""
    Value, MLP = _engine(name)
    X, y = _moons()
    random.seed(1337)
    model = MLP(2, [16, 16, 1])

    collector = [0.0, 0.0]  # seconds inside the cyclic collector; start time of this collection

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            collector[1] = time.perf_counter()
        else:
            collector[0] += time.perf_counter() - collector[1]

    gc.callbacks.append(on_gc)
    phases: list[dict] = []

    def step(k: int) -> float:  # micrograd's demo.ipynb, verbatim but for the names and clocks
        t0, c0 = time.perf_counter(), collector[0]
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum((p * p for p in model.parameters()))
        total_loss = data_loss + reg_loss
        t1, c1 = time.perf_counter(), collector[0]
        model.zero_grad()
        total_loss.backward()
        t2, c2 = time.perf_counter(), collector[0]
        phases.append({"forward": t1 - t0, "forward gc": c1 - c0, "backward": t2 - t1, "backward gc": c2 - c1})
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        return total_loss.data

    times, losses = [], []
    for k in range(steps):
        if gc_mode == "off":
            gc.disable()
        t0 = time.perf_counter()
        losses.append(step(k))
        times.append(time.perf_counter() - t0)
        if gc_mode == "off":
            gc.enable()
            gc.collect()
    return {"times": times, "losses": losses, "phases": phases}


def worker_chain(name: str, n: int) -> dict:
    """Build ``x + x + ... + x`` (n add nodes deep) and backpropagate through it."""
    Value, _ = _engine(name)
    x = Value(0.5)
    t0 = time.perf_counter()
    v = x
    for _ in range(n):
        v = v + x
    t1 = time.perf_counter()
    try:
        v.backward()
    except RecursionError as e:
        return {"build": t1 - t0, "error": f"RecursionError: {e}"}
    t2 = time.perf_counter()
    return {"build": t1 - t0, "backward": t2 - t1, "grad_ok": x.grad == n + 1}


def count_nodes() -> int:
    Value, MLP = _engine("gradengine")
    X, y = _moons()
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    scores = [model(list(map(Value, row))) for row in X]
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
    total = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
    seen, stack = {total}, [total]
    while stack:
        for c in stack.pop().children:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return len(seen)


def _spawn(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=positive_int, default=3, help="interleaved rounds (fresh processes each)")
    ap.add_argument("--steps", type=positive_int, default=8, help="timed training steps per process")
    ap.add_argument("--chain", type=positive_int, default=1_000_000, help="depth of the chain benchmark")
    ap.add_argument("--quick", action="store_true", help="smoke run: --rounds 1 --steps 2 --chain 10000")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.steps, args.chain = 1, 2, min(args.chain, 10_000)

    if args.worker:
        kind, *rest = args.worker
        if kind == "step":
            res = worker_step(rest[0], rest[1], int(rest[2]))
        else:
            res = worker_chain(rest[0], int(rest[1]))
        print(json.dumps(res))
        return

    import micrograd  # noqa: F401  - fail early with a clear ImportError if the peer is missing

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import print_machine_header

    print_machine_header()

    print("micrograd demo step: MLP(2, [16, 16, 1]), 100 two-moons points, SVM loss + 1e-4*L2, "
          f"full batch; graph of {count_nodes():,} nodes")
    print(f"{args.rounds} interleaved rounds x {args.steps} steps, each engine in a fresh process\n")
    times: dict[tuple[str, str], list[float]] = {}
    phases: dict[str, list[dict]] = {}
    for r in range(args.rounds):
        for gc_mode in ("on", "off"):
            for name in ("gradengine", "micrograd"):
                res = _spawn("step", name, gc_mode, str(args.steps))
                times.setdefault((name, gc_mode), []).extend(res["times"])
                if gc_mode == "on":
                    phases.setdefault(name, []).extend(res["phases"])
        print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr)

    print(f"{'seconds per step (median)':<28}{'gradengine':>12}{'micrograd':>12}{'ratio':>9}{'target':>9}")
    for gc_mode, label in (("on", "GC on (as users run it)"), ("off", "GC off during the step")):
        ge_t = statistics.median(times[("gradengine", gc_mode)])
        mg_t = statistics.median(times[("micrograd", gc_mode)])
        ratio = ge_t / mg_t
        target = f"{'<= ' + str(TARGETS[gc_mode]):>9} {'ok' if ratio <= TARGETS[gc_mode] else 'MISSED'}" if gc_mode in TARGETS else ""
        print(f"{label:<28}{ge_t:>11.4f}s{mg_t:>11.4f}s{ratio:>9.3f}{target}")
    budget = TARGETS["on"] * statistics.median(times[("micrograd", "on")])
    ge_off = statistics.median(times[("gradengine", "off")])
    print(f"the GC-on target is {budget * 1e3:.1f} ms a step; gradengine's step with the collector off takes "
          f"{ge_off * 1e3:.1f} ms, {'over' if ge_off > budget else 'within'} that before any collection")
    print("\nGC on, per phase (median ms a step; 'gc' is the time inside the cyclic collector, from gc.callbacks):")
    for name, rows in phases.items():
        med = {k: statistics.median(r[k] for r in rows) * 1e3 for k in rows[0]}
        print(f"  {name:<11} forward {med['forward']:7.1f} (gc {med['forward gc']:6.1f})   "
              f"zero_grad + backward {med['backward']:6.1f} (gc {med['backward gc']:5.1f})")

    print(f"\nchain of {args.chain:,} add nodes (x + x + ... + x), default recursion limit {sys.getrecursionlimit()}:")
    for name in ("gradengine", "micrograd"):
        res = _spawn("chain", name, str(args.chain))
        if "error" in res:
            print(f"  {name:<11} build {res['build']:.2f}s, backward: {res['error'][:60]}")
        else:
            total = res["build"] + res["backward"]
            target = f", build + backward {total:.2f}s <= {CHAIN_TARGET:g}s {'met' if total <= CHAIN_TARGET else 'MISSED'}"
            print(f"  {name:<11} build {res['build']:.2f}s, backward {res['backward']:.2f}s, gradient correct: "
                  f"{res['grad_ok']}{target if name == 'gradengine' and args.chain == 1_000_000 else ''}")


if __name__ == "__main__":
    main()
