"""The tensor autograd engine: ``Tensor``, a NumPy array that remembers how it was computed.

The model is the scalar engine's (:mod:`gradengine.engine`), vectorised:

* Every primitive is defined once, in the op table of :mod:`gradengine.tensor_ops`: a forward
  rule on NumPy arrays and one vector-Jacobian-product (vjp) rule per input.
* A ``Tensor`` made by an op records the ``Op``, its input tensors (``children``) and the op's
  saved context. A node is one slotted object with no closures and no reference cycles, so a
  graph is freed by reference counting as soon as the last tensor of it is dropped.
* ``backward()`` is iterative: it counts how many times each node is used as an input, then
  processes a node once every consumer has sent it its gradient, in a deterministic order.
  Leaves accumulate into ``.grad`` (like PyTorch: call ``zero_grad()`` between steps);
  intermediate nodes keep no gradient (unless you call ``retain_grad()`` on them).
* Nothing is recorded under ``no_grad()``, or when no input requires a gradient.

dtypes: Python numbers and lists become float32 (PyTorch's default); NumPy arrays keep their
dtype, so float64 data stays float64 (use it for gradient checks). Ops give the dtype NumPy
would for float32/float64 mixes, except that a Python scalar never upcasts: ``x * 2.0`` stays
float32 for a float32 ``x``.

>>> x = Tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
array([[ 2., -4.],
       [ 6.,  8.]], dtype=float32)
"""

from __future__ import annotations

from numbers import Number
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np

from .grad_mode import GradMode
from .tensor_ops import (
    ABS, ADD, CONCATENATE, DIV, EXP, GETITEM, LOG, LOG_SOFTMAX, LOGSUMEXP, MATMUL, MAX, MEAN,
    MUL, NEG, OPS, POW, RELU, RESHAPE, SIGM, SOFTMAX, SQRT, STACK, SUB, SUM, TANH, TRANSPOSE, Op,
)

__all__ = ["Tensor", "concatenate", "stack", "OPS"]

ArrayLike = Union["Tensor", np.ndarray, Number, Sequence]
Axis = Union[int, Sequence[int], None]

_new = object.__new__
_ndarray = np.ndarray


