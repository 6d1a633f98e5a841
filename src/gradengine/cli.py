"""The ``gradengine`` command line: train an MLP on MNIST, and evaluate its checkpoints.

::

    gradengine train                      # 784-128-64-10, Adam 1e-3, batch 32, 10 epochs
    gradengine train --epochs 2 --limit 5000 --out-dir /tmp/run
    gradengine train --resume runs/mnist/checkpoint.npz --epochs 15
    gradengine evaluate runs/mnist/checkpoint.npz

``train`` prints, per epoch, the mean training loss, the test accuracy and the time taken; a
tqdm progress bar (rate, ETA) is drawn on stderr when it is a terminal (or with
``--progress``). After every epoch the model, the optimizer state, the epoch and the history
are written atomically to ``<out-dir>/checkpoint.npz`` (plain arrays, read back with
``allow_pickle=False``); at the end the loss and accuracy curves go to ``<out-dir>/curves.png``.
Every argument is checked before the data is loaded. A new run never replaces another run's
files unless ``--overwrite`` is given; a resumed run writes beside the checkpoint it resumed.
Training stops at the first non-finite loss (or weight), keeping the last good checkpoint.

From Python, :func:`load_checkpoint` turns a training checkpoint back into the model, its
optimizer and its history (``model.load(path)`` also reads a training checkpoint into a model
of the same shape).

Exit codes: 0 on success; 2 for bad arguments, missing or corrupt data, or an unusable
checkpoint (a one-line message, no traceback); 3 when training diverged (a nan/inf loss or
weight, or an anomaly found by ``--detect-anomaly``); 130 if interrupted; 141 if the output
pipe was closed (e.g. ``| head``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TextIO

import numpy as np

from . import functional as F
from . import nn, optim
from ._files import atomic_write
from .data import DataLoader, MNISTError, MNISTNotFoundError, load_mnist
from .grad_mode import AnomalyError, detect_anomaly, no_grad
from .nn.module import MODEL_PREFIX, CheckpointError, StateDictError, load_npz, save_npz

__all__ = ["main", "build_parser", "mlp", "train_mnist", "evaluate", "load_checkpoint", "save_checkpoint",
           "Checkpoint", "TrainingDiverged", "CheckpointError"]

CHECKPOINT_FORMAT = "gradengine-mnist-mlp-2"
#: Formats load_checkpoint reads. Version 1 did not record the batch size and the limit.
READABLE_FORMATS = ("gradengine-mnist-mlp-1", CHECKPOINT_FORMAT)
DEFAULT_HIDDEN = (128, 64)
DEFAULT_OUT_DIR = "runs/mnist"
CHECKPOINT_NAME, CURVES_NAME = "checkpoint.npz", "curves.png"
EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 3, 130, 141
MAX_INT64 = 2**63 - 1  # the seed, the batch size and the limit are stored as int64s in the checkpoint
MAX_THREADS = 2**31 - 1  # the BLAS libraries take a C int


class CLIError(Exception):
    """A problem to report in one line with exit code 2 (no traceback)."""


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite loss or weight (or ``detect_anomaly`` found one).

    Attributes: ``epoch`` (1-based, the epoch being trained), ``step`` and ``steps`` (the step
    of that epoch, 1-based, and the number of steps per epoch), ``reason`` (what was found).
    """

    def __init__(self, epoch: int, step: int, steps: int, reason: str) -> None:
        super().__init__(f"training diverged at epoch {epoch}, step {step} of {steps}: {reason}")
        self.epoch, self.step, self.steps, self.reason = epoch, step, steps, reason


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


def mlp_shapes(hidden: Sequence[int] = DEFAULT_HIDDEN, n_in: int = 784, n_out: int = 10) -> dict[str, tuple[int, ...]]:
    """The ``state_dict`` shapes of ``mlp(hidden)``, without building it (to check a file first)."""
    sizes = [n_in, *hidden, n_out]
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"{2 * i + 1}.weight"], shapes[f"{2 * i + 1}.bias"] = (b, a), (b,)
    return shapes


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
    """uint8 images to float32 in [0, 1]: the same as ``load_mnist(normalize=True)`` gives."""
    return np.divide(images, np.float32(255.0), dtype=np.float32)


