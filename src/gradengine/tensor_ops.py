"""The tensor engine's op table: every primitive's forward and vjp rules, on NumPy arrays.

This module knows nothing about ``Tensor``: it is the math, written once per op. The
autograd machinery in :mod:`gradengine.tensor` applies these rules. Each op is registered with

    defop(name, symbol, arity, forward, vjps)

* ``forward(*arrays, *params) -> (out, ctx)`` computes the op's output ``out`` (an ndarray)
  from the input arrays and any non-differentiable parameters (an axis, a shape, an index,
  the target of a loss), and returns ``ctx``: whatever the vjp rules need besides the inputs
  and the output (often the parameters themselves; for ``relu`` the mask of positive inputs).
  ``forward`` must not modify its inputs. It runs whether or not a graph is being recorded.
* ``vjps[i](g, out, ctx, *arrays) -> gradient for input i`` is the vector-Jacobian product
  (HIPS-autograd's ``defvjp`` style): given the gradient ``g`` of the output, return the
  gradient of input ``i``, with input ``i``'s shape. There is one rule per input, so the engine
  computes only the gradients that some leaf needs (the first layer of a network never
  computes the gradient of its input images). For variadic ops (``arity=None``:
  ``concatenate``, ``stack``) ``vjps`` is one function ``vjp(i, g, out, ctx, *arrays)``.

Rules for writing a vjp: return a new array (a different one for each input), ``g`` itself,
or a view of ``g``; never an array kept in ``ctx`` or one of the inputs. The engine may hand
the result to a leaf, whose ``.grad`` is later updated in place, and it copies only what it
must: ``g`` passed through to several inputs, the caller's gradient, and views. Never modify
``g`` or anything in ``ctx`` in place: ``backward()`` may run twice over the same graph.

dtypes follow NumPy: mixing float32 and float64 gives float64, and the tensor layer turns
Python scalars into 0-d arrays of the tensor's own dtype, so they never upcast float32.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

__all__ = ["Op", "OPS", "defop", "unbroadcast"]

Axes = Optional[tuple[int, ...]]

# The hot ops (linear, cross_entropy) call the ufunc reductions directly: np.sum / np.max /
# np.mean go through Python wrappers costing 1-3 us per call, which matters at batch size 32.
_add_reduce = np.add.reduce
_max_reduce = np.maximum.reduce


class Op:
    """One tensor primitive: name, the symbol a graph drawing shows, forward and vjp rules.

    ``vjps[i]`` is the vjp rule of input ``i`` (for a variadic op, the shared rule with ``i``
    bound), called as ``vjps[i](g, out, ctx, *arrays)``.
    """

    __slots__ = ("name", "symbol", "arity", "forward", "vjps")

    def __init__(
        self,
        name: str,
        symbol: str,
        arity: Optional[int],
        forward: Callable[..., tuple[np.ndarray, Any]],
        vjps: Union[Sequence[Callable[..., np.ndarray]], Callable[..., np.ndarray]],
    ) -> None:
        self.name, self.symbol, self.arity = name, symbol, arity
        self.forward = forward
        self.vjps = tuple(vjps) if arity is not None else _PerInput(vjps)

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


class _PerInput:
    """The vjp rules of a variadic op: ``vjps[i]`` is ``vjp(i, ...)``, one rule for every input."""

    __slots__ = ("vjp",)

    def __init__(self, vjp: Callable[..., np.ndarray]) -> None:
        self.vjp = vjp

    def __getitem__(self, i: int) -> Callable[..., np.ndarray]:
        return partial(self.vjp, i)


OPS: dict[str, Op] = {}  # name -> Op: the single definition of every tensor primitive


def defop(
    name: str,
    symbol: str,
    arity: Optional[int],
    forward: Callable[..., tuple[np.ndarray, Any]],
    vjps: Union[Sequence[Callable[..., np.ndarray]], Callable[..., np.ndarray]],
) -> Op:
    """Register a primitive (see the module docstring for the calling conventions)."""
    if name in OPS:
        raise ValueError(f"op {name!r} is already defined")
    if arity is not None and len(vjps) != arity:
        raise ValueError(f"op {name!r} has arity {arity} but {len(vjps)} vjp rules")
    OPS[name] = op = Op(name, symbol, arity, forward, vjps)
    return op


# ---------------------------------------------------------------------------------------------
# Helpers for the vjp rules
# ---------------------------------------------------------------------------------------------
def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to ``shape``: the gradient of NumPy broadcasting ``shape -> g.shape``.

    Broadcasting prepends axes and stretches axes of length 1; the gradient sums over both.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    g = np.sum(g, axis=axes, keepdims=True)
    return g.reshape(shape) if lead else g


def _expand(g: np.ndarray, ndim: int, axes: Axes, keepdims: bool) -> np.ndarray:
    """Re-insert the axes a reduction removed, so ``g`` broadcasts against its input."""
    if keepdims:
        return g
    if axes is None:
        return np.reshape(g, (1,) * ndim)
    return np.expand_dims(g, axes)


def _count(shape: tuple[int, ...], axes: Axes) -> int:
    """Number of elements a reduction over ``axes`` combines into each output element."""
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# Elementwise ops
# ---------------------------------------------------------------------------------------------
def _pow_vjp_base(g, out, ctx, a, b):
    # PyTorch's convention: the derivative is 0 where the exponent is 0 (even at a == 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        d = g * b * a ** (b - 1)
    return unbroadcast(np.where(b == 0, 0, d).astype(d.dtype, copy=False), a.shape)


def _pow_vjp_exponent(g, out, ctx, a, b):
    # PyTorch's convention: the derivative is 0 where a == 0 and b >= 0 (0 ** b is flat there).
    with np.errstate(divide="ignore", invalid="ignore"):
        d = g * out * np.log(a)
    return unbroadcast(np.where((a == 0) & (b >= 0), 0, d).astype(d.dtype, copy=False), b.shape)


def _sigmoid(a):
    # Numerically stable for any a: exp(-|a|) <= 1 never overflows, and e / (1 + e) keeps full
    # relative precision for very negative a (1 - sigmoid(-a) would round to 0).
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1, e) / (1 + e), None


def _relu(a):
    mask = a > 0
    return a * mask, mask  # the mask is reused by the vjp


# fmt: off
#              name       symbol  arity  forward(*arrays) -> (out, ctx)
ADD  = defop("add",      "+",     2, lambda a, b: (a + b, None), (
    lambda g, out, ctx, a, b: unbroadcast(g, a.shape),
    lambda g, out, ctx, a, b: unbroadcast(g, b.shape)))
SUB  = defop("sub",      "-",     2, lambda a, b: (a - b, None), (
    lambda g, out, ctx, a, b: unbroadcast(g, a.shape),
    lambda g, out, ctx, a, b: unbroadcast(-g, b.shape)))
MUL  = defop("mul",      "*",     2, lambda a, b: (a * b, None), (
    lambda g, out, ctx, a, b: unbroadcast(g * b, a.shape),
    lambda g, out, ctx, a, b: unbroadcast(g * a, b.shape)))
DIV  = defop("div",      "/",     2, lambda a, b: (a / b, None), (
    lambda g, out, ctx, a, b: unbroadcast(g / b, a.shape),
    lambda g, out, ctx, a, b: unbroadcast(-g * out / b, b.shape)))
POW  = defop("pow",      "**",    2, lambda a, b: (a ** b, None), (_pow_vjp_base, _pow_vjp_exponent))
NEG  = defop("neg",      "-",     1, lambda a: (-a, None), (lambda g, out, ctx, a: -g,))
EXP  = defop("exp",      "exp",   1, lambda a: (np.exp(a), None), (lambda g, out, ctx, a: g * out,))
LOG  = defop("log",      "log",   1, lambda a: (np.log(a), None), (lambda g, out, ctx, a: g / a,))
SQRT = defop("sqrt",     "sqrt",  1, lambda a: (np.sqrt(a), None), (lambda g, out, ctx, a: g / (out + out),))
TANH = defop("tanh",     "tanh",  1, lambda a: (np.tanh(a), None), (lambda g, out, ctx, a: g * (1 - out * out),))
SIGM = defop("sigmoid",  "sigmoid", 1, _sigmoid, (lambda g, out, ctx, a: g * (out * (1 - out)),))
RELU = defop("relu",     "ReLU",  1, _relu, (lambda g, out, mask, a: g * mask,))
ABS  = defop("abs",      "abs",   1, lambda a: (np.abs(a), None), (lambda g, out, ctx, a: g * np.sign(a),))
# fmt: on


# ---------------------------------------------------------------------------------------------
# Matrix products
# ---------------------------------------------------------------------------------------------
def _matmul_vjp(i: int, g, a, b):
    """Gradient of ``a @ b`` for input ``i``, following NumPy's rules for 1-D operands."""
    if a.ndim == 2 and b.ndim == 2:  # the common case, no reshaping
        return g @ b.T if i == 0 else a.T @ g
    if a.ndim == 1 and b.ndim == 1:  # inner product: g is a scalar
        return g * b if i == 0 else g * a
    # A 1-D operand is promoted to a matrix (a: prepend 1, b: append 1) and the axis dropped
    # from the result; undo that on g, then sum over broadcast batch dimensions.
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g
    if a.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    if b.ndim == 1:
        g2 = np.expand_dims(g2, -1)
    if i == 0:
        ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape)
        return ga.reshape(a.shape)
    gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape)
    return gb.reshape(b.shape)