class Tensor:
    """An n-dimensional array (``data``, a NumPy ndarray) with reverse-mode autograd.

    Args:
        data: a number, a (nested) list, a NumPy array or a Tensor. The data is copied.
            Python numbers and lists become float32 unless ``dtype`` is given; NumPy data
            keeps its dtype (a float64 array stays float64).
        requires_grad: record operations on this tensor so ``backward()`` can compute its
            gradient. Only floating-point tensors can require gradients.
        dtype: convert the data to this NumPy dtype.
        name: an optional label, shown by ``repr`` and graph drawings.

    Attributes:
        data: the values, an ``np.ndarray``. You may replace it (``t.data = arr``) or update
            it in place. A recorded op keeps the input arrays it computed with (so replacing
            ``data`` does not affect an existing graph), but updating them in place between a
            forward pass and its ``backward()`` changes what the vjp rules see.
        grad: after ``backward()``, the gradient of the output w.r.t. this leaf (an ndarray
            of the same shape and dtype), or None. It accumulates across calls.
    """

    __slots__ = ("data", "grad", "name", "_requires_grad", "_op", "_parents", "_inputs", "_ctx", "_retains_grad")

    # ndarray (op) Tensor calls the Tensor's reflected method instead of NumPy's ufunc.
    __array_ufunc__ = None

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        *,
        dtype: Any = None,
        name: str = "",
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, (np.ndarray, np.generic)):
            arr = np.array(data, dtype=dtype, copy=True)
        else:
            try:
                arr = np.array(data, dtype=np.float32 if dtype is None else dtype)
            except (ValueError, TypeError) as e:
                raise TypeError(
                    f"Tensor() expects a number, a (nested) list of numbers or an ndarray, "
                    f"got {type(data).__name__}: {e}"
                ) from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Tensor() supports bool, integer and floating dtypes, got {arr.dtype}")
        self.data: np.ndarray = arr
        self.grad: Optional[np.ndarray] = None
        self.name = name
        self._requires_grad = False
        self._op: Optional[Op] = None
        self._parents: tuple[Tensor, ...] = ()
        self._inputs: Optional[list[np.ndarray]] = None
        self._ctx: Any = None
        self._retains_grad = False
        self.requires_grad = requires_grad  # validated by the property

    # -- basic properties --------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor. Settable on leaves (floating dtypes only)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if value and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, this tensor has dtype "
                f"{self.data.dtype}; convert it first, e.g. Tensor(arr.astype(np.float32))"
            )
        if not value and self._op is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on leaf tensors; use .detach() to get a "
                "tensor without history"
            )
        self._requires_grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator["Tensor"]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (shared, not copied, like ``torch.Tensor.numpy``)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def item(self) -> Union[float, int, bool]:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def __float__(self) -> float:
        return float(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use .data.any() or .data.all()"
            )
        return bool(self.data)

    # -- graph structure (used by gradengine.viz) ---------------------------------------------
    @property
    def op(self) -> Optional[Op]:
        """The op that produced this tensor, or None for a leaf."""
        return self._op

    @property
    def children(self) -> tuple["Tensor", ...]:
        """The tensors this one was computed from, in argument order (empty for a leaf)."""
        return self._parents

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (inputs, parameters, constants)."""
        return self._op is None

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's data, with no history and ``requires_grad=False``."""
        t = _wrap(self.data)
        t.name = self.name
        return t

    def retain_grad(self) -> "Tensor":
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()`` (for
        inspection: each backward pass replaces it). Returns self."""
        if self._op is not None:
            self._retains_grad = True
        return self

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = [] if self.data.dtype == np.float32 else [f"dtype={self.data.dtype}"]
        if self._op is not None:
            extras.append(f"op={self._op.name!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "Tensor(" + ", ".join([body] + extras) + ")"

    # -- elementwise arithmetic ----------------------------------------------------------------
    def __add__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(ADD, (self, other))

    def __radd__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(ADD, (other, self))

    def __sub__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(SUB, (self, other))

    def __rsub__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(SUB, (other, self))

    def __mul__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(MUL, (self, other))

    def __rmul__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(MUL, (other, self))

    def __truediv__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(DIV, (self, other))

    def __rtruediv__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(DIV, (other, self))

    def __pow__(self, exponent: ArrayLike) -> "Tensor":
        """``self ** exponent`` for a number, array or Tensor exponent (differentiable in both)."""
        exponent = _lift(exponent, self)
        return NotImplemented if exponent is None else _apply(POW, (self, exponent))

    def __rpow__(self, base: ArrayLike) -> "Tensor":
        base = _lift(base, self)
        return NotImplemented if base is None else _apply(POW, (base, self))

    def __matmul__(self, other: ArrayLike) -> "Tensor":
        """Matrix product with NumPy's rules (batched, 1-D operands promoted then squeezed)."""
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(MATMUL, (self, other))

    def __rmatmul__(self, other: ArrayLike) -> "Tensor":
        other = _lift(other, self)
        return NotImplemented if other is None else _apply(MATMUL, (other, self))

    def __neg__(self) -> "Tensor":
        return _apply(NEG, (self,))

    def exp(self) -> "Tensor":
        return _apply(EXP, (self,))

    def log(self) -> "Tensor":
        """Natural logarithm (``log(0) = -inf``, ``log(x < 0) = nan``, with NumPy's warnings)."""
        return _apply(LOG, (self,))

    def sqrt(self) -> "Tensor":
        return _apply(SQRT, (self,))

    def tanh(self) -> "Tensor":
        return _apply(TANH, (self,))

    def sigmoid(self) -> "Tensor":
        """``1 / (1 + exp(-x))``, computed stably for any x."""
        return _apply(SIGM, (self,))

    def relu(self) -> "Tensor":
        """``max(x, 0)``; the gradient at 0 is 0 (as PyTorch)."""
        return _apply(RELU, (self,))

    def abs(self) -> "Tensor":
        """``|x|``; the gradient at 0 is 0 (as PyTorch)."""
        return _apply(ABS, (self,))

    __abs__ = abs

    # Comparisons give bool tensors without history (== and != stay identity, like Value,
    # so tensors can be dict keys; compare .data for elementwise equality).
    def __lt__(self, other: ArrayLike) -> "Tensor":
        return _wrap(np.asarray(self.data < _data_of(other)))

    def __le__(self, other: ArrayLike) -> "Tensor":
        return _wrap(np.asarray(self.data <= _data_of(other)))

    def __gt__(self, other: ArrayLike) -> "Tensor":
        return _wrap(np.asarray(self.data > _data_of(other)))

    def __ge__(self, other: ArrayLike) -> "Tensor":
        return _wrap(np.asarray(self.data >= _data_of(other)))

    __hash__ = object.__hash__

    # -- reductions ----------------------------------------------------------------------------
    def sum(self, axis: Axis = None, keepdims: bool = False) -> "Tensor":
        """Sum over ``axis`` (an int, a tuple of ints, or None for all), as ``np.sum``."""
        return _apply(SUM, (self,), _axes(axis, self.data.ndim, "sum"), bool(keepdims))

    def mean(self, axis: Axis = None, keepdims: bool = False) -> "Tensor":
        """Mean over ``axis`` (an int, a tuple of ints, or None for all), as ``np.mean``."""
        return _apply(MEAN, (self,), _axes(axis, self.data.ndim, "mean"), bool(keepdims))

    def max(self, axis: Axis = None, keepdims: bool = False) -> "Tensor":
        """Maximum over ``axis``. The gradient goes to the maximal elements; if several are
        equal, they share it evenly (like PyTorch's ``amax``)."""
        return _apply(MAX, (self,), _axes(axis, self.data.ndim, "max"), bool(keepdims))

    def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> "Tensor":
        """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""
        return _apply(LOGSUMEXP, (self,), _axes(axis, self.data.ndim, "logsumexp"), bool(keepdims))

    def softmax(self, axis: int = -1) -> "Tensor":
        """``exp(x) / sum(exp(x))`` along ``axis``, computed without overflow."""
        return _apply(SOFTMAX, (self,), _axes(axis, self.data.ndim, "softmax", single=True))

    def log_softmax(self, axis: int = -1) -> "Tensor":
        """``x - logsumexp(x)`` along ``axis``, computed without overflow."""
        return _apply(LOG_SOFTMAX, (self,), _axes(axis, self.data.ndim, "log_softmax", single=True))

    # -- shapes ----------------------------------------------------------------------------
    def reshape(self, *shape: Union[int, Sequence[int]]) -> "Tensor":
        """A tensor with the same data in a new shape; ``reshape(2, -1)`` or ``reshape((2, -1))``."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return _apply(RESHAPE, (self,), shape)

    def transpose(self, *axes: Union[int, Sequence[int]]) -> "Tensor":
        """Permute the axes (all reversed if none are given), as ``np.transpose``."""
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        axes = tuple(int(a) for a in axes) if axes else None
        return _apply(TRANSPOSE, (self,), axes)

    @property
    def T(self) -> "Tensor":
        """The tensor with its axes reversed (the matrix transpose for 2-D)."""
        return _apply(TRANSPOSE, (self,), None)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        """Merge dims ``start_dim..end_dim`` into one (PyTorch semantics: all dims by default,
        so a 0-d tensor becomes shape (1,))."""
        shape = self.data.shape
        if not shape:
            return self.reshape(1)
        nd = len(shape)
        if not (-nd <= start_dim < nd and -nd <= end_dim < nd) or start_dim % nd > end_dim % nd:
            raise ValueError(
                f"flatten(start_dim={start_dim}, end_dim={end_dim}) is invalid for a tensor of shape {shape}"
            )
        start, end = start_dim % nd, end_dim % nd
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def __getitem__(self, index: Any) -> "Tensor":
        """NumPy indexing: ints, slices, None, ..., boolean masks and integer arrays. The
        gradient is scattered back; elements selected several times get the sum."""
        index, unique = _normalize_index(index)
        return _apply(GETITEM, (self,), index, unique)

    # -- backpropagation --------------------------------------------------------------------
    def backward(self, gradient: Optional[ArrayLike] = None) -> None:
        """Accumulate ``d(self)/d(leaf)`` (times ``gradient``) into every leaf's ``.grad``.

        ``gradient`` is the gradient of some final scalar w.r.t. this tensor; it may be
        omitted only for one-element tensors (then it is 1). Leaves accumulate (``grad`` None
        is set, otherwise added to in place), exactly like PyTorch, so call ``zero_grad()``
        between steps. The graph is kept, so calling ``backward()`` again runs the same pass
        again and the leaves receive the gradient a second time (like PyTorch with
        ``retain_graph=True``).
        """
        if not self._requires_grad:
            raise RuntimeError(
                f"backward() on a tensor of shape {self.shape} that does not require grad: none of "
                "its inputs has requires_grad=True, or it was computed under no_grad()"
            )
        seed, seed_is_ours = self._seed(gradient)
        uses = _count_uses(self)
        grads: dict[Tensor, Any] = {self: seed}
        # ids of gradient arrays that something besides the engine may still hold (the
        # caller's `gradient`, or one array passed through to several inputs): a leaf never
        # stores those as its .grad, it stores a copy.
        shared = set() if seed_is_ours else {id(seed)}
        ready = [self]
        while ready:  # a node is ready once every consumer has sent it its gradient
            node = ready.pop()
            g = grads.pop(node)  # intermediate gradients are dropped as soon as they are used
            op = node._op
            if op is None:
                _accumulate(node, g, id(g) in shared)
                continue
            if node._retains_grad:
                node.grad = np.array(g, dtype=node.data.dtype)
            parents, xs, out, ctx, vjps = node._parents, node._inputs, node.data, node._ctx, op.vjps
            passed_through = False
            for i, p in enumerate(parents):
                if not p._requires_grad:
                    continue
                gi = vjps[i](g, out, ctx, *xs)
                if gi is g:
                    if passed_through:  # e.g. a + b: the same array goes to both inputs
                        shared.add(id(g))
                    passed_through = True
                prev = grads.get(p)
                grads[p] = gi if prev is None else prev + gi
                n = uses[p] - 1
                uses[p] = n
                if n == 0:
                    ready.append(p)

    def _seed(self, gradient: Optional[ArrayLike]) -> tuple[np.ndarray, bool]:
        """The starting gradient and whether the engine owns it (False: the caller's array)."""
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs: this tensor has shape "
                    f"{self.shape}; pass backward(gradient) with a gradient of that shape"
                )
            return np.ones(self.shape, dtype=self.data.dtype), True
        seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient)
        if seed.shape != self.shape:
            raise ValueError(
                f"backward(gradient): the gradient has shape {seed.shape} but the tensor has shape "
                f"{self.shape}; they must be equal"
            )
        if seed.dtype.kind not in "biuf":
            raise TypeError(f"backward(gradient): the gradient must be numeric, got dtype {seed.dtype}")
        if seed.dtype != self.data.dtype:
            return seed.astype(self.data.dtype), True
        return seed, False


