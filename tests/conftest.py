"""Fixtures shared across the test suite.

Two rules hold for the whole run:

- **No test touches the network.** ``GRADENGINE_OFFLINE=1`` is set for the session (so
  subprocesses and notebook kernels cannot download MNIST either), and ``urlopen`` fails the
  test loudly if anything in the test process still tries.
- **A relative ``GRADENGINE_DATA`` is resolved once,** against the directory pytest was started
  from, and written back as an absolute path: tests that change directory, subprocesses and
  notebook kernels (which run in other directories) all see the same data. ``PYTHONPATH``
  likewise (``PYTHONPATH=src python -m pytest``), so that they all import the same gradengine.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def pytest_configure(config: pytest.Config) -> None:
    env = os.environ.get("GRADENGINE_DATA")
    if env:
        os.environ["GRADENGINE_DATA"] = os.path.abspath(os.path.expanduser(env))
    if os.environ.get("PYTHONPATH"):
        os.environ["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) if p else p for p in os.environ["PYTHONPATH"].split(os.pathsep))
    os.environ["GRADENGINE_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to download (tests that test downloading install a fake)."""

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        pytest.fail(f"a test tried to use the network: urlopen({url!r})", pytrace=True)

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def mnist_location() -> tuple[Path, str]:
    """The directory the tests read real MNIST from, and where that choice came from."""
    env = os.environ.get("GRADENGINE_DATA")
    if env:
        return Path(env), f"GRADENGINE_DATA={env}"
    return REPO_ROOT.parent / "shared" / "data" / "mnist", "GRADENGINE_DATA is unset; tried the default"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Absolute directory holding the four real MNIST IDX files; skips the test otherwise.

    ``$GRADENGINE_DATA`` if set, else ``<repo>/../shared/data/mnist`` (where CI keeps them).
    A directory that is missing, empty or incomplete skips the test with the reason, and never
    leads to a download.
    """
    path, origin = mnist_location()
    if not path.is_dir():
        pytest.skip(f"real MNIST data not found: {path} is not a directory ({origin}); "
                    "set GRADENGINE_DATA to the absolute path of a directory holding the four files")
    if not any((path / f"{name}.gz").is_file() or (path / name).is_file() for name in MNIST_FILES) \
            and (path / "mnist").is_dir():
        path = path / "mnist"  # load_mnist accepts a data folder with an mnist/ subdirectory too
    missing = [name for name in MNIST_FILES if not ((path / f"{name}.gz").is_file() or (path / name).is_file())]
    if missing:
        pytest.skip(f"real MNIST data not found: {path} ({origin}) lacks {', '.join(missing)} (.gz or raw)")
    return path