def _non_finite_parameters(model: nn.Module) -> list[str]:
    return [name for name, p in model.named_parameters() if not np.isfinite(p.data).all()]


def train_mnist(
    data: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    seed: int = 0,
    state: Optional["Checkpoint"] = None,
    on_batch: Optional[Callable[[int, int, int, float], None]] = None,
    on_epoch: Optional[Callable[[dict[str, Any]], None]] = None,
    anomaly_detection: bool = False,
) -> dict[str, Any]:
    """Train the MLP; return ``{"model", "optimizer", "epoch", "history"}``.

    ``data`` holds float32 images (``load_mnist(normalize=True)``) and int labels. Epoch ``e``
    shuffles with a generator seeded from ``(seed, e)``, so a resumed run (``state`` from
    :func:`load_checkpoint`) continues exactly as the uninterrupted run would.
    ``on_batch(epoch, done, total, loss)`` is called after each step (``epoch`` 0-based),
    ``on_epoch(result)`` after each epoch (e.g. to save a checkpoint).

    Raises:
        TrainingDiverged: at the first non-finite loss (checked before its backward pass, so
            no step is taken with it) or, at the end of an epoch, non-finite weights; with
            ``anomaly_detection``, at the first op producing nan/inf (the message is
            :class:`~gradengine.AnomalyError`'s). ``on_epoch`` is not called for that epoch.
    """
    (x_train, y_train), (x_test, y_test) = data
    if state is None:
        model = mlp(hidden, seed, n_in=int(np.prod(x_train.shape[1:])))
        opt = optim.Adam(model.parameters(), lr=lr)
        start_epoch = 0
        history: dict[str, list[float]] = {"train_loss": [], "test_acc": [], "seconds": []}
    else:
        model, opt, start_epoch, history = state.model, state.optimizer, state.epoch, state.history
    result = {"model": model, "optimizer": opt, "epoch": start_epoch, "history": history}
    checking = detect_anomaly() if anomaly_detection else contextlib.nullcontext()
    with checking:
        for epoch in range(start_epoch, epochs):
            loader = DataLoader(x_train, y_train, batch_size=batch_size, shuffle=True,
                                seed=np.random.default_rng([seed, epoch]))
            total, loss_sum, t0 = len(loader), 0.0, time.perf_counter()
            model.train()
            step = 0
            try:
                for step, (xb, yb) in enumerate(loader, 1):
                    opt.zero_grad()
                    loss = F.cross_entropy(model(xb), yb)
                    loss_value = float(loss.data)
                    if not math.isfinite(loss_value):
                        raise TrainingDiverged(epoch + 1, step, total, f"the training loss is {loss_value}")
                    loss.backward()
                    opt.step()
                    loss_sum += loss_value
                    if on_batch is not None:
                        on_batch(epoch, step, total, loss_value)
                seconds = time.perf_counter() - t0
                bad = _non_finite_parameters(model)
                if bad:
                    raise TrainingDiverged(epoch + 1, total, total, f"non-finite weights in {', '.join(bad)}")
                accuracy = evaluate(model, x_test, y_test)
            except AnomalyError as e:
                raise TrainingDiverged(epoch + 1, max(step, 1), total, str(e)) from e
            history["train_loss"].append(loss_sum / max(total, 1))
            history["test_acc"].append(accuracy)
            history["seconds"].append(seconds)
            result["epoch"] = epoch + 1
            if on_epoch is not None:
                on_epoch(result)
    return result


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """A training checkpoint read back by :func:`load_checkpoint`.

    ``model`` (an ``nn.Sequential`` with the trained weights) and ``optimizer`` (its ``Adam``,
    with the saved moments and learning rate) are ready to use; ``epoch`` is the number of
    completed epochs, ``history`` maps ``train_loss``/``test_acc``/``seconds`` to per-epoch
    lists; ``hidden``, ``seed``, ``batch_size`` and ``limit`` are the run's settings
    (``batch_size``/``limit`` are None in a version-1 checkpoint, which did not record them;
    ``limit`` is None for a run on all the training images).
    """

    path: Path
    model: nn.Sequential
    optimizer: optim.Adam
    epoch: int
    history: dict[str, list[float]]
    hidden: list[int]
    seed: int
    batch_size: Optional[int] = None
    limit: Optional[int] = None
    format: str = CHECKPOINT_FORMAT
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


