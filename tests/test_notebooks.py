"""Every committed notebook runs top to bottom (as a learner would run it), and regenerating
the notebooks is reproducible: stable cell ids, no timestamps, no object addresses, no paths."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def make_notebooks():
    """The notebooks/make_notebooks.py module (it needs nbformat)."""
    pytest.importorskip("nbformat", reason="writing notebooks needs nbformat (the dev extra)")
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOK_DIR / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_is_committed():
    assert [p.stem for p in NOTEBOOKS] == sorted(make_notebooks().NOTEBOOKS)
    assert [p.stem[:2] for p in NOTEBOOKS][:5] == ["01", "02", "03", "04", "05"]


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_notebook_hard_codes_a_path(path):
    sources = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    for fragment in ("shared/data", "/work/", "/home/", "/tmp/", "/root/"):
        assert fragment not in sources, f"{path.name} hard-codes a path ({fragment})"


def test_make_notebooks_setup_hard_codes_no_path():
    setup = make_notebooks().SETUP.source
    assert "shared" not in setup and "../" not in setup and "GRADENGINE_DATA" in setup


def test_writing_a_notebook_twice_gives_the_same_cell_ids(tmp_path, monkeypatch):
    m = make_notebooks()
    monkeypatch.setattr(m, "HERE", tmp_path)
    setup_before = dict(m.SETUP)
    ids = []
    for _ in range(2):
        path = m.write("03_mnist_tensor_engine", m.NOTEBOOKS["03_mnist_tensor_engine"])
        ids.append([c["id"] for c in json.loads(path.read_text())["cells"]])
    assert ids[0] == ids[1] and len(set(ids[0])) == len(ids[0])
    # and they are the ids of the committed notebook, which was made the same way
    committed = json.loads((NOTEBOOK_DIR / "03_mnist_tensor_engine.ipynb").read_text())
    assert [c["id"] for c in committed["cells"]] == ids[0]
    assert dict(m.SETUP) == setup_before  # the shared SETUP cell is copied, never mutated
    m.write("02_scalar_mlp_moons", m.NOTEBOOKS["02_scalar_mlp_moons"])
    assert ids[0] == [c["id"] for c in json.loads((tmp_path / "03_mnist_tensor_engine.ipynb").read_text())["cells"]]


@pytest.mark.slow
def test_executing_twice_records_no_timestamps_or_addresses(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="executing notebooks needs nbformat (the dev extra)")
    pytest.importorskip("nbclient", reason="executing notebooks needs nbclient (the dev extra)")
    m = make_notebooks()
    monkeypatch.setattr(m, "HERE", tmp_path)
    cells = [m.code("""
class Picture:
    def _repr_svg_(self):
        return '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
Picture()
"""), m.code("print(1 + 1)")]
    runs = []
    for _ in range(2):
        path = m.write("tiny", cells)
        m.execute(path)
        runs.append(path.read_text())
    assert runs[0] == runs[1]
    nb = nbformat.reads(runs[0], as_version=4)
    assert nb.cells[0].outputs[0]["data"]["text/plain"] == "<__main__.Picture>"  # IPython: "<__main__.Picture at 0x7f...>"
    assert all("execution" not in c.metadata for c in nb.cells)


def test_committed_mnist_notebook_is_reproducible_output():
    text = (NOTEBOOK_DIR / "03_mnist_tensor_engine.ipynb").read_text()
    nb = json.loads(text)
    assert all("execution" not in c.get("metadata", {}) for c in nb["cells"]), "timestamps recorded"
    plain = [o["data"]["text/plain"] for c in nb["cells"] for o in c.get("outputs", []) if "text/plain" in o.get("data", {})]
    assert not [t for t in plain if re.search(r" at 0x[0-9a-f]+", "".join(t))], "object addresses in outputs"
