"""``Module``: the base class of every model, for the scalar and the tensor engine alike.

Parameters and submodules are found from the module's attributes, in the order they were
assigned (as PyTorch registers them on assignment): a ``Value``, a ``Tensor`` with
``requires_grad=True``, a ``Module``, or a list/tuple/dict of those. Subclasses need not call
``super().__init__()`` (micrograd's modules do not), though calling it is good style.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Union

import numpy as np

from ..engine import Value
from ..tensor import Tensor  # the tensor engine imports nothing from nn: no cycle

__all__ = ["Module", "StateDictError"]


class StateDictError(KeyError, ValueError):
    """A state dict does not fit the model: missing or unexpected keys, or wrong shapes."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _is_parameter(obj: object) -> bool:
    return isinstance(obj, Value) or (isinstance(obj, Tensor) and obj.requires_grad)


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
    def zero_grad(self) -> None:
        """Reset every parameter's gradient (0.0 for a Value, None for a Tensor)."""
        for p in self.parameters():
            p.grad = 0.0 if isinstance(p, Value) else None

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

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy ``state`` into the parameters. Every key and shape is checked first: on any
        mismatch a ``StateDictError`` names the key(s) and shapes, and nothing is changed."""
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if missing or unexpected:
            raise StateDictError(
                f"state dict does not match {type(self).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}"
            )
        arrays = {}
        for name, p in params.items():
            arr = np.asarray(state[name])
            want = np.shape(_param_array(p))
            if arr.shape != want:
                raise StateDictError(
                    f"shape mismatch for {name!r}: the checkpoint has {arr.shape}, the model has {want}"
                )
            if not np.issubdtype(arr.dtype, np.number):
                raise StateDictError(f"{name!r} has non-numeric dtype {arr.dtype}")
            arrays[name] = arr
        for name, p in params.items():  # all checks passed: now change state
            if isinstance(p, Value):
                p.data = float(arrays[name])
            else:
                np.copyto(p.data, arrays[name], casting="unsafe")

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the state dict to ``path`` as ``.npz``, atomically (temp file + rename)."""
        save_npz(path, self.state_dict())

    def load(self, path: Union[str, os.PathLike]) -> None:
        """Load a checkpoint written by :meth:`save`. It is read with ``allow_pickle=False``:
        loading a checkpoint never executes code."""
        self.load_state_dict(load_npz(path))

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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a checkpoint is not
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_npz(path: Union[str, os.PathLike]) -> dict[str, np.ndarray]:
    """Read an ``.npz`` file with ``allow_pickle=False``; errors name the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {path}") from None
    except (ValueError, OSError) as e:
        raise ValueError(f"cannot read checkpoint {path}: {e}") from e