def save_checkpoint(path: Path, result: dict[str, Any], hidden: Sequence[int], seed: int,
                    batch_size: int, limit: Optional[int]) -> None:
    """Model, optimizer state, epoch, history and the run's settings in one ``.npz``, written
    atomically (a crash leaves the previous checkpoint intact)."""
    arrays: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "epoch": result["epoch"],
        "hidden": np.asarray(hidden, dtype=np.int64),
        "seed": np.int64(seed),
        "batch_size": np.int64(batch_size),
        "limit": np.int64(0 if limit is None else limit),
    }
    arrays.update({f"{MODEL_PREFIX}{k}": v for k, v in result["model"].state_dict().items()})
    arrays.update({f"optimizer/{k}": v for k, v in result["optimizer"].state_dict().items()})
    arrays.update({f"history/{k}": np.asarray(v, dtype=np.float64) for k, v in result["history"].items()})
    save_npz(path, arrays)


def _int_entry(ckpt: dict[str, np.ndarray], key: str, path: Path, minimum: int) -> int:
    if key not in ckpt:
        raise CheckpointError(f"{path} is not a complete gradengine train checkpoint: it has no {key!r} entry")
    value = ckpt[key]
    if value.shape != () or not np.issubdtype(value.dtype, np.integer) or int(value) < minimum:
        raise CheckpointError(f"{path} is damaged: {key!r} should be an integer >= {minimum}, got {value!r}")
    return int(value)


