"""The ``gradengine`` command line on a small synthetic data set (no MNIST needed).

``load_mnist`` is replaced by a recorder that serves 28x28 float32 images whose class is the lit
row, so runs take a fraction of a second and the tests also see *when* the data is loaded: every
argument must be checked before it is. Subprocess tests (signals, pipes, ``python -m``) run a
tiny script that installs the same fake. Tests on the real data set are in test_train.py.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gradengine
from gradengine import cli

SRC = str(Path(cli.__file__).resolve().parents[1])

def fake_mnist(n_train=512, n_test=128, seed=0):
    """Float32 images in [0, 1] whose label is the row that is lit, as load_mnist(normalize=True)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.integers(0, 10, n).astype(np.int64)
    x = (rng.random((n, 28, 28), dtype=np.float32) * np.float32(0.3))
    x[np.arange(n), 2 * y + 4, :] += np.float32(0.7)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


# the same function, for the subprocess scripts below
FAKE_DATA_SOURCE = "import numpy as np\n\n" + inspect.getsource(fake_mnist)


class FakeLoader:
    """Stands in for ``cli.load_mnist``; records every call."""

    def __init__(self, **kwargs):
        self.calls: list[tuple] = []
        self.kwargs = kwargs

    def __call__(self, root=None, download=True, *, normalize=False, verbose=True, verify=True, split="both"):
        self.calls.append((root, download, normalize) if split == "both" else (root, download, normalize, split))
        assert normalize, "the CLI must train on the float32 form"
        data = fake_mnist(**self.kwargs)
        return data if split == "both" else data[{"train": 0, "test": 1}[split]]


@pytest.fixture
def fake_data(monkeypatch):
    loader = FakeLoader()
    monkeypatch.setattr(cli, "load_mnist", loader)
    return loader


@pytest.fixture
def no_data(monkeypatch):
    """For argument errors: loading the data at all fails the test."""

    def refuse(*args, **kwargs):
        pytest.fail("the data was loaded before the arguments were checked")

    monkeypatch.setattr(cli, "load_mnist", refuse)


