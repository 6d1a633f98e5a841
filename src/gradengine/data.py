"""Data sets and batching: MNIST (IDX files), a numpy ``DataLoader`` and ``make_moons``.

MNIST
    ``load_mnist(normalize=True)`` reads the four standard IDX files (gzip-compressed or raw)
    from a directory, downloading any that are missing, verifies the sha256 of the
    decompressed bytes, and gives float32 images in [0, 1] (the fast form for training).
    The directory is, in order of precedence: the ``root`` argument, the ``GRADENGINE_DATA``
    environment variable, or ``$XDG_CACHE_HOME/gradengine/mnist``
    (``~/.cache/gradengine/mnist`` when ``XDG_CACHE_HOME`` is unset). A relative directory is
    resolved against the current directory once, when ``load_mnist`` reads it; every message
    shows the absolute path. Setting ``GRADENGINE_OFFLINE=1`` forbids downloads (the test
    suite sets it). ``read_idx`` and ``write_idx`` work on any unsigned-byte IDX file.

Errors
    Every problem with the data itself (files missing and not downloadable, truncated or
    corrupt files, wrong magic numbers, checksum mismatches) raises ``MNISTError``, a
    ``RuntimeError`` whose message names the file involved; missing files raise its subclass
    ``MNISTNotFoundError``, whose attributes say which files, where and why. Bad arguments (a negative
    batch size, a float array passed to ``write_idx``) raise ``TypeError``/``ValueError``.

This module needs numpy, and tqdm for the download progress bar.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import math
import numbers
import os
import sys
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np

from ._files import atomic_write

__all__ = [
    "MNISTError",
    "MNISTNotFoundError",
    "MNIST_SHA256",
    "MNIST_MIRRORS",
    "load_mnist",
    "read_idx",
    "write_idx",
    "DataLoader",
    "make_moons",
]

PathLike = Union[str, os.PathLike]

#: sha256 of the *decompressed* IDX bytes, so any faithful compression of a file passes.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Tried in order; each serves ``<file name>.gz``.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

DOWNLOAD_TIMEOUT = 30.0  # seconds, per network operation

_IDX_UBYTE = 0x08  # IDX type code for unsigned bytes, the only type MNIST uses
_GZIP_MAGIC = b"\x1f\x8b"


class MNISTError(RuntimeError):
    """A data file is missing (and could not be downloaded), corrupt or not the expected one."""


class MNISTNotFoundError(MNISTError):
    """MNIST files are missing from the data directory and were not downloaded.

    Attributes:
        directory: the absolute directory that was searched.
        source: where that directory came from: ``"root"`` (the argument), ``"env"``
            (``$GRADENGINE_DATA``) or ``"default"`` (the cache directory).
        missing: the missing file names (without ``.gz``).
        download_error: why nothing was downloaded: the last download error, or None when
            downloading was off (``download=False`` or ``GRADENGINE_OFFLINE``).
    """

    def __init__(self, message: str, directory: Path, source: str, missing: list[str],
                 download_error: str | None) -> None:
        super().__init__(message)
        self.directory, self.source, self.missing, self.download_error = directory, source, missing, download_error


# --------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------


def _read_decompressed(path: Path) -> bytes:
    """Return the file's bytes, gunzipped if it starts with the gzip magic (whatever its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:  # permission denied, a directory, an I/O error
        raise MNISTError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise MNISTError(
            f"{path}: corrupt or truncated gzip file ({type(exc).__name__}: {exc}). "
            "Delete it and download it again."
        ) from exc