def load_checkpoint(path: "str | os.PathLike[str]") -> Checkpoint:
    """Read a ``gradengine train`` checkpoint back into its model, optimizer and history.

    Example::

        from gradengine.cli import load_checkpoint
        ckpt = load_checkpoint("runs/mnist/checkpoint.npz")
        ckpt.model            # the trained nn.Sequential, ready for ckpt.model(images)
        ckpt.epoch, ckpt.history["test_acc"][-1]

    Nothing is half-loaded: a fresh model and optimizer are built and filled only once the
    whole file has been read and checked.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is damaged or truncated, is not a training checkpoint (e.g. a
            plain ``Module.save`` file, which has no architecture: load that with
            ``model.load(path)``), or its parts do not fit together; the message names the file.
    """
    path = Path(path)
    ckpt = load_npz(path)
    fmt = str(ckpt["format"]) if "format" in ckpt and ckpt["format"].dtype.kind == "U" else ""
    if fmt not in READABLE_FORMATS:
        if not fmt and any("." in k and "/" not in k for k in ckpt):
            raise CheckpointError(
                f"{path} is a plain model file (Module.save), not a gradengine train checkpoint: it does "
                "not say which network it holds; build that network and call model.load(path)"
            )
        found = f"format {fmt!r}" if fmt else "no 'format' entry"
        raise CheckpointError(f"{path} is not a gradengine train checkpoint ({found}; expected {CHECKPOINT_FORMAT!r})")
    epoch = _int_entry(ckpt, "epoch", path, 0)
    seed = _int_entry(ckpt, "seed", path, 0)
    hidden_arr = ckpt.get("hidden")
    if hidden_arr is None or hidden_arr.ndim != 1 or not np.issubdtype(hidden_arr.dtype, np.integer) \
            or (hidden_arr <= 0).any():
        raise CheckpointError(f"{path} is damaged: 'hidden' should list positive layer sizes, got {hidden_arr!r}")
    hidden = [int(h) for h in hidden_arr]
    batch_size = limit = None
    if fmt == CHECKPOINT_FORMAT:
        batch_size = _int_entry(ckpt, "batch_size", path, 1)
        limit = _int_entry(ckpt, "limit", path, 0) or None
    history = {k[len("history/"):]: [float(x) for x in v] for k, v in ckpt.items() if k.startswith("history/")}
    if set(history) != {"train_loss", "test_acc", "seconds"} or any(len(v) != epoch for v in history.values()):
        lengths = {k: len(v) for k, v in history.items()}
        raise CheckpointError(f"{path} is damaged: its history {lengths} does not cover its {epoch} epochs")

    model_sd = {k[len(MODEL_PREFIX):]: v for k, v in ckpt.items() if k.startswith(MODEL_PREFIX)}
    saved = {k: v.shape for k, v in model_sd.items()}
    if saved != mlp_shapes(hidden):  # checked before building the model: a damaged 'hidden' could be huge
        raise CheckpointError(f"{path}: the model does not match its hidden sizes {hidden}: it holds {saved}, "
                              f"expected {mlp_shapes(hidden)}")
    model = mlp(hidden, seed)
    opt = optim.Adam(model.parameters())
    opt_sd = {k[len("optimizer/"):]: v for k, v in ckpt.items() if k.startswith("optimizer/")}
    try:
        model.load_state_dict(model_sd)
    except StateDictError as e:
        raise CheckpointError(f"{path}: the model does not match its hidden sizes {hidden}: {e}") from None
    bad = _non_finite_parameters(model)
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights (nan or inf) in {', '.join(bad)}")
    try:
        opt.load_state_dict(opt_sd)
    except (StateDictError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: the optimizer state does not fit the model: {e}") from None
    return Checkpoint(path=path, model=model, optimizer=opt, epoch=epoch, history=history, hidden=hidden,
                      seed=seed, batch_size=batch_size, limit=limit, format=fmt)


def _checkpoint_epoch(path: Path) -> Optional[int]:
    """The epoch recorded in the checkpoint at ``path``, or None if it cannot be read."""
    try:
        return int(load_npz(path)["epoch"])
    except (OSError, CheckpointError, KeyError, ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
class Progress:
    """A tqdm bar per epoch (rate, ETA, running loss), drawn on ``stream``; ``close()`` ends it."""

    def __init__(self, stream: TextIO, epochs: int) -> None:
        from tqdm.auto import tqdm

        self.tqdm, self.stream, self.epochs, self.bar = tqdm, stream, epochs, None

    def __call__(self, epoch: int, done: int, total: int, loss: float) -> None:
        if self.bar is None:
            self.bar = self.tqdm(total=total, desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch",
                                 file=self.stream, leave=False, dynamic_ncols=True)
        self.bar.update(1)
        if done % 50 == 0 or done == total:
            self.bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
        if done == total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=100)
    finally:
        plt.close(fig)
    return None


# ---------------------------------------------------------------------------------------------
# Argument checking (all of it happens before any data is loaded)
# ---------------------------------------------------------------------------------------------
def _int_type(minimum: int, maximum: Optional[int] = None, what: str = "") -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


_positive_int = _int_type(1, what="a positive integer")
_seed_int = _int_type(0, MAX_INT64, what="an integer from 0 to 2**63-1")
_count_int = _int_type(1, MAX_INT64, what="an integer from 1 to 2**63-1")
_threads_int = _int_type(1, MAX_THREADS, what="an integer from 1 to 2**31-1")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text}")
    return value


def _check_out_dir(out_dir: Path, flag: str = "--out-dir") -> None:
    """The output directory can be created (or exists as a directory) and is writable, and
    neither of the files a run writes there is a directory."""
    if out_dir.is_symlink() and not out_dir.exists():
        raise CLIError(f"{flag} {out_dir} is a symbolic link to {os.readlink(out_dir)}, which does not exist")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise CLIError(f"{flag} {out_dir} is an existing file, not a directory")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise CLIError(f"{flag} {out_dir} is not writable")
        for name in (CHECKPOINT_NAME, CURVES_NAME):
            if (out_dir / name).is_dir():
                raise CLIError(f"{flag} {out_dir}: {out_dir / name} is a directory, so the run cannot write its "
                               f"{name} there (remove it, or pass --out-dir DIR for another folder)")
        return
    parent = out_dir.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"{flag} {out_dir} cannot be created: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {out_dir} cannot be created: {parent} is not writable")