# ---------------------------------------------------------------------------------------------
# The engine's internals
# ---------------------------------------------------------------------------------------------
def _wrap(data: np.ndarray) -> Tensor:
    """A leaf Tensor around ``data`` (not copied, not validated): the fast internal constructor."""
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.name = ""
    t._requires_grad = False
    t._op = None
    t._parents = ()
    t._inputs = None
    t._ctx = None
    t._retains_grad = False
    return t


def _apply(op: Op, parents: tuple[Tensor, ...], *params: Any) -> Tensor:
    """Run ``op`` on ``parents`` and return the output, recording the node if needed.

    The output is recorded (``_op``, ``_parents``, the input arrays ``_inputs`` and the op's
    ``_ctx``) only when grad mode is on and some input requires a gradient; otherwise it is a
    plain leaf and the context is dropped.
    """
    xs = [p.data for p in parents]
    try:
        out, ctx = op.forward(*xs, *params)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(op, parents, e) from None
    if out.__class__ is not _ndarray:  # NumPy reductions return scalars, not 0-d arrays
        out = np.asarray(out)
    t = _new(Tensor)
    t.data = out
    t.grad = None
    t.name = ""
    t._retains_grad = False
    if GradMode.enabled:
        for p in parents:
            if p._requires_grad:
                t._requires_grad = True
                t._op = op
                t._parents = parents
                t._inputs = xs
                t._ctx = ctx
                return t
    t._requires_grad = False
    t._op = None
    t._parents = ()
    t._inputs = None
    t._ctx = None
    return t


