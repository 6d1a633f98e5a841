"""The tensor autograd engine: ``Tensor``, a NumPy array that remembers how it was computed.

The model is the scalar engine's, vectorised, and so is the machinery: every op is a record
of :mod:`gradengine.ops` (elementwise, shared with ``Value``) or :mod:`gradengine.tensor_ops`
(matmul, reductions, shapes, losses), and ``backward()`` is the one reverse pass of
:mod:`gradengine.autograd`. A ``Tensor`` made by an op records the op, its operand tensors,
the input arrays and the op's constants; a node is one slotted object without closures or
reference cycles, so a graph is freed by reference counting. Nothing is recorded under
``no_grad()``, or when no input requires a gradient.

dtypes: Python numbers and lists become float32 (PyTorch's default); NumPy arrays keep their
dtype, so float64 data stays float64 (use it for gradient checks). A Python scalar never
upcasts: ``x * 2.0`` stays float32 for a float32 ``x``.

>>> x = Tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
array([[ 2., -4.],
       [ 6.,  8.]], dtype=float32)
"""

from __future__ import annotations

import math
import operator
import weakref
from numbers import Number
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np

from .autograd import OPS as _ALL_OPS, Node, Op, backprop, check_forward
from .grad_mode import GradMode
from .ops import ADD, DIV, MUL, POW, POWC, SUB, WHERE, install_methods
from .tensor_ops import (
    BROADCAST_TO, CONCATENATE, GETITEM, LOG_SOFTMAX, LOGSUMEXP, MATMUL, MAX, MEAN, RESHAPE,
    SOFTMAX, STACK, SUM, SUM_TO, TRANSPOSE,
)

__all__ = ["Tensor", "concatenate", "stack", "OPS"]

#: The ops of the tensor engine (every op with an array forward), by name.
OPS: dict[str, Op] = dict(_ALL_OPS)

ArrayLike = Union["Tensor", np.ndarray, Number, Sequence]
Axis = Union[int, Sequence[int], None]

_new = object.__new__
_ndarray = np.ndarray


