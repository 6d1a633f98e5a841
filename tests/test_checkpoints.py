"""Checkpoints: damaged, foreign and mismatched files; training checkpoints back to models;
``load_state_dict(strict=False)``.

Every unusable file gives one message naming the file and the problem, in Python
(``CheckpointError``) and on the command line (exit 2, one line), and nothing is half-loaded.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from gradengine import Value, cli, nn
from gradengine.nn.module import CheckpointError, IncompatibleKeys, StateDictError

from test_cli import fake_mnist  # the synthetic data set


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A real training checkpoint (hidden 8, one epoch on the synthetic data)."""
    out = tmp_path_factory.mktemp("run")
    data = fake_mnist(n_train=128, n_test=64)
    result = cli.train_mnist(data, epochs=1, hidden=(8,), seed=1)
    cli.save_checkpoint(out / "checkpoint.npz", result, hidden=(8,), seed=1, batch_size=32, limit=None)
    return out / "checkpoint.npz"


def damage(kind: str, good: bytes, tmp: Path) -> Path:
    path = tmp / f"{kind}.npz"
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "flipped":  # one bit in the middle of the first array's data
        with zipfile.ZipFile(tmp / "good.npz") as z:
            info = z.infolist()[-1]
        data_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        flipped = bytearray(good)
        flipped[data_start + info.compress_size // 2] ^= 0x01
        path.write_bytes(bytes(flipped))
    elif kind == "text":
        path.write_text("epoch 10, loss 0.02\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif kind == "pickled":
        np.savez(path, a=np.array([{"x": 1}], dtype=object))
    elif kind == "directory":
        path.mkdir()
    return path


KINDS = ["truncated", "flipped", "text", "empty", "npy", "pickled", "directory"]
PROBLEMS = {
    "truncated": "is damaged: truncated or damaged zip archive",
    "flipped": "is damaged: CRC check failed for member",
    "text": "is not a checkpoint: it is a file starting with b'epoch ', not an .npz archive",
    "empty": "is not a checkpoint: it is an empty file",
    "npy": "is not a checkpoint: it is a single .npy array",
    "pickled": "holds object arrays, which need pickle",
    "directory": "is a directory, not a checkpoint file",
}


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_checkpoint_one_clear_message_everywhere(kind, trained, tmp_path, capsys, monkeypatch):
    (tmp_path / "good.npz").write_bytes(trained.read_bytes())
    path = damage(kind, trained.read_bytes(), tmp_path)
    problem = PROBLEMS[kind]

    with pytest.raises(CheckpointError) as info:
        cli.load_checkpoint(path)
    assert str(info.value).startswith(f"{path} ") and problem in str(info.value)

    model = cli.mlp((8,), seed=7)
    before = model.state_dict()
    with pytest.raises(CheckpointError) as info:
        model.load(path)
    assert str(info.value).startswith(f"{path} ") and problem in str(info.value)
    for k, v in model.state_dict().items():  # nothing half-loaded
        np.testing.assert_array_equal(v, before[k])

    def refuse(*args, **kwargs):
        pytest.fail("the data was loaded before the checkpoint was checked")

    monkeypatch.setattr(cli, "load_mnist", refuse)
    for argv in (["train", "--resume", str(path)], ["evaluate", str(path)]):
        code = cli.main(argv)
        out, err = capsys.readouterr()
        assert code == 2
        assert err.count("\n") == 1 and err.startswith("gradengine: error: ") and "Traceback" not in err
        assert str(path) in err and problem in err


def test_every_byte_flip_is_caught_or_harmless(trained, tmp_path):
    """A flip anywhere (sampled, plus the zip headers at both ends) raises CheckpointError or
    changes nothing that is loaded; it never leaks a zipfile/zlib/ValueError or loads wrong weights."""
    good = trained.read_bytes()
    reference = cli.load_checkpoint(trained)
    rng = np.random.default_rng(0)
    positions = sorted({*range(0, 120), *range(len(good) - 1500, len(good)),
                        *rng.integers(0, len(good), 300).tolist()})
    caught = 0
    for i in positions:
        flipped = bytearray(good)
        flipped[i] ^= 0x10
        path = tmp_path / "f.npz"
        path.write_bytes(bytes(flipped))
        try:
            ckpt = cli.load_checkpoint(path)
        except CheckpointError as e:
            assert str(path) in str(e)
            caught += 1
            continue
        for (k, a), (_, b) in zip(ckpt.model.state_dict().items(), reference.model.state_dict().items()):
            np.testing.assert_array_equal(a, b, err_msg=f"flip at byte {i} changed {k}")
        assert ckpt.epoch == reference.epoch and ckpt.history == reference.history
    assert caught > len(positions) // 2


def test_mismatched_checkpoint_names_file_and_shapes(trained, capsys, monkeypatch):
    with pytest.raises(CheckpointError) as info:
        cli.mlp((16,)).load(trained)
    message = str(info.value)
    assert message.startswith(f"{trained} does not fit this Sequential: shape mismatch for '1.weight'")
    assert "(8, 784)" in message and "(16, 784)" in message

    monkeypatch.setattr(cli, "load_mnist", lambda *a, **k: pytest.fail("data loaded"))
    code = cli.main(["train", "--resume", str(trained), "--hidden", "16", "--epochs", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "--hidden 16 does not match the checkpoint's hidden sizes 8" in err


def test_foreign_npz_files_are_named_as_such(tmp_path, trained):
    plain = tmp_path / "model.npz"
    cli.mlp((8,)).save(plain)
    with pytest.raises(CheckpointError, match="is a plain model file .Module.save., not a gradengine train checkpoint"):
        cli.load_checkpoint(plain)
    other = tmp_path / "other.npz"
    np.savez(other, format="someone-elses-format", x=np.zeros(2))
    with pytest.raises(CheckpointError, match="format 'someone-elses-format'"):
        cli.load_checkpoint(other)
    with np.load(trained) as f:
        parts = dict(f)
    del parts["optimizer/state.0.exp_avg"]
    np.savez(tmp_path / "partial.npz", **parts)
    with pytest.raises(CheckpointError, match="partial.npz: the optimizer state does not fit"):
        cli.load_checkpoint(tmp_path / "partial.npz")
    parts = dict(np.load(trained))
    parts["model/1.weight"] = np.full_like(parts["model/1.weight"], np.nan)
    np.savez(tmp_path / "nan.npz", **parts)
    with pytest.raises(CheckpointError, match=r"nan.npz holds non-finite weights \(nan or inf\) in 1.weight"):
        cli.load_checkpoint(tmp_path / "nan.npz")


def test_missing_checkpoint_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*nope.npz"):
        cli.load_checkpoint(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        nn.Linear(2, 2).load(tmp_path / "nope.npz")


# --------------------------------------------------------------------------------------------
# Item 8: a training checkpoint back to a model
# --------------------------------------------------------------------------------------------
def test_training_checkpoint_loads_into_a_model(trained):
    ckpt = cli.load_checkpoint(trained)
    assert isinstance(ckpt.model, nn.Sequential) and ckpt.hidden == [8] and ckpt.epoch == 1
    model = cli.mlp((8,), seed=99)
    assert model.load(trained) == IncompatibleKeys([], [])
    x = fake_mnist(n_train=4, n_test=1)[0][0]
    np.testing.assert_array_equal(model(x).data, ckpt.model(x).data)
    (_, _), (x_te, y_te) = fake_mnist(n_train=128, n_test=64)
    assert cli.evaluate(ckpt.model, x_te, y_te) == ckpt.history["test_acc"][-1]


def test_version_1_checkpoints_still_load(trained, tmp_path):
    parts = dict(np.load(trained))
    parts["format"] = np.array("gradengine-mnist-mlp-1")
    del parts["batch_size"], parts["limit"]
    np.savez(tmp_path / "v1.npz", **parts)
    ckpt = cli.load_checkpoint(tmp_path / "v1.npz")
    assert ckpt.epoch == 1 and ckpt.batch_size is None and ckpt.limit is None


# --------------------------------------------------------------------------------------------
# Issue 11: load_state_dict(strict=False) returns the missing and unexpected keys
# --------------------------------------------------------------------------------------------
def test_load_state_dict_non_strict_returns_missing_and_unexpected_keys():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    sd = {k: np.full(v.shape, 0.5, v.dtype) for k, v in model.state_dict().items()}
    old_bias = model.state_dict()["2.bias"]
    del sd["2.bias"]
    sd["head.weight"] = np.zeros((2, 2))
    result = model.load_state_dict(sd, strict=False)
    assert isinstance(result, IncompatibleKeys) and isinstance(result, tuple)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["head.weight"]
    missing, unexpected = result
    assert (missing, unexpected) == (["2.bias"], ["head.weight"])
    np.testing.assert_array_equal(model.state_dict()["0.weight"], np.full((4, 3), 0.5))
    np.testing.assert_array_equal(model.state_dict()["2.bias"], old_bias)  # left as it was


def test_load_state_dict_strict_returns_empty_keys_or_raises():
    model = nn.Linear(2, 3)
    result = model.load_state_dict(model.state_dict())
    assert result == IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    assert repr(result) == "<All keys matched successfully>"
    with pytest.raises(StateDictError, match="missing keys \\['bias'\\], unexpected keys \\[\\]"):
        model.load_state_dict({"weight": np.zeros((3, 2))})
    with pytest.raises(TypeError, match="strict must be True or False"):
        model.load_state_dict(model.state_dict(), strict="no")


def test_load_state_dict_non_strict_still_checks_shapes_and_changes_nothing():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = model.state_dict()
    bad = {"0.weight": np.ones((4, 3)), "1.weight": np.ones((3, 3))}
    with pytest.raises(StateDictError, match="shape mismatch for '1.weight'"):
        model.load_state_dict(bad, strict=False)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_matches_torch():
    torch = pytest.importorskip("torch", reason="torch is the oracle for load_state_dict's return value")
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    sd = {k: v for k, v in ours.state_dict().items() if k != "0.bias"}
    sd["extra"] = np.zeros(1)
    got = ours.load_state_dict(sd, strict=False)
    want = theirs.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()}, strict=False)
    assert got.missing_keys == want.missing_keys and got.unexpected_keys == want.unexpected_keys


def test_load_non_strict_from_a_file_and_scalar_modules(tmp_path):
    model = nn.MLP(2, [3, 1])
    path = tmp_path / "m.npz"
    model.save(path)
    bigger = nn.MLP(2, [3, 1, 1])
    result = bigger.load(path, strict=False)
    assert result.missing_keys == [k for k in bigger.state_dict() if k.startswith("layers.2")]
    assert result.unexpected_keys == []
    assert all(isinstance(p, Value) for p in bigger.parameters())


def test_damaged_hidden_sizes_are_caught_before_the_model_is_built(trained, tmp_path, monkeypatch):
    """A 'hidden' entry that no longer matches the weights (here: a layer of 10**11 units, whose
    model would need 300 TiB) is named as damage, before anything is allocated for it."""
    arrays = dict(np.load(trained, allow_pickle=False))
    arrays["hidden"] = np.array([10**11], dtype=np.int64)
    np.savez(tmp_path / "big.npz", **arrays)
    monkeypatch.setattr(cli, "mlp", lambda *a, **k: pytest.fail("the model was built before the file was checked"))
    with pytest.raises(CheckpointError, match=r"big\.npz: the model does not match its hidden sizes \[100000000000\]"):
        cli.load_checkpoint(tmp_path / "big.npz")


@pytest.mark.parametrize("hidden", [(128, 64), (8,), (3, 5, 7)])
def test_mlp_shapes_are_the_shapes_of_mlp(hidden):
    assert cli.mlp_shapes(hidden) == {k: v.shape for k, v in cli.mlp(hidden).state_dict().items()}
