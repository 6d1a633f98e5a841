"""``Module``: the base class of every model, for the scalar and the tensor engine alike.

Parameters and submodules are found from the module's attributes, in the order they were
assigned (as PyTorch registers them on assignment): a ``Value``, a parameter ``Tensor`` (below),
a ``Module``, or a list/tuple/dict of those. Subclasses need not call
``super().__init__()`` (micrograd's modules do not), though calling it is good style.

A parameter stays one after ``requires_grad_(False)``: a frozen parameter is still in
``parameters()`` (with ``requires_grad=False``, so it gets no gradient and optimizers skip it) and
in ``state_dict()``, as an ``nn.Parameter`` in PyTorch. A leaf tensor that has ever required grad
is a parameter (``Tensor.is_parameter``); one that never has is a constant, and so is a tensor
computed by an op (e.g. an output cached in ``forward``).
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Union

import numpy as np

from .._files import atomic_write
from ..engine import Value
from ..tensor import Tensor  # the tensor engine imports nothing from nn: no cycle

__all__ = ["Module", "StateDictError", "CheckpointError", "IncompatibleKeys", "save_npz", "load_npz",
           "model_state"]

#: A training checkpoint (``gradengine train``'s ``checkpoint.npz``) holds a ``format`` entry and
#: keeps the model's state dict under this prefix, beside ``optimizer/...`` and ``history/...``.
MODEL_PREFIX = "model/"


class StateDictError(KeyError, ValueError):
    """A state dict does not fit the model: missing or unexpected keys, or wrong shapes."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: damaged, not a checkpoint, or not fitting the model.

    The message names the file and the problem in one line. Nothing has been changed when it
    is raised (a model is only written to once the whole file has been read and checked).
    """


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` returns, as in PyTorch: the model's keys the state
    dict lacked, and the state dict's keys the model has no parameter for. Both are empty
    after a strict load (a strict load raises instead)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


def _zero_grads(params: Iterable[Any], set_to_none: bool, where: str) -> None:
    """``zero_grad`` of modules and optimizers, as PyTorch's: each tensor's ``grad`` becomes None
    or, with ``set_to_none=False``, zero in place (a grad that is None stays None). A ``Value``'s
    ``grad`` is a float: it becomes 0.0 either way."""
    if not isinstance(set_to_none, (bool, np.bool_)):
        raise TypeError(f"{where}: set_to_none must be True or False, got {set_to_none!r}")
    for p in params:
        if isinstance(p, Value):
            p.grad = 0.0
        elif set_to_none or p.grad is None:
            p.grad = None
        elif isinstance(p.grad, np.ndarray) and p.grad.flags.writeable:
            p.grad[...] = 0
        else:  # a read-only array, or a Tensor left by backward(create_graph=True)
            p.grad = np.zeros(np.shape(p.grad), np.result_type(p.grad))


def _is_parameter(obj: object) -> bool:
    return isinstance(obj, Value) or (isinstance(obj, Tensor) and obj.is_parameter)


def _param_array(p: Any) -> np.ndarray:
    return np.asarray(p.data, dtype=np.float64) if isinstance(p, Value) else p.data


class Module:
    """Base class for models. Subclasses set parameters and submodules as attributes."""

    training: bool = True  # class default, so subclasses without super().__init__() work

    def __init__(self) -> None:
        self.training = True

    # -- discovery ----------------------------------------------------------------------------
    def _walk(self, prefix: str, seen: set) -> Iterator[tuple[str, Any]]:
        """Yield ``(dotted_name, obj)`` for every parameter and submodule, depth first."""
        stack: list[tuple[str, Any]] = [(prefix + k, v) for k, v in vars(self).items()]
        stack.reverse()
        while stack:
            name, obj = stack.pop()
            if id(obj) in seen:
                continue
            if isinstance(obj, Module):
                seen.add(id(obj))
                yield name, obj
                items = list(vars(obj).items())
            elif isinstance(obj, (list, tuple)):
                items = [(str(i), v) for i, v in enumerate(obj)]
            elif isinstance(obj, dict):
                items = [(str(k), v) for k, v in obj.items()]
            elif _is_parameter(obj):
                seen.add(id(obj))
                yield name, obj
                continue
            else:
                continue
            stack.extend((f"{name}.{k}", v) for k, v in reversed(items))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Yield ``(name, parameter)`` pairs, e.g. ``("layers.0.weight", tensor)``; shared
        parameters are yielded once."""
        for name, obj in self._walk(prefix, {id(self)}):
            if not isinstance(obj, Module):
                yield name, obj

    def parameters(self) -> list:
        """All parameters, in a stable order (a list, so ``len()`` works as in micrograd)."""
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """Yield ``(name, module)`` for this module (name ``""``) and every submodule."""
        yield prefix, self
        for name, obj in self._walk(prefix + "." if prefix else "", {id(self)}):
            if isinstance(obj, Module):
                yield name, obj

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    # -- training state -----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient, as ``torch.nn.Module.zero_grad``: a tensor's becomes
        None (the default) or, with ``set_to_none=False``, zero in place (one that is None stays
        None); a ``Value``'s becomes 0.0.

        Raises:
            TypeError: ``set_to_none`` is not a bool.
        """
        _zero_grads(self.parameters(), set_to_none, f"{type(self).__name__}.zero_grad")

    def train(self, mode: bool = True) -> "Module":
        """Switch this module and its submodules to training mode (e.g. Dropout active)."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> "Module":
        """Switch to evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward() or __call__()")

    # -- state dicts and checkpoints ----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's data as a NumPy array, keyed by parameter name."""
        return {name: np.array(_param_array(p), copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict`` into the parameters, as ``torch.nn.Module.load_state_dict``.

        With ``strict=True`` (the default) the keys must match the model's exactly; with
        ``strict=False`` only the keys present in both are loaded. Either way every shape and
        dtype is checked first: on any problem a ``StateDictError`` names the key(s) and shapes,
        and nothing is changed.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``: the model's keys absent from
            ``state_dict`` and the keys of ``state_dict`` the model lacks (empty lists after a
            strict load).

        Example:
            >>> from gradengine import nn
            >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
            >>> sd = model.state_dict()
            >>> del sd["2.bias"]
            >>> model.load_state_dict(dict(sd, extra=np.zeros(1)), strict=False)
            IncompatibleKeys(missing_keys=['2.bias'], unexpected_keys=['extra'])
        """
        if not isinstance(strict, bool):
            raise TypeError(f"load_state_dict: strict must be True or False, got {strict!r}")
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in params]
        if strict and (missing or unexpected):
            raise StateDictError(
                f"state dict does not match {type(self).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}"
            )
        arrays = {}
        for name, p in params.items():
            if name not in state_dict:
                continue
            arr = np.asarray(state_dict[name])
            want = np.shape(_param_array(p))
            if arr.shape != want:
                raise StateDictError(
                    f"shape mismatch for {name!r}: the checkpoint has {arr.shape}, the model has {want}"
                )
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
                raise StateDictError(f"{name!r} has non-numeric dtype {arr.dtype}")
            arrays[name] = arr
        for name, arr in arrays.items():  # all checks passed: now change state
            p = params[name]
            if isinstance(p, Value):
                p.data = float(arr)
            else:
                np.copyto(p.data, arr, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the state dict to ``path`` as ``.npz``, atomically (temp file + rename)."""
        save_npz(path, self.state_dict())

    def load(self, path: Union[str, os.PathLike], strict: bool = True) -> IncompatibleKeys:
        """Load the parameters from a file written by :meth:`save` or by ``gradengine train``.

        A training checkpoint (``runs/mnist/checkpoint.npz``) holds the optimizer and the
        history too; its model part is loaded. The file is read with ``allow_pickle=False``
        (loading a checkpoint never executes code), entirely and checked before any parameter
        changes. ``strict`` is as in :meth:`load_state_dict`.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            CheckpointError: the file is damaged, not an ``.npz`` checkpoint, or does not fit
                this model; the one-line message names the file and the problem.
        """
        state = model_state(load_npz(path))
        try:
            return self.load_state_dict(state, strict=strict)
        except StateDictError as e:
            raise CheckpointError(f"{path} does not fit this {type(self).__name__}: {e}") from None

    def __repr__(self) -> str:
        children = [(k, v) for k, v in vars(self).items() if isinstance(v, Module)]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for k, v in children:
            lines.append("  (" + k + "): " + repr(v).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


def save_npz(path: Union[str, os.PathLike], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to an ``.npz`` file atomically: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_npz(path: Union[str, os.PathLike]) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file, with ``allow_pickle=False``.

    The whole file is read (and every member's CRC checked) before this returns, so a damaged
    file is found before anything is loaded from it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: anything else, in one line naming the file and the problem (a
            directory, an empty or truncated file, a file that is not an ``.npz`` archive, a
            member failing its CRC check, an array that would need pickle).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a directory, not a checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    if not head.startswith(b"PK\x03\x04"):
        if not head:
            what = "an empty file"
        elif head.startswith(b"\x93NUMPY"):
            what = "a single .npy array"
        elif head.startswith(b"PK"):
            what = "a damaged zip archive (bad signature)"
        else:
            what = f"a file starting with {head!r}"
        raise CheckpointError(f"{path} is not a checkpoint: it is {what}, not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise CheckpointError(
                f"{path} holds object arrays, which need pickle (gradengine never writes them); "
                "refusing to load it, since unpickling can run code"
            ) from None
        raise CheckpointError(f"{path} is damaged: {e}") from None
    except zipfile.BadZipFile as e:
        problem = str(e)
        if problem.startswith("Bad CRC-32"):
            problem = problem.replace("Bad CRC-32 for file", "CRC check failed for member")
            problem += " (the file changed after it was written)"
        elif "not a zip file" in problem:
            problem = "truncated or damaged zip archive (its directory at the end is missing)"
        raise CheckpointError(f"{path} is damaged: {problem}") from None
    except (OSError, EOFError, zlib.error, KeyError, struct.error, NotImplementedError, RuntimeError) as e:
        # e.g. a flipped byte in a member's header: an unknown compression method, "encrypted"
        raise CheckpointError(f"{path} is damaged: {type(e).__name__}: {e}") from None


def model_state(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's state dict inside ``arrays`` (the contents of an ``.npz`` checkpoint).

    A training checkpoint (a ``format`` entry, the model under ``model/``) gives its model
    part; a plain :meth:`Module.save` file is returned as it is.
    """
    if "format" in arrays and any(k.startswith(MODEL_PREFIX) for k in arrays):
        n = len(MODEL_PREFIX)
        return {k[n:]: v for k, v in arrays.items() if k.startswith(MODEL_PREFIX)}
    return dict(arrays)