def _check_memory(hidden: Sequence[int], batch_size: int) -> None:
    """Refuse a model that cannot fit in this machine's memory, rather than fail after loading the data."""
    sizes = [784, *hidden, 10]
    params = sum(math.prod(shape) for shape in mlp_shapes(hidden).values())
    # float32 weights, their gradients and Adam's two moments, and a few arrays per layer of one
    # batch (at most the 60000 training images) in the forward and the backward pass
    need = 4 * (4 * params + 3 * min(batch_size, 60000) * sum(sizes))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not a POSIX system: nothing to compare with
        return
    if need > total:
        raise CLIError(f"the model 784-{'-'.join(map(str, hidden))}-10 ({params:,} parameters) at batch "
                       f"{batch_size} needs about {need / 2**30:,.1f} GiB, more than this machine's "
                       f"{total / 2**30:,.1f} GiB of memory: give smaller --hidden sizes (or --batch-size)")


def _check_data_dir(data_dir: Optional[str]) -> None:
    if data_dir is not None and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise CLIError(f"--data-dir {data_dir} is a file, not a directory")


def _load_data(args: argparse.Namespace, quiet: bool = False, split: str = "both"):
    """``load_mnist(normalize=True, split=split)``, with errors in the command line's words."""
    try:
        return load_mnist(args.data_dir, download=args.download, normalize=True, verbose=not quiet, split=split)
    except MNISTNotFoundError as e:
        files = ", ".join(e.missing)
        where = {"root": "given by --data-dir", "env": "from $GRADENGINE_DATA",
                 "default": "the default, as neither --data-dir nor $GRADENGINE_DATA is set"}[e.source]
        if e.download_error is not None:
            why = f"downloading them failed ({e.download_error})"
        elif not args.download:
            why = "--no-download was given, so nothing was downloaded"
        else:
            why = "GRADENGINE_OFFLINE is set, so nothing was downloaded"
        hint = "" if e.source == "root" else "; or pass --data-dir DIR naming a directory that holds them"
        raise CLIError(f"MNIST files missing from {e.directory} ({where}): {files}. {why}.\n"
                       f"Put {'the four files' if split == 'both' else 'them'} (.gz or raw) there{hint}") from None
    except MNISTError as e:
        raise CLIError(str(e)) from None


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="gradengine", description="gradengine command line tools")
    parser.add_argument("--version", action="version", version=f"gradengine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    t = sub.add_parser(
        "train",
        help="train an MLP on MNIST",
        description="Train Flatten-Linear-ReLU-...-Linear on MNIST with Adam and cross-entropy, "
        "reporting per-epoch training loss, test accuracy and time. Exit codes: 0 done, 2 bad "
        "arguments/data/checkpoint, 3 training diverged, 130 interrupted.",
    )
    t.add_argument("--epochs", type=_positive_int, default=10,
                   help="total number of epochs; a resumed run continues up to it (default: 10)")
    t.add_argument("--batch-size", type=_count_int, default=None, metavar="N",
                   help="mini-batch size (default: 32, or the checkpoint's when resuming)")
    t.add_argument("--lr", type=_positive_float, default=None,
                   help="Adam learning rate (default: 1e-3, or the checkpoint's when resuming)")
    t.add_argument("--hidden", type=_positive_int, nargs="+", default=None, metavar="N",
                   help="hidden layer sizes (default: 128 64, or the checkpoint's when resuming)")
    t.add_argument("--seed", type=_seed_int, default=None,
                   help="seed of the initialisation and the shuffling, 0 to 2**63-1 "
                        "(default: 0, or the checkpoint's when resuming)")
    t.add_argument("--limit", type=_count_int, default=None, metavar="N",
                   help="train on the first N training images only, for quick runs "
                        "(default: all 60000, or the checkpoint's when resuming)")
    t.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory with the MNIST files (default: $GRADENGINE_DATA, else ~/.cache/gradengine/mnist)")
    t.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="download MNIST into the data directory if it is missing (default: --download)")
    t.add_argument("--out-dir", default=None, metavar="DIR",
                   help=f"where the checkpoint and the curves go (default: {DEFAULT_OUT_DIR}, "
                        "or the resumed checkpoint's directory)")
    t.add_argument("--resume", metavar="CHECKPOINT", default=None,
                   help="continue the run saved in CHECKPOINT (default: none, start a new run)")
    t.add_argument("--overwrite", action="store_true",
                   help="let a new run replace the checkpoint and curves of a run already in --out-dir "
                        "(default: refuse)")
    t.add_argument("--threads", type=_threads_int, default=1, metavar="N",
                   help="threads of the BLAS matrix products (default: 1; on a busy machine more threads wait "
                        "for each other and an epoch gets many times slower: benchmarks/bench_train.py --threads 1 2)")
    t.add_argument("--detect-anomaly", action="store_true",
                   help="check every op for nan/inf and stop at the first, naming it (slower; default: off)")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="draw a progress bar on stderr (default: when stderr is a terminal)")
    e = sub.add_parser(
        "evaluate",
        help="print the test accuracy of a training checkpoint",
        description="Load a checkpoint written by gradengine train and print its MNIST test accuracy.",
    )
    e.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint.npz written by gradengine train")
    e.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory with the MNIST files (default: $GRADENGINE_DATA, else ~/.cache/gradengine/mnist)")
    e.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="download MNIST into the data directory if it is missing (default: --download)")
    return parser


