"""The figures the README quotes for ``gradengine train``: time per epoch, total, peak RSS, accuracy.

    python benchmarks/bench_train.py                       # 3 runs of the README's command
    python benchmarks/bench_train.py --runs 1 --data-dir /path/to/mnist
    python benchmarks/bench_train.py --threads 1 2          # also time --threads 2, interleaved

Each run is the README's command, ``python -m gradengine train`` with the defaults (784-128-64-10,
Adam 1e-3, batch 32, 10 epochs), in its own process, writing to a temporary directory. The script
prints the machine (CPU model, cores, Python, NumPy and PyTorch versions), then the first run's
output verbatim (the README's sample output is a copy of it), then one line per run: seconds per
epoch (training only, as the CLI prints them), wall time of the whole command (start-up, data
loading, training, evaluation, checkpoints, curves), peak resident memory and final test
accuracy. The runs are sequential and the machine may be shared: the load average is printed
before and after, and medians are what to compare. With ``--threads 1 2`` every round runs the
command once per thread count, interleaved, and the summary is per thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _args import positive_int  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import numpy

    return (f"machine: {cpu_model()}, {cores} cores usable ({os.cpu_count()} online), {platform.system()} "
            f"{platform.release()}\npython {platform.python_version()}, numpy {numpy.__version__}, "
            f"torch {version('torch')} (not used by gradengine train), tqdm {version('tqdm')}")


def measure(argv: list[str], env: dict[str, str]) -> tuple[str, float, float, int]:
    """Run the command in a fresh interpreter, so that its RUSAGE_CHILDREN holds this run alone;
    return the command's stdout, wall seconds, peak RSS in MB and exit code."""
    code = (
        "import resource, subprocess, sys, time, json\n"
        "t0 = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t0\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"  # KiB on Linux
        "sys.stderr.write(p.stderr)\n"
        "print(json.dumps({'out': p.stdout, 'wall': wall, 'rss': rss, 'code': p.returncode}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"bench_train: the measuring process failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        sys.stderr.write(proc.stderr)
    return result["out"], result["wall"], result["rss"], result["code"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=positive_int, default=3, help="number of runs (default: 3)")
    ap.add_argument("--data-dir", default=None,
                    help="MNIST directory passed as --data-dir (default: the CLI's: $GRADENGINE_DATA, else the cache)")
    ap.add_argument("--epochs", type=positive_int, default=10, help="epochs per run (default: 10, the README's command)")
    ap.add_argument("--threads", type=positive_int, nargs="+", default=[1],
                    help="values of gradengine train --threads to time, interleaved (default: 1, the CLI's default)")
    args = ap.parse_args()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    print(machine())
    print("load average (1, 5, 15 min) before: %.2f %.2f %.2f" % os.getloadavg())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for threads in args.threads:
                argv = [sys.executable, "-m", "gradengine", "train", "--no-progress", "--epochs", str(args.epochs),
                        "--threads", str(threads), "--out-dir", str(Path(tmp) / f"run{i}-{threads}")]
                if args.data_dir:
                    argv += ["--data-dir", args.data_dir]
                out, wall, rss, code = measure(argv, env)
                if code != 0:
                    raise SystemExit(f"bench_train: run {i + 1} (--threads {threads}) exited with {code}")
                if not rows:
                    print(f"\n$ gradengine {' '.join(argv[3:argv.index('--out-dir')])} --out-dir TMP"
                          f"{' --data-dir ' + args.data_dir if args.data_dir else ''}   (run 1, output verbatim)")
                    print(out.rstrip())
                epochs = [float(x) for x in re.findall(r"^epoch .*  (\d+\.\d)s$", out, flags=re.M)]
                acc = re.search(r"^test accuracy (\d\.\d+) after", out, flags=re.M).group(1)
                rows.append((threads, epochs, wall, rss, acc))
    print("load average (1, 5, 15 min) after: %.2f %.2f %.2f" % os.getloadavg())

    print(f"\n{'run':>3}  {'threads':>7}  {'s/epoch min-max':>15}  {'median':>6}  {'total s':>7}  "
          f"{'peak RSS MB':>11}  test acc")
    for i, (threads, epochs, wall, rss, acc) in enumerate(rows, 1):
        print(f"{i:>3}  {threads:>7}  {min(epochs):>7.1f} - {max(epochs):<5.1f}  {statistics.median(epochs):>6.2f}  "
              f"{wall:>7.1f}  {rss:>11.0f}  {acc}")
    for threads in args.threads:
        mine = [r for r in rows if r[0] == threads]
        print(f"--threads {threads}, median over {len(mine)} run(s): "
              f"{statistics.median(statistics.median(r[1]) for r in mine):.2f} s an epoch, "
              f"{statistics.median(r[2] for r in mine):.1f} s in total, "
              f"peak RSS {statistics.median(r[3] for r in mine):.0f} MB; "
              f"final test accuracy {', '.join(r[4] for r in mine)}")

if __name__ == "__main__":
    main()