class Tensor(Node):
    """An n-dimensional array (``data``, a NumPy ndarray) with reverse- and forward-mode autograd.

    Args:
        data: a number, a (nested) list of numbers, a NumPy array or a Tensor; it is copied.
            Python numbers and lists become float32 unless ``dtype`` is given; NumPy data
            keeps its dtype (a float64 array stays float64).
        requires_grad: record operations on this tensor so ``backward()`` can compute its
            gradient. Only floating-point tensors can require gradients.
        dtype: convert the data to this NumPy dtype.
        name: an optional label, shown by ``repr`` and graph drawings.

    Attributes:
        data: the values, an ``np.ndarray``. You may update it in place or assign an array of
            the same shape (a recorded op keeps the arrays it computed with).
        grad: after ``backward()``, the gradient of the output w.r.t. this leaf (an ndarray
            of its shape and dtype; a Tensor with history after ``backward(create_graph=True)``),
            or None. It accumulates across calls. You may assign None, or an ndarray (or Tensor)
            of exactly this tensor's shape and dtype (checked, as in PyTorch).

    In-place arithmetic (``x += y``, ``-=``, ``*=``, ``/=``, ``**=``, ``add_``, ``sub_``, ``mul_``,
    ``div_``, ``zero_``) writes into ``data`` and returns the same tensor, with PyTorch's rules:
    under ``no_grad()`` (an optimizer step: ``p -= lr * p.grad``) or on a tensor that does not
    require grad it is allowed; on a tensor that requires grad while grad mode is on it raises
    (a leaf's value is what its gradient is taken at; a non-leaf's history cannot be rewritten),
    as does an operand that requires grad when this tensor does not: write ``x = x + y``. The
    result keeps this tensor's shape and dtype (a broadcast that would grow it, or a cast to
    another kind such as float into int, is an error). ``backward()`` refuses a recorded op
    whose inputs or output were since written in place (PyTorch's version-counter check),
    rather than use the new values; assigning or writing ``.data`` directly is not tracked.

    Comparisons (``==``, ``<``, ...) are elementwise and return bool ndarrays, as PyTorch's;
    hashing stays by identity, so tensors can be dict keys.
    """

    __slots__ = ("_data", "_grad", "name", "_requires_grad", "_op", "_prev", "_inputs", "_params", "_retains_grad",
                 "_born",  # the in-place clock when a recorded node was made (see _mark_written)
                 "_parameter")  # set once a leaf requires grad (see is_parameter); unset means False

    # ndarray (op) Tensor calls the Tensor's reflected method instead of NumPy's ufunc.
    __array_ufunc__ = None

    def __init__(self, data: ArrayLike, requires_grad: bool = False, *, dtype: Any = None, name: str = "") -> None:
        if isinstance(data, Tensor):
            data = data._data
        if isinstance(data, (np.ndarray, np.generic)):
            arr = np.array(data, dtype=dtype, copy=True)
        else:
            try:
                arr = np.array(data, dtype=dtype)
            except (ValueError, TypeError) as e:
                raise TypeError(
                    f"Tensor() expects a number, a (nested) list of numbers or an ndarray, "
                    f"got {type(data).__name__}: {e}"
                ) from None
            if arr.dtype == object:
                raise TypeError(
                    f"Tensor() expects numbers, got {data!r:.80} (None and other objects are not numbers)"
                )
            if dtype is None and arr.dtype.kind in "biuf":
                arr = arr.astype(np.float32)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Tensor() supports bool, integer and floating dtypes, got {arr.dtype}")
        self._data: np.ndarray = arr
        self._grad: Any = None
        self.name = name
        self._requires_grad = False
        self._op: Optional[Op] = None
        self._prev: tuple[Tensor, ...] = ()
        self._inputs: Optional[list[np.ndarray]] = None
        self._params: tuple = ()
        self._retains_grad = False
        self.requires_grad = requires_grad  # validated by the property

    # -- basic properties --------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        value = value._data if isinstance(value, Tensor) else np.asarray(value)
        if value.shape != self._data.shape:
            raise ValueError(
                f"cannot assign data of shape {value.shape} to a tensor of shape {self._data.shape}; "
                "make a new Tensor for a new shape"
            )
        self._data = value

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor. Settable on leaves (floating dtypes only)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and self._data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, this tensor has dtype "
                f"{self._data.dtype}; convert it first, e.g. Tensor(arr.astype(np.float32))"
            )
        if not value and self._op is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on leaf tensors; use .detach() to get a "
                "tensor without history"
            )
        self._requires_grad = value
        if value and self._op is None:
            self._parameter = True

    @property
    def is_parameter(self) -> bool:
        """Whether a module holding this tensor lists it as a parameter: a leaf that has required
        grad, now or before (a frozen parameter, ``requires_grad_(False)``, stays one, as an
        ``nn.Parameter`` in PyTorch). A tensor made by an op, or one that never required grad, is not."""
        return getattr(self, "_parameter", False)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place and return self (PyTorch's ``requires_grad_``)."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Any:
        """The accumulated gradient: None, an ndarray of this tensor's shape and dtype, or a
        Tensor with history after ``backward(create_graph=True)``."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is not None:
            value = _checked_grad(self, value)
        self._grad = value

    def zero_(self) -> "Tensor":
        """Fill with zeros in place and return self (the in-place rules of the class apply:
        under ``no_grad()``, or on a tensor that does not require grad)."""
        _check_in_place(self, "zero_()", ())
        _writable(self, "zero_()")
        self._data[...] = 0
        _mark_written(self._data)
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        """Number of dimensions (PyTorch's name for ``ndim``)."""
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._data.size

    def numel(self) -> int:
        """Number of elements (PyTorch's name)."""
        return self._data.size

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator["Tensor"]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (shared, not copied, like ``torch.Tensor.numpy``)."""
        return self._data

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)
        return self._data if dtype is None else self._data.astype(dtype, copy=False)

    def item(self) -> Union[float, int, bool]:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self._data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        """``int(t)`` for a one-element tensor: the value truncated toward zero, as ``int(t.item())``."""
        if self._data.size != 1:
            raise ValueError(
                f"only one-element tensors can be converted to Python scalars, this one has shape {self.shape}"
            )
        return int(self._data.item())

    def __index__(self) -> int:
        """The value of a one-element integer (or bool) tensor, so it can index a list or size a
        ``range`` (``operator.index``); other tensors raise TypeError, as in PyTorch."""
        if self._data.size != 1 or self._data.dtype.kind not in "biu":
            raise TypeError(
                f"only integer tensors of a single element can be converted to an index, this one has "
                f"shape {self.shape} and dtype {self._data.dtype}"
            )
        return int(self._data.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use .data.any() or .data.all()"
            )
        return bool(self._data)

    # -- graph structure ---------------------------------------------------------------------
    @property
    def op(self) -> Optional[Op]:
        """The op that produced this tensor, or None for a leaf."""
        return self._op

    @property
    def children(self) -> tuple["Tensor", ...]:
        """The tensors this one was computed from, in argument order (empty for a leaf)."""
        return self._prev

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (inputs, parameters, constants)."""
        return self._op is None

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's data, with no history and ``requires_grad=False``."""
        t = _wrap(self._data)
        t.name = self.name
        return t

    def retain_grad(self) -> "Tensor":
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()`` (for
        inspection: each backward pass replaces it). Returns self."""
        if self._op is not None:
            self._retains_grad = True
        return self

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extras = [] if self._data.dtype == np.float32 else [f"dtype={self._data.dtype}"]
        if self._op is not None:
            extras.append(f"op={self._op.name!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "Tensor(" + ", ".join([body] + extras) + ")"

    # -- arithmetic ----------------------------------------------------------------------------
    # The elementwise methods (+ - * / and reflected, unary -, exp log sqrt tanh sigmoid relu
    # abs sin cos) are built from the op table at the end of this module.
    def __pow__(self, exponent: ArrayLike) -> "Tensor":
        """``self ** exponent``: a number is a constant exponent (op ``powc``); an array or a
        Tensor exponent is differentiated too (op ``pow``)."""
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            return _apply(POWC, (self,), _constant_exponent(self, exponent))
        exponent = _lift(exponent, self)
        return NotImplemented if exponent is None else _apply(POW, (self, exponent))

    def __rpow__(self, base: ArrayLike) -> "Tensor":
        base = _lift(base, self)
        return NotImplemented if base is None else _apply(POW, (base, self))

    # -- in-place arithmetic: the op's own forward, written into ``data`` (rules: class docstring)
    # ``+= -= *= /=`` and ``add_ sub_ mul_ div_`` are built from a table at the end of this module.
    def __ipow__(self, exponent: ArrayLike) -> "Tensor":
        """``self **= exponent`` in place (see the class docstring for the rules)."""
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            return _write_in_place(self, POWC, (), (_constant_exponent(self, exponent),), "in-place pow (**=)")
        exponent = _lift(exponent, self)
        return NotImplemented if exponent is None else _write_in_place(self, POW, (exponent,), (), "in-place pow (**=)")

    def __matmul__(self, other: ArrayLike) -> "Tensor":
        """Matrix product with NumPy's rules (batched, 1-D operands promoted then squeezed)."""
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(MATMUL, (self, other))

    def __rmatmul__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(MATMUL, (other, self))

    def clamp(self, min: Optional[float] = None, max: Optional[float] = None) -> "Tensor":  # noqa: A002
        """Limit the values to ``[min, max]`` (either may be None). The gradient is 1 inside,
        including at the bounds, and 0 outside (as PyTorch)."""
        if min is None and max is None:
            raise ValueError("clamp() needs min, max or both")
        d = self._data
        keep = np.ones(d.shape, dtype=bool)
        if min is not None:
            keep &= d >= min
        if max is not None:
            keep &= d <= max
        return _apply(WHERE, (self, _wrap(np.clip(d, min, max))), keep)

    clip = clamp

    def __eq__(self, other: object) -> np.ndarray:  # type: ignore[override]
        return np.asarray(self._data == _data_of(other))

    def __ne__(self, other: object) -> np.ndarray:  # type: ignore[override]
        return np.asarray(self._data != _data_of(other))

    def __lt__(self, other: ArrayLike) -> np.ndarray:
        return np.asarray(self._data < _data_of(other))

    def __le__(self, other: ArrayLike) -> np.ndarray:
        return np.asarray(self._data <= _data_of(other))

    def __gt__(self, other: ArrayLike) -> np.ndarray:
        return np.asarray(self._data > _data_of(other))

    def __ge__(self, other: ArrayLike) -> np.ndarray:
        return np.asarray(self._data >= _data_of(other))

    __hash__ = object.__hash__

    # -- reductions: axis/keepdims (NumPy) or dim/keepdim (PyTorch) -------------------------
    def sum(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Optional[bool] = None) -> "Tensor":
        """Sum over ``axis`` (an int, a tuple of ints, or None for all), as ``np.sum``."""
        return _reduce(SUM, self, axis, keepdims, dim, keepdim)

    def mean(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Optional[bool] = None) -> "Tensor":
        """Mean over ``axis`` (an int, a tuple of ints, or None for all), as ``np.mean``."""
        return _reduce(MEAN, self, axis, keepdims, dim, keepdim)

    def max(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Optional[bool] = None) -> "Tensor":
        """Maximum over ``axis`` (the values, as ``torch.amax``). The gradient goes to the
        maximal elements; equal ones share it evenly."""
        return _reduce(MAX, self, axis, keepdims, dim, keepdim)

    def min(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Optional[bool] = None) -> "Tensor":
        """Minimum over ``axis`` (as ``torch.amin``). For floats it is ``-(-x).max(axis)``, so
        the gradient is max's rule (ties share it evenly); integer and bool tensors, which carry
        no gradient, are reduced directly (negation would wrap around or fail for them)."""
        axis, keepdims = _dim(axis, keepdims, dim, keepdim)
        axes = _axes(axis, self._data.ndim, "min")
        if self._data.dtype.kind == "f":
            return -(-self).max(axes, keepdims)
        try:
            out = np.minimum.reduce(self._data, axis=axes, keepdims=keepdims)
        except ValueError as e:  # an empty reduction, as max()
            raise ValueError(f"min failed for an input of shape {self.shape} and dtype {self.dtype}: {e}") from None
        return _wrap(np.asarray(out))

    def logsumexp(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Optional[bool] = None) -> "Tensor":
        """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""
        return _reduce(LOGSUMEXP, self, axis, keepdims, dim, keepdim)

    def argmax(self, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None, keepdim: Optional[bool] = None) -> np.ndarray:
        """Index of the maximum (of the flattened tensor if ``axis`` is None): an int array."""
        axis, keepdims = _dim(axis, keepdims, dim, keepdim)
        axis = None if axis is None else _axes(axis, self._data.ndim, "argmax", single=True)
        return np.argmax(self._data, axis=axis, keepdims=keepdims)

    def argmin(self, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None, keepdim: Optional[bool] = None) -> np.ndarray:
        """Index of the minimum (of the flattened tensor if ``axis`` is None): an int array."""
        axis, keepdims = _dim(axis, keepdims, dim, keepdim)
        axis = None if axis is None else _axes(axis, self._data.ndim, "argmin", single=True)
        return np.argmin(self._data, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int = -1, *, dim: Optional[int] = None) -> "Tensor":
        """``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow."""
        return _apply(SOFTMAX, (self,), _axes(_dim(axis, False, dim, None)[0], self.ndim, "softmax", single=True))

    def log_softmax(self, axis: int = -1, *, dim: Optional[int] = None) -> "Tensor":
        """``x - logsumexp(x)`` along ``axis``, computed without overflow."""
        return _apply(LOG_SOFTMAX, (self,), _axes(_dim(axis, False, dim, None)[0], self.ndim, "log_softmax", single=True))

    # -- shapes ----------------------------------------------------------------------------
    def reshape(self, *shape: Union[int, Sequence[int]]) -> "Tensor":
        """A tensor with the same data in a new shape; ``reshape(2, -1)`` or ``reshape((2, -1))``.
        Sizes must be ints (NumPy integers too; not floats or bools)."""
        return _apply(RESHAPE, (self,), _int_args(shape, "reshape", "size"))

    view = reshape

    def permute(self, *dims: Union[int, Sequence[int]]) -> "Tensor":
        """Reorder the axes: ``permute(2, 0, 1)`` (PyTorch; ``np.transpose`` with axes). Each dim
        must appear exactly once; negative dims count from the end."""
        dims = _int_args(dims, "permute", "dim")
        nd = self.ndim
        if len(dims) != nd:
            raise ValueError(f"permute{dims}: {len(dims)} dims given for a tensor of shape {self.shape}, "
                             f"which has {nd}; give each dim exactly once")
        perm = tuple(_dim_arg(d, nd, "permute") for d in dims)
        if len(set(perm)) != nd:
            raise ValueError(f"permute{dims}: dim {next(d for d in perm if perm.count(d) > 1)} appears more than "
                             f"once; a permutation of the {nd} dims of shape {self.shape} gives each dim once")
        return _apply(TRANSPOSE, (self,), perm)

    def transpose(self, dim0: Any = None, dim1: Optional[int] = None) -> "Tensor":
        """Swap two dims, as ``torch.transpose(x, dim0, dim1)``; with no arguments, reverse all
        axes (as ``.T``); with one sequence, permute (as ``np.transpose(x, axes)``)."""
        if dim0 is None and dim1 is None:
            return self.T
        if dim1 is None and isinstance(dim0, (tuple, list)):
            return self.permute(dim0)
        if dim0 is None or dim1 is None:
            raise TypeError("transpose() takes two dims (dim0, dim1), or none to reverse all axes")
        nd = self.ndim
        dim0, dim1 = _dim_arg(dim0, nd, "transpose", "dim0"), _dim_arg(dim1, nd, "transpose", "dim1")
        perm = list(range(nd))
        perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
        return _apply(TRANSPOSE, (self,), tuple(perm))

    @property
    def T(self) -> "Tensor":
        """The tensor with its axes reversed (the matrix transpose for 2-D)."""
        return _apply(TRANSPOSE, (self,), None)

    def squeeze(self, dim: Axis = None) -> "Tensor":
        """Remove axes of length 1 (all of them, or those in ``dim`` that have length 1)."""
        shape = self.shape
        dims = range(len(shape)) if dim is None else _axes(dim, self.ndim, "squeeze")
        drop = {d for d in dims if shape[d] == 1}
        return self.reshape(tuple(n for i, n in enumerate(shape) if i not in drop))

    def unsqueeze(self, dim: int) -> "Tensor":
        """Insert an axis of length 1 at ``dim`` (``-1`` appends one)."""
        shape = list(self.shape)
        shape.insert(_dim_arg(dim, self.ndim + 1, "unsqueeze", result=True), 1)
        return self.reshape(tuple(shape))

    def expand(self, *shape: Union[int, Sequence[int]]) -> "Tensor":
        """Broadcast to ``shape`` (as ``np.broadcast_to``); the gradient is summed back."""
        return _apply(BROADCAST_TO, (self,), _int_args(shape, "expand", "size"))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Merge dims ``start_dim..end_dim`` into one (PyTorch semantics: all dims by default,
        so a 0-d tensor becomes shape (1,))."""
        shape = self._data.shape
        if not shape:
            return self.reshape(1)
        nd = len(shape)
        start, end = _dim_arg(start_dim, nd, "flatten", "start_dim"), _dim_arg(end_dim, nd, "flatten", "end_dim")
        if start > end:
            raise ValueError(
                f"flatten(start_dim={start_dim}, end_dim={end_dim}) is invalid for a tensor of shape {shape}: "
                "start_dim comes after end_dim"
            )
        return self.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])  # not -1: size 0 too

    def __getitem__(self, index: Any) -> "Tensor":
        """NumPy indexing: ints, slices, None, ..., boolean masks and integer arrays. The
        gradient is scattered back; elements selected several times get the sum."""
        index, unique = _normalize_index(index)
        return _apply(GETITEM, (self,), index, unique)

    # -- interop -------------------------------------------------------------------------------
    def to_torch(self) -> Any:
        """A ``torch.Tensor`` with a copy of the data, the same shape and dtype (and
        ``requires_grad`` and ``.grad``); needs torch."""
        from .interop import to_torch

        return to_torch(self)

    @staticmethod
    def from_torch(tensor: Any) -> "Tensor":
        """A Tensor with a copy of a ``torch.Tensor``'s data, shape and dtype (and
        ``requires_grad`` and ``.grad``)."""
        from .interop import from_torch

        return from_torch(tensor)

    # -- backpropagation --------------------------------------------------------------------
    def backward(self, gradient: Optional[ArrayLike] = None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False, inputs: Union["Tensor", Sequence["Tensor"], None] = None) -> None:
        """Accumulate ``d(self)/d(leaf)`` (times ``gradient``) into every leaf's ``.grad``.

        PyTorch's signature. ``retain_graph`` is accepted for compatibility and has no effect:
        the graph is always kept (see below). ``inputs``, a tensor or a sequence of tensors that
        require grad (leaves or not), limits the accumulation to them: only their ``.grad``
        changes, a non-leaf's included, and one the output does not depend on is left alone.

        ``gradient`` is the gradient of some final scalar w.r.t. this tensor; it may be
        omitted only for one-element tensors (then it is 1). Leaves accumulate (``grad`` None
        is set, otherwise added to), exactly like PyTorch, so call ``zero_grad()`` between
        steps. The graph is kept, so calling ``backward()`` again gives the leaves the
        gradient a second time (like PyTorch with ``retain_graph=True``).

        With ``create_graph=True`` the gradients are Tensors with history, so a function of
        ``x.grad`` (a gradient penalty, a Hessian-vector product) can be differentiated again.

        Raises RuntimeError if a recorded op's inputs or output were modified in place after
        it was recorded (``x += 1``, ``zero_()``): its gradient would use the new values.
        """
        only = None if inputs is None else _backward_inputs(inputs)
        if not self._requires_grad:
            raise RuntimeError(
                f"backward() on a tensor of shape {self.shape} that does not require grad: none of "
                "its inputs has requires_grad=True, or it was computed under no_grad()"
            )
        seed = self._seed(gradient)
        if create_graph:
            seed = _wrap(seed)
        stored = {id(seed)}  # arrays a leaf must not keep as its own: the caller's, and shared ones
        grads = backprop(self, seed, create_graph=create_graph)
        if only is not None:
            for node in only:
                g = grads.get(node)
                if g is not None:
                    _accumulate(node, g, create_graph, stored)
            return
        for node, g in grads.items():
            if node._op is None:
                _accumulate(node, g, create_graph, stored)
            elif node._retains_grad:
                node._grad = g if create_graph else np.array(g, dtype=node._data.dtype)

    def _seed(self, gradient: Optional[ArrayLike]) -> np.ndarray:
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs: this tensor has shape "
                    f"{self.shape}; pass backward(gradient) with a gradient of that shape"
                )
            return np.ones(self.shape, dtype=self._data.dtype)
        seed = np.asarray(gradient._data if isinstance(gradient, Tensor) else gradient)
        if seed.shape != self.shape:
            raise ValueError(
                f"backward(gradient): the gradient has shape {seed.shape} but the tensor has shape "
                f"{self.shape}; they must be equal"
            )
        if seed.dtype.kind not in "biuf":
            raise TypeError(f"backward(gradient): the gradient must be numeric, got dtype {seed.dtype}")
        return seed.astype(self._data.dtype, copy=False)

    # -- the node protocol of gradengine.autograd ------------------------------------------------
    def _backward(self, g: Any, create_graph: bool) -> list:
        """The chain rule at this node: the ``(operand, gradient)`` pairs it sends back, each
        summed to its operand's shape (broadcasting undone once, here, for every rule)."""
        if _clock > self._born:  # something was written in place since this node was recorded
            _check_unwritten(self)
        op, prev, params = self._op, self._prev, self._params
        xs, out = (prev, self) if create_graph else (self._inputs, self._data)
        vjps, variadic = op.vjps, op.nin is None
        sent = []
        for i, p in enumerate(prev):
            if p._requires_grad:
                gi = p._fit(vjps(i, g, out, *xs, *params) if variadic else vjps[i](g, out, *xs, *params))
                if create_graph and gi.__class__ is not Tensor:  # a constant, e.g. relu's 0
                    gi = _wrap(gi)
                sent.append((p, gi))
        return sent

    def _fit(self, g: Any) -> Any:
        """``g`` with this tensor's shape: summed over broadcast axes, or a scalar broadcast."""
        shape = self._data.shape
        if g.__class__ is not Tensor and g.__class__ is not _ndarray:
            g = np.asarray(g, dtype=self._data.dtype)
        if g.shape == shape:
            return g
        op = BROADCAST_TO if np.broadcast_shapes(g.shape, shape) == shape else SUM_TO
        return op(g, shape)

    def _cotangent(self) -> "Tensor":
        """A zero leaf of this tensor's shape that requires grad (forward mode's double-vjp)."""
        return Tensor(np.zeros(self._data.shape, dtype=self._data.dtype), requires_grad=True)

    @staticmethod
    def _dispatch(op: Op, args: Sequence, params: Sequence = ()) -> "Tensor":
        like = next(a for a in args if isinstance(a, Tensor))
        parents = tuple(a if isinstance(a, Tensor) else _lift(a, like) for a in args)
        return _apply(op, parents, *params)