def _op_error(op: Op, parents: Sequence[Tensor], e: Exception) -> Exception:
    """The exception to raise when an op's forward fails: same kind, naming shapes and dtypes."""
    inputs = ", ".join(f"{p.data.dtype} {p.data.shape}" for p in parents)
    cls = IndexError if isinstance(e, IndexError) and not isinstance(e, ValueError) else (
        TypeError if isinstance(e, TypeError) else ValueError
    )
    return cls(f"{op.name} ({op.symbol}) failed for inputs of shape and dtype [{inputs}]: {e}")


def _count_uses(root: Tensor) -> dict[Tensor, int]:
    """Map every node that ``root`` depends on (through tensors requiring grad) to the number
    of times it is used as an input. Iterative: graphs may be arbitrarily deep."""
    uses = {root: 0}
    stack = [root]
    while stack:
        for p in stack.pop()._parents:
            if p._requires_grad:
                if p in uses:
                    uses[p] += 1
                else:
                    uses[p] = 1
                    stack.append(p)
    return uses


def _accumulate(leaf: Tensor, g: Any, shared: bool) -> None:
    """Add the gradient ``g`` into ``leaf.grad``, never storing an array someone else holds.

    ``g`` is stored as-is only when it is a fresh array of the leaf's dtype that nothing else
    references (not shared, not a view); otherwise a copy is stored. Later passes add in place.
    """
    data = leaf.data
    if g.__class__ is not _ndarray or g.dtype != data.dtype:
        g = np.array(g, dtype=data.dtype)
    elif shared or g.base is not None:
        g = g.copy()
    if g.shape != data.shape:  # a vjp rule returned the wrong shape: an engine bug
        raise RuntimeError(f"internal error: gradient of shape {g.shape} for a leaf of shape {data.shape}")
    if leaf.grad is None:
        leaf.grad = g
    else:
        leaf.grad += g


