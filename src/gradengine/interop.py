"""A way out to PyTorch, and back: :func:`to_torch` and :func:`from_torch`.

Each takes a model, a tensor or a state dict and returns the same thing on the other side::

    from gradengine.interop import to_torch, from_torch

    torch_model = to_torch(model)         # a torch.nn.Module with the trained weights
    model = from_torch(torch_model)       # and back: a gradengine.nn.Module
    t = to_torch(x)                       # a gradengine Tensor as a torch.Tensor (a copy)
    x = from_torch(t)                     # a torch.Tensor as a gradengine Tensor (a copy)

    # a model whose class you wrote yourself: build the same model in torch, then one call
    torch_model.load_state_dict(to_torch(model.state_dict()))
    model.load_state_dict(from_torch(torch_model.state_dict()))

Converted layers (both ways): ``Linear``, ``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``,
``Softmax``, ``LogSoftmax``, ``Identity``, ``Flatten``, ``Dropout``, ``Sequential``,
``ModuleList`` and the losses ``MSELoss``, ``L1Loss``, ``CrossEntropyLoss``, ``NLLLoss`` and
``BCEWithLogitsLoss`` (with their options); :func:`to_torch` also converts the scalar engine's
``Neuron``, ``Layer`` and ``MLP`` into ``torch.nn.Linear`` (+ ``ReLU``) stacks in float32. The
weights keep their dtype and are copied (the two models share no memory), parameter names stay
the same (``"0.weight"``, ...), and each module keeps its ``training`` flag. A layer with no
counterpart, or a ``Module`` subclass with its own ``forward`` (Python code cannot be
translated), raises ``TypeError`` naming its class and where it sits in the model; for those,
use the state dict route above.

PyTorch is an optional dependency: it is imported when one of these functions is first called,
never when gradengine is imported. Memory sharing instead of copies, for data:
``torch.from_numpy(x.numpy())`` and ``gradengine.from_numpy(t.numpy())``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from .engine import Value
from .nn import layers as L
from .nn import loss as losses
from .nn import scalar
from .nn.module import Module
from .tensor import Tensor

__all__ = ["to_torch", "from_torch"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is installed wherever the tests run
        raise ImportError(
            "gradengine.interop needs PyTorch, an optional dependency: pip install torch"
        ) from None
    return torch


# ---------------------------------------------------------------------------------------------
# Tensors
# ---------------------------------------------------------------------------------------------
def _tensor_to_torch(x: Tensor) -> Any:
    torch = _torch()
    t = torch.tensor(np.ascontiguousarray(x.data))  # a copy, with the same dtype and shape
    if x.requires_grad:
        t.requires_grad_(True)
    return t


def _array_from_torch(t: Any, what: str) -> np.ndarray:
    torch = _torch()
    t = t.detach()
    if t.dtype == torch.bfloat16:
        raise TypeError(f"from_torch: {what} has dtype torch.bfloat16, which NumPy lacks; convert it "
                        f"first, e.g. t.float()")
    if t.is_complex():
        raise TypeError(f"from_torch: {what} is complex ({t.dtype}); gradengine tensors are real")
    return np.array(t.cpu().numpy(), copy=True)


def _tensor_from_torch(t: Any) -> Tensor:
    arr = _array_from_torch(t, "the tensor")
    return Tensor(arr, requires_grad=bool(t.requires_grad) and arr.dtype.kind == "f")


# ---------------------------------------------------------------------------------------------
# Modules: gradengine -> torch
# ---------------------------------------------------------------------------------------------
def _copy_into(param: Any, data: np.ndarray) -> None:
    torch = _torch()
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(data)))


def _torch_dtype(dtype: np.dtype) -> Any:
    """The torch dtype of a NumPy dtype (``np.float32`` -> ``torch.float32``)."""
    return _torch().from_numpy(np.zeros(0, dtype)).dtype


def _linear_to_torch(m: L.Linear, path: str) -> Any:
    torch = _torch()
    w = m.weight.data
    out = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=_torch_dtype(w.dtype))
    _copy_into(out.weight, w)
    if m.bias is not None:
        _copy_into(out.bias, m.bias.data)
    return out


def _weight_to_torch(w: Any) -> Any:
    return None if w is None else _tensor_to_torch(w)


def _scalar_linear(neurons: list, nonlin: bool) -> list:
    """``Linear`` (+ ``ReLU``) in float32 holding the weights of micrograd-style neurons."""
    torch = _torch()
    w = np.array([[float(v.data) for v in n.w] for n in neurons], dtype=np.float32)
    b = np.array([float(n.b.data) for n in neurons], dtype=np.float32)
    lin = torch.nn.Linear(w.shape[1], w.shape[0])
    _copy_into(lin.weight, w)
    _copy_into(lin.bias, b)
    return [lin, torch.nn.ReLU()] if nonlin else [lin]


def _scalar_to_torch(m: Module, path: str) -> Any:
    torch = _torch()
    if isinstance(m, scalar.Neuron):
        parts = _scalar_linear([m], m.nonlin)
    elif isinstance(m, scalar.Layer):
        parts = _scalar_linear(m.neurons, m.neurons[0].nonlin if m.neurons else False)
    else:
        parts = [p for layer in m.layers for p in _scalar_linear(layer.neurons, layer.neurons[0].nonlin)]
    return torch.nn.Sequential(*parts)


@functools.cache
def _to_torch_table() -> dict[type, Callable[[Any, str], Any]]:
    tnn = _torch().nn
    return {
        L.Linear: _linear_to_torch,
        L.ReLU: lambda m, p: tnn.ReLU(),
        L.LeakyReLU: lambda m, p: tnn.LeakyReLU(m.negative_slope),
        L.Tanh: lambda m, p: tnn.Tanh(),
        L.Sigmoid: lambda m, p: tnn.Sigmoid(),
        L.Softmax: lambda m, p: tnn.Softmax(m.dim),
        L.LogSoftmax: lambda m, p: tnn.LogSoftmax(m.dim),
        L.Identity: lambda m, p: tnn.Identity(),
        L.Flatten: lambda m, p: tnn.Flatten(m.start_dim, m.end_dim),
        L.Dropout: lambda m, p: tnn.Dropout(m.p),
        L.Sequential: lambda m, p: tnn.Sequential(*_children_to_torch(m, p)),
        L.ModuleList: lambda m, p: tnn.ModuleList(_children_to_torch(m, p)),
        losses.MSELoss: lambda m, p: tnn.MSELoss(reduction=m.reduction),
        losses.L1Loss: lambda m, p: tnn.L1Loss(reduction=m.reduction),
        losses.CrossEntropyLoss: lambda m, p: tnn.CrossEntropyLoss(
            weight=_weight_to_torch(m.weight), ignore_index=m.ignore_index, reduction=m.reduction,
            label_smoothing=m.label_smoothing),
        losses.NLLLoss: lambda m, p: tnn.NLLLoss(
            weight=_weight_to_torch(m.weight), ignore_index=m.ignore_index, reduction=m.reduction),
        losses.BCEWithLogitsLoss: lambda m, p: tnn.BCEWithLogitsLoss(
            weight=_weight_to_torch(m.weight), reduction=m.reduction, pos_weight=_weight_to_torch(m.pos_weight)),
        scalar.Neuron: _scalar_to_torch,
        scalar.Layer: _scalar_to_torch,
        scalar.MLP: _scalar_to_torch,
    }


def _children_to_torch(m: L._Container, path: str) -> list:
    return [_module_to_torch(child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(m)]


def _module_to_torch(m: Module, path: str) -> Any:
    convert = _to_torch_table().get(type(m))
    if convert is None:
        where = f" (at {path!r})" if path else ""
        supported = ", ".join(sorted(c.__name__ for c in _to_torch_table()))
        raise TypeError(
            f"to_torch: cannot convert {type(m).__module__}.{type(m).__qualname__}{where}: only gradengine's "
            f"own layers have a torch counterpart ({supported}); a Module subclass with its own forward() "
            f"cannot be translated. Build the same model in torch and copy the weights with "
            f"torch_model.load_state_dict(to_torch(model.state_dict()))"
        )
    out = convert(m, path)
    for sub in out.modules():  # keep the training flag (Dropout); scalar stacks are one module
        sub.training = m.training
    return out


# ---------------------------------------------------------------------------------------------
# Modules: torch -> gradengine
# ---------------------------------------------------------------------------------------------
def _linear_from_torch(m: Any, path: str) -> L.Linear:
    w = _array_from_torch(m.weight, f"{path or 'the layer'}.weight")
    out = L.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=w.dtype, rng=0)
    np.copyto(out.weight.data, w)
    if m.bias is not None:
        np.copyto(out.bias.data, _array_from_torch(m.bias, f"{path or 'the layer'}.bias"))
    return out


def _weight_from_torch(w: Any) -> Any:
    return None if w is None else _tensor_from_torch(w)


@functools.cache
def _from_torch_table() -> dict[type, Callable[[Any, str], Module]]:
    tnn = _torch().nn
    return {
        tnn.Linear: _linear_from_torch,
        tnn.ReLU: lambda m, p: L.ReLU(),
        tnn.LeakyReLU: lambda m, p: L.LeakyReLU(m.negative_slope),
        tnn.Tanh: lambda m, p: L.Tanh(),
        tnn.Sigmoid: lambda m, p: L.Sigmoid(),
        tnn.Softmax: lambda m, p: L.Softmax(m.dim),
        tnn.LogSoftmax: lambda m, p: L.LogSoftmax(m.dim),
        tnn.Identity: lambda m, p: L.Identity(),
        tnn.Flatten: lambda m, p: L.Flatten(m.start_dim, m.end_dim),
        tnn.Dropout: lambda m, p: L.Dropout(m.p),
        tnn.Sequential: lambda m, p: L.Sequential(*_children_from_torch(m, p)),
        tnn.ModuleList: lambda m, p: L.ModuleList(_children_from_torch(m, p)),
        tnn.MSELoss: lambda m, p: losses.MSELoss(reduction=m.reduction),
        tnn.L1Loss: lambda m, p: losses.L1Loss(reduction=m.reduction),
        tnn.CrossEntropyLoss: lambda m, p: losses.CrossEntropyLoss(
            weight=_weight_from_torch(m.weight), ignore_index=m.ignore_index, reduction=m.reduction,
            label_smoothing=m.label_smoothing),
        tnn.NLLLoss: lambda m, p: losses.NLLLoss(
            weight=_weight_from_torch(m.weight), ignore_index=m.ignore_index, reduction=m.reduction),
        tnn.BCEWithLogitsLoss: lambda m, p: losses.BCEWithLogitsLoss(
            weight=_weight_from_torch(m.weight), reduction=m.reduction, pos_weight=_weight_from_torch(m.pos_weight)),
    }


def _children_from_torch(m: Any, path: str) -> list:
    return [_module_from_torch(child, f"{path}.{name}" if path else name) for name, child in m.named_children()]


def _module_from_torch(m: Any, path: str) -> Module:
    convert = _from_torch_table().get(type(m))
    if convert is None:
        where = f" (at {path!r})" if path else ""
        supported = ", ".join(sorted(c.__name__ for c in _from_torch_table()))
        raise TypeError(
            f"from_torch: gradengine has no counterpart of {type(m).__module__}.{type(m).__qualname__}{where}; "
            f"the torch layers it converts are {supported}. For a model class of your own, build the same "
            f"model in gradengine and copy the weights with model.load_state_dict(from_torch(torch_model.state_dict()))"
        )
    out = convert(m, path)
    out.training = bool(m.training)
    return out


# ---------------------------------------------------------------------------------------------
# The two entry points
# ---------------------------------------------------------------------------------------------
def to_torch(obj: Any) -> Any:
    """The PyTorch counterpart of a gradengine model, tensor or state dict.

    * a ``gradengine.nn`` module: the equivalent ``torch.nn.Module`` with copies of the weights
      (same dtype, same parameter names, same ``training`` flag);
    * a ``Tensor`` (or an ndarray): a ``torch.Tensor`` holding a copy of the data, with the same
      dtype and ``requires_grad`` (a new leaf: the gradengine graph is not carried over);
    * a state dict (a mapping of names to arrays, e.g. ``model.state_dict()``): the same dict of
      torch tensors, ready for ``torch_model.load_state_dict(...)``.

    Raises ``TypeError`` naming any layer that has no torch counterpart.
    """
    if isinstance(obj, Module):
        return _module_to_torch(obj, "")
    if isinstance(obj, Tensor):
        return _tensor_to_torch(obj)
    if isinstance(obj, np.ndarray):
        return _torch().tensor(np.ascontiguousarray(obj))
    if isinstance(obj, Mapping):
        torch = _torch()
        return {k: torch.tensor(np.ascontiguousarray(_state_value(v, k))) for k, v in obj.items()}
    raise TypeError(f"to_torch expects a gradengine Module, a Tensor, an ndarray or a state dict, "
                    f"got {type(obj).__name__}")


def _state_value(v: Any, key: str) -> np.ndarray:
    if isinstance(v, (Tensor, Value)):
        v = v.data
    arr = np.asarray(v)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"to_torch: state dict entry {key!r} is not numeric (dtype {arr.dtype})")
    return arr


def from_torch(obj: Any) -> Any:
    """The gradengine counterpart of a PyTorch model, tensor or state dict (the reverse of
    :func:`to_torch`).

    * a ``torch.nn.Module`` built from the layers listed in this module's docstring: the
      equivalent ``gradengine.nn`` module with copies of the weights. A ``torch.nn.Sequential``
      built from an ``OrderedDict`` of named layers becomes a ``Sequential`` whose layers are
      numbered ``0, 1, ...``, so its parameter names change accordingly;
    * a ``torch.Tensor``: a ``Tensor`` holding a copy (same dtype; ``requires_grad`` kept for
      floating-point tensors);
    * a state dict (``torch_model.state_dict()``): the same dict of NumPy arrays, ready for
      ``model.load_state_dict(...)``.

    Raises ``TypeError`` naming any layer that has no gradengine counterpart.
    """
    torch = _torch()
    if isinstance(obj, torch.nn.Module):
        return _module_from_torch(obj, "")
    if isinstance(obj, torch.Tensor):
        return _tensor_from_torch(obj)
    if isinstance(obj, Mapping):
        return {k: _array_from_torch(v, f"state dict entry {k!r}") if isinstance(v, torch.Tensor)
                else np.array(v, copy=True) for k, v in obj.items()}
    raise TypeError(f"from_torch expects a torch.nn.Module, a torch.Tensor or a state dict, "
                    f"got {type(obj).__name__}")