# ---------------------------------------------------------------------------------------------
# The engine's internals
# ---------------------------------------------------------------------------------------------
def _wrap(data: np.ndarray) -> Tensor:
    """A leaf Tensor around ``data`` (not copied, not validated): the fast internal constructor."""
    t = _new(Tensor)
    t._data = data
    t._grad = None
    t.name = ""
    t._requires_grad = False
    t._op = None
    t._prev = ()
    t._inputs = None
    t._params = ()
    t._retains_grad = False
    return t


def _apply(op: Op, parents: tuple[Tensor, ...], *params: Any) -> Tensor:
    """Run ``op`` on ``parents`` and return the output: the one place a Tensor node is made.

    The output records the op, its operands, their arrays and the op's constants only when
    grad mode is on and some input requires a gradient; otherwise it is a plain leaf.
    """
    xs = [p._data for p in parents]
    try:
        out = op.array(*xs, *params)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(op, parents, e) from None
    if out.__class__ is not _ndarray:  # NumPy reductions return scalars, not 0-d arrays
        out = np.asarray(out)
    if GradMode.anomaly:
        check_forward(op, parents, out)
    t = _new(Tensor)
    t._data = out
    t._grad = None
    t.name = ""
    t._retains_grad = False
    if GradMode.enabled:
        for p in parents:
            if p._requires_grad:
                t._requires_grad = True
                t._op = op
                t._prev = parents
                t._inputs = xs
                t._params = params
                t._born = _clock
                return t
    t._requires_grad = False
    t._op = None
    t._prev = ()
    t._inputs = None
    t._params = ()
    return t


