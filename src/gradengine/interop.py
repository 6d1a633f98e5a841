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
weights are copied (the two models share no memory) and keep their dtype, shape,
``requires_grad`` and ``.grad``; parameter names stay the same (``"0.weight"``, ...), and each
module keeps its own ``training`` flag. Tensors and state dict entries keep their shape (0-d
included) and dtype. A layer with no counterpart, or a ``Module`` subclass with its own
``forward`` (Python code cannot be translated), raises ``TypeError`` naming its class and where
it sits in the model; for those, use the state dict route above.

PyTorch is an optional dependency: it is imported when one of these functions is first called,
never when gradengine is imported. Memory sharing instead of copies, for data:
``torch.from_numpy(x.numpy())`` and ``gradengine.from_numpy(t.numpy())``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Mapping
from typing import Any, Callable, Iterator, Optional

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
def _array_to_torch(arr: Any, what: str) -> Any:
    """A ``torch.Tensor`` holding a copy of ``arr``, with exactly its shape (0-d stays 0-d) and dtype.

    ``np.ascontiguousarray`` is not used: it turns 0-d arrays into shape ``(1,)``. A
    non-native byte order (``">f8"``) becomes the native one, the only one torch has.

    Raises:
        TypeError: the dtype has no torch counterpart (e.g. ``np.longdouble``).
    """
    torch = _torch()
    arr = np.asarray(arr)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    try:
        return torch.from_numpy(np.array(arr, order="C", copy=True))  # one copy, owned by torch
    except TypeError:
        raise TypeError(f"to_torch: {what} has dtype {arr.dtype}, which torch lacks; convert it first, "
                        f"e.g. x.astype(np.float64)") from None


def _grad_to_torch(grad: Any, data: np.ndarray, what: str) -> Any:
    """A gradengine ``.grad`` (an ndarray, or a Tensor after ``create_graph=True``) as a torch
    gradient for a tensor holding ``data``: same shape, and the tensor's dtype, as torch requires."""
    g = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
    if g.shape != data.shape:
        raise ValueError(f"to_torch: {what} has shape {data.shape} but its .grad has shape {g.shape}")
    return _array_to_torch(g.astype(data.dtype, copy=False), f"{what}.grad")


def _tensor_to_torch(x: Tensor, what: str = "the tensor") -> Any:
    """A new torch leaf with copies of ``x``'s data and ``.grad``, and its ``requires_grad``."""
    t = _array_to_torch(x.data, what)
    if x.requires_grad:
        t.requires_grad_(True)
    if x.grad is not None:
        t.grad = _grad_to_torch(x.grad, x.data, what)
    return t


def _array_from_torch(t: Any, what: str) -> np.ndarray:
    """A NumPy copy of a torch tensor's values, with exactly its shape and dtype."""
    torch = _torch()
    t = t.detach()
    if t.dtype == torch.bfloat16:
        raise TypeError(f"from_torch: {what} has dtype torch.bfloat16, which NumPy lacks; convert it "
                        f"first, e.g. t.float()")
    if t.is_complex():
        raise TypeError(f"from_torch: {what} is complex ({t.dtype}); gradengine tensors are real")
    # resolve_neg: a lazily negated view (e.g. ``z.conj().imag``) cannot go to NumPy as it is
    return np.array(t.resolve_neg().cpu().numpy(), copy=True)


def _grad_from_torch(t: Any, what: str) -> Any:
    """A copy of ``t.grad`` as an ndarray, or None (a non-leaf's ``.grad`` is not read unless it
    retains it: torch warns about that access)."""
    if not (t.is_leaf or t.retains_grad) or t.grad is None:
        return None
    return _array_from_torch(t.grad, f"{what}.grad")


def _tensor_from_torch(t: Any, what: str = "the tensor", name: str = "") -> Tensor:
    """A new gradengine leaf with copies of ``t``'s data and ``.grad``, and its ``requires_grad``
    (floating-point tensors only, as in torch)."""
    arr = _array_from_torch(t, what)
    out = Tensor(arr, requires_grad=bool(t.requires_grad) and arr.dtype.kind == "f", name=name)
    out.grad = _grad_from_torch(t, what)
    return out


# ---------------------------------------------------------------------------------------------
# Modules: gradengine -> torch
# ---------------------------------------------------------------------------------------------
def _copy_into(param: Any, data: np.ndarray) -> None:
    """Copy ``data`` into the torch tensor ``param`` in place (cast to its dtype)."""
    torch = _torch()
    with torch.no_grad():
        param.copy_(_array_to_torch(data, "a weight"))