MATMUL = defop("matmul", "@", 2, lambda a, b: (np.matmul(a, b), None), (
    lambda g, out, ctx, a, b: _matmul_vjp(0, g, a, b),
    lambda g, out, ctx, a, b: _matmul_vjp(1, g, a, b),
))


def _linear(x, w, b=None):
    out = np.matmul(x, w.T)  # w.T is a free view: BLAS reads the transposed layout directly
    if b is not None:
        if b.dtype == out.dtype:
            out += b  # out is a fresh array: add in place, no temporary
        else:
            out = out + b
    return out, None


def _linear_vjp_w(g, out, ctx, x, w, b=None):
    if x.ndim == 2:
        return g.T @ x
    return g.reshape(-1, w.shape[0]).T @ x.reshape(-1, w.shape[1])


def _linear_vjp_b(g, out, ctx, x, w, b):
    return _add_reduce(g if g.ndim == 2 else g.reshape(-1, w.shape[0]), axis=0)


#: ``x @ w.T + b`` as one node (PyTorch's ``F.linear``): the hot op of every MLP.
LINEAR = defop("linear", "linear", 3, _linear, (
    lambda g, out, ctx, x, w, b=None: g @ w,
    _linear_vjp_w,
    _linear_vjp_b,
))


# ---------------------------------------------------------------------------------------------
# Reductions. ctx = (axes, keepdims) with axes a tuple of non-negative ints or None (all).
# ---------------------------------------------------------------------------------------------
def _sum_vjp(g, out, ctx, a):
    axes, keepdims = ctx
    return np.broadcast_to(_expand(g, a.ndim, axes, keepdims), a.shape)


