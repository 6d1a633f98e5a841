"""Every committed notebook runs top to bottom (as a learner would run it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_five_notebooks_are_committed():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, request, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="executing notebooks needs nbformat (the dev extra)")
    nbclient = pytest.importorskip("nbclient", reason="executing notebooks needs nbclient (the dev extra)")
    if shutil.which("dot") is None:
        pytest.skip("the notebooks display graphs: needs the Graphviz dot binary (apt-get install graphviz)")
    if "mnist" in path.stem:  # only the MNIST notebook needs the data set
        monkeypatch.setenv("GRADENGINE_DATA", str(request.getfixturevalue("mnist_dir")))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    assert nb.cells and all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed without outputs: run python notebooks/make_notebooks.py"
    )
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
