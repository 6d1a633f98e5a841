"""Tests for gradengine.data: IDX files, load_mnist, DataLoader and make_moons.

No test touches the network: conftest's autouse fixture makes ``urlopen`` fail loudly and sets
``GRADENGINE_OFFLINE``; the download tests lift both with ``serve``, installing a fake server that
serves small in-memory files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradengine import data
from gradengine.data import DataLoader, MNISTError, load_mnist, make_moons, read_idx, write_idx

MNIST_NAMES = list(data.MNIST_SHA256)


def idx_bytes(array: np.ndarray) -> bytes:
    """The decompressed IDX encoding of a uint8 array, built independently of write_idx."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def fake_mnist_arrays(n_train: int = 6, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_fake_mnist(directory: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(directory / (f"{name}.gz" if gz else name), array)


@pytest.fixture
def fake_checksums(monkeypatch):
    """Make MNIST_SHA256 hold the checksums of fake_mnist_arrays(); returns those arrays."""
    arrays = fake_mnist_arrays()
    for name, array in arrays.items():
        monkeypatch.setitem(data.MNIST_SHA256, name, hashlib.sha256(idx_bytes(array)).hexdigest())
    return arrays


def assert_loaded(result, arrays: dict[str, np.ndarray]) -> None:
    (x_train, y_train), (x_test, y_test) = result
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64


# --------------------------------------------------------------------------------------
# read_idx / write_idx
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 28, 28), (0, 4)])
def test_idx_roundtrip(tmp_path, suffix, shape):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / f"a-idx-ubyte{suffix}"
    write_idx(path, array)
    back = read_idx(path, hashlib.sha256(idx_bytes(array)).hexdigest())
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


@settings(max_examples=50, deadline=None)
@given(
    array=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)),
    gz=st.booleans(),
)
def test_idx_roundtrip_property(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / ("x.gz" if gz else "x")
    write_idx(path, array)
    np.testing.assert_array_equal(read_idx(path), array)
    assert read_idx(path).shape == array.shape


def test_write_idx_formats(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "raw", array)
    write_idx(tmp_path / "packed.gz", array)
    assert (tmp_path / "raw").read_bytes() == idx_bytes(array)
    assert gzip.decompress((tmp_path / "packed.gz").read_bytes()) == idx_bytes(array)
    # Deterministic compression: same array, same bytes.
    write_idx(tmp_path / "again.gz", array)
    assert (tmp_path / "again.gz").read_bytes() == (tmp_path / "packed.gz").read_bytes()


def test_read_idx_detects_gzip_by_content(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    (tmp_path / "raw-named.gz").write_bytes(idx_bytes(array))
    (tmp_path / "gzipped-named-raw").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-named.gz"), array)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "gzipped-named-raw")), array)


def test_write_idx_rejects_bad_arrays(tmp_path):
    with pytest.raises(TypeError, match="uint8.*float64"):
        write_idx(tmp_path / "f", np.zeros(3))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "s", np.uint8(3))


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize("cut", [1, 100])
def test_truncated_raw_file(tmp_path, cut):
    array = np.zeros((2, 28, 28), dtype=np.uint8)
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(array)[:-cut])
    with pytest.raises(MNISTError, match="truncated") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "1568" in message and str(1568 - cut) in message  # expected vs actual data bytes


def test_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2]))
    with pytest.raises(MNISTError, match="truncated IDX header") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(MNISTError, match="only 2 bytes"):
        read_idx(path)


def test_trailing_garbage(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.arange(5, dtype=np.uint8)) + b"junk")
    with pytest.raises(MNISTError, match="trailing garbage") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "needs 5 data bytes" in message and "found 9" in message