def _mean_vjp(g, out, ctx, a):
    axes, keepdims = ctx
    return np.broadcast_to(_expand(g, a.ndim, axes, keepdims) / _count(a.shape, axes), a.shape)


def _max_vjp(g, out, ctx, a):
    # The gradient goes to the positions of the maximum; ties share it equally (as
    # PyTorch's amax), so the gradient always sums to g.
    axes, keepdims = ctx
    mask = a == _expand(out, a.ndim, axes, keepdims)
    ties = np.sum(mask, axis=axes, keepdims=True, dtype=g.dtype)
    return _expand(g, a.ndim, axes, keepdims) * mask / ties


def _logsumexp(a, axes, keepdims):
    m = np.max(a, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(m.dtype, copy=False)  # all -inf (or inf) slices
    s = np.sum(np.exp(a - m), axis=axes, keepdims=True)
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf slice, as PyTorch
        out = np.log(s) + m
    if not keepdims:
        out = out.reshape([n for i, n in enumerate(out.shape) if axes is not None and i not in axes])
    return out, (axes, keepdims)


def _logsumexp_vjp(g, out, ctx, a):
    axes, keepdims = ctx
    return _expand(g, a.ndim, axes, keepdims) * np.exp(a - _expand(out, a.ndim, axes, keepdims))


def _reduction(fn: Callable[..., np.ndarray]) -> Callable[..., tuple[np.ndarray, Axes]]:
    """The forward rule of a NumPy reduction: ``fn(a, axis, keepdims)``, ctx ``(axes, keepdims)``."""
    return lambda a, axes, keepdims: (fn(a, axis=axes, keepdims=keepdims), (axes, keepdims))


SUM = defop("sum", "sum", 1, _reduction(np.sum), (_sum_vjp,))
MEAN = defop("mean", "mean", 1, _reduction(np.mean), (_mean_vjp,))
MAX = defop("max", "max", 1, _reduction(np.max), (_max_vjp,))
LOGSUMEXP = defop("logsumexp", "logsumexp", 1, _logsumexp, (_logsumexp_vjp,))


# ---------------------------------------------------------------------------------------------
# Softmax family (axis is one normalised int)
# ---------------------------------------------------------------------------------------------
def _softmax(a, axis):
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True), axis


def _log_softmax(a, axis):
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True)), axis


SOFTMAX = defop("softmax", "softmax", 1, _softmax, (
    lambda g, out, axis, a: out * (g - np.sum(g * out, axis=axis, keepdims=True)),
))
LOG_SOFTMAX = defop("log_softmax", "log_softmax", 1, _log_softmax, (
    lambda g, out, axis, a: g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),
))