def _param_to_torch(p: Tensor, what: str) -> Any:
    """A ``torch.nn.Parameter`` copying the gradengine tensor ``p``: its dtype, shape,
    ``requires_grad`` (a frozen weight stays frozen) and ``.grad``."""
    torch = _torch()
    out = torch.nn.Parameter(_array_to_torch(p.data, what), requires_grad=p.requires_grad)
    if p.grad is not None:
        out.grad = _grad_to_torch(p.grad, p.data, what)
    return out


def _torch_dtype(dtype: np.dtype) -> Any:
    """The torch dtype of a NumPy dtype (``np.float32`` -> ``torch.float32``)."""
    return _torch().from_numpy(np.zeros(0, dtype)).dtype


def _linear_to_torch(m: L.Linear, path: str) -> Any:
    """``torch.nn.Linear`` whose weight and bias are :func:`_param_to_torch` copies of ``m``'s
    (each keeps its own dtype, even a bias whose dtype differs from the weight's)."""
    torch = _torch()
    w = m.weight.data
    out = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=_torch_dtype(w.dtype))
    where = path or "the layer"
    out.weight = _param_to_torch(m.weight, f"{where}.weight")
    if m.bias is not None:
        out.bias = _param_to_torch(m.bias, f"{where}.bias")
    return out


def _weight_to_torch(w: Optional[Tensor]) -> Any:
    """A loss's ``weight``/``pos_weight`` constant as a torch tensor (None stays None)."""
    return None if w is None else _tensor_to_torch(w)


def _scalar_linear(neurons: list, nonlin: bool, training: bool) -> list:
    """``Linear`` (+ ``ReLU``) in float32 holding the weights of micrograd-style neurons, both
    with the ``training`` flag of the ``Neuron``/``Layer`` they come from."""
    torch = _torch()
    w = np.array([[float(v.data) for v in n.w] for n in neurons], dtype=np.float32)
    b = np.array([float(n.b.data) for n in neurons], dtype=np.float32)
    lin = torch.nn.Linear(w.shape[1], w.shape[0])
    _copy_into(lin.weight, w)
    _copy_into(lin.bias, b)
    parts = [lin, torch.nn.ReLU()] if nonlin else [lin]
    for part in parts:
        part.training = bool(training)
    return parts


def _scalar_to_torch(m: Module, path: str) -> Any:
    """A ``torch.nn.Sequential`` of ``Linear`` (+ ``ReLU``) for a ``Neuron``, ``Layer`` or ``MLP``;
    an MLP's layers each keep their own ``training`` flag."""
    torch = _torch()
    if isinstance(m, scalar.Neuron):
        parts = _scalar_linear([m], m.nonlin, m.training)
    elif isinstance(m, scalar.Layer):
        parts = _scalar_linear(m.neurons, m.neurons[0].nonlin if m.neurons else False, m.training)
    else:
        parts = [p for layer in m.layers
                 for p in _scalar_linear(layer.neurons, layer.neurons[0].nonlin, layer.training)]
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


#: The modules converted so far by the current to_torch/from_torch call (id -> the copy), so a
#: module used twice (``Sequential(lin, ReLU(), lin)``) becomes one shared module, not two copies.
_converted: contextvars.ContextVar[dict[int, Any]] = contextvars.ContextVar("gradengine_interop_converted")


@contextlib.contextmanager
def _one_conversion() -> Iterator[None]:
    token = _converted.set({})
    try:
        yield
    finally:
        _converted.reset(token)


def _module_to_torch(m: Module, path: str) -> Any:
    done = _converted.get()
    if id(m) in done:
        return done[id(m)]
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
    # this module's own flag only: each child was given its own flag when it was converted
    out.training = bool(m.training)
    done[id(m)] = out
    return out


# ---------------------------------------------------------------------------------------------
# Modules: torch -> gradengine
# ---------------------------------------------------------------------------------------------
def _set_parameter(owner: Module, attr: str, p: Tensor) -> None:
    """Set ``owner.<attr> = p`` as a parameter, keeping ``p``'s ``requires_grad``.

    ``p`` is assigned while it requires grad, so ``owner`` takes it as a parameter, and only then
    gets its own ``requires_grad`` back: a frozen torch weight is a frozen gradengine parameter
    (as far as ``Module`` keeps frozen parameters), not a constant.
    """
    requires_grad = p.requires_grad
    if p.dtype.kind == "f":
        p.requires_grad = True
    setattr(owner, attr, p)
    p.requires_grad = requires_grad


