"""Training on real MNIST (skipped with the reason when the data is absent), end to end.

The CLI's behaviour on bad input, divergence, signals and pipes is tested on synthetic data in
test_cli.py; damaged checkpoints in test_checkpoints.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradengine import cli
from gradengine.data import load_mnist


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_mnist(mnist_dir, download=False, verbose=False, normalize=True)


def test_small_mlp_learns_an_mnist_subset_quickly(mnist):
    (x_tr, y_tr), (x_te, y_te) = mnist
    data = ((x_tr[:20000], y_tr[:20000]), (x_te[:2000], y_te[:2000]))
    # 314 steps, ~0.2 s on an idle 2-core machine. Few, large steps keep it quick on a busy
    # one too, where every multi-threaded BLAS call may wait for a descheduled thread.
    result = cli.train_mnist(data, epochs=2, batch_size=128, lr=3e-3, hidden=(128,), seed=0)
    history = result["history"]
    assert history["train_loss"][1] < history["train_loss"][0]
    assert history["test_acc"][-1] >= 0.91, history  # seeds 0-2 give 0.931, 0.9335, 0.9235
    assert result["epoch"] == 2


def _run_cli(args, capsys):
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trains_checkpoints_plots_and_resumes(mnist_dir, tmp_path, capsys):
    common = ["train", "--data-dir", str(mnist_dir), "--limit", "1000", "--no-progress"]
    code, out, err = _run_cli(common + ["--epochs", "1", "--out-dir", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert "epoch   1/1" in out and "test accuracy" in out
    ckpt = tmp_path / "a" / "checkpoint.npz"
    with np.load(ckpt, allow_pickle=False) as f:
        assert int(f["epoch"]) == 1
        assert {"model/1.weight", "model/5.bias", "optimizer/state.0.exp_avg"} <= set(f.files)
    try:
        import matplotlib  # noqa: F401
        assert (tmp_path / "a" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    except ImportError:
        assert "matplotlib is not installed" in out

    code, out, err = _run_cli(common + ["--epochs", "2", "--resume", str(ckpt)], capsys)
    assert code == 0, err
    assert f"resuming {ckpt} at epoch 1" in out and "epoch   2/2" in out and "epoch   1/" not in out

    # the resumed run ends exactly where an uninterrupted two-epoch run does
    code, _, err = _run_cli(common + ["--epochs", "2", "--out-dir", str(tmp_path / "b")], capsys)
    assert code == 0, err
    with np.load(ckpt) as a, np.load(tmp_path / "b" / "checkpoint.npz") as b:
        assert int(a["epoch"]) == 2 and len(a["history/test_acc"]) == 2
        for k in a.files:
            if k != "history/seconds":
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)

    # the checkpoint back to a model: one call, and `gradengine evaluate` agrees with the run
    model = cli.load_checkpoint(ckpt).model
    code, out, err = _run_cli(["evaluate", str(ckpt), "--data-dir", str(mnist_dir)], capsys)
    assert code == 0, err
    with np.load(ckpt) as a:
        assert out.startswith(f"test accuracy {a['history/test_acc'][-1]:.4f} ")
    other = cli.mlp()
    other.load(ckpt)  # Module.load reads the model part of a training checkpoint
    x = load_mnist(mnist_dir, download=False, normalize=True)[1][0][:5]
    np.testing.assert_array_equal(other(x).data, model(x).data)