# ---------------------------------------------------------------------------------------------
# Shape ops
# ---------------------------------------------------------------------------------------------
def _getitem_vjp(g, out, ctx, a):
    index, unique = ctx
    grad = np.zeros(a.shape, dtype=g.dtype)
    if unique:  # basic indexing / boolean masks: every element is selected at most once
        grad[index] = g
    else:  # integer arrays may repeat an element: accumulate, don't overwrite
        np.add.at(grad, index, g)
    return grad


def _concatenate(*args):
    *xs, axis = args
    out = np.concatenate(xs, axis=axis)
    axis = axis % out.ndim
    bounds = np.cumsum([0] + [x.shape[axis] for x in xs]).tolist()
    return out, (axis, bounds)


def _concatenate_vjp(i, g, out, ctx, *xs):
    axis, bounds = ctx
    return g[(slice(None),) * axis + (slice(bounds[i], bounds[i + 1]),)]


def _stack(*args):
    *xs, axis = args
    out = np.stack(xs, axis=axis)
    return out, axis % out.ndim


# fmt: off
RESHAPE   = defop("reshape",   "reshape", 1, lambda a, shape: (a.reshape(shape), None), (
    lambda g, out, ctx, a: g.reshape(a.shape),))
TRANSPOSE = defop("transpose", "T",       1, lambda a, axes: (a.transpose(axes), axes), (
    lambda g, out, axes, a: g.transpose(None if axes is None else np.argsort(axes)),))
GETITEM   = defop("getitem",   "[]",      1, lambda a, index, unique: (a[index], (index, unique)), (_getitem_vjp,))
CONCATENATE = defop("concatenate", "cat", None, _concatenate, _concatenate_vjp)
STACK     = defop("stack",     "stack",   None, _stack,
                  lambda i, g, out, axis, *xs: g[(slice(None),) * axis + (i,)])
# fmt: on


# ---------------------------------------------------------------------------------------------
# Fused losses (the target is a parameter: it receives no gradient)
# ---------------------------------------------------------------------------------------------
def _reduce_loss(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return _add_reduce(losses, axis=None) / losses.size  # nan for an empty batch, as PyTorch
    if reduction == "sum":
        return _add_reduce(losses, axis=None)
    return losses


def _loss_scale(g, n: int, reduction: str):
    """``g`` shaped to multiply the per-sample gradient rows: a 0-d g / N, g, or g[:, None]."""
    if reduction == "mean":
        return g / n
    if reduction == "sum":
        return g
    return g[:, None]


def _cross_entropy(z, target, reduction):
    """Softmax cross-entropy of logits ``z`` (N, C); target = labels (N,) or probabilities (N, C)."""
    n = z.shape[0]
    shifted = z - _max_reduce(z, axis=1, keepdims=True)
    e = np.exp(shifted)
    s = _add_reduce(e, axis=1, keepdims=True)
    if target.ndim == 1:  # class labels: loss_i = log(sum_c e_ic) - shifted_i,y_i
        losses = np.log(s[:, 0]) - shifted[np.arange(n), target]
    else:  # probabilities: loss_i = -sum_c t_ic * log_softmax_ic
        losses = -_add_reduce(target * (shifted - np.log(s)), axis=1)
    return _reduce_loss(losses, reduction), (e, s, target, reduction)


def _cross_entropy_vjp(g, out, ctx, z):
    # The whole softmax + log + NLL chain collapses to (softmax - target) * g / N: one op.
    e, s, target, reduction = ctx
    grad = e / s  # softmax, a fresh array we may modify
    n = z.shape[0]
    if target.ndim == 1:
        grad[np.arange(n), target] -= 1
    else:  # d/dz of -sum_c t_c log_softmax_c is softmax * sum_c t_c - t
        grad *= _add_reduce(target, axis=1, keepdims=True, dtype=grad.dtype)
        grad -= target
    grad *= _loss_scale(g, n, reduction)
    return grad


def _bce_with_logits(x, y, reduction):
    # max(x, 0) - x*y + log(1 + exp(-|x|)): never overflows, exact for large |x|
    losses = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    return _reduce_loss(losses, reduction), (y, reduction)


def _bce_with_logits_vjp(g, out, ctx, x):
    y, reduction = ctx
    sig, _ = _sigmoid(x)
    if reduction == "mean":
        return (sig - y) * (g / x.size)
    return (sig - y) * g


CROSS_ENTROPY = defop("cross_entropy", "cross_entropy", 1, _cross_entropy, (_cross_entropy_vjp,))
BCE_WITH_LOGITS = defop(
    "binary_cross_entropy_with_logits", "bce_logits", 1, _bce_with_logits, (_bce_with_logits_vjp,)
)
