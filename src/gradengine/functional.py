"""Functions on tensors, PyTorch's ``torch.nn.functional`` style: ``import gradengine.functional as F``.

Activations, ``linear``, ``dropout`` and the losses. ``cross_entropy`` and
``binary_cross_entropy_with_logits`` are single fused ops (one node, one vjp rule) that are
numerically stable for any logits; the other losses are built from the primitive ops, so
their graphs show each step.

Every function accepts a ``Tensor`` or anything ``Tensor`` accepts (ndarray, list, number) as
its input; non-Tensor inputs are constants (no gradient). Targets never receive gradients.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from .tensor import Tensor, _apply, _wrap, concatenate, stack
from .tensor_ops import BCE_WITH_LOGITS, CROSS_ENTROPY, LINEAR

__all__ = [
    "linear", "relu", "tanh", "sigmoid", "softmax", "log_softmax", "logsumexp", "dropout",
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
    "concatenate", "stack",
]

TensorLike = Union[Tensor, np.ndarray, float, list]
_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: TensorLike) -> Tensor:
    """``x`` as a Tensor: Tensors as they are, ndarrays wrapped without copying."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return _wrap(x)
    return Tensor(x)


# ---------------------------------------------------------------------------------------------
# Layers and activations
# ---------------------------------------------------------------------------------------------
def linear(x: TensorLike, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``x @ weight.T + bias`` as one op (PyTorch's ``F.linear``).

    ``x`` has shape ``(..., in_features)``, ``weight`` ``(out_features, in_features)``,
    ``bias`` ``(out_features,)``; the result has shape ``(..., out_features)``.
    """
    x, weight = _tensor(x), _tensor(weight)
    w_shape = weight.data.shape
    if len(w_shape) != 2 or x.data.ndim == 0 or x.data.shape[-1] != w_shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {w_shape} "
            f"(expected input (..., {w_shape[-1] if w_shape else '?'}) and a 2-D weight (out, in))"
        )
    if bias is None:
        return _apply(LINEAR, (x, weight))
    bias = _tensor(bias)
    if bias.data.shape != (w_shape[0],):
        raise ValueError(
            f"linear: bias of shape {bias.shape} does not fit weight of shape {w_shape}; expected ({w_shape[0]},)"
        )
    return _apply(LINEAR, (x, weight, bias))


def relu(x: TensorLike) -> Tensor:
    """``max(x, 0)`` elementwise."""
    return _tensor(x).relu()


def tanh(x: TensorLike) -> Tensor:
    return _tensor(x).tanh()


def sigmoid(x: TensorLike) -> Tensor:
    """``1 / (1 + exp(-x))``, stable for any x."""
    return _tensor(x).sigmoid()


def softmax(x: TensorLike, axis: int = -1) -> Tensor:
    return _tensor(x).softmax(axis)


def log_softmax(x: TensorLike, axis: int = -1) -> Tensor:
    return _tensor(x).log_softmax(axis)


def logsumexp(x: TensorLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _tensor(x).logsumexp(axis, keepdims)


def dropout(
    x: TensorLike,
    p: float = 0.5,
    training: bool = True,
    rng: Optional[np.random.Generator] = None,
) -> Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)``, so the expected value is unchanged. Identity when ``training`` is False.
    ``rng`` (a ``np.random.Generator``) makes the mask reproducible; None uses NumPy's global
    RNG (seeded by ``np.random.seed``)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = _tensor(x)
    if not training or p == 0.0:
        return x
    if x.data.dtype.kind != "f":
        raise TypeError(f"dropout needs a floating-point tensor, got dtype {x.dtype}")
    if p == 1.0:
        return x * np.zeros(x.shape, dtype=x.dtype)
    uniform = np.random.random_sample(x.shape) if rng is None else rng.random(x.shape, dtype=np.float32)
    keep = uniform >= p
    return x * np.multiply(keep, 1.0 / (1.0 - p), dtype=x.dtype)


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
def _check_reduction(reduction: str, fn: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _array(target: Any) -> np.ndarray:
    return target.data if isinstance(target, Tensor) else np.asarray(target)


def _check_logits(x: Tensor, fn: str) -> None:
    if x.data.ndim != 2:
        raise ValueError(f"{fn}: input must have shape (N, C) (a batch of scores), got shape {x.shape}")
    if x.data.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point, got dtype {x.dtype}")


def _check_labels(target: np.ndarray, n: int, c: int, fn: str) -> None:
    if target.shape != (n,):
        raise ValueError(f"{fn}: class labels must have shape ({n},) for input of shape ({n}, {c}), got {target.shape}")
    if n and (np.minimum.reduce(target) < 0 or np.maximum.reduce(target) >= c):
        bad = target[(target < 0) | (target >= c)][0]
        raise IndexError(f"{fn}: class label {bad} is out of range for {c} classes (labels must be in [0, {c - 1}])")


def cross_entropy(input: TensorLike, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``input`` (N, C), fused into one op.

    ``target`` is either integer class labels, shape ``(N,)`` with values in ``[0, C)``
    (an ndarray, a list or an integer Tensor), or class probabilities / one-hot rows, float,
    shape ``(N, C)``. The forward pass uses the log-sum-exp trick (no overflow for any logits);
    the backward pass is the single expression ``(softmax(input) - target) / N``.
    ``reduction``: ``"mean"`` (over the batch), ``"sum"`` or ``"none"`` (per-sample losses).
    """
    _check_reduction(reduction, "cross_entropy")
    x = _tensor(input)
    _check_logits(x, "cross_entropy")
    n, c = x.data.shape
    t = _array(target)
    if t.dtype.kind in "iu":
        _check_labels(t, n, c, "cross_entropy")
    elif t.dtype.kind == "f":
        if t.shape != (n, c):
            raise ValueError(
                f"cross_entropy: probability targets must have the input's shape ({n}, {c}), got {t.shape}"
            )
        t = t.astype(x.data.dtype, copy=False)
    else:
        raise TypeError(
            f"cross_entropy: target must be integer class labels or float probabilities, got dtype {t.dtype}"
        )
    return _apply(CROSS_ENTROPY, (x,), t, reduction)


def nll_loss(input: TensorLike, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C) at integer labels ``target``
    (N,): ``-input[i, target[i]]``, averaged (or summed) over the batch. Built from primitives:
    ``cross_entropy(x, y) == nll_loss(log_softmax(x), y)``."""
    _check_reduction(reduction, "nll_loss")
    x = _tensor(input)
    _check_logits(x, "nll_loss")
    n, c = x.data.shape
    t = _array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must be integer class labels, got dtype {t.dtype}")
    _check_labels(t, n, c, "nll_loss")
    picked = -x[np.arange(n), t]
    return picked if reduction == "none" else picked.mean() if reduction == "mean" else picked.sum()


def mse_loss(input: TensorLike, target: TensorLike, reduction: str = "mean") -> Tensor:
    """Mean squared error ``mean((input - target) ** 2)``; shapes must match. The target may be
    a Tensor requiring grad (then it receives a gradient too)."""
    _check_reduction(reduction, "mse_loss")
    x, y = _tensor(input), _tensor(target)
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: input shape {x.shape} and target shape {y.shape} must be equal")
    d = x - y
    sq = d * d
    return sq if reduction == "none" else sq.mean() if reduction == "mean" else sq.sum()


def binary_cross_entropy_with_logits(input: TensorLike, target: Any, reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable op:
    ``max(x, 0) - x * y + log(1 + exp(-|x|))``, finite even for logits like ±1000.
    ``target`` holds probabilities in [0, 1] with the input's shape."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    x = _tensor(input)
    if x.data.dtype.kind != "f":
        raise TypeError(f"binary_cross_entropy_with_logits: input must be floating point, got dtype {x.dtype}")
    t = _array(target)
    if t.shape != x.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target shape {t.shape} must equal input shape {x.shape}"
        )
    if t.dtype.kind not in "biuf":
        raise TypeError(f"binary_cross_entropy_with_logits: target must be numeric, got dtype {t.dtype}")
    return _apply(BCE_WITH_LOGITS, (x,), t.astype(x.data.dtype, copy=False), reduction)
