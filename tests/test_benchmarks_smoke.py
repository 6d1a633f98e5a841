"""Every benchmark's ``--quick`` mode runs to the end on a little data and prints its tables and
the machine header. Timings are not asserted: performance figures come from the benchmarks
themselves, run on a quiet machine, never from tests."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"

pytestmark = pytest.mark.slow


def run(script: str, *args: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=240, env=env, cwd=REPO)
    assert proc.returncode == 0, f"{script} {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "machine: " in proc.stdout and "BLAS: " in proc.stdout and "numpy " in proc.stdout
    return proc.stdout


def needs(module: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"the benchmark's peer {module} is not installed")


def test_machine_header_names_cpu_blas_and_versions():
    sys.path.insert(0, str(BENCH))
    try:
        from _machine import machine_header
    finally:
        sys.path.remove(str(BENCH))
    text = machine_header()
    lines = text.splitlines()
    assert lines[0].startswith("machine: ") and "core" in lines[0]
    assert lines[1].startswith("BLAS: ")
    assert "python 3." in lines[2] and "numpy 2." in lines[2] and "torch " in lines[2]


@needs("torch")
def test_bench_mnist_steady_quick(mnist_dir):
    out = run("bench_mnist.py", "--steady", "--quick", "--data-dir", str(mnist_dir))
    for bs in ("batch 32:", "batch 128:"):
        assert bs in out
    assert out.count("median of epochs 2-3") == 2 and "epoch 3 / epoch 2" in out
    assert "gradengine/matmul-only" in out and "Adam step inside training" in out
    assert out.count("matmul-only + batch gather") == 2
    assert out.count("  targets (issue 12): gradengine/torch ") == 2 and "epoch 3/epoch 2" in out


@needs("torch")
def test_bench_mnist_fresh_epochs_quick(mnist_dir):
    out = run("bench_mnist.py", "--quick", "--data-dir", str(mnist_dir))
    assert "median seconds per epoch" in out and "forward+backward only" in out


@needs("torch")
def test_bench_adam_quick(mnist_dir):
    out = run("bench_adam.py", "--quick", "--data-dir", str(mnist_dir))
    assert "in training:" in out and "torch Adam(fused=True)" in out and "isolated:" in out
    assert "target: gradengine Adam <= 1.5x torch fused" in out
    assert "after one or 2 BLAS threads" in out and "products on 1 thread(s)" in out and "products on 2 thread(s)" in out
    assert "each half of the rows updated alone" in out
    assert "forward on 1 thread(s): rows 0-63" in out and "forward on 2 thread(s): rows 0-63" in out and "rows 64-127" in out


@needs("micrograd")
def test_bench_scalar_quick():
    out = run("bench_scalar.py", "--quick")
    assert "GC on (as users run it)" in out and "chain of 10,000 add nodes" in out
    assert "GC on, per phase" in out and "gradengine  forward" in out and "micrograd   forward" in out


def test_bench_ops_quick(mnist_dir):
    out = run("bench_ops.py", "--quick", "--data-dir", str(mnist_dir))
    assert "linear forward" in out and "linear vjp 1" in out and "Adam step (optimizer)" in out
    assert "total timed" in out


@pytest.mark.parametrize("argv, message", [
    (["bench_mnist.py", "--batch-sizes", "32,abc"], "argument --batch-sizes: expected comma-separated positive integers"),
    (["bench_mnist.py", "--quick", "--rounds", "0"], "argument --rounds: expected a positive integer, got 0"),
    (["bench_mnist.py", "--quick", "--limit", "-5"], "argument --limit: expected a positive integer, got -5"),
    (["bench_mnist.py", "--steady", "--runs", "0"], "argument --runs: expected a positive integer, got 0"),
    (["bench_adam.py", "--threads", "0"], "argument --threads: expected a positive integer, got 0"),
    (["bench_adam.py", "--warmup", "-1"], "argument --warmup: expected a non-negative integer, got -1"),
    (["bench_ops.py", "--batch-size", "0"], "argument --batch-size: expected a positive integer, got 0"),
    (["bench_scalar.py", "--chain", "-1"], "argument --chain: expected a positive integer, got -1"),
    (["bench_viz.py", "--repeats", "0"], "argument --repeats: expected a positive integer, got 0"),
    (["bench_train.py", "--runs", "0"], "argument --runs: expected a positive integer, got 0"),
    (["bench_mnist.py", "--quick", "--data-dir", "NOWHERE"], "bench_mnist.py: error: MNIST files not found in"),
    (["bench_adam.py", "--quick", "--data-dir", "NOWHERE"], "bench_adam.py: error: MNIST files not found in"),
    (["bench_ops.py", "--quick", "--data-dir", "NOWHERE"], "bench_ops.py: error: MNIST files not found in"),
])
def test_bad_arguments_and_missing_data_are_one_error_not_a_traceback(argv, message, tmp_path):
    """Checked up front, before a run starts (a zero count used to fail deep inside, a negative
    --limit silently ran ~60000 images, a missing data folder ended in a traceback; bench_ops
    even tried to download)."""
    argv = [str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in argv]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, str(BENCH / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nowhere").exists()  # nothing downloaded, no folder made