@dataclass
class _Run:
    """What a training run has done so far, so that every message about it is true."""

    ckpt_path: Path
    resumed: Optional[Checkpoint] = None
    started: bool = False           # data loaded, training begun
    epoch: int = 0                  # the epoch being trained (1-based) once started
    written_epoch: Optional[int] = None  # the last epoch this run wrote to ckpt_path
    trained: bool = False           # every epoch done: the curves are being written

    def checkpoint_state(self) -> str:
        """Where the last completed epoch is, in words."""
        if self.written_epoch is not None:
            return f"{self.ckpt_path} holds epoch {self.written_epoch}"
        if self.resumed is not None and self.resumed.path.resolve() == self.ckpt_path.resolve():
            return f"no epoch was completed; {self.ckpt_path} is unchanged (epoch {self.resumed.epoch})"
        if self.ckpt_path.exists():  # --overwrite, and nothing overwritten yet
            epoch = _checkpoint_epoch(self.ckpt_path)
            held = f" (epoch {epoch})" if epoch is not None else ""
            return f"no epoch was completed; {self.ckpt_path} is still the earlier run's checkpoint{held}"
        return "no epoch was completed, so no checkpoint was written"


def _resolve_settings(args: argparse.Namespace, ckpt: Optional[Checkpoint]) -> dict[str, Any]:
    """The run's settings: the flags, else the checkpoint's, else the defaults; conflicts raise."""
    if ckpt is None:
        return {"hidden": list(args.hidden or DEFAULT_HIDDEN), "seed": 0 if args.seed is None else args.seed,
                "batch_size": args.batch_size or 32, "limit": args.limit, "lr": args.lr or 1e-3, "notes": []}
    if args.hidden is not None and list(args.hidden) != ckpt.hidden:
        raise CLIError(f"--hidden {' '.join(map(str, args.hidden))} does not match the checkpoint's hidden sizes "
                       f"{' '.join(map(str, ckpt.hidden))} (omit --hidden when resuming)")
    if args.seed is not None and args.seed != ckpt.seed:
        raise CLIError(f"--seed {args.seed} does not match the checkpoint's seed {ckpt.seed}: a resumed run "
                       "keeps the initialisation and shuffling of its seed (omit --seed when resuming)")
    notes = []
    batch_size = args.batch_size or ckpt.batch_size or 32
    if ckpt.batch_size is not None and batch_size != ckpt.batch_size:
        notes.append(f"--batch-size {batch_size} replaces the checkpoint's {ckpt.batch_size}")
    limit = args.limit if args.limit is not None else ckpt.limit
    if ckpt.format == CHECKPOINT_FORMAT and limit != ckpt.limit:
        notes.append(f"--limit {limit} replaces the checkpoint's {ckpt.limit or 'none (all images)'}")
    saved_lr = float(ckpt.optimizer.param_groups[0]["lr"])
    lr = args.lr if args.lr is not None else saved_lr
    if lr != saved_lr:
        notes.append(f"--lr {lr:g} replaces the checkpoint's {saved_lr:g}")
    return {"hidden": ckpt.hidden, "seed": ckpt.seed, "batch_size": batch_size, "limit": limit, "lr": lr,
            "notes": notes}


