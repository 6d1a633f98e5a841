"""What every benchmark's command line shares: argument types that refuse nonsense up front
(a zero or negative count, a batch size that is not a number) and one-line errors, exit 2, for
missing or damaged data, instead of a traceback from deep inside a run.

Nothing here imports NumPy: a benchmark parses its arguments before NumPy is imported, as the
BLAS thread settings must be in the environment first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

__all__ = ["positive_int", "nonnegative_int", "positive_int_list", "run"]


def _int(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count of rounds, steps, runs, images; a batch size; threads)."""
    return _int(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (e.g. warm-up epochs)."""
    return _int(text, 0, "a non-negative integer")


def positive_int_list(text: str) -> str:
    """Comma-separated positive integers (``32,128,512``), given back in that form."""
    parts = [p.strip() for p in text.split(",")]
    return ",".join(str(_int(p, 1, "comma-separated positive integers such as 32,128,512")) for p in parts)


def run(main: Callable[..., int], *args: Any) -> int:
    """``main(*args)``, with a problem in the data (missing or damaged MNIST files) reported
    in one line naming it, and exit code 2."""
    from gradengine.data import MNISTError

    try:
        return main(*args)
    except MNISTError as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        return 2