def read_idx(
    path: PathLike, expected_sha256: str | None = None, *, ndim: int | None = None
) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw or gzip-compressed) into a ``uint8`` array.

    The IDX format is a 4-byte magic number ``0x00 0x00 <type> <ndim>`` (type ``0x08``
    means unsigned byte), then ``ndim`` big-endian uint32 sizes, then exactly
    ``prod(sizes)`` bytes of data in C order.

    Args:
        path: the file. Compression is detected from the content, not the name.
        expected_sha256: if given, the hex sha256 the *decompressed* bytes must have.
        ndim: if given, the number of dimensions the file must declare (MNIST images
            have 3, magic ``0x00000803``; labels have 1, magic ``0x00000801``).

    Returns:
        A new, writable ``uint8`` array with the declared shape.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        MNISTError: an unreadable file (permissions), corrupt gzip data, a wrong magic number, a
            payload whose length is not exactly the product of the sizes, or a checksum mismatch.
    """
    path = Path(path)
    data = _read_decompressed(path)

    if len(data) < 4:
        raise MNISTError(f"{path}: truncated IDX file, only {len(data)} bytes (a header needs at least 4)")
    magic = int.from_bytes(data[:4], "big")
    zeros, dtype_code, file_ndim = data[:2], data[2], data[3]
    if zeros != b"\x00\x00" or dtype_code != _IDX_UBYTE or file_ndim == 0:
        raise MNISTError(
            f"{path}: not an unsigned-byte IDX file: magic number 0x{magic:08X}, "
            f"expected 0x000008NN with NN the number of dimensions"
        )
    if ndim is not None and file_ndim != ndim:
        raise MNISTError(
            f"{path}: wrong magic number 0x{magic:08X}, expected 0x{(_IDX_UBYTE << 8) | ndim:08X} "
            f"(a {ndim}-dimensional array)"
        )

    header_len = 4 + 4 * file_ndim
    if len(data) < header_len:
        raise MNISTError(
            f"{path}: truncated IDX header: {file_ndim} dimensions need {header_len} header bytes, "
            f"the file has {len(data)} bytes"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(file_ndim))
    expected_len = math.prod(shape)
    actual_len = len(data) - header_len
    if actual_len != expected_len:
        problem = "truncated file" if actual_len < expected_len else "trailing garbage after the data"
        raise MNISTError(
            f"{path}: {problem}: shape {shape} needs {expected_len} data bytes "
            f"after the {header_len}-byte header, found {actual_len}"
        )

    if expected_sha256 is not None:
        actual_sha256 = hashlib.sha256(data).hexdigest()
        if actual_sha256 != expected_sha256.lower():
            raise MNISTError(
                f"{path}: checksum mismatch: sha256 of the decompressed data is {actual_sha256}, "
                f"expected {expected_sha256}. The file is corrupt or not the expected file: "
                "delete it and download it again."
            )

    # frombuffer over immutable bytes is read-only; copy so callers get a normal array.
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write a ``uint8`` array as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    ``read_idx(path)`` gives the array back. Compression is deterministic (no timestamp),
    so writing the same array twice gives identical files.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx({str(path)!r}): only uint8 arrays are supported, got dtype {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx({str(path)!r}): IDX needs 1 to 255 dimensions, got {array.ndim}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"write_idx({str(path)!r}): every dimension must be < 2**32, got shape {array.shape}")

    header = bytes([0, 0, _IDX_UBYTE, array.ndim])
    header += b"".join(size.to_bytes(4, "big") for size in array.shape)
    data = header + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)


# --------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------


_SOURCES = {"root": "the root argument", "env": "the GRADENGINE_DATA environment variable",
            "default": "the default cache directory"}


def _mnist_dir(root: PathLike | None) -> tuple[Path, str]:
    """Return the absolute directory ``load_mnist`` uses and where it came from (a key of
    ``_SOURCES``).

    A relative ``root`` or ``$GRADENGINE_DATA`` is resolved against the current directory
    here, once: everything after uses the absolute path. A relative ``$GRADENGINE_DATA`` that
    does not exist raises (it was most likely meant for another directory: a notebook runs in
    ``notebooks/``), rather than being created and downloaded into. A directory that holds
    none of the MNIST files but has a ``mnist/`` subdirectory resolves to that subdirectory.
    """
    if root is not None:
        given, source = Path(root), "root"
    elif os.environ.get("GRADENGINE_DATA"):
        given, source = Path(os.environ["GRADENGINE_DATA"]), "env"
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(os.path.abspath(Path(cache).expanduser() / "gradengine" / "mnist")), "default"

    directory = Path(os.path.abspath(given.expanduser()))
    if source == "env" and not given.expanduser().is_absolute() and not directory.is_dir():
        raise MNISTError(
            f"GRADENGINE_DATA={os.environ['GRADENGINE_DATA']} is a relative path, and {directory} "
            f"(relative to the current directory {Path.cwd()}) does not exist. Set GRADENGINE_DATA "
            "to an absolute path, e.g. export GRADENGINE_DATA=\"$(realpath DIR)\""
        )
    if directory.exists() and not directory.is_dir():
        named = "root" if source == "root" else f"GRADENGINE_DATA={os.environ['GRADENGINE_DATA']}"
        raise MNISTError(f"{named}: {directory} is a file, not a directory holding the MNIST files")
    subdir = directory / "mnist"
    if subdir.is_dir() and not any(_find_file(directory, name) for name in MNIST_SHA256):
        return subdir, source
    return directory, source


def _find_file(directory: Path, name: str) -> Path | None:
    """Return ``directory/name.gz`` or ``directory/name``, whichever exists (gz first)."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _fetch(url: str, dest: Path, expected_sha256: str | None, ndim: int, verbose: bool) -> None:
    """Download ``url`` to ``dest`` atomically, checking the content before it lands there.

    The bytes go to a temporary file in ``dest``'s directory, are checked with ``read_idx``,
    and only then moved onto ``dest`` (:func:`gradengine._files.atomic_write`); on any failure the
    temporary file is removed.
    With ``verbose``, a tqdm progress bar (size, rate, ETA) is drawn on stderr.
    """
    from tqdm.auto import tqdm

    check = lambda tmp: read_idx(tmp, expected_sha256, ndim=ndim)  # noqa: E731
    with atomic_write(dest, check=check, suffix=".part") as out, \
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(total=total, desc=dest.name, unit="B", unit_scale=True, unit_divisor=1024,
                  file=sys.stderr, disable=not verbose, leave=True) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _download(name: str, directory: Path, expected_sha256: str | None, ndim: int, verbose: bool) -> str | None:
    """Try every mirror for ``name``; return None on success, else the last error as text."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {directory}: {exc}"
    last_error = None
    for mirror in MNIST_MIRRORS:
        url = f"{mirror}{name}.gz"
        if verbose:
            print(f"gradengine: downloading {url}", file=sys.stderr)
        try:
            _fetch(url, directory / f"{name}.gz", expected_sha256, ndim, verbose)
            return None
        except (OSError, http.client.HTTPException, MNISTError) as exc:
            last_error = f"{url}: {type(exc).__name__}: {exc}"
            if verbose:
                print(f"gradengine: download failed: {last_error}", file=sys.stderr)
    return last_error


def load_mnist(
    root: PathLike | None = None,
    download: bool = True,
    *,
    normalize: bool = False,
    verbose: bool = True,
    verify: bool = True,
    split: str = "both",
) -> Any:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, or one of them with ``split``.

    Images have shape ``(N, 28, 28)``: with ``normalize=True``, ``float32`` in [0, 1] (the
    pixel values divided by 255 in float32), the form to train on; by default the raw
    ``uint8`` pixels. Labels are ``int64`` arrays of shape ``(N,)`` with values 0-9; N is
    60000 for train and 10000 for test. (Dividing uint8 images by the Python float ``255.0``
    gives float64, which makes every batch and every layer twice as slow: use ``normalize``.)

    Args:
        root: directory holding the four IDX files (``train-images-idx3-ubyte``,
            ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
            ``t10k-labels-idx1-ubyte``), each gzip-compressed (``.gz``) or raw. Defaults to
            ``$GRADENGINE_DATA``, then ``$XDG_CACHE_HOME/gradengine/mnist`` (or
            ``~/.cache/gradengine/mnist``). A relative path is resolved against the current
            directory. A directory whose ``mnist/`` subdirectory holds the files works too.
        download: fetch missing files from ``MNIST_MIRRORS`` into that directory (never when
            the environment variable ``GRADENGINE_OFFLINE`` is set to a non-empty value).
        normalize: return float32 images in [0, 1] instead of uint8 pixels.
        verbose: draw a download progress bar on stderr.
        verify: check every file's sha256 against ``MNIST_SHA256``. With ``verify=False``
            only the IDX structure is checked, so other IDX data sets with the same file
            names load too.
        split: ``"both"`` (the default), or ``"train"`` / ``"test"`` for that split's
            ``(x, y)`` alone (as ``torchvision``'s ``train=True/False``): only its two files
            are read, or downloaded if missing.

    Raises:
        MNISTNotFoundError: files missing and not downloaded (a subclass of ``MNISTError``).
        MNISTError: files corrupt or failing the checksum; a train/test set whose image and
            label counts differ; a relative ``$GRADENGINE_DATA`` that does not exist.
    """
    prefixes = {"both": ("train", "t10k"), "train": ("train",), "test": ("t10k",)}.get(split)
    if prefixes is None:
        raise ValueError(f"load_mnist: split must be 'both', 'train' or 'test', got {split!r}")
    names = [name for name in MNIST_SHA256 if name.startswith(prefixes)]
    try:
        directory, source = _mnist_dir(root)
        missing = [name for name in names if _find_file(directory, name) is None]
    except PermissionError as exc:  # a directory on the way that may not be listed
        raise MNISTError(f"{exc.filename}: cannot look for the MNIST files there ({exc.strerror})") from exc
    ndims = {name: 3 if "images" in name else 1 for name in MNIST_SHA256}
    checksums = {name: MNIST_SHA256[name] if verify else None for name in MNIST_SHA256}

    if missing and (not download or os.environ.get("GRADENGINE_OFFLINE")):
        reason = ("download=False, so no download was attempted." if not download else
                  f"GRADENGINE_OFFLINE={os.environ['GRADENGINE_OFFLINE']} is set, so no download was attempted.")
        raise MNISTNotFoundError(_missing_files_message(directory, source, missing, reason),
                                 directory, source, missing, None)
    created = _missing_ancestors(directory)  # the folders a download creates
    for i, name in enumerate(missing):
        error = _download(name, directory, checksums[name], ndims[name], verbose)
        if error is not None:
            if i == 0:  # nothing was downloaded: leave no empty folders behind
                for folder in created:
                    with contextlib.suppress(OSError):
                        folder.rmdir()
            reason = f"Downloading {name}.gz failed from every mirror; last error: {error}"
            raise MNISTNotFoundError(_missing_files_message(directory, source, missing[i:], reason),
                                     directory, source, missing[i:], error)

    arrays = {name: read_idx(_find_file(directory, name), checksums[name], ndim=ndims[name]) for name in names}
    splits = []
    for prefix in prefixes:
        images, labels = arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"]
        if len(images) != len(labels):
            raise MNISTError(
                f"{directory}: {prefix}-images-idx3-ubyte has {len(images)} images but "
                f"{prefix}-labels-idx1-ubyte has {len(labels)} labels"
            )
        if normalize:
            images = np.divide(images, np.float32(255.0), dtype=np.float32)
        splits.append((images, labels.astype(np.int64)))
    return (splits[0], splits[1]) if split == "both" else splits[0]


