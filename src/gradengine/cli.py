"""The ``gradengine`` command line: ``gradengine train`` trains an MLP on MNIST.

::

    gradengine train                      # 784-128-64-10, Adam 1e-3, batch 32, 10 epochs
    gradengine train --epochs 2 --limit 5000 --out-dir /tmp/run
    gradengine train --resume runs/mnist/checkpoint.npz --epochs 15

Each epoch prints the mean training loss, the test accuracy and the time taken; a progress bar
is drawn on stderr when it is a terminal (or with ``--progress``). After every epoch the model,
the optimizer state, the epoch counter and the history are written atomically to
``<out-dir>/checkpoint.npz`` (plain arrays: it is read back with ``allow_pickle=False``), and at
the end the loss and accuracy curves go to ``<out-dir>/curves.png`` (needs matplotlib).

Exit codes: 0 on success, 2 for bad arguments, missing data or an unusable checkpoint (with a
one-line message, no traceback), 130 if interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TextIO

import numpy as np

from . import functional as F
from . import nn, optim
from .data import DataLoader, MNISTError, load_mnist
from .grad_mode import no_grad
from .nn.module import StateDictError, load_npz, save_npz

__all__ = ["main", "build_parser", "mlp", "train_mnist", "evaluate"]

CHECKPOINT_FORMAT = "gradengine-mnist-mlp-1"
DEFAULT_HIDDEN = (128, 64)


class CLIError(Exception):
    """A problem to report in one line with exit code 2 (no traceback)."""


# ---------------------------------------------------------------------------------------------
# Model, evaluation, training
# ---------------------------------------------------------------------------------------------
def mlp(hidden: Sequence[int] = DEFAULT_HIDDEN, seed: int = 0, n_in: int = 784, n_out: int = 10) -> nn.Sequential:
    """``Flatten, Linear(784, h1), ReLU, ..., Linear(h_last, 10)``, initialised from ``seed``."""
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    sizes = [n_in, *hidden]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b, rng=rng), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], n_out, rng=rng))
    return nn.Sequential(*layers)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Classification accuracy of ``model`` on ``(x, y)``, in eval mode and without a graph."""
    was_training = model.training
    model.eval()
    correct = 0
    with no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size]).data
            correct += int(np.count_nonzero(logits.argmax(axis=1) == y[start:start + batch_size]))
    model.train(was_training)
    return correct / max(len(x), 1)


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images to float32 in [0, 1] (divided by 255.0 in float32)."""
    return images.astype(np.float32) / np.float32(255.0)


def train_mnist(
    data: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    seed: int = 0,
    state: Optional[dict[str, Any]] = None,
    on_batch: Optional[Callable[[int, int, int, float], None]] = None,
    on_epoch: Optional[Callable[[dict[str, Any]], None]] = None,
) -> dict[str, Any]:
    """Train the MLP; return ``{"model", "optimizer", "epoch", "history"}``.

    ``data`` holds float32 images and int labels. Epoch ``e`` shuffles with a generator seeded
    from ``(seed, e)``, so a resumed run (``state`` from :func:`load_checkpoint`) continues
    exactly as the uninterrupted run would. ``on_batch(epoch, done, total, loss)`` is called
    after each step, ``on_epoch(result)`` after each epoch (e.g. to save a checkpoint).
    """
    (x_train, y_train), (x_test, y_test) = data
    if state is None:
        model = mlp(hidden, seed, n_in=int(np.prod(x_train.shape[1:])))
        opt = optim.Adam(model.parameters(), lr=lr)
        start_epoch = 0
        history: dict[str, list[float]] = {"train_loss": [], "test_acc": [], "seconds": []}
    else:
        model, opt, start_epoch, history = state["model"], state["optimizer"], state["epoch"], state["history"]
    result = {"model": model, "optimizer": opt, "epoch": start_epoch, "history": history}
    for epoch in range(start_epoch, epochs):
        loader = DataLoader(x_train, y_train, batch_size=batch_size, shuffle=True,
                            seed=np.random.default_rng([seed, epoch]))
        total, loss_sum, t0 = len(loader), 0.0, time.perf_counter()
        model.train()
        for i, (xb, yb) in enumerate(loader):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            loss_value = float(loss.data)
            loss_sum += loss_value
            if on_batch is not None:
                on_batch(epoch, i + 1, total, loss_value)
        seconds = time.perf_counter() - t0
        history["train_loss"].append(loss_sum / max(total, 1))
        history["test_acc"].append(evaluate(model, x_test, y_test))
        history["seconds"].append(seconds)
        result["epoch"] = epoch + 1
        if on_epoch is not None:
            on_epoch(result)
    return result


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------
def save_checkpoint(path: Path, result: dict[str, Any], hidden: Sequence[int], seed: int) -> None:
    """Model, optimizer state, epoch and history in one ``.npz``, written atomically."""
    arrays: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "epoch": result["epoch"],
        "hidden": np.asarray(hidden, dtype=np.int64),
        "seed": seed,
    }
    arrays.update({f"model/{k}": v for k, v in result["model"].state_dict().items()})
    arrays.update({f"optimizer/{k}": v for k, v in result["optimizer"].state_dict().items()})
    arrays.update({f"history/{k}": np.asarray(v, dtype=np.float64) for k, v in result["history"].items()})
    save_npz(path, arrays)


def load_checkpoint(
    path: str, hidden: Optional[Sequence[int]], lr: Optional[float]
) -> tuple[dict[str, Any], list[int], int]:
    """Rebuild model, optimizer, epoch and history from a checkpoint; CLIError if unusable."""
    try:
        ckpt = load_npz(path)
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from None
    if str(ckpt.get("format", "")) != CHECKPOINT_FORMAT:
        raise CLIError(f"{path} is not a gradengine MNIST checkpoint (no format {CHECKPOINT_FORMAT!r})")
    saved_hidden = [int(h) for h in ckpt["hidden"]]
    if hidden is not None and list(hidden) != saved_hidden:
        raise CLIError(f"--hidden {' '.join(map(str, hidden))} does not match the checkpoint's hidden sizes {saved_hidden}")
    seed = int(ckpt["seed"])
    model = mlp(saved_hidden, seed)
    opt = optim.Adam(model.parameters())
    try:
        model.load_state_dict({k[6:]: v for k, v in ckpt.items() if k.startswith("model/")})
        opt.load_state_dict({k[10:]: v for k, v in ckpt.items() if k.startswith("optimizer/")})
    except StateDictError as e:
        raise CLIError(f"cannot resume from {path}: {e}") from None
    if lr is not None:
        opt.lr = lr
    history = {k[8:]: [float(x) for x in v] for k, v in ckpt.items() if k.startswith("history/")}
    state = {"model": model, "optimizer": opt, "epoch": int(ckpt["epoch"]), "history": history}
    return state, saved_hidden, seed


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
class ProgressBar:
    """A one-line text progress bar, redrawn at most ``hz`` times a second."""

    def __init__(self, stream: TextIO, width: int = 30, hz: float = 10.0) -> None:
        self.stream, self.width, self.interval = stream, width, 1.0 / hz
        self.last = 0.0

    def __call__(self, epoch: int, done: int, total: int, loss: float) -> None:
        now = time.perf_counter()
        if done != total and now - self.last < self.interval:
            return
        self.last = now
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r  epoch {epoch + 1} [{bar}] {done}/{total}  loss {loss:.4f}")
        if done == total:
            self.stream.write("\r" + " " * (self.width + 50) + "\r")
        self.stream.flush()


def save_curves(path: Path, history: dict[str, list[float]]) -> Optional[str]:
    """Plot the loss and accuracy curves to ``path`` (atomically); the reason if skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed, so no curves PNG was written (pip install matplotlib)"
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, history["train_loss"], marker="o")
    ax1.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    ax2.plot(epochs, history["test_acc"], marker="o", color="tab:green")
    ax2.set(title="test accuracy", xlabel="epoch", ylabel="accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a plot is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return None


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradengine", description="gradengine command line tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    t = sub.add_parser(
        "train",
        help="train an MLP on MNIST",
        description="Train Flatten-Linear-ReLU-...-Linear on MNIST with Adam and cross-entropy, "
        "reporting per-epoch training loss, test accuracy and time.",
    )
    t.add_argument("--epochs", type=_positive_int, default=10,
                   help="total number of epochs; a resumed run continues up to it (default 10)")
    t.add_argument("--batch-size", type=_positive_int, default=32, help="mini-batch size (default 32)")
    t.add_argument("--lr", type=_positive_float, default=None, help="Adam learning rate (default 1e-3, or the checkpoint's)")
    t.add_argument("--hidden", type=_positive_int, nargs="+", default=None, metavar="N",
                   help="hidden layer sizes (default 128 64, or the checkpoint's)")
    t.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the shuffling (default 0)")
    t.add_argument("--data-dir", default=None,
                   help="directory with the MNIST files (default: $GRADENGINE_DATA, else the user cache dir)")
    t.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="download MNIST if it is missing (default: yes)")
    t.add_argument("--out-dir", default="runs/mnist", help="where the checkpoint and the curves go (default runs/mnist)")
    t.add_argument("--resume", metavar="PATH", default=None, help="continue from a checkpoint")
    t.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                   help="train on the first N training samples only (quick runs)")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="draw a progress bar on stderr (default: when stderr is a terminal)")
    return parser