def test_truncated_gzip(tmp_path):
    path = tmp_path / "images.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(MNISTError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "images.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 16] = bytes(16)
    path.write_bytes(bytes(raw))
    with pytest.raises(MNISTError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("magic", [b"\x00\x00\x0d\x03", b"\x12\x34\x08\x01", b"\x00\x00\x08\x00"])
def test_wrong_magic(tmp_path, magic):
    path = tmp_path / "weird.gz"
    path.write_bytes(gzip.compress(magic + bytes(64)))
    with pytest.raises(MNISTError, match="magic number 0x" + magic.hex().upper()) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_wrong_number_of_dimensions(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.arange(3, dtype=np.uint8))
    with pytest.raises(MNISTError, match="wrong magic number 0x00000801, expected 0x00000803") as info:
        read_idx(path, ndim=3)
    assert str(path) in str(info.value)


def test_checksum_mismatch(tmp_path):
    path = tmp_path / "x.gz"
    array = np.arange(10, dtype=np.uint8)
    write_idx(path, array)
    actual = hashlib.sha256(idx_bytes(array)).hexdigest()
    with pytest.raises(MNISTError, match="checksum mismatch") as info:
        read_idx(path, "0" * 64)
    message = str(info.value)
    assert str(path) in message and actual in message and "0" * 64 in message
    assert "delete it and download it again" in message
    np.testing.assert_array_equal(read_idx(path, actual.upper()), array)


# --------------------------------------------------------------------------------------
# load_mnist from local files
# --------------------------------------------------------------------------------------


def test_load_mnist_real(mnist_dir):
    (x_train, y_train), (x_test, y_test) = load_mnist(mnist_dir, download=False)  # verify=True
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    for labels in (y_train, y_test):
        assert labels.min() == 0 and labels.max() == 9
        assert set(np.unique(labels)) == set(range(10))
    assert (y_train[0], y_test[0]) == (5, 7)  # the well-known first labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_fake_files(tmp_path, fake_checksums, gz):
    write_fake_mnist(tmp_path, fake_checksums, gz=gz)
    assert_loaded(load_mnist(tmp_path, download=False), fake_checksums)
    assert_loaded(load_mnist(str(tmp_path), download=False), fake_checksums)


def test_load_mnist_mixed_raw_and_gz(tmp_path, fake_checksums):
    for i, (name, array) in enumerate(fake_checksums.items()):
        write_idx(tmp_path / (name if i % 2 else f"{name}.gz"), array)
    assert_loaded(load_mnist(tmp_path, download=False), fake_checksums)


def test_load_mnist_verifies_checksums(tmp_path):
    arrays = fake_mnist_arrays()
    write_fake_mnist(tmp_path, arrays)
    with pytest.raises(MNISTError, match="checksum mismatch") as info:
        load_mnist(tmp_path, download=False)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert data.MNIST_SHA256["train-images-idx3-ubyte"] in str(info.value)
    assert_loaded(load_mnist(tmp_path, download=False, verify=False), arrays)


def test_load_mnist_mnist_subdirectory(tmp_path, fake_checksums):
    write_fake_mnist(tmp_path / "mnist", fake_checksums)
    assert_loaded(load_mnist(tmp_path, download=False), fake_checksums)


def test_load_mnist_uses_env_var(tmp_path, monkeypatch, fake_checksums):
    write_fake_mnist(tmp_path / "data", fake_checksums)
    monkeypatch.setenv("GRADENGINE_DATA", str(tmp_path / "data"))
    assert_loaded(load_mnist(download=False), fake_checksums)
    # An explicit root wins over the environment variable.
    with pytest.raises(MNISTError, match="root argument"):
        load_mnist(tmp_path / "elsewhere", download=False)


def test_load_mnist_default_cache_dir(tmp_path, monkeypatch, fake_checksums):
    monkeypatch.delenv("GRADENGINE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MNISTError, match="default cache directory") as info:
        load_mnist(download=False)
    assert str(tmp_path / "cache" / "gradengine" / "mnist") in str(info.value)
    write_fake_mnist(tmp_path / "cache" / "gradengine" / "mnist", fake_checksums)
    assert_loaded(load_mnist(download=False), fake_checksums)


def test_load_mnist_count_mismatch(tmp_path):
    arrays = fake_mnist_arrays()
    arrays["t10k-labels-idx1-ubyte"] = arrays["t10k-labels-idx1-ubyte"][:-1]
    write_fake_mnist(tmp_path, arrays)
    with pytest.raises(MNISTError, match="t10k-images-idx3-ubyte has 4 images but t10k-labels-idx1-ubyte has 3"):
        load_mnist(tmp_path, download=False, verify=False)


def test_load_mnist_swapped_files(tmp_path):
    arrays = fake_mnist_arrays()
    arrays["train-images-idx3-ubyte"] = arrays["train-labels-idx1-ubyte"]
    write_fake_mnist(tmp_path, arrays)
    with pytest.raises(MNISTError, match="train-images-idx3-ubyte.gz: wrong magic number 0x00000801"):
        load_mnist(tmp_path, download=False, verify=False)


def test_load_mnist_missing_without_download(tmp_path):
    arrays = fake_mnist_arrays()
    del arrays["t10k-labels-idx1-ubyte"]
    write_fake_mnist(tmp_path, arrays)
    with pytest.raises(MNISTError) as info:
        load_mnist(tmp_path, download=False)  # the autouse fixture fails any network use
    message = str(info.value)
    assert str(tmp_path) in message and "GRADENGINE_DATA" in message and "root=" in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "train-images" not in message
    assert "download=False" in message


# --------------------------------------------------------------------------------------
# load_mnist downloads (with a fake urlopen)
# --------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes, content_length: bool = True):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))} if content_length else {}


class FakeServer:
    """Stands in for urlopen: serves ``files[url]`` or raises URLError, recording calls."""

    def __init__(self, files: dict[str, bytes], content_length: bool = True):
        self.files = files
        self.content_length = content_length
        self.requests: list[tuple[str, float]] = []

    def __call__(self, url, timeout=None):
        self.requests.append((url, timeout))
        if url not in self.files:
            raise urllib.error.URLError("Name or service not known")
        return FakeResponse(self.files[url], self.content_length)


def serve(monkeypatch, server) -> None:
    """Let load_mnist download, from ``server`` instead of the network."""
    monkeypatch.delenv("GRADENGINE_OFFLINE", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", server)


def mirror_files(mirror: str, arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {f"{mirror}{name}.gz": gzip.compress(idx_bytes(array)) for name, array in arrays.items()}


def test_download_all_mirrors_fail(tmp_path, monkeypatch):
    server = FakeServer({})
    serve(monkeypatch, server)
    with pytest.raises(MNISTError) as info:
        load_mnist(tmp_path / "new", verbose=False)
    message = str(info.value)
    assert str(tmp_path / "new") in message and "GRADENGINE_DATA" in message
    assert "URLError" in message and "Name or service not known" in message
    assert all(name in message for name in MNIST_NAMES)
    # Both mirrors tried, in order, with a timeout; then it gives up instead of trying the rest.
    assert [url for url, _ in server.requests] == [m + "train-images-idx3-ubyte.gz" for m in data.MNIST_MIRRORS]
    assert all(timeout == data.DOWNLOAD_TIMEOUT for _, timeout in server.requests)
    assert not (tmp_path / "new").exists()  # no temporary files, and not even the folder, left behind


def test_failed_download_removes_only_the_folders_it_created(tmp_path, monkeypatch):
    serve(monkeypatch, FakeServer({}))
    (tmp_path / "kept").mkdir()
    with pytest.raises(MNISTError):
        load_mnist(tmp_path / "kept" / "a" / "b", verbose=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "kept"] and list((tmp_path / "kept").iterdir()) == []


def test_download_success_from_second_mirror(tmp_path, monkeypatch, capsys, fake_checksums):
    server = FakeServer(mirror_files(data.MNIST_MIRRORS[1], fake_checksums))
    serve(monkeypatch, server)
    result = load_mnist(tmp_path, verbose=True)
    assert_loaded(result, fake_checksums)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.gz" for name in MNIST_NAMES)
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o666 & ~umask}  # ordinary files, not 0600
    assert len(server.requests) == 8  # each file: first mirror fails, second serves
    stderr = capsys.readouterr().err
    assert "100%" in stderr and "train-images-idx3-ubyte.gz" in stderr  # tqdm's bar: size, rate, ETA
    # Now everything is local: no more requests, and the files load without the network.
    assert_loaded(load_mnist(tmp_path), fake_checksums)
    assert len(server.requests) == 8


def test_download_only_missing_files_quietly(tmp_path, monkeypatch, capsys, fake_checksums):
    local = {name: a for name, a in fake_checksums.items() if "train" in name}
    write_fake_mnist(tmp_path, local, gz=False)
    server = FakeServer(mirror_files(data.MNIST_MIRRORS[0], fake_checksums), content_length=False)
    serve(monkeypatch, server)
    assert_loaded(load_mnist(tmp_path, verbose=False), fake_checksums)
    assert [url for url, _ in server.requests] == [
        data.MNIST_MIRRORS[0] + "t10k-images-idx3-ubyte.gz",
        data.MNIST_MIRRORS[0] + "t10k-labels-idx1-ubyte.gz",
    ]
    assert capsys.readouterr().err == ""


def test_download_without_content_length_shows_bytes_so_far(tmp_path, monkeypatch, capsys, fake_checksums):
    server = FakeServer(mirror_files(data.MNIST_MIRRORS[0], fake_checksums), content_length=False)
    serve(monkeypatch, server)
    assert_loaded(load_mnist(tmp_path), fake_checksums)
    assert "kB" in capsys.readouterr().err


def test_download_bad_content_tries_next_mirror(tmp_path, monkeypatch, fake_checksums):
    wrong = fake_mnist_arrays(seed=1)  # valid IDX files, but not the ones the checksums describe
    files = {**mirror_files(data.MNIST_MIRRORS[0], wrong), **mirror_files(data.MNIST_MIRRORS[1], fake_checksums)}
    serve(monkeypatch, FakeServer(files))
    assert_loaded(load_mnist(tmp_path, verbose=False), fake_checksums)


def test_download_bad_content_everywhere_installs_nothing(tmp_path, monkeypatch, fake_checksums):
    urls = [url for mirror in data.MNIST_MIRRORS for url in mirror_files(mirror, fake_checksums)]
    files = dict.fromkeys(urls, b"<html>captive portal</html>")
    serve(monkeypatch, FakeServer(files))
    with pytest.raises(MNISTError, match="Downloading.*failed.*not an unsigned-byte IDX file"):
        load_mnist(tmp_path, verbose=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------
# DataLoader
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "expected_sizes"),
    [
        (10, 3, False, [3, 3, 3, 1]),
        (10, 3, True, [3, 3, 3]),
        (9, 3, False, [3, 3, 3]),
        (9, 3, True, [3, 3, 3]),
        (2, 5, False, [2]),
        (2, 5, True, []),
        (0, 4, False, []),
    ],
)
@pytest.mark.parametrize("shuffle", [False, True])
def test_loader_batch_counts(n, batch_size, drop_last, expected_sizes, shuffle):
    loader = DataLoader(np.arange(n), np.arange(n), batch_size, shuffle=shuffle, seed=0, drop_last=drop_last)
    assert len(loader) == len(expected_sizes)
    assert [len(xb) for xb, _ in loader] == expected_sizes


def test_loader_mnist_sized_epoch():
    x = np.zeros((60000, 28, 28), dtype=np.uint8)
    loader = DataLoader(x, np.zeros(60000, dtype=np.int64), batch_size=32, shuffle=True, seed=0)
    assert len(loader) == 1875
    shapes = {(xb.shape, xb.dtype, yb.shape, yb.dtype) for xb, yb in loader}
    assert shapes == {((32, 28, 28), np.dtype(np.uint8), (32,), np.dtype(np.int64))}


def test_loader_without_shuffle_keeps_order_and_returns_views():
    x = np.arange(20, dtype=np.uint8).reshape(10, 2)
    y = np.arange(10)
    batches = list(DataLoader(x, y, batch_size=4))
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), x)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    assert all(np.shares_memory(xb, x) for xb, _ in batches)