def _existing_run(out_dir: Path) -> Optional[str]:
    """A description of the run already in ``out_dir``, or None if there is none."""
    ckpt, curves = out_dir / CHECKPOINT_NAME, out_dir / CURVES_NAME
    if ckpt.exists():
        epoch = _checkpoint_epoch(ckpt)
        return f"{ckpt}" + (f" (epoch {epoch})" if epoch is not None else "")
    if curves.exists():
        return f"{curves}"
    return None


def _train_command(args: argparse.Namespace) -> int:
    # 1. Everything that can be checked without the data.
    ckpt: Optional[Checkpoint] = None
    if args.resume:
        try:
            ckpt = load_checkpoint(args.resume)
        except (CheckpointError, FileNotFoundError) as e:
            raise CLIError(f"--resume: {e}") from None
    settings = _resolve_settings(args, ckpt)
    if args.out_dir is not None:
        out_dir = Path(args.out_dir)
    else:
        out_dir = Path(args.resume).parent if ckpt is not None else Path(DEFAULT_OUT_DIR)
    _check_out_dir(out_dir)
    _check_data_dir(args.data_dir)
    _check_memory(settings["hidden"], settings["batch_size"])
    run = _Run(ckpt_path=out_dir / CHECKPOINT_NAME, resumed=ckpt)
    continuing_in_place = ckpt is not None and run.ckpt_path.exists() and run.ckpt_path.resolve() == ckpt.path.resolve()
    existing = None if continuing_in_place else _existing_run(out_dir)
    if existing and not args.overwrite:
        resume_hint = f"--resume {run.ckpt_path} to continue it, " if run.ckpt_path.exists() else ""
        raise CLIError(f"{out_dir} already holds a run: {existing}. Pass {resume_hint}--out-dir DIR for a "
                       "new folder, or --overwrite to replace it")
    if ckpt is not None and ckpt.epoch >= args.epochs:
        print(f"nothing to train: {ckpt.path} is at epoch {ckpt.epoch}, and --epochs is {args.epochs} "
              f"(pass --epochs N with N > {ckpt.epoch} to train further)")
        return 0

    def interrupted() -> int:
        during = ("while writing the curves" if run.trained else
                  f"during epoch {run.epoch}" if run.started else "before training started")
        print(f"\ngradengine: interrupted {during}; {run.checkpoint_state()}", file=sys.stderr)
        return EXIT_INTERRUPTED

    try:
        # 2. The data.
        (x_tr, y_tr), (x_te, y_te) = _load_data(args)
        if settings["limit"] is not None:
            x_tr, y_tr = x_tr[:settings["limit"]], y_tr[:settings["limit"]]
        hidden, batch_size = settings["hidden"], settings["batch_size"]
        run.started, run.epoch = True, (ckpt.epoch if ckpt else 0) + 1  # from here on, an epoch is under way
        if ckpt is not None:
            for group in ckpt.optimizer.param_groups:
                group["lr"] = settings["lr"]
            print(f"resuming {ckpt.path} at epoch {ckpt.epoch}; writing to {run.ckpt_path}")
            for note in settings["notes"]:
                print(f"note: {note}")
        print(f"MNIST: {len(x_tr)} training and {len(x_te)} test images; model 784-"
              f"{'-'.join(map(str, hidden))}-10, Adam lr {settings['lr']:g}, batch {batch_size}, "
              f"seed {settings['seed']}", flush=True)
        show_progress = sys.stderr.isatty() if args.progress is None else args.progress
        progress = Progress(sys.stderr, args.epochs) if show_progress else None

        def on_batch(epoch: int, done: int, total: int, loss: float) -> None:
            run.epoch = epoch + 1
            if progress is not None:
                progress(epoch, done, total, loss)

        def on_epoch(result: dict[str, Any]) -> None:
            try:
                save_checkpoint(run.ckpt_path, result, hidden, settings["seed"], batch_size, settings["limit"])
            except OSError as e:  # a full disk, a folder removed under the run: the last checkpoint stands
                kept = (f"{run.ckpt_path} still holds epoch {run.written_epoch}" if run.written_epoch is not None
                        else f"{run.ckpt_path} is unchanged" if run.ckpt_path.exists() else "no checkpoint was written")
                raise CLIError(f"cannot write the checkpoint of epoch {result['epoch']} to {run.ckpt_path} "
                               f"({e.strerror or e}); {kept}") from None
            if run.written_epoch is None and not continuing_in_place:
                # the new run has replaced an earlier run's checkpoint (--overwrite): its curves go too,
                # so the folder never holds the checkpoint of one run beside the curves of another
                (out_dir / CURVES_NAME).unlink(missing_ok=True)
            run.written_epoch = result["epoch"]
            run.epoch = result["epoch"] + 1
            h = result["history"]
            print(f"epoch {result['epoch']:>3}/{args.epochs}  train loss {h['train_loss'][-1]:.4f}  "
                  f"test acc {h['test_acc'][-1]:.4f}  {h['seconds'][-1]:.1f}s", flush=True)

        # train_mnist itself finds and reports nan/inf: NumPy's overflow warnings would only add noise
        numpy_warnings = np.errstate(over="ignore", invalid="ignore", divide="ignore")
        try:
            with numpy_warnings, _blas_threads(args.threads):
                result = train_mnist(
                    ((x_tr, y_tr), (x_te, y_te)), epochs=args.epochs, batch_size=batch_size, lr=settings["lr"],
                    hidden=hidden, seed=settings["seed"], state=ckpt, on_batch=on_batch, on_epoch=on_epoch,
                    anomaly_detection=args.detect_anomaly,
                )
        finally:
            if progress is not None:
                progress.close()

        run.trained = True
        history = result["history"]
        print(f"test accuracy {history['test_acc'][-1]:.4f} after {_epochs(result['epoch'])}")
        print(f"checkpoint: {run.ckpt_path}")
        try:
            note = save_curves(out_dir / CURVES_NAME, history)
        except OSError as e:
            raise CLIError(f"cannot write the curves {out_dir / CURVES_NAME} ({e.strerror or e}); "
                           f"{run.checkpoint_state()}") from None
        print(f"note: {note}" if note else f"curves: {out_dir / CURVES_NAME}")
    except KeyboardInterrupt:
        return interrupted()
    except TrainingDiverged as e:
        hint = "" if args.detect_anomaly else ". Try a smaller --lr, or --detect-anomaly to find the first op"
        found = "--detect-anomaly stopped training" if isinstance(e.__cause__, AnomalyError) else "training diverged"
        print(f"gradengine: error: {found} at epoch {e.epoch}, step {e.step} of {e.steps}: {e.reason}; "
              f"{run.checkpoint_state()}{hint}", file=sys.stderr)
        return EXIT_DIVERGED
    except BrokenPipeError:
        _silence_stdout()
        if run.started:
            print(f"gradengine: output closed (broken pipe), stopped training; {run.checkpoint_state()}",
                  file=sys.stderr)
        return EXIT_BROKEN_PIPE
    return 0


def _evaluate_command(args: argparse.Namespace) -> int:
    try:
        ckpt = load_checkpoint(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    _check_data_dir(args.data_dir)
    x_te, y_te = _load_data(args, split="test")  # evaluation needs (and downloads) only the test set
    accuracy = evaluate(ckpt.model, x_te, y_te)
    print(f"test accuracy {accuracy:.4f} ({round(accuracy * len(y_te))}/{len(y_te)}) of {ckpt.path}: "
          f"model 784-{'-'.join(map(str, ckpt.hidden))}-10 after {_epochs(ckpt.epoch)}")
    return 0


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _blas_threads(n: int) -> contextlib.AbstractContextManager:
    """Limit the BLAS libraries NumPy uses to ``n`` threads for the duration of the block."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``gradengine`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            return _train_command(args)
        if args.command == "evaluate":
            return _evaluate_command(args)
    except CLIError as e:
        print(f"gradengine: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside training (e.g. while reading a checkpoint): nothing written
        print("\ngradengine: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return 0