def _linear_from_torch(m: Any, path: str) -> L.Linear:
    """``nn.Linear`` whose weight and bias copy ``m``'s: dtype (each its own), ``requires_grad``
    (a frozen torch weight stays frozen) and ``.grad``."""
    where = path or "the layer"
    weight = _tensor_from_torch(m.weight, f"{where}.weight", name="weight")
    out = L.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=weight.dtype, rng=0)
    _set_parameter(out, "weight", weight)
    if m.bias is not None:
        _set_parameter(out, "bias", _tensor_from_torch(m.bias, f"{where}.bias", name="bias"))
    return out


def _weight_from_torch(w: Any) -> Optional[Tensor]:
    """A torch loss's ``weight``/``pos_weight`` buffer as a Tensor (None stays None)."""
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
    # every slot, in order: named_children() lists a module used twice only once, but a
    # Sequential runs every slot (``_modules`` is where torch keeps them)
    return [_module_from_torch(child, f"{path}.{name}" if path else name)
            for name, child in m._modules.items() if child is not None]


def _module_from_torch(m: Any, path: str) -> Module:
    done = _converted.get()
    if id(m) in done:
        return done[id(m)]
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
    done[id(m)] = out
    return out


# ---------------------------------------------------------------------------------------------
# The two entry points
# ---------------------------------------------------------------------------------------------
def to_torch(obj: Any) -> Any:
    """The PyTorch counterpart of a gradengine model, tensor or state dict.

    * a ``gradengine.nn`` module: the equivalent ``torch.nn.Module`` with copies of the weights
      (same dtype and shape, same parameter names, same ``requires_grad``, a copy of each
      ``.grad``) in which every submodule keeps its own ``training`` flag;
    * a ``Tensor`` (or an ndarray): a ``torch.Tensor`` holding a copy of the data, with the same
      shape (a 0-d tensor stays 0-d), dtype and ``requires_grad``, and a copy of ``.grad`` (a new
      leaf: the gradengine graph is not carried over);
    * a state dict (a mapping of names to arrays, e.g. ``model.state_dict()``): the same dict of
      torch tensors of the same shapes and dtypes, ready for ``torch_model.load_state_dict(...)``.

    Raises ``TypeError`` naming any layer that has no torch counterpart, or a dtype torch lacks
    (``np.longdouble``). A non-native byte order (``">f8"``) becomes the native one.
    """
    if isinstance(obj, Module):
        with _one_conversion():
            return _module_to_torch(obj, "")
    if isinstance(obj, Tensor):
        return _tensor_to_torch(obj)
    if isinstance(obj, np.ndarray):
        return _array_to_torch(obj, "the array")
    if isinstance(obj, Mapping):
        return {k: _array_to_torch(_state_value(v, k), f"state dict entry {k!r}") for k, v in obj.items()}
    raise TypeError(f"to_torch expects a gradengine Module, a Tensor, an ndarray or a state dict, "
                    f"got {type(obj).__name__}")


def _state_value(v: Any, key: str) -> np.ndarray:
    """A state dict entry (array, Tensor, Value or number) as an ndarray, keeping its shape."""
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
      numbered ``0, 1, ...``, so its parameter names change accordingly. Every submodule keeps
      its own ``training`` flag, and each weight its dtype, its shape, its ``requires_grad`` (a
      frozen torch weight stays frozen) and a copy of its ``.grad``;
    * a ``torch.Tensor``: a ``Tensor`` holding a copy (same shape and dtype; ``requires_grad``
      kept for floating-point tensors; a copy of ``.grad`` of a leaf);
    * a state dict (``torch_model.state_dict()``): the same dict of NumPy arrays, ready for
      ``model.load_state_dict(...)``.

    Raises ``TypeError`` naming any layer that has no gradengine counterpart.
    """
    torch = _torch()
    if isinstance(obj, torch.nn.Module):
        with _one_conversion():
            return _module_from_torch(obj, "")
    if isinstance(obj, torch.Tensor):
        return _tensor_from_torch(obj)
    if isinstance(obj, Mapping):
        return {k: _array_from_torch(v, f"state dict entry {k!r}") if isinstance(v, torch.Tensor)
                else np.array(v, copy=True) for k, v in obj.items()}
    raise TypeError(f"from_torch expects a torch.nn.Module, a torch.Tensor or a state dict, "
                    f"got {type(obj).__name__}")
