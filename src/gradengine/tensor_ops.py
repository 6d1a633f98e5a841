"""The tensor engine's own ops: matrix products, reductions, shapes, indexing, fused losses.

The elementwise ops are shared with the scalar engine (:mod:`gradengine.ops`). The records here
follow the same conventions (:func:`gradengine.autograd.defop`): ``array(*inputs, *params)``
computes the output from ndarrays, and ``vjps[i](g, out, *inputs, *params)`` is the gradient
for input ``i``, written with the ops themselves (``SUM``, ``RESHAPE``, ``SOFTMAX``, ``@``), so
it runs on ndarrays for ``backward()`` and on Tensors for derivatives of any order. The helpers
a rule needs (``SUM_TO``, ``BROADCAST_TO``, ``SCATTER``) are ops with rules of their own, so the
table is closed under differentiation. The engine sums a rule's result to its input's shape
(undoing broadcasting), so no rule does.

Parameters (an axis, a shape, an index, a loss's target) are constants: they get no gradient.
``axes`` is a sorted tuple of non-negative ints or None (all axes), ``axis`` one such int.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .autograd import Node, defop
from .ops import EXP, SIGM, data

__all__ = ["unbroadcast", "shifted"]

Axes = Optional[tuple[int, ...]]

# Calling the ufunc reductions directly: np.sum / np.max go through Python wrappers costing
# 1-3 us a call, which matters at batch size 32.
_add_reduce = np.add.reduce
_max_reduce = np.maximum.reduce
_all = np.logical_and.reduce


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to ``shape``: the gradient of NumPy broadcasting ``shape -> g.shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return _add_reduce(g, axis=axes, keepdims=True).reshape(shape)


def _max_or_zero(a: np.ndarray, axis: Any) -> np.ndarray:
    """The max along ``axis`` (kept), or 0 where it is not finite: ``logsumexp``'s shift, so a
    slice of only ``-inf`` gives ``-inf`` and one holding ``+inf`` gives ``+inf`` (as PyTorch)."""
    m = _max_reduce(a, axis=axis, keepdims=True)
    finite = np.isfinite(m)
    if _all(finite, axis=None):  # the common case: nothing to replace
        return m
    return np.where(finite, m, 0).astype(a.dtype, copy=False)


def shifted(a: np.ndarray, axis: Any) -> np.ndarray:
    """``a - max(a)`` along ``axis``: the overflow-safe shift of the whole softmax family. As in
    PyTorch, a slice holding ``+inf`` or ``nan``, or only ``-inf``, becomes all ``nan``."""
    return a - _max_reduce(a, axis=axis, keepdims=True)


def _kept(shape: tuple[int, ...], axes: Axes) -> tuple[int, ...]:
    """The shape of a reduction's output with ``keepdims=True``."""
    return tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))


def _spread(g: Any, shape: tuple[int, ...], axes: Axes) -> Any:
    """A reduction's output gradient ``g`` reshaped to broadcast against its input."""
    return RESHAPE(g, _kept(shape, axes))


def _count(shape: tuple[int, ...], axes: Axes) -> int:
    return int(np.prod([n for i, n in enumerate(shape) if axes is None or i in axes], dtype=np.int64))


def _mT(x: Any) -> Any:
    """Swap the last two axes (the matrix transpose of a batch of matrices)."""
    return x.T if x.ndim == 2 else TRANSPOSE(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def _rows(x: Any) -> Any:
    """``x`` as a matrix of rows ``(-1, last)`` (itself when already 2-D)."""
    return x if x.ndim == 2 else RESHAPE(x, (-1, x.shape[-1]))


# ---------------------------------------------------------------------------------------------
# Broadcasting and scattering: the helpers the other rules use
# ---------------------------------------------------------------------------------------------
SUM_TO = defop("sum_to", "sum_to", 1, kind="linear", array=unbroadcast,
               vjps=(lambda g, out, a, shape: BROADCAST_TO(g, a.shape),))
BROADCAST_TO = defop("broadcast_to", "broadcast", 1, kind="linear", array=np.broadcast_to,
                     vjps=(lambda g, out, a, shape: SUM_TO(g, a.shape),))


def _scatter(g: np.ndarray, shape: tuple[int, ...], index: Any, unique: bool) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    if unique:  # basic indexing or a boolean mask: every element is selected at most once
        out[index] = g
    else:  # integer arrays may repeat an element: accumulate, don't overwrite
        np.add.at(out, index, g)
    return out


#: ``a[index]``, and its transpose: a zero array of ``shape`` with ``g`` added at ``index``.
GETITEM = defop("getitem", "[]", 1, kind="linear", array=lambda a, index, unique: a[index],
                vjps=(lambda g, out, a, index, unique: SCATTER(g, a.shape, index, unique),))
SCATTER = defop("scatter", "scatter", 1, kind="linear", array=_scatter,
                vjps=(lambda g, out, a, shape, index, unique: GETITEM(g, index, unique),))


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------
def _concatenate(*args: Any) -> np.ndarray:
    *xs, axis = args
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp(i: int, g: Any, out: Any, *args: Any) -> Any:
    *xs, axis = args
    start = sum(x.shape[axis] for x in xs[:i])
    return GETITEM(g, (slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),), True)


