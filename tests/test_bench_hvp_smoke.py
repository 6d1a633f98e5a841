"""benchmarks/bench_hvp.py runs end to end in --quick mode (no timing asserts: figures come from
running the benchmark, not from tests)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_hvp.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_hvp", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: parses no arguments, sets no thread variables
    return module


def _has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def _table_row(out: str, batch_size: int) -> list[str]:
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == [str(batch_size)]]
    assert len(rows) == 1, f"expected one table row for batch {batch_size}:\n{out}"
    return rows[0]


@pytest.mark.slow
def test_quick_synthetic_run_prints_ratios_and_agrees_with_torch(bench, capsys):
    status = bench.main(bench.parse_args(["--quick", "--synthetic"]))
    out = capsys.readouterr().out
    assert status == 0, out
    assert "machine: " in out and "numpy " in out and "CPUs" in out
    row = _table_row(out, 32)
    ratios = [float(c[:-1]) for c in row if c.endswith("x")]
    assert len(ratios) == (3 if _has_torch() else 1) and all(r > 0 for r in ratios), row
    assert re.search(r"gradengine's largest hvp/grad ratio: [0-9.]+x", out)
    if _has_torch():
        checks = [line for line in out.splitlines() if "max|ge - torch|" in line]
        assert [c.split(":")[0].strip() for c in checks] == ["float64", "float32"]
        assert all(c.endswith("ok") for c in checks), checks


@pytest.mark.slow
def test_quick_run_exits_1_when_hvp_disagrees_with_torch(bench, capsys):
    if not _has_torch():
        pytest.skip("the correctness check compares with torch (pip install torch==2.13.0)")
    status = bench.main(bench.parse_args(["--quick", "--synthetic", "--rtol32", "-1"]))  # no error is below -1
    out = capsys.readouterr()
    assert status == 1
    assert "FAILED" in out.out and "disagrees with torch" in out.err


@pytest.mark.slow
def test_quick_run_on_real_mnist(bench, capsys, mnist_dir):
    if not any(mnist_dir.glob("train-images-idx3-ubyte*")):
        pytest.skip(f"{mnist_dir} holds no MNIST training images (set GRADENGINE_DATA to a directory holding them)")
    status = bench.main(bench.parse_args(["--quick", "--data-dir", str(mnist_dir)]))
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"data: MNIST {mnist_dir}" in out
    _table_row(out, 32)


def test_missing_data_names_the_flag(bench, tmp_path):
    with pytest.raises(SystemExit, match="--data-dir") as e:
        bench.batch(bench.parse_args(["--data-dir", str(tmp_path)]), 32)
    assert str(tmp_path) in str(e.value)


def test_bad_batch_sizes_are_rejected(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--batch-sizes", "32,abc"])
    assert "--batch-sizes must be comma-separated integers" in capsys.readouterr().err
