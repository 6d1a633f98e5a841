"""Fixtures shared across the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Directory holding the real MNIST IDX files; skips the test when it is absent.

    ``$GRADENGINE_DATA`` if set, else ``<repo>/../shared/data/mnist`` (where CI keeps them).
    """
    env = os.environ.get("GRADENGINE_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "mnist"
    if not path.is_dir():
        pytest.skip(f"real MNIST data not found at {path} (set GRADENGINE_DATA to a directory holding it)")
    return path