@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_shuffle_sees_every_sample_once(drop_last):
    n = 103
    x = np.arange(n)
    y = x * 10
    loader = DataLoader(x, y, batch_size=8, shuffle=True, seed=1, drop_last=drop_last)
    for _ in range(3):
        batches = list(loader)
        xs = np.concatenate([xb for xb, _ in batches])
        ys = np.concatenate([yb for _, yb in batches])
        np.testing.assert_array_equal(ys, xs * 10)  # x and y stay paired
        assert len(np.unique(xs)) == len(xs)
        assert len(xs) == (96 if drop_last else n)
        assert not np.array_equal(xs, x[: len(xs)])


def test_loader_reproducible_with_seed_and_epochs_differ():
    x = np.arange(50)

    def epochs(seed, count=3):
        loader = DataLoader(x, batch_size=7, shuffle=True, seed=seed)
        return [np.concatenate(list(loader)) for _ in range(count)]

    first, second = epochs(seed=123), epochs(seed=123)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[2])
    assert not np.array_equal(epochs(seed=124)[0], first[0])


def test_loader_draws_permutation_per_iter_call():
    loader = DataLoader(np.arange(30), batch_size=30, shuffle=True, seed=0)
    it1, it2 = iter(loader), iter(loader)
    replay = DataLoader(np.arange(30), batch_size=30, shuffle=True, seed=0)
    expected1, expected2 = next(iter(replay)), next(iter(replay))
    np.testing.assert_array_equal(next(it2), expected2)  # consumption order does not matter
    np.testing.assert_array_equal(next(it1), expected1)