def _op_error(op: Op, parents: Sequence[Tensor], e: Exception) -> Exception:
    """The exception to raise when an op's forward fails: same kind, naming shapes and dtypes."""
    inputs = ", ".join(f"{p._data.dtype} {p._data.shape}" for p in parents)
    cls = IndexError if isinstance(e, IndexError) and not isinstance(e, ValueError) else (
        TypeError if isinstance(e, TypeError) else ValueError
    )
    return cls(f"{op.name} ({op.symbol}) failed for inputs of shape and dtype [{inputs}]: {e}")


def _accumulate(leaf: Tensor, g: Any, create_graph: bool, stored: set) -> None:
    """Add the gradient ``g`` into ``leaf.grad``, never storing an array someone else holds
    (``stored``: ids of the caller's array and of arrays already given to a leaf)."""
    if create_graph:  # a Tensor with history
        g = g if isinstance(g, Tensor) else _wrap(np.array(g, dtype=leaf._data.dtype))
        leaf._grad = g if leaf._grad is None else leaf._grad + g
        return
    if isinstance(g, Tensor):
        g = g._data
    if leaf._grad is None:
        if g.__class__ is not _ndarray or g.dtype != leaf._data.dtype or g.base is not None or id(g) in stored:
            g = np.array(g, dtype=leaf._data.dtype)  # a copy the leaf owns
        stored.add(id(g))
        leaf._grad = g
    elif isinstance(leaf._grad, Tensor):
        leaf._grad = leaf._grad._data + g
    else:
        leaf._grad += g