def _missing_ancestors(directory: Path) -> list[Path]:
    """``directory`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    return missing


def _missing_files_message(directory: Path, source: str, missing: list[str], reason: str) -> str:
    files = "\n".join(f"  {name}.gz (or {name})" for name in missing)
    return (
        f"MNIST files not found in {directory} (chosen from {_SOURCES[source]}):\n{files}\n"
        f"{reason}\n"
        f"To fix this, put the four files (gzip-compressed or raw) in {directory}, "
        "pass load_mnist(root=...) a directory that holds them, "
        "or set the GRADENGINE_DATA environment variable to such a directory."
    )


# --------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------


class DataLoader:
    """Iterate over ``(xb, yb)`` mini-batches of numpy arrays (or just ``xb`` when ``y`` is None).

    Batches keep the arrays' dtypes (uint8 images stay uint8). Without shuffling they are
    views of ``x``/``y`` (no copying; don't modify them in place). With ``shuffle=True``,
    every ``iter()`` draws a fresh permutation from a generator created once from ``seed``,
    so epochs differ from each other while a given seed replays the same sequence of epochs;
    each batch is then gathered with ``np.take`` into a new array.

    Example:
        >>> x_train = np.zeros((60000, 28, 28), dtype=np.uint8)
        >>> y_train = np.arange(60000) % 10
        >>> loader = DataLoader(x_train, y_train, batch_size=32, shuffle=True, seed=0)
        >>> len(loader)  # batches per epoch
        1875
        >>> xb, yb = next(iter(loader))
        >>> xb.shape, xb.dtype, yb.shape
        ((32, 28, 28), dtype('uint8'), (32,))
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None = None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int | np.random.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        x = _samples("x", x)
        if x.ndim == 0:
            raise ValueError("DataLoader: x must have at least one dimension (the samples), got a scalar")
        if y is not None:
            y = _samples("y", y)
            if y.ndim == 0 or len(y) != len(x):
                y_len = "y is a scalar" if y.ndim == 0 else f"len(y) = {len(y)}"
                raise ValueError(
                    f"DataLoader: x and y must have the same number of samples, got len(x) = {len(x)} and {y_len}"
                )
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")

        self.x = x
        self.y = y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        try:
            self._rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"DataLoader: seed must be None, a non-negative integer or a numpy Generator, "
                             f"got {seed!r} ({exc})") from None

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return len(self.x) // self.batch_size
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray] | np.ndarray]:
        # The permutation is drawn here, eagerly, so each iter() call is one epoch draw.
        order = self._rng.permutation(len(self.x)) if self.shuffle else None
        return self._batches(order)

    def _batches(self, order: np.ndarray | None) -> Iterator[tuple[np.ndarray, np.ndarray] | np.ndarray]:
        # Gathering each batch with np.take was the fastest option measured (faster than
        # permuting the whole data set once per epoch and slicing, or fancy indexing).
        stop = len(self) * self.batch_size if self.drop_last else len(self.x)
        for start in range(0, stop, self.batch_size):
            if order is None:
                batch = slice(start, start + self.batch_size)
                xb = self.x[batch]
                yb = None if self.y is None else self.y[batch]
            else:
                indices = order[start : start + self.batch_size]
                xb = self.x.take(indices, axis=0)
                yb = None if self.y is None else self.y.take(indices, axis=0)
            yield xb if yb is None else (xb, yb)


