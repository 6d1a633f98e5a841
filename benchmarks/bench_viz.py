"""How long the big-graph drawings take, and how big they are.

Two graphs, the ones the viz issue names:

* a chain of 1,000,000 additions, ``x + x + ... + x`` (as ``bench_scalar.py`` builds it);
* one training step of micrograd's demo (``MLP(2, [16, 16, 1])`` on 100 two-moons points,
  SVM loss + 1e-4 * L2, as ``bench_scalar.py``): 65,818 nodes.

For each: ``draw()`` (summarising the graph into a DOT source), ``to_svg`` and the PNG
(Graphviz's ``dot``), as the median of ``--repeats`` runs, wall clock and CPU time of this
process (``dot`` runs in a child process: wall clock only); the SVG's size, the PNG's size
in bytes and pixels (cairo refuses bitmaps above 32,767 px a side), and, as a yardstick
measured in the same process, the ratio of ``draw()`` to one ``backward()`` over the same graph.

    python benchmarks/bench_viz.py               # about 30 s
    python benchmarks/bench_viz.py --repeats 1   # smoke run

The limits the issue sets: under 2 s to draw, SVG under 1 MB, PNG within cairo's limits.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gradengine import Value
from gradengine.nn import MLP
from gradengine.viz import draw, to_svg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _args import positive_int  # noqa: E402


def chain(n: int = 1_000_000) -> Value:
    x = Value(0.5, label="x")
    v = x
    for _ in range(n):
        v = v + x
    v.label = "y"
    return v


def mlp_step() -> Value:
    from gradengine.data import make_moons

    X, y = make_moons(100, noise=0.1, seed=1)
    X, y = X.tolist(), (y * 2 - 1).tolist()
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    scores = [model(list(map(Value, row))) for row in X]
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
    loss = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in model.parameters())
    loss.label = "loss"
    return loss


def count(root: Value) -> int:
    seen, stack = {root}, [root]
    while stack:
        for c in stack.pop().children:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return len(seen)


def timed(fn, repeats: int) -> tuple[float, float, object]:
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench(name: str, root: Value, repeats: int) -> None:
    root.backward()
    n = count(root)
    bw, _, _ = timed(lambda: root.backward(), 1)
    d_wall, d_cpu, dot = timed(lambda: draw(root), repeats)
    s_wall, _, svg = timed(lambda: to_svg(dot), repeats)
    p_wall, _, png = timed(lambda: subprocess.run(["dot", "-Tpng"], input=dot.source.encode(),
                                                  capture_output=True, check=True), repeats)
    w, h = png_size(png.stdout)
    warn = " (dot warned: " + png.stderr.decode().strip() + ")" if png.stderr else ""
    print(f"\n{name}: {n:,} nodes, drawn as {dot.source.count(' [label=')} DOT nodes")
    print(f"  draw()        {d_wall:7.3f} s wall  {d_cpu:7.3f} s CPU   ({d_wall / bw:.2f} x one backward(), "
          f"{bw:.3f} s)")
    print(f"  to_svg        {s_wall:7.3f} s wall   -> SVG {len(svg):,} bytes")
    print(f"  dot -Tpng     {p_wall:7.3f} s wall   -> PNG {len(png.stdout):,} bytes, {w} x {h} px{warn}")
    print(f"  draw + SVG    {d_wall + s_wall:7.3f} s wall  (limit 2 s; SVG limit 1,000,000 bytes; "
          f"cairo limit 32,767 px)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=positive_int, default=5, help="runs per measurement (the median is shown)")
    ap.add_argument("--chain", type=positive_int, default=1_000_000, help="length of the chain")
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"gradengine viz benchmark: Python {platform.python_version()}, {cpu_name()}, "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at start")
    bench(f"chain x + x + ... ({args.chain:,} additions)", chain(args.chain), args.repeats)
    bench("micrograd demo training step (MLP(2, [16, 16, 1]), 100 points)", mlp_step(), args.repeats)


if __name__ == "__main__":
    sys.exit(main())