def _lift(x: Any, like: Tensor) -> Optional[Tensor]:
    """``x`` as a Tensor operand of an op with ``like``; None if it cannot be one.

    Python numbers become 0-d arrays of the dtype NumPy gives ``like`` combined with them
    (float32 stays float32); ndarrays are wrapped without copying; lists become float32.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _ndarray):
        return _wrap(x)
    if isinstance(x, (int, float)):  # includes bool; NumPy 2 treats Python scalars as "weak"
        dtype = like._data.dtype
        if dtype.kind != "f":  # e.g. int tensor * 2.5 -> float64, as NumPy
            dtype = np.result_type(like._data, x)
        return _wrap(np.asarray(x, dtype=dtype))
    if isinstance(x, np.generic):
        return _wrap(np.asarray(x))
    if isinstance(x, (list, tuple)):
        return _wrap(np.asarray(x, dtype=np.float32))
    return None


def _data_of(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _dim(axis: Any, keepdims: bool, dim: Any, keepdim: Optional[bool]) -> tuple[Any, bool]:
    """Accept PyTorch's ``dim``/``keepdim`` beside NumPy's ``axis``/``keepdims``."""
    if dim is not None:
        if axis is not None and axis != -1:
            raise TypeError("pass either axis= or dim=, not both")
        axis = dim
    return axis, bool(keepdims if keepdim is None else keepdim)


def _reduce(op: Op, x: Tensor, axis: Axis, keepdims: bool, dim: Axis, keepdim: Optional[bool]) -> Tensor:
    axis, keepdims = _dim(axis, keepdims, dim, keepdim)
    return _apply(op, (x,), _axes(axis, x._data.ndim, op.name), keepdims)


def _axes(axis: Axis, ndim: int, fn: str, single: bool = False) -> Any:
    """Normalise ``axis`` to a sorted tuple of non-negative ints (or None), or to one int."""
    if axis is None and not single:
        return None
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    else:
        try:
            axes = tuple(axis)
        except TypeError:
            raise TypeError(f"{fn}: axis must be an int or a tuple of ints, got {axis!r}") from None
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{fn}: axis must be an int or a tuple of ints, got {axis!r}")
        out.append(_dim_arg(a, ndim, fn, "axis"))
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: repeated axis in {axis!r}")
    if single:
        if len(out) != 1:
            raise ValueError(f"{fn}: axis must be a single int, got {axis!r}")
        return out[0]
    return tuple(sorted(out))


def _int_arg(value: Any, fn: str, what: str) -> int:
    """``value`` as a Python int; a TypeError naming ``what`` if it is not an integer (a float,
    a bool, anything else). NumPy integers and one-element integer Tensors are ints (``__index__``)."""
    if value.__class__ is int:
        return value
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{fn}: {what} must be an int, got {type(value).__name__} {value!r:.40}")


def _int_args(args: tuple, fn: str, what: str) -> tuple[int, ...]:
    """The ints of ``f(2, 3)`` or ``f((2, 3))`` (a sequence as the only argument), checked."""
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        try:
            args = tuple(args[0])
        except TypeError:  # a lone float or other non-sequence: named below
            pass
    return tuple(_int_arg(a, fn, f"{what} at position {i}") for i, a in enumerate(args))


def _dim_arg(dim: Any, ndim: int, fn: str, what: str = "dim", result: bool = False) -> int:
    """``dim`` checked to be an int in ``[-ndim, ndim)`` and made non-negative. Out of range is
    NumPy's ``AxisError``, both an IndexError (as PyTorch's) and a ValueError (as NumPy's).
    ``result``: ``ndim`` counts the dimensions of the result (``unsqueeze``)."""
    d = _int_arg(dim, fn, what)
    if not -ndim <= d < ndim:
        of = f"the result's {ndim} dimensions" if result else f"a tensor with {ndim} dimensions"
        raise np.exceptions.AxisError(
            f"{fn}: {what} {d} is out of range for {of} (expected to be in range of [{-ndim}, {ndim - 1}])"
        )
    return d % ndim


def _normalize_index(index: Any) -> tuple[Any, bool]:
    """Replace Tensors by their data, lists by arrays; say whether every element is selected
    at most once (basic indexing or a single boolean mask), so the vjp may assign instead of
    ``np.add.at``."""
    parts = index if isinstance(index, tuple) else (index,)
    unique, out, n_arrays = True, [], 0
    for p in parts:
        if isinstance(p, Tensor):
            p = p._data
        elif isinstance(p, list):
            p = np.asarray(p)
        if isinstance(p, np.ndarray):
            if p.dtype.kind not in "biu":
                raise IndexError(f"tensors used as indices must be integer or bool, got dtype {p.dtype}")
            n_arrays += 1
            if p.dtype.kind != "b":
                unique = False
        out.append(p)
    if n_arrays > 1:  # several arrays broadcast together: positions may repeat
        unique = False
    return (tuple(out) if isinstance(index, tuple) else out[0]), unique


def _constant_exponent(x: Tensor, exponent: Union[int, float]) -> Union[int, float]:
    """The constant of ``x ** exponent`` (op ``powc``): a float for a floating tensor; an int
    stays an int for an integer or bool tensor, so ``tensor([3]) ** 2`` is int64 (as NumPy and
    PyTorch; a negative int exponent is then an error, as theirs)."""
    if isinstance(exponent, int) and x._data.dtype.kind != "f":
        return exponent
    return float(exponent)


def _checked_grad(x: Tensor, value: Any) -> Any:
    """``value`` as a gradient of ``x``: an ndarray (or a Tensor, as create_graph leaves) of
    exactly ``x``'s shape and dtype, as PyTorch checks on assignment."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, Tensor):
        arr = value._data
    elif isinstance(value, _ndarray):
        arr = value
    else:
        raise TypeError(f"assigned grad must be an ndarray, a Tensor or None, got {type(value).__name__}")
    if arr.shape != x._data.shape:
        raise ValueError(
            f"assigned grad has shape {arr.shape}, but the tensor has shape {x._data.shape}; they must be equal"
        )
    if arr.dtype != x._data.dtype:
        raise TypeError(
            f"assigned grad has dtype {arr.dtype}, but the tensor has dtype {x._data.dtype}; they must be "
            f"equal (convert it, e.g. grad.astype(np.{x._data.dtype}))"
        )
    return value


def _backward_inputs(inputs: Any) -> list[Tensor]:
    """The ``inputs=`` of ``backward()``, checked: a non-empty sequence of tensors that require grad."""
    ts = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not ts:
        raise ValueError("backward(inputs=...): inputs cannot be empty; omit it to accumulate into every leaf")
    for i, t in enumerate(ts):
        if not isinstance(t, Tensor):
            raise TypeError(f"backward(inputs=...): input {i} is a {type(t).__name__}, not a Tensor")
        if not t._requires_grad:
            raise RuntimeError(f"backward(inputs=...): input {i} (shape {t.shape}) does not require grad")
    return list({id(t): t for t in ts}.values())  # each once


# ---------------------------------------------------------------------------------------------
# In-place writes, and the check that keeps them from corrupting a recorded graph
# ---------------------------------------------------------------------------------------------
# A recorded op keeps the arrays it computed with (``_inputs``) and its output, and its rule may
# use them. An in-place op writes into such an array, so it stamps the memory it wrote (by the
# array that owns it: a view or a detach()ed tensor shares its base's stamp) with a new tick of
# ``_clock``; each recorded node keeps the tick it was made at (``_born``). A node whose arrays
# were stamped later refuses to backpropagate: PyTorch's version-counter check, paid only by
# nodes recorded before the last in-place write (one integer comparison for the others).
_clock = 0
_written: dict[int, tuple[weakref.ref, int]] = {}  # id(owner array) -> (weak ref to it, tick)


def _owner(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself, or the base of the view ``a``)."""
    while isinstance(a.base, _ndarray):
        a = a.base
    return a


def _mark_written(a: np.ndarray) -> None:
    """Record that ``a``'s memory was just written in place."""
    global _clock
    _clock += 1
    owner = _owner(a)
    key = id(owner)
    _written[key] = (weakref.ref(owner, lambda _, key=key: _written.pop(key, None)), _clock)


def _check_unwritten(node: Tensor) -> None:
    """Raise if an array ``node``'s rule may use was written in place after it was recorded."""
    op, born = node._op, node._born
    arrays = [(f"input {i} of op {op.name!r} ({op.symbol})", a) for i, a in enumerate(node._inputs)]
    arrays.append((f"the output of op {op.name!r} ({op.symbol})", node._data))
    arrays += [(f"a constant of op {op.name!r}", a) for a in node._params if a.__class__ is _ndarray]
    for what, a in arrays:
        if a.__class__ is not _ndarray:
            continue
        owner = _owner(a)
        entry = _written.get(id(owner))
        if entry is not None and entry[1] > born and entry[0]() is owner:
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an in-place "
                f"operation: {what}, of shape {a.shape} and dtype {a.dtype}, was written in place (x += ..., "
                f"zero_(), ...) after the op was recorded, so its gradient would use the new values. Redo the "
                f"forward pass after the update, or write x = x + y, which makes a new tensor"
            )