def _train_command(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    ckpt_path = out_dir / "checkpoint.npz"
    state, hidden, seed = None, list(args.hidden or DEFAULT_HIDDEN), args.seed
    if args.resume:
        state, hidden, seed = load_checkpoint(args.resume, args.hidden, args.lr)
        print(f"resumed from {args.resume} at epoch {state['epoch']}")
    try:
        (x_tr, y_tr), (x_te, y_te) = load_mnist(args.data_dir, download=args.download)
    except MNISTError as e:
        raise CLIError(f"{e}\nFrom the command line: gradengine train --data-dir DIR") from None
    if args.limit is not None:
        x_tr, y_tr = x_tr[:args.limit], y_tr[:args.limit]
    data = ((to_float(x_tr), y_tr), (to_float(x_te), y_te))
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    print(f"MNIST: {len(x_tr)} training and {len(x_te)} test images; model 784-"
          f"{'-'.join(map(str, hidden))}-10, Adam, batch {args.batch_size}")

    def on_epoch(result: dict[str, Any]) -> None:
        h = result["history"]
        print(f"epoch {result['epoch']:>3}/{args.epochs}  train loss {h['train_loss'][-1]:.4f}  "
              f"test acc {h['test_acc'][-1]:.4f}  {h['seconds'][-1]:.1f}s", flush=True)
        save_checkpoint(ckpt_path, result, hidden, seed)

    result = train_mnist(
        data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr or 1e-3, hidden=hidden, seed=seed,
        state=state, on_batch=ProgressBar(sys.stderr) if show_progress else None, on_epoch=on_epoch,
    )
    history = result["history"]
    if not history["test_acc"]:
        print("nothing to train: the checkpoint is already at the requested number of epochs")
        return 0
    if result["epoch"] == (state["epoch"] if state else 0):
        print(f"nothing to train: the checkpoint is at epoch {result['epoch']} >= --epochs {args.epochs}")
    print(f"test accuracy {history['test_acc'][-1]:.4f} after {result['epoch']} epochs")
    print(f"checkpoint: {ckpt_path}")
    note = save_curves(out_dir / "curves.png", history)
    print(f"note: {note}" if note else f"curves: {out_dir / 'curves.png'}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``gradengine`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train_command(args)
    except CLIError as e:
        print(f"gradengine: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ngradengine: interrupted (the last completed epoch is in the checkpoint)", file=sys.stderr)
        return 130
    return 0