def run(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def quick(out_dir, *extra):
    return ["train", "--no-progress", "--epochs", "1", "--out-dir", out_dir, *extra]


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.startswith("gradengine: error: "), err
    return err


# --------------------------------------------------------------------------------------------
# The basic run, --help, --version
# --------------------------------------------------------------------------------------------
def test_train_prints_true_lines_and_writes_the_run(tmp_path, capsys, fake_data):
    code, out, err = run(quick(tmp_path / "run", "--epochs", "2"), capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "MNIST: 512 training and 128 test images; model 784-128-64-10, Adam lr 0.001, batch 32, seed 0"
    assert lines[1].startswith("epoch   1/2  train loss ") and lines[2].startswith("epoch   2/2 ")
    ckpt = cli.load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert lines[3] == f"test accuracy {ckpt.history['test_acc'][-1]:.4f} after 2 epochs"
    assert lines[4] == f"checkpoint: {tmp_path / 'run' / 'checkpoint.npz'}"
    assert lines[5] == f"curves: {tmp_path / 'run' / 'curves.png'}"
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ckpt.epoch == 2 and ckpt.batch_size == 32 and ckpt.seed == 0 and ckpt.limit is None
    assert fake_data.calls == [(None, True, True)]


def test_version():
    proc = subprocess.run([sys.executable, "-m", "gradengine", "--version"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    assert proc.returncode == 0 and proc.stdout.strip() == f"gradengine {gradengine.__version__}"
    import tomllib

    pyproject = tomllib.loads((Path(SRC).parent / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == gradengine.__version__
    assert {"tqdm", "matplotlib"} <= {d.split(">")[0].split("=")[0] for d in pyproject["project"]["dependencies"]}


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help_lists_every_flag_with_its_default(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    help_text = sub.format_help()
    for action in sub._actions:
        if action.dest == "help" or not action.option_strings:
            continue
        flag = action.option_strings[-1]
        assert flag in help_text
        assert "default" in (action.help or ""), f"{command} {flag}: the help does not give the default"


def test_python_dash_m_entry_point():
    argv = [sys.executable, "-m", "gradengine", "train", "--help"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    assert proc.returncode == 0
    assert "--resume" in proc.stdout and "--hidden" in proc.stdout and "--detect-anomaly" in proc.stdout


def test_training_uses_the_requested_number_of_blas_threads(tmp_path, capsys, fake_data, monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="--threads needs threadpoolctl (a dependency)")
    seen, real = [], cli.train_mnist

    def spy(*args, **kwargs):
        seen.append(max((p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"),
                        default=None))
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "train_mnist", spy)
    assert run(quick(tmp_path / "a"), capsys)[0] == 0
    assert run(quick(tmp_path / "b", "--threads", "2"), capsys)[0] == 0
    assert seen == [1, 2]


def test_progress_bar_is_tqdm_and_is_cleared(tmp_path, capsys, fake_data):
    code, out, err = run(["train", "--progress", "--epochs", "1", "--out-dir", tmp_path], capsys)
    assert code == 0
    assert "epoch 1/1" in err and "batch/s" in err and "/16 [" in err  # tqdm: count, rate, ETA
    assert "batch/s" not in out


# --------------------------------------------------------------------------------------------
# Item 3: arguments are checked before the data is loaded, in the CLI's words
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "--seed: expected an integer from 0 to 2**63-1, got -1"),
    (["--seed", str(2**63)], "--seed: expected an integer from 0 to 2**63-1"),
    (["--seed", "x"], "--seed: expected an integer from 0 to 2**63-1, got 'x'"),
    (["--lr", "inf"], "--lr: expected a finite positive number, got inf"),
    (["--lr", "nan"], "--lr: expected a finite positive number, got nan"),
    (["--lr", "-1"], "--lr: expected a finite positive number, got -1"),
    (["--lr", "fast"], "--lr: expected a positive number, got 'fast'"),
    (["--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["--batch-size", "1.5"], "--batch-size: expected an integer from 1 to 2**63-1, got '1.5'"),
    # a checkpoint stores these as int64s, BLAS takes a C int: too large is refused up front
    (["--batch-size", str(2**63)], "--batch-size: expected an integer from 1 to 2**63-1, got 9223372036854775808"),
    (["--limit", "1" + "0" * 20], "--limit: expected an integer from 1 to 2**63-1, got 1" + "0" * 20),
    (["--threads", str(2**31)], "--threads: expected an integer from 1 to 2**31-1, got 2147483648"),
    (["--hidden"], "--hidden: expected at least one argument"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_are_usage_errors_before_any_data(argv, message, capsys, no_data):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and message in err and "Traceback" not in err


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([])
    assert e.value.code == 2 and "usage:" in capsys.readouterr().err


def test_out_dir_that_is_a_file_fails_before_any_data(tmp_path, capsys, no_data):
    (tmp_path / "taken").write_text("not a directory")
    code, _, err = run(quick(tmp_path / "taken"), capsys)
    assert code == 2
    assert one_error_line(err) == f"gradengine: error: --out-dir {tmp_path / 'taken'} is an existing file, not a directory\n"
    code, _, err = run(quick(tmp_path / "taken" / "sub"), capsys)
    assert code == 2 and "is a file, not a directory" in one_error_line(err)


def test_out_dir_that_is_a_broken_link_fails_before_any_data(tmp_path, capsys, no_data):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    code, _, err = run(quick(tmp_path / "link"), capsys)
    assert code == 2
    assert one_error_line(err) == (f"gradengine: error: --out-dir {tmp_path / 'link'} is a symbolic link to "
                                   f"{tmp_path / 'nowhere'}, which does not exist\n")


@pytest.mark.parametrize("name", ["checkpoint.npz", "curves.png"])
def test_output_file_that_is_a_directory_fails_before_any_data(name, tmp_path, capsys, no_data):
    (tmp_path / "run" / name).mkdir(parents=True)
    for extra in ((), ("--overwrite",)):
        code, _, err = run(quick(tmp_path / "run", *extra), capsys)
        assert code == 2
        assert one_error_line(err) == (
            f"gradengine: error: --out-dir {tmp_path / 'run'}: {tmp_path / 'run' / name} is a directory, so the run "
            f"cannot write its {name} there (remove it, or pass --out-dir DIR for another folder)\n")


def test_a_model_too_big_for_memory_fails_before_any_data(tmp_path, capsys, no_data):
    code, _, err = run(quick(tmp_path / "run", "--hidden", "100000000000"), capsys)
    assert code == 2
    assert one_error_line(err).startswith(
        "gradengine: error: the model 784-100000000000-10 (79,500,000,000,010 parameters) at batch 32 needs about ")
    assert err.rstrip().endswith("of memory: give smaller --hidden sizes (or --batch-size)")
    assert not (tmp_path / "run").exists()


def test_data_dir_that_is_a_file_fails_before_any_data(tmp_path, capsys, no_data):
    (tmp_path / "f").write_text("x")
    code, _, err = run(quick(tmp_path / "out", "--data-dir", tmp_path / "f"), capsys)
    assert code == 2 and f"--data-dir {tmp_path / 'f'} is a file" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_missing_data_message_speaks_in_flags(tmp_path, capsys, monkeypatch):
    code, _, err = run(quick(tmp_path / "out", "--data-dir", tmp_path / "empty", "--no-download"), capsys)
    assert code == 2
    one_error_line(err)
    assert f"MNIST files missing from {tmp_path / 'empty'} (given by --data-dir)" in err
    assert "--no-download was given, so nothing was downloaded" in err
    for python_words in ("root argument", "download=False", "load_mnist(", "pass --data-dir"):
        assert python_words not in err, python_words
    assert not (tmp_path / "out").exists()

    monkeypatch.setenv("GRADENGINE_DATA", str(tmp_path / "empty"))
    code, _, err = run(quick(tmp_path / "out"), capsys)  # downloads allowed, but the session is offline
    assert code == 2
    assert "(from $GRADENGINE_DATA)" in err and "GRADENGINE_OFFLINE is set" in err
    assert "or pass --data-dir DIR naming a directory that holds them" in err


def test_corrupt_data_message_has_no_false_hint(tmp_path, capsys):
    from gradengine.data import MNIST_SHA256

    (tmp_path / "data").mkdir()
    for name in MNIST_SHA256:
        (tmp_path / "data" / f"{name}.gz").write_bytes(b"\x1f\x8b not really gzip")
    code, _, err = run(quick(tmp_path / "out", "--data-dir", tmp_path / "data"), capsys)
    assert code == 2
    assert "corrupt or truncated gzip file" in one_error_line(err) and "--data-dir DIR" not in err


# --------------------------------------------------------------------------------------------
# Item 4: a diverging run stops at once, keeps the last good checkpoint, exits non-zero
# --------------------------------------------------------------------------------------------
def test_huge_lr_stops_at_the_first_nan_with_no_checkpoint(tmp_path, capsys, fake_data):
    code, out, err = run(quick(tmp_path / "run", "--epochs", "3", "--lr", "1e30"), capsys)
    assert code == 3
    one_error_line(err)
    assert "training diverged at epoch 1, step " in err and "the training loss is nan" in err
    assert "no epoch was completed, so no checkpoint was written" in err
    assert "epoch   1/" not in out and "test accuracy" not in out and "checkpoint:" not in out
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, capsys, fake_data):
    ckpt = tmp_path / "run" / "checkpoint.npz"
    assert run(quick(tmp_path / "run"), capsys)[0] == 0
    before = ckpt.read_bytes()
    code, out, err = run(["train", "--no-progress", "--resume", ckpt, "--epochs", "3", "--lr", "1e30"], capsys)
    assert code == 3
    assert "training diverged at epoch 2, step " in err and f"{ckpt} is unchanged (epoch 1)" in err
    assert ckpt.read_bytes() == before
    step = int(err.split("step ")[1].split(" ")[0])
    assert 1 <= step <= 16


def test_train_mnist_raises_on_the_first_non_finite_loss():
    (x, y), test = fake_mnist()
    with pytest.raises(cli.TrainingDiverged) as info:
        cli.train_mnist(((x, y), test), epochs=2, lr=1e30, hidden=(8,))
    assert info.value.epoch == 1 and info.value.steps == 16 and 1 <= info.value.step <= 16
    assert "nan" in info.value.reason or "inf" in info.value.reason


def test_anomaly_errors_become_a_divergence_naming_epoch_and_step(tmp_path, capsys, fake_data, monkeypatch):
    # The plumbing, independently of which op raises: an AnomalyError at the 5th step.
    real_cross_entropy, calls = cli.F.cross_entropy, []

    def cross_entropy(logits, target):
        calls.append(gradengine.is_anomaly_enabled())
        if len(calls) == 5:
            raise gradengine.AnomalyError("log produced nan (input shape (32, 10), values in [-1, 0])")
        return real_cross_entropy(logits, target)

    monkeypatch.setattr(cli.F, "cross_entropy", cross_entropy)
    code, out, err = run(quick(tmp_path / "run", "--detect-anomaly"), capsys)
    assert code == 3 and all(calls)
    assert one_error_line(err).startswith(
        "gradengine: error: --detect-anomaly stopped training at epoch 1, step 5 of 16: log produced nan")
    assert not gradengine.is_anomaly_enabled()


def test_detect_anomaly_names_the_first_op_that_overflows(tmp_path, capsys, fake_data):
    code, out, err = run(quick(tmp_path / "run", "--detect-anomaly", "--lr", "1e30"), capsys)
    assert code == 3
    one_error_line(err)
    assert "--detect-anomaly stopped training at epoch 1, step " in err, err
    assert re.search(r"of op '\w+' produced (nan|inf)", err), err  # the op, named by detect_anomaly
    assert "the training loss is" not in err  # caught at the op, before the loss
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


# --------------------------------------------------------------------------------------------
# Item 5: every line is true
# --------------------------------------------------------------------------------------------
def test_resume_past_the_requested_epochs_says_so_and_writes_nothing(tmp_path, capsys, fake_data):
    ckpt = tmp_path / "run" / "checkpoint.npz"
    assert run(quick(tmp_path / "run", "--epochs", "2"), capsys)[0] == 0
    before, calls = ckpt.read_bytes(), len(fake_data.calls)
    code, out, err = run(["train", "--resume", ckpt, "--epochs", "1"], capsys)
    assert code == 0 and err == ""
    assert out == (f"nothing to train: {ckpt} is at epoch 2, and --epochs is 1 "
                   "(pass --epochs N with N > 2 to train further)\n")
    assert ckpt.read_bytes() == before and len(fake_data.calls) == calls  # the data was not even loaded


def test_seed_that_contradicts_the_checkpoint_is_refused(tmp_path, capsys, fake_data):
    ckpt = tmp_path / "run" / "checkpoint.npz"
    assert run(quick(tmp_path / "run", "--seed", "3"), capsys)[0] == 0
    code, _, err = run(["train", "--resume", ckpt, "--epochs", "2", "--seed", "4"], capsys)
    assert code == 2
    assert "--seed 4 does not match the checkpoint's seed 3" in one_error_line(err)
    code, out, err = run(["train", "--no-progress", "--resume", ckpt, "--epochs", "2", "--seed", "3"], capsys)
    assert code == 0, err
    assert "seed 3" in out and "epoch   2/2" in out


def test_resumed_run_uses_the_checkpoints_settings_and_matches_an_uninterrupted_run(tmp_path, capsys, fake_data):
    a, b = tmp_path / "a", tmp_path / "b"
    flags = ["--batch-size", "64", "--limit", "320", "--seed", "5", "--hidden", "16"]
    assert run(quick(a, *flags), capsys)[0] == 0
    code, out, err = run(["train", "--no-progress", "--resume", a / "checkpoint.npz", "--epochs", "2"], capsys)
    assert code == 0, err
    assert out.startswith(f"resuming {a / 'checkpoint.npz'} at epoch 1; writing to {a / 'checkpoint.npz'}\n"
                          "MNIST: 320 training and 128 test images; model 784-16-10, Adam lr 0.001, batch 64, seed 5\n")
    assert run(quick(b, *flags, "--epochs", "2"), capsys)[0] == 0
    with np.load(a / "checkpoint.npz") as fa, np.load(b / "checkpoint.npz") as fb:
        assert sorted(fa.files) == sorted(fb.files)
        for k in fa.files:
            if k != "history/seconds":
                np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


def test_resume_with_another_batch_size_says_so(tmp_path, capsys, fake_data):
    assert run(quick(tmp_path / "a"), capsys)[0] == 0
    code, out, _ = run(["train", "--no-progress", "--resume", tmp_path / "a" / "checkpoint.npz", "--epochs", "2",
                        "--batch-size", "64", "--lr", "0.002"], capsys)
    assert code == 0
    assert "note: --batch-size 64 replaces the checkpoint's 32" in out
    assert "note: --lr 0.002 replaces the checkpoint's 0.001" in out and "Adam lr 0.002, batch 64" in out
    assert cli.load_checkpoint(tmp_path / "a" / "checkpoint.npz").optimizer.param_groups[0]["lr"] == 0.002


# --------------------------------------------------------------------------------------------
# Item 6: runs never overwrite each other silently
# --------------------------------------------------------------------------------------------
def test_resume_writes_beside_the_checkpoint_it_resumed(tmp_path, capsys, fake_data, monkeypatch):
    run_a = tmp_path / "runA"
    assert run(quick(run_a), capsys)[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run(["train", "--no-progress", "--resume", "../runA/checkpoint.npz", "--epochs", "2"], capsys)
    assert code == 0, err
    assert list(elsewhere.iterdir()) == []
    assert cli.load_checkpoint(run_a / "checkpoint.npz").epoch == 2
    assert "checkpoint: ../runA/checkpoint.npz" in out


def test_a_new_run_does_not_replace_an_existing_run(tmp_path, capsys, fake_data):
    ckpt = tmp_path / "run" / "checkpoint.npz"
    assert run(quick(tmp_path / "run", "--epochs", "2"), capsys)[0] == 0
    before, calls = ckpt.read_bytes(), len(fake_data.calls)
    code, _, err = run(quick(tmp_path / "run", "--limit", "200"), capsys)
    assert code == 2
    assert one_error_line(err) == (
        f"gradengine: error: {tmp_path / 'run'} already holds a run: {ckpt} (epoch 2). Pass --resume {ckpt} "
        "to continue it, --out-dir DIR for a new folder, or --overwrite to replace it\n")
    assert ckpt.read_bytes() == before and len(fake_data.calls) == calls

    code, _, err = run(quick(tmp_path / "run", "--limit", "200", "--overwrite", "--lr", "1e30"), capsys)
    assert code == 3  # diverged before replacing anything: the message says what is on disk
    assert f"no epoch was completed; {ckpt} is still the earlier run's checkpoint (epoch 2)" in err
    assert ckpt.read_bytes() == before
    code, _, err = run(quick(tmp_path / "run", "--limit", "200", "--overwrite"), capsys)
    assert code == 0, err
    assert cli.load_checkpoint(ckpt).epoch == 1 and cli.load_checkpoint(ckpt).limit == 200


def test_a_checkpoint_that_cannot_be_written_ends_in_one_line_keeping_the_last_one(tmp_path, capsys, fake_data,
                                                                                     monkeypatch):
    real, calls = cli.save_checkpoint, []

    def disk_full_at_epoch_2(path, result, *args):
        calls.append(result["epoch"])
        if result["epoch"] == 2:
            raise OSError(28, "No space left on device", str(path))
        real(path, result, *args)

    monkeypatch.setattr(cli, "save_checkpoint", disk_full_at_epoch_2)
    ckpt = tmp_path / "run" / "checkpoint.npz"
    code, out, err = run(quick(tmp_path / "run", "--epochs", "3"), capsys)
    assert code == 2 and calls == [1, 2]
    assert one_error_line(err) == (f"gradengine: error: cannot write the checkpoint of epoch 2 to {ckpt} "
                                   f"(No space left on device); {ckpt} still holds epoch 1\n")
    assert cli.load_checkpoint(ckpt).epoch == 1 and not (tmp_path / "run" / "curves.png").exists()


def test_ctrl_c_while_writing_the_curves_says_the_checkpoint_is_written(tmp_path, capsys, fake_data, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "save_curves", interrupted)
    ckpt = tmp_path / "run" / "checkpoint.npz"
    code, _, err = run(quick(tmp_path / "run"), capsys)
    assert code == 130
    assert err.strip() == f"gradengine: interrupted while writing the curves; {ckpt} holds epoch 1"
    assert cli.load_checkpoint(ckpt).epoch == 1


def test_overwrite_never_leaves_one_runs_checkpoint_beside_anothers_curves(tmp_path, capsys, fake_data, monkeypatch):
    ckpt, curves = tmp_path / "run" / "checkpoint.npz", tmp_path / "run" / "curves.png"
    assert run(quick(tmp_path / "run", "--epochs", "2"), capsys)[0] == 0 and curves.exists()
    # the new run diverges before its first checkpoint: the earlier run is left whole
    assert run(quick(tmp_path / "run", "--overwrite", "--lr", "1e30"), capsys)[0] == 3
    assert cli.load_checkpoint(ckpt).epoch == 2 and curves.exists()
    # the new run replaces the checkpoint, then stops before its own curves: the old curves are gone
    monkeypatch.setattr(cli, "save_curves", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    assert run(quick(tmp_path / "run", "--overwrite", "--hidden", "8"), capsys)[0] == 130
    assert cli.load_checkpoint(ckpt).hidden == [8] and not curves.exists()
    # resuming in place keeps the run's own curves until they are redrawn
    monkeypatch.undo()
    monkeypatch.setattr(cli, "load_mnist", fake_data)
    assert run(quick(tmp_path / "run", "--overwrite", "--hidden", "8"), capsys)[0] == 0 and curves.exists()
    seen = []
    monkeypatch.setattr(cli, "save_curves", lambda path, history: seen.append(path.exists()))
    assert run(["train", "--no-progress", "--resume", ckpt, "--epochs", "2"], capsys)[0] == 0
    assert seen == [True]


def test_resume_into_another_run_directory_is_refused(tmp_path, capsys, fake_data):
    assert run(quick(tmp_path / "a"), capsys)[0] == 0
    assert run(quick(tmp_path / "b"), capsys)[0] == 0
    code, _, err = run(["train", "--resume", tmp_path / "a" / "checkpoint.npz", "--epochs", "2",
                        "--out-dir", tmp_path / "b"], capsys)
    assert code == 2 and "already holds a run" in one_error_line(err)
    # into a fresh directory it is fine, and the original stays as it was
    code, _, err = run(["train", "--no-progress", "--resume", tmp_path / "a" / "checkpoint.npz", "--epochs", "2",
                        "--out-dir", tmp_path / "c"], capsys)
    assert code == 0, err
    assert cli.load_checkpoint(tmp_path / "a" / "checkpoint.npz").epoch == 1
    assert cli.load_checkpoint(tmp_path / "c" / "checkpoint.npz").epoch == 2


# --------------------------------------------------------------------------------------------
# Items 5 and 7 in a real process: Ctrl-C and a closed pipe
# --------------------------------------------------------------------------------------------
def _script(tmp_path: Path, n_train: int) -> list[str]:
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_DATA_SOURCE + textwrap.dedent(f"""
        import sys
        import gradengine.cli as cli
        cli.load_mnist = lambda *a, **k: fake_mnist(n_train={n_train})
        sys.exit(cli.main(sys.argv[1:]))
    """))
    return [sys.executable, str(script)]


def _popen(argv, cwd):
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": SRC})


@pytest.mark.parametrize("epochs_done", [0, 1])
def test_ctrl_c_reports_what_is_really_on_disk(tmp_path, epochs_done):
    # 60000 images in batches of 32: an epoch takes well over the few ms the signal needs to land
    argv = _script(tmp_path, 60000) + ["train", "--no-progress", "--epochs", "5", "--out-dir", "run"]
    proc = _popen(argv, tmp_path)
    try:
        wanted = "MNIST:" if epochs_done == 0 else "epoch   1/5"
        while not (line := proc.stdout.readline()).startswith(wanted):
            assert line, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    if epochs_done == 0:
        assert err.strip() == "gradengine: interrupted during epoch 1; no epoch was completed, so no checkpoint was written"
        assert not (tmp_path / "run").exists()
    else:
        assert err.strip() == "gradengine: interrupted during epoch 2; run/checkpoint.npz holds epoch 1"
        assert cli.load_checkpoint(tmp_path / "run" / "checkpoint.npz").epoch == 1


def test_closed_pipe_ends_quietly(tmp_path):
    argv = _script(tmp_path, 64) + ["train", "--no-progress", "--epochs", "40", "--batch-size", "64",
                                    "--hidden", "8", "--out-dir", "run"]
    proc = _popen(argv, tmp_path)
    head = [proc.stdout.readline() for _ in range(3)]  # as `| head -3` does
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert head[0].startswith("MNIST:") and head[2].startswith("epoch   2/40")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141
    assert err.startswith("gradengine: output closed (broken pipe), stopped training; run/checkpoint.npz holds epoch")


def test_closed_pipe_on_help_is_quiet(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "gradengine", "train", "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": SRC})
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# Item 8: from the CLI to the model
# --------------------------------------------------------------------------------------------
def test_evaluate_prints_the_checkpoints_test_accuracy(tmp_path, capsys, fake_data):
    assert run(quick(tmp_path / "run", "--hidden", "32"), capsys)[0] == 0
    ckpt_path = tmp_path / "run" / "checkpoint.npz"
    ckpt = cli.load_checkpoint(ckpt_path)
    code, out, err = run(["evaluate", ckpt_path], capsys)
    assert code == 0, err
    acc = ckpt.history["test_acc"][-1]
    assert out == (f"test accuracy {acc:.4f} ({round(acc * 128)}/128) of {ckpt_path}: "
                   "model 784-32-10 after 1 epoch\n")


def test_evaluate_a_damaged_or_foreign_file_exits_2(tmp_path, capsys, no_data):
    (tmp_path / "x.npz").write_text("hello")
    code, _, err = run(["evaluate", tmp_path / "x.npz"], capsys)
    assert code == 2 and str(tmp_path / "x.npz") in one_error_line(err)
    code, _, err = run(["evaluate", tmp_path / "missing.npz"], capsys)
    assert code == 2 and "checkpoint not found" in one_error_line(err)


def test_evaluate_needs_only_the_test_files(tmp_path, capsys, fake_data, monkeypatch):
    """The real load_mnist on a folder holding only the two t10k files: evaluate reads them and
    never asks for (or downloads) the 60000 training images."""
    from gradengine.data import write_idx

    assert run(quick(tmp_path / "run", "--hidden", "8"), capsys)[0] == 0
    (_, _), (x_te, y_te) = fake_mnist()
    folder = tmp_path / "t10k"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.round(x_te * 255).astype(np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_te.astype(np.uint8))
    # the real loader, without the checksums of the real files (these are synthetic)
    monkeypatch.setattr(cli, "load_mnist", lambda *a, **k: gradengine.data.load_mnist(*a, **{**k, "verify": False}))
    code, out, err = run(["evaluate", tmp_path / "run" / "checkpoint.npz", "--data-dir", folder], capsys)
    assert code == 0, err
    assert out.startswith("test accuracy ") and "(" in out and "/128) of " in out