def _check_in_place(x: Tensor, what: str, operands: Sequence[Tensor]) -> None:
    """PyTorch's rules for writing into ``x`` in place while grad mode is on (class docstring)."""
    if not GradMode.enabled:
        return
    if x._requires_grad:
        if x._op is None:
            raise RuntimeError(
                f"{what}: a leaf Tensor that requires grad is being used in an in-place operation (its "
                f"value is what its gradient is taken at). Update it under `with no_grad():`, as an optimizer "
                f"step does, or write x = x + y for a new tensor"
            )
        raise RuntimeError(
            f"{what}: in-place operations on a tensor with history (made by op {x._op.name!r}) are not "
            f"supported, as gradengine cannot rewrite a recorded graph; write x = x + y, which makes a new "
            f"tensor (or do it under no_grad() if no gradient should flow through it)"
        )
    for o in operands:
        if o._requires_grad:
            raise RuntimeError(
                f"{what}: the operand requires grad but this tensor does not, so the result cannot be "
                f"recorded in place; write x = x + y for a new tensor that requires grad"
            )


def _writable(x: Tensor, what: str) -> None:
    if not x._data.flags.writeable:
        raise ValueError(
            f"{what}: this tensor's data is read-only (e.g. a result of expand(), or from_numpy() of a read-only "
            f"array); write x = x + y for a new tensor, or .clone() it first"
        )