def _lift(x: Any, like: Tensor) -> Optional[Tensor]:
    """``x`` as a Tensor operand of an op with ``like``; None if it cannot be one.

    Python numbers become 0-d arrays of the dtype NumPy gives ``like`` combined with them
    (float32 stays float32); ndarrays are wrapped without copying; lists become float32.
    """
    if x.__class__ is Tensor:
        return x
    if isinstance(x, _ndarray):
        return _wrap(x)
    if isinstance(x, (int, float)):  # includes bool; NumPy 2 treats Python scalars as "weak"
        dtype = like.data.dtype
        if dtype.kind != "f":  # e.g. int tensor * 2.5 -> float64, as NumPy
            dtype = np.result_type(like.data, x)
        return _wrap(np.asarray(x, dtype=dtype))
    if isinstance(x, np.generic):
        return _wrap(np.asarray(x))
    if isinstance(x, Tensor):  # a subclass
        return x
    if isinstance(x, (list, tuple)):
        return _wrap(np.asarray(x, dtype=np.float32))
    return None


def _data_of(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _axes(axis: Axis, ndim: int, fn: str, single: bool = False) -> Any:
    """Normalise ``axis`` to a sorted tuple of non-negative ints (or None), or to one int."""
    if axis is None and not single:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{fn}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{fn}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: repeated axis in {axis!r}")
    if single:
        if len(out) != 1:
            raise ValueError(f"{fn}: axis must be a single int, got {axis!r}")
        return out[0]
    return tuple(sorted(out))


def _normalize_index(index: Any) -> tuple[Any, bool]:
    """Replace Tensors by their data, lists by arrays; say whether every element is selected
    at most once (basic indexing or a single boolean mask), so the vjp may assign instead of
    ``np.add.at``."""
    parts = index if isinstance(index, tuple) else (index,)
    unique, out, n_arrays = True, [], 0
    for p in parts:
        if isinstance(p, Tensor):
            p = p.data
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


# ---------------------------------------------------------------------------------------------
# Functions of several tensors
# ---------------------------------------------------------------------------------------------
def _as_tensors(tensors: Sequence[ArrayLike], fn: str) -> tuple[Tensor, ...]:
    if isinstance(tensors, (Tensor, np.ndarray)) or not len(tensors):
        raise ValueError(f"{fn}() expects a non-empty sequence of tensors")
    return tuple(t if isinstance(t, Tensor) else _wrap(np.asarray(t)) for t in tensors)


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``np.concatenate``); differentiable in each."""
    return _apply(CONCATENATE, _as_tensors(tensors, "concatenate"), axis)


def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis (``np.stack``); differentiable in each."""
    return _apply(STACK, _as_tensors(tensors, "stack"), axis)
