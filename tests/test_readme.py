"""The README's Python examples run as written, in order, in one namespace (as a user pastes them)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_examples():
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert any("Value(2.0" in b for b in blocks) and any("load_mnist" in b for b in blocks)


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch, mnist_dir):
    if shutil.which("dot") is None:
        pytest.skip("the README renders a graph: needs the Graphviz dot binary (apt-get install graphviz)")
    monkeypatch.setenv("GRADENGINE_DATA", str(mnist_dir))
    monkeypatch.chdir(tmp_path)  # the examples write mnist.npz and graph.svg
    namespace: dict = {}
    for i, block in enumerate(python_blocks()):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    assert namespace["a"].grad == pytest.approx(49.510014218311746, rel=1e-12)
    assert (tmp_path / "mnist.npz").is_file() and (tmp_path / "graph.svg").is_file()