def _write_in_place(x: Tensor, op: Op, operands: tuple[Tensor, ...], params: tuple, what: str) -> Tensor:
    """``x = op(x, *operands, *params)`` written into ``x.data``, with the op's own forward; the
    result must keep ``x``'s shape and be castable to its dtype within the same kind. Returns x."""
    _check_in_place(x, what, operands)
    parents = (x, *operands)
    try:
        out = op.array(x._data, *(o._data for o in operands), *params)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(op, parents, e) from None
    out = np.asarray(out)
    if out.shape != x._data.shape:
        shapes = " and ".join(str(p._data.shape) for p in parents)
        raise ValueError(
            f"{what}: broadcasting shapes {shapes} gives shape {out.shape}, but an in-place op must keep the "
            f"tensor's shape {x._data.shape}; write x = x {op.symbol} y for a new tensor"
        )
    if not np.can_cast(out.dtype, x._data.dtype, "same_kind"):
        raise TypeError(
            f"{what}: the result has dtype {out.dtype}, which cannot be stored in this tensor of dtype "
            f"{x._data.dtype} (an in-place op keeps the dtype); write x = x {op.symbol} y for a new tensor"
        )
    if GradMode.anomaly:
        check_forward(op, parents, out)
    _writable(x, what)
    np.copyto(x._data, out, casting="same_kind")
    _mark_written(x._data)
    return x


