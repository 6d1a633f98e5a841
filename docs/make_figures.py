"""Regenerate the figures the README shows, into ``docs/`` (or ``--out DIR``).

    python docs/make_figures.py

Needs the Graphviz ``dot`` program (``apt-get install graphviz``, ``brew install graphviz`` or
``conda install graphviz``). Every figure is one function below, registered in ``FIGURES``;
the output is deterministic, so a regenerated figure only shows up in ``git diff`` if it changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from gradengine import Value
from gradengine.viz import GraphvizNotFoundError, render

DOCS = Path(__file__).resolve().parent


def graph_example(out: Path) -> Path:
    """A tanh neuron after backward(), the example of micrograd's lecture: o = tanh(x1*w1 + x2*w2 + b)."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return render(o, out / "graph_example.svg")


def mnist_curves(out: Path) -> Path:
    """The loss and accuracy curves of ``gradengine train`` (10 epochs, about 10 s; MNIST is
    read from ``$GRADENGINE_DATA``)."""
    from gradengine import cli

    with tempfile.TemporaryDirectory() as tmp:
        if cli.main(["train", "--out-dir", tmp, "--no-progress"]) != 0:
            raise SystemExit("gradengine train failed: see its error above")
        out.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(Path(tmp) / "curves.png", out / "mnist_curves.png"))


FIGURES: dict[str, Callable[[Path], Path]] = {
    "graph_example": graph_example,
    "mnist_curves": mnist_curves,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="output directory (default: docs/)")
    parser.add_argument("figures", nargs="*", metavar="FIGURE",
                        help=f"figures to make (default: all of {', '.join(FIGURES)})")
    args = parser.parse_args(argv)
    unknown = [f for f in args.figures if f not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    try:
        for name in args.figures or FIGURES:
            path = FIGURES[name](args.out)
            print(f"wrote {path}")
    except GraphvizNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