def _samples(name: str, a: object) -> np.ndarray:
    """``a`` as an array of samples for the ``DataLoader``, or a ``TypeError`` saying what it is."""
    if a is None or isinstance(a, (str, bytes)):
        raise TypeError(f"DataLoader: {name} must be an array of samples, got {type(a).__name__}")
    try:
        return np.asarray(a)
    except ValueError:  # ragged: most often (x, y) passed as one argument, the PyTorch-dataset habit
        raise TypeError(f"DataLoader: {name} must be one array of samples, got a {type(a).__name__} of arrays "
                        "with different shapes; for inputs and labels pass DataLoader(x, y)") from None


# --------------------------------------------------------------------------------------
# Toy data
# --------------------------------------------------------------------------------------


def make_moons(
    n_samples: int = 100,
    noise: float | None = None,
    seed: int | np.random.Generator | None = None,
    *,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, like ``sklearn.datasets.make_moons``.

    Class 0 is the upper half circle of radius 1 centred at (0, 0) with ``n_samples // 2``
    points; class 1 is the lower half circle centred at (1, 0.5) with the rest. Points are
    evenly spaced along each arc, shuffled (unless ``shuffle=False``), then get Gaussian
    noise with standard deviation ``noise`` if given. The same ``seed`` gives the same data.

    Returns:
        ``X`` float64 of shape ``(n_samples, 2)`` and ``y`` int64 of shape ``(n_samples,)``.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples <= 0:
        raise ValueError(f"make_moons: n_samples must be a positive integer, got {n_samples!r}")
    if noise is not None and not noise >= 0:
        raise ValueError(f"make_moons: noise must be None or a non-negative number, got {noise!r}")
    rng = np.random.default_rng(seed)

    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.concatenate([
        np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
        np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1),
    ])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])

    if shuffle:
        perm = rng.permutation(n_samples)
        X, y = X[perm], y[perm]
    if noise is not None:
        X += rng.normal(scale=noise, size=X.shape)
    return X, y