# ---------------------------------------------------------------------------------------------
# Methods built from the op table, one loop, one method per elementwise record
# ---------------------------------------------------------------------------------------------
def _unary(op: Op):
    def method(self: Tensor) -> Tensor:
        return _apply(op, (self,))

    return method


def _binary(op: Op, reflected: bool = False):
    def method(self: Tensor, other: ArrayLike) -> Tensor:
        other = _lift(other, self)
        if other is None:
            return NotImplemented
        return _apply(op, (other, self) if reflected else (self, other))

    return method


install_methods(Tensor, _unary, _binary, note=" Elementwise, with broadcasting.")


def _in_place_operator(op: Op, name: str):
    what = f"in-place {op.name} ({op.symbol}=)"

    def method(self: Tensor, other: ArrayLike) -> Tensor:
        other = _lift(other, self)
        return NotImplemented if other is None else _write_in_place(self, op, (other,), (), what)

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    method.__doc__ = f"``self {op.symbol}= other`` in place, returning self (rules: the class docstring)."
    return method


def _in_place_method(op: Op, name: str, takes_alpha: bool):
    what = f"{name}()"

    def write(self: Tensor, other: ArrayLike, alpha: Number) -> Tensor:
        o = _lift(other, self)
        if o is None:
            raise TypeError(f"{what}: expected a Tensor, an ndarray or a number, got {type(other).__name__}")
        if alpha != 1:
            _check_in_place(self, what, (o,))  # before the operand loses its requires_grad
            o = _wrap(np.asarray(o._data * alpha))
        return _write_in_place(self, op, (o,), (), what)

    if takes_alpha:
        def method(self: Tensor, other: ArrayLike, *, alpha: Number = 1) -> Tensor:
            return write(self, other, alpha)
    else:  # PyTorch's mul_ and div_ take no alpha
        def method(self: Tensor, other: ArrayLike) -> Tensor:
            return write(self, other, 1)

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    method.__doc__ = (f"``self {op.symbol}= {'alpha * ' if takes_alpha else ''}other`` in place, returning self "
                      f"(PyTorch's ``{name}``; rules: the class docstring).")
    return method


#: The in-place arithmetic: (operator, PyTorch method, op, takes alpha), each the op's own forward.
_IN_PLACE = (("__iadd__", "add_", ADD, True), ("__isub__", "sub_", SUB, True),
             ("__imul__", "mul_", MUL, False), ("__itruediv__", "div_", DIV, False))
for _operator, _name, _op, _alpha in _IN_PLACE:
    setattr(Tensor, _operator, _in_place_operator(_op, _operator))
    setattr(Tensor, _name, _in_place_method(_op, _name, _alpha))
del _operator, _name, _op, _alpha


# ---------------------------------------------------------------------------------------------
# Functions of several tensors
# ---------------------------------------------------------------------------------------------
def _as_tensors(tensors: Sequence[ArrayLike], fn: str) -> tuple[Tensor, ...]:
    if isinstance(tensors, (Tensor, np.ndarray)) or not len(tensors):
        raise ValueError(f"{fn}() expects a non-empty sequence of tensors")
    return tuple(t if isinstance(t, Tensor) else _wrap(np.asarray(t)) for t in tensors)


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``np.concatenate``); differentiable in each."""
    ts = _as_tensors(tensors, "concatenate")
    return _apply(CONCATENATE, ts, _axes(axis, ts[0].ndim, "concatenate", single=True) if ts[0].ndim else axis)


def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis (``np.stack``); differentiable in each."""
    ts = _as_tensors(tensors, "stack")
    return _apply(STACK, ts, _axes(axis, ts[0].ndim + 1, "stack", single=True))
