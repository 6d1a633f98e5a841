"""The README is true: its Python examples run as written, in order, in one namespace (as a user
pastes them), its `gradengine train` section matches the CLI, and its set-up works as written:
``GRADENGINE_DATA`` relative to the repository root, or an empty data directory, gives a green run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradengine import cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_readme_has_the_examples():
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert any("Value(2.0" in b for b in blocks) and any("load_mnist" in b for b in blocks)
    assert any("load_checkpoint(" in b for b in blocks)


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch, mnist_dir, capsys):
    if shutil.which("dot") is None:
        pytest.skip("the README renders a graph: needs the Graphviz dot binary (apt-get install graphviz)")
    monkeypatch.setenv("GRADENGINE_DATA", str(mnist_dir))
    monkeypatch.chdir(tmp_path)  # the examples write mnist.npz and graph.svg
    # The README's Python examples read the checkpoint `gradengine train` writes: a quick run.
    assert cli.main(["train", "--no-progress", "--epochs", "1", "--limit", "2000"]) == 0
    capsys.readouterr()
    namespace: dict = {}
    for i, block in enumerate(python_blocks()):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    assert namespace["a"].grad == pytest.approx(49.510014218311746, rel=1e-12)
    assert (tmp_path / "mnist.npz").is_file() and (tmp_path / "graph.svg").is_file()
    assert namespace["ckpt"].epoch == 1 and namespace["x_tr"].dtype == "float32"


def test_readme_train_section_matches_the_cli():
    text = section("Train MNIST")
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for command in ("train", "evaluate"):
        assert f"gradengine {command}" in text
    for action in subparsers["train"]._actions:
        if action.dest != "help":
            flag = action.option_strings[0]
            assert flag in text, f"the README's Train MNIST section does not mention {flag}"
    # the sample output is in the format the CLI prints for the README's command
    header = "MNIST: 60000 training and 10000 test images; model 784-128-64-10, Adam lr 0.001, batch 32, seed 0"
    assert header in text
    assert re.search(r"^epoch  10/10  train loss \d\.\d{4}  test acc \d\.\d{4}  \d+\.\ds$", text, flags=re.M)
    assert "benchmarks/bench_train.py" in text


def test_readme_set_up_uses_an_absolute_data_path_and_the_test_command():
    text = section("Set-up")
    assert 'pip install -e ".[dev]"' in text and "python -m pytest" in text
    assert "export GRADENGINE_DATA=/" in text  # absolute, as the text asks
    assert "export GRADENGINE_DATA=.." not in text


def _pytest(args: list[str], env_data: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADENGINE_DATA", "GRADENGINE_OFFLINE")}
    env["GRADENGINE_DATA"] = env_data
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_set_up_with_a_relative_data_path_from_the_repository_root(mnist_dir):
    """The README's set-up, literally: a data path relative to the repository root, then pytest.
    The tests that change directory and the notebook kernel still find the data."""
    relative = os.path.relpath(mnist_dir, REPO)
    proc = _pytest(["tests/test_train.py", "tests/test_readme.py::test_readme_examples_run",
                    "tests/test_notebooks.py::test_notebook_runs[03_mnist_tensor_engine]"], relative, REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "skipped" not in proc.stdout.splitlines()[-1], proc.stdout[-2000:]
    assert "4 passed" in proc.stdout.splitlines()[-1], proc.stdout[-2000:]


@pytest.mark.slow
def test_set_up_with_an_empty_data_directory_skips_with_reasons(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _pytest(["tests/test_train.py", "tests/test_readme.py::test_readme_examples_run",
                    "tests/test_data.py::test_load_mnist_real",
                    "tests/test_notebooks.py::test_notebook_runs[03_mnist_tensor_engine]"],
                   str(tmp_path / "empty"), REPO)
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = proc.stdout.splitlines()[-1]
    assert "failed" not in summary and "error" not in summary and "5 skipped" in summary, proc.stdout[-2000:]
    assert f"{tmp_path / 'empty'} (GRADENGINE_DATA={tmp_path / 'empty'}) lacks train-images-idx3-ubyte" in proc.stdout
    assert not list((tmp_path / "empty").iterdir())  # nothing downloaded into it