def test_loader_without_y_yields_arrays():
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    for shuffle in (False, True):
        batches = list(DataLoader(x, batch_size=4, shuffle=shuffle, seed=0))
        assert all(isinstance(b, np.ndarray) and b.dtype == np.float32 for b in batches)
        assert [b.shape for b in batches] == [(4, 4), (2, 4)]


def test_loader_accepts_numpy_int_batch_size_and_lists():
    loader = DataLoader([[1, 2], [3, 4], [5, 6]], [0, 1, 0], batch_size=np.int64(2))
    assert len(loader) == 2
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb, [[1, 2], [3, 4]])


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "32", None])
def test_loader_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(np.arange(4), batch_size=batch_size)


def test_loader_length_mismatch():
    with pytest.raises(ValueError, match=r"len\(x\) = 5 and len\(y\) = 4"):
        DataLoader(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="y is a scalar"):
        DataLoader(np.zeros(5), np.float64(1.0))
    with pytest.raises(ValueError, match="x must have at least one dimension"):
        DataLoader(np.float64(1.0))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_loader_property(n, batch_size, shuffle, drop_last, seed):
    loader = DataLoader(np.arange(n), batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = np.concatenate(batches) if batches else np.array([], dtype=int)
    assert len(seen) == (n // batch_size * batch_size if drop_last else n)
    assert len(set(seen.tolist())) == len(seen)
    assert all(len(b) == batch_size for b in batches[:-1])


# --------------------------------------------------------------------------------------
# make_moons
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "n_out"), [(100, 50), (101, 50), (1, 0), (2, 1)])
def test_moons_shapes_and_split(n, n_out):
    X, y = make_moons(n, seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert (y == 0).sum() == n_out and (y == 1).sum() == n - n_out


def test_moons_without_noise_lie_on_the_half_circles():
    X, y = make_moons(60, seed=0)
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0)
    assert (outer[:, 1] >= -1e-12).all()
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1.0)
    assert (inner[:, 1] <= 0.5 + 1e-12).all()
    # The arcs are evenly spaced from end to end, as in scikit-learn.
    np.testing.assert_allclose(np.sort(outer[:, 0]), np.sort(np.cos(np.linspace(0, np.pi, 30))))