def _stack(*args: Any) -> np.ndarray:
    *xs, axis = args
    return np.stack(xs, axis=axis)


# fmt: off
RESHAPE     = defop("reshape",     "reshape", 1, kind="linear", array=lambda a, shape: a.reshape(shape),
                    vjps=(lambda g, out, a, shape: RESHAPE(g, a.shape),))
TRANSPOSE   = defop("transpose",   "T",       1, kind="linear", array=lambda a, axes: a.transpose(axes),
                    vjps=(lambda g, out, a, axes: TRANSPOSE(g, None if axes is None else tuple(np.argsort(axes).tolist())),))
CONCATENATE = defop("concatenate", "cat",  None, kind="linear", array=_concatenate, vjps=_concatenate_vjp)
STACK       = defop("stack",       "stack", None, kind="linear", array=_stack,
                    vjps=lambda i, g, out, *args: GETITEM(g, (slice(None),) * args[-1] + (i,), True))
# fmt: on


# ---------------------------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------------------------
def _matmul_vjp(i: int, g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``a @ b`` for input ``i``, with NumPy's rules for 1-D operands (promoted to
    a matrix, the extra axis dropped from the result); batch axes are summed by the engine."""
    if a.ndim == 1 and b.ndim == 1:  # inner product
        return g * b if i == 0 else g * a
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:  # a was a row (1, k): g lost that axis
        g, a = RESHAPE(g, g.shape[:-1] + (1, g.shape[-1])), RESHAPE(a, (1, a.shape[0]))
    if b_vec:  # b was a column (k, 1)
        g, b = RESHAPE(g, g.shape + (1,)), RESHAPE(b, (b.shape[0], 1))
    if i == 0:
        ga = g @ _mT(b)
        return RESHAPE(ga, ga.shape[:-2] + ga.shape[-1:]) if a_vec else ga
    gb = _mT(a) @ g
    return RESHAPE(gb, gb.shape[:-1]) if b_vec else gb


MATMUL = defop("matmul", "@", 2, array=np.matmul, method="__matmul__", vjps=(
    lambda g, out, a, b: _matmul_vjp(0, g, a, b),
    lambda g, out, a, b: _matmul_vjp(1, g, a, b),
))


def _linear(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray] = None) -> np.ndarray:
    """``x @ w.T + b`` (w.T is a free view: BLAS reads the transposed layout directly). With
    fewer rows than outputs (a small batch), the product is computed as ``(w @ x.T).T``: BLAS
    copies its second operand into a packed buffer on every call, and the batch is then the
    smaller one to copy (batch 32 into the 784-128 layer: 68 -> 52 us, OpenBLAS, 2 threads)."""
    if x.ndim == 2 and x.shape[0] < w.shape[0]:
        out = np.matmul(w, x.T).T
        return np.ascontiguousarray(out) if b is None else np.add(out, b, order="C")  # C order, as x @ w.T
    out = np.matmul(x, w.T)
    if b is not None:
        if b.dtype == out.dtype:
            out += b  # out is a fresh array: add in place, no temporary
        else:
            out = out + b
    return out


#: ``x @ w.T + b`` as one node (PyTorch's ``F.linear``): the hot op of every MLP.
LINEAR = defop("linear", "linear", 3, array=_linear, vjps=(
    lambda g, out, x, w, b=None: g @ w,
    lambda g, out, x, w, b=None: _mT(_rows(g)) @ _rows(x),
    lambda g, out, x, w, b: SUM(_rows(g), (0,), False),
))


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------
def _max_vjp(g: Any, out: Any, a: Any, axes: Axes, keepdims: bool) -> Any:
    # The gradient goes to the positions of the maximum; ties share it equally (as PyTorch's
    # amax), so it always sums to g. The mask is a constant: max is linear where it is smooth.
    mask = data(a) == data(out).reshape(_kept(a.shape, axes))
    share = mask / _add_reduce(mask, axis=axes, keepdims=True, dtype=data(a).dtype)
    return _spread(g, a.shape, axes) * share.astype(data(a).dtype, copy=False)


def _logsumexp(a: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    m = _max_or_zero(a, axes)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf slice, as PyTorch
        out = np.log(_add_reduce(np.exp(a - m), axis=axes, keepdims=True)) + m
    return out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if axes is not None and i not in axes])


# fmt: off
SUM       = defop("sum",       "sum",  1, kind="linear",
                  array=lambda a, axes, keepdims: _add_reduce(a, axis=axes, keepdims=keepdims),
                  vjps=(lambda g, out, a, axes, keepdims: BROADCAST_TO(_spread(g, a.shape, axes), a.shape),))
MEAN      = defop("mean",      "mean", 1, kind="linear",
                  array=lambda a, axes, keepdims: np.mean(a, axis=axes, keepdims=keepdims),
                  vjps=(lambda g, out, a, axes, keepdims: BROADCAST_TO(_spread(g, a.shape, axes) / _count(a.shape, axes), a.shape),))
MAX       = defop("max",       "max",  1, array=lambda a, axes, keepdims: _max_reduce(a, axis=axes, keepdims=keepdims),
                  vjps=(_max_vjp,))
LOGSUMEXP = defop("logsumexp", "logsumexp", 1, array=_logsumexp,
                  vjps=(lambda g, out, a, axes, keepdims: _spread(g, a.shape, axes) * EXP(a - _spread(out, a.shape, axes)),))
# fmt: on


# ---------------------------------------------------------------------------------------------
# The softmax family (axis is one int), all from the one shifted(...) helper
# ---------------------------------------------------------------------------------------------
def _softmax(a: np.ndarray, axis: int) -> np.ndarray:
    if _short_rows(a, axis):
        return _softmax(np.ascontiguousarray(a.T), 0).T
    e = np.exp(shifted(a, axis))
    return e / _add_reduce(e, axis=axis, keepdims=True)


def _log_softmax(a: np.ndarray, axis: int) -> np.ndarray:
    if _short_rows(a, axis):
        return _log_softmax(np.ascontiguousarray(a.T), 0).T
    s = shifted(a, axis)
    return s - np.log(_add_reduce(np.exp(s), axis=axis, keepdims=True))


def _short_rows(a: np.ndarray, axis: int) -> bool:
    """Whether to work on ``a.T`` instead: many short rows, reduced along them (class scores,
    ``(N, 10)``). NumPy reduces a short contiguous axis row by row, several times slower than
    combining whole columns of a transposed copy with vector operations."""
    return a.ndim == 2 and axis == 1 and a.shape[1] <= 32 < a.shape[0]


SOFTMAX = defop("softmax", "softmax", 1, array=_softmax,
                vjps=(lambda g, out, a, axis: out * (g - SUM(g * out, (axis,), True)),))
LOG_SOFTMAX = defop("log_softmax", "log_softmax", 1, array=_log_softmax,
                    vjps=(lambda g, out, a, axis: g - EXP(out) * SUM(g, (axis,), True),))


# ---------------------------------------------------------------------------------------------
# Fused losses (the target is a parameter: it receives no gradient)
# ---------------------------------------------------------------------------------------------
def _reduce_loss(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return _add_reduce(losses, axis=None) / losses.size  # nan for an empty batch, as PyTorch
    if reduction == "sum":
        return _add_reduce(losses, axis=None)
    return losses


def _loss_scale(g: Any, n: int, reduction: str, per_row: bool) -> Any:
    """``g`` shaped to scale the per-element gradient: ``g / n``, ``g``, or ``g`` per row."""
    if reduction == "mean":
        return g / n
    if reduction == "sum" or not per_row:
        return g
    return RESHAPE(g, (g.shape[0], 1))


def _cross_entropy(z: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
    """Softmax cross-entropy of logits ``z`` (N, C); target = labels (N,) or probabilities (N, C)."""
    logp = _log_softmax(z, 1)
    if target.ndim == 1:
        losses = -logp[np.arange(z.shape[0]), target]
    else:
        losses = -_add_reduce(target * logp, axis=1)
    return _reduce_loss(losses, reduction)


def _cross_entropy_vjp(g: Any, out: Any, z: Any, target: np.ndarray, reduction: str) -> Any:
    # The whole softmax + log + NLL chain collapses to (softmax(z) * sum(t) - t) * g / N.
    n, c = z.shape
    if target.ndim == 1:
        t = np.zeros((n, c), dtype=data(z).dtype)
        t[np.arange(n), target] = 1
        p = SOFTMAX(z, 1) - t
    else:
        p = SOFTMAX(z, 1) * _add_reduce(target, axis=1, keepdims=True) - target
    return p * _loss_scale(g, n, reduction, per_row=True)


def _bce_with_logits(x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
    # max(x, 0) - x*y + log(1 + exp(-|x|)): never overflows, exact for large |x|
    return _reduce_loss(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))), reduction)


CROSS_ENTROPY = defop("cross_entropy", "cross_entropy", 1, array=_cross_entropy, vjps=(_cross_entropy_vjp,))
BCE_WITH_LOGITS = defop(
    "binary_cross_entropy_with_logits", "bce_logits", 1, array=_bce_with_logits,
    vjps=(lambda g, out, x, y, reduction: (SIGM(x) - y) * _loss_scale(g, x.size, reduction, per_row=False),),
)