def test_moons_unshuffled_order():
    X, y = make_moons(7, shuffle=False)
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(X[0], [1.0, 0.0])
    np.testing.assert_allclose(X[3], [0.0, 0.5])


def test_moons_deterministic_with_seed():
    a, b = make_moons(50, noise=0.1, seed=7), make_moons(50, noise=0.1, seed=7)
    c = make_moons(50, noise=0.1, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_moons_noise():
    X, y = make_moons(4000, noise=0.2, seed=0)
    clean, _ = make_moons(4000, seed=0)
    residual = X - clean  # same seed, same shuffle: only the noise differs
    assert abs(residual.std() - 0.2) < 0.01
    np.testing.assert_array_equal(make_moons(10, noise=0.0, seed=3)[0], make_moons(10, seed=3)[0])


@pytest.mark.parametrize("n_samples", [0, -3, 2.5, True, "10"])
def test_moons_bad_n_samples(n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make_moons(n_samples)


def test_moons_bad_noise():
    with pytest.raises(ValueError, match="noise must be None or a non-negative number"):
        make_moons(10, noise=-0.1)


# --------------------------------------------------------------------------------------
# Where the data is read from, and in which form (issue 10, items 1 and 9)
# --------------------------------------------------------------------------------------


def test_relative_env_path_is_resolved_against_the_current_directory(tmp_path, monkeypatch, fake_checksums):
    write_fake_mnist(tmp_path / "project" / "data", fake_checksums)
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("GRADENGINE_DATA", "data")
    assert_loaded(load_mnist(download=False), fake_checksums)
    (tmp_path / "project" / "data" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTError) as info:
        load_mnist(download=False)
    # the message shows the absolute directory, not the relative text the user typed
    assert str(tmp_path / "project" / "data") in str(info.value)


def test_relative_env_path_that_does_not_exist_is_an_error_not_a_download(tmp_path, monkeypatch):
    # A notebook kernel runs in notebooks/: a GRADENGINE_DATA meant for the repository root
    # no longer points anywhere. Nothing is created, nothing downloaded; the message says why.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRADENGINE_DATA", "../shared/data/mnist")
    monkeypatch.delenv("GRADENGINE_OFFLINE")
    with pytest.raises(MNISTError) as info:
        load_mnist()  # download=True: the conftest's urlopen guard would fail the test on a download
    message = str(info.value)
    assert "GRADENGINE_DATA=../shared/data/mnist is a relative path" in message
    assert str(tmp_path) in message and "absolute path" in message
    assert not (tmp_path.parent / "shared").exists()


def test_offline_env_forbids_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADENGINE_OFFLINE", "1")
    with pytest.raises(data.MNISTNotFoundError) as info:
        load_mnist(tmp_path, download=True)
    assert "GRADENGINE_OFFLINE=1 is set, so no download was attempted" in str(info.value)
    assert info.value.download_error is None and info.value.source == "root"
    assert info.value.directory == tmp_path and len(info.value.missing) == 4
    assert list(tmp_path.iterdir()) == []


def test_the_test_session_is_offline_and_its_data_path_absolute():
    import os

    assert os.environ["GRADENGINE_OFFLINE"] == "1"
    assert Path(os.environ.get("GRADENGINE_DATA", "/")).is_absolute()


def test_normalize_gives_float32_in_unit_interval(tmp_path, fake_checksums):
    write_fake_mnist(tmp_path, fake_checksums)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path, download=False, normalize=True)
    for x, name in ((x_train, "train-images-idx3-ubyte"), (x_test, "t10k-images-idx3-ubyte")):
        assert x.dtype == np.float32 and x.shape == fake_checksums[name].shape
        np.testing.assert_array_equal(x, fake_checksums[name].astype(np.float32) / np.float32(255))
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert y_train.dtype == y_test.dtype == np.int64
    xb, yb = next(iter(DataLoader(x_train, y_train, batch_size=4, shuffle=True, seed=0)))
    assert xb.dtype == np.float32  # batches of the documented form stay float32


def test_load_mnist_docs_lead_to_float32():
    doc = load_mnist.__doc__
    assert "normalize=True" in doc and "float32" in doc
    assert "divide by 255.0 for" not in doc  # the old advice, which gave float64 batches


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    """The one atomic writer (checkpoints, plots, downloads): a rejected or failed write leaves
    the old file and no temporary behind; a good one lands with ordinary permissions."""
    from gradengine._files import atomic_write

    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def reject(tmp):
        assert tmp.read_bytes() == b"new"  # closed and complete when checked
        raise ValueError("bad content")

    with pytest.raises(ValueError, match="bad content"):
        with atomic_write(target, check=reject) as f:
            f.write(b"new")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as f:
            f.write(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    with atomic_write(target) as f:
        f.write(b"new")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [target]
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_unreadable_files_and_folders_are_mnist_errors_naming_them(tmp_path, monkeypatch, fake_checksums):
    """Permission problems (simulated: the tests may run as root, who may read anything) are
    MNISTErrors naming the path, which the command line reports in one line."""
    write_fake_mnist(tmp_path, fake_checksums)
    locked = tmp_path / "t10k-labels-idx1-ubyte.gz"
    real_read = Path.read_bytes

    def read_bytes(self):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(MNISTError, match=rf"^{locked}: cannot read it \(Permission denied\)$"):
        load_mnist(tmp_path, verbose=False)
    monkeypatch.undo()

    def unlistable(directory, name):
        raise PermissionError(13, "Permission denied", str(directory / name))

    monkeypatch.setattr(data, "_find_file", unlistable)
    with pytest.raises(MNISTError, match="cannot look for the MNIST files there \\(Permission denied\\)"):
        load_mnist(tmp_path, verbose=False)


def test_data_path_that_is_a_file_says_so(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("GRADENGINE_DATA", str(tmp_path / "afile"))
    with pytest.raises(MNISTError, match=f"GRADENGINE_DATA={tmp_path / 'afile'}: {tmp_path / 'afile'} is a file, not a directory"):
        load_mnist(verbose=False)
    with pytest.raises(MNISTError, match="root: .* is a file, not a directory"):
        load_mnist(tmp_path / "afile", verbose=False)


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((None,), {}, TypeError, "x must be an array of samples, got NoneType"),
    (("abc",), {}, TypeError, "x must be an array of samples, got str"),
    ((np.zeros(3), "abc"), {}, TypeError, "y must be an array of samples, got str"),
    (((np.zeros((4, 2)), np.zeros(4)),), {}, TypeError, r"x must be one array of samples, got a tuple of arrays with different shapes; for inputs "
                                                         r"and labels pass DataLoader\(x, y\)"),
    ((np.zeros(3),), {"shuffle": True, "seed": -1}, ValueError, "seed must be None, a non-negative integer or a "
                                                                "numpy Generator, got -1"),
    ((np.zeros(3),), {"seed": 1.5}, ValueError, "seed must be .*, got 1.5"),
])
def test_loader_bad_arguments_are_named(args, kwargs, error, message):
    with pytest.raises(error, match=f"^DataLoader: {message}"):
        DataLoader(*args, **kwargs)


def test_load_mnist_one_split_reads_only_its_files(tmp_path, fake_checksums):
    test_only = {k: v for k, v in fake_checksums.items() if k.startswith("t10k")}
    write_fake_mnist(tmp_path, test_only)
    x, y = load_mnist(tmp_path, download=False, split="test")
    np.testing.assert_array_equal(x, fake_checksums["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y, fake_checksums["t10k-labels-idx1-ubyte"])
    assert y.dtype == np.int64
    with pytest.raises(data.MNISTNotFoundError) as info:
        load_mnist(tmp_path, download=False, split="train")
    assert info.value.missing == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    write_fake_mnist(tmp_path, fake_checksums)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path, download=False)
    np.testing.assert_array_equal(load_mnist(tmp_path, download=False, split="train")[0], x_train)
    with pytest.raises(ValueError, match="split must be 'both', 'train' or 'test', got 'val'"):
        load_mnist(tmp_path, split="val")
