"""``gradcheck``: compare backpropagation with central finite differences, in float64.

Works for the scalar engine (float / ``Value`` inputs) and the tensor engine (float64
``Tensor`` / ``ndarray`` inputs). For a non-scalar output it checks the vector-Jacobian
product with a fixed random vector ``v``: the analytic ``d(v . f)/dx`` from ``backward(v)``
against ``(v . f(x + eps) - v . f(x - eps)) / (2 eps)`` for every element of every input.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .engine import Value
from .grad_mode import no_grad
from .tensor import Tensor

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Backpropagation disagrees with finite differences; the message names input and element."""

    def __init__(self, message: str, *, input_index: int, element: tuple, analytic: float, numeric: float):
        super().__init__(message)
        self.input_index, self.element = input_index, element
        self.analytic, self.numeric = analytic, numeric


def _as_leaf(x: Any, i: int) -> Any:
    """Input ``i`` as a differentiable float64 leaf (a Value or a Tensor)."""
    if isinstance(x, Value):
        return x if x.is_leaf else x.detach()
    if isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool):
        return Value(x)
    if isinstance(x, np.ndarray):
        x = Tensor(x)
    if isinstance(x, Tensor):
        if x.dtype != np.float64:
            raise TypeError(
                f"gradcheck needs float64 inputs for accurate finite differences: input {i} is "
                f"{x.dtype}; pass np.float64 data (e.g. Tensor(arr.astype(np.float64)))"
            )
        leaf = x.detach()
        leaf.requires_grad = True
        return leaf
    raise TypeError(f"gradcheck input {i} must be a number, Value, ndarray or Tensor, got {type(x).__name__}")


def _project(out: Any, v: np.ndarray) -> float:
    """``v . out`` as a float (the scalar whose gradient is checked)."""
    return float(np.sum(np.asarray(out.data if hasattr(out, "data") else out, dtype=np.float64) * v))


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check ``f``'s gradients at ``inputs`` against central differences in float64.

    Returns True, or raises :class:`GradcheckError` naming the first input and element whose
    analytic gradient ``a`` and numeric gradient ``n`` differ by more than ``atol + rtol*|n|``.
    ``f`` may return a ``Value``, a number, or a ``Tensor`` of any shape. The inputs' data is
    restored afterwards.

    >>> gradcheck(lambda x, y: (x * y).tanh(), 0.3, -1.2)
    True
    """
    if not inputs:
        raise ValueError("gradcheck needs at least one input")
    leaves = [_as_leaf(x, i) for i, x in enumerate(inputs)]
    out = f(*leaves)
    out_data = np.asarray(getattr(out, "data", out), dtype=np.float64)
    v = np.random.default_rng(seed).standard_normal(out_data.shape) if out_data.ndim else np.float64(1.0)

    for leaf in leaves:
        leaf.grad = 0.0 if isinstance(leaf, Value) else None
    if isinstance(out, Value):
        out.backward(float(v))
    elif hasattr(out, "backward"):
        out.backward(v.astype(out_data.dtype))
    # else: f returned a constant, so every analytic gradient is zero.

    originals = [leaf.data for leaf in leaves]
    try:
        for i, leaf in enumerate(leaves):
            analytic = np.zeros_like(out_data, shape=np.shape(originals[i]))
            if leaf.grad is not None:
                analytic = np.asarray(leaf.grad, dtype=np.float64)
            base = np.array(originals[i], dtype=np.float64)
            for idx in np.ndindex(base.shape):
                numeric = _central_difference(f, leaves, i, base, idx, v, eps)
                a = float(analytic[idx])
                if not (abs(a - numeric) <= atol + rtol * abs(numeric) or (np.isnan(a) and np.isnan(numeric))):
                    where = f" element {idx}" if idx else ""
                    raise GradcheckError(
                        f"gradcheck failed for input {i}{where}: analytic gradient {a!r} vs numeric "
                        f"{numeric!r} (difference {abs(a - numeric):.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|)",
                        input_index=i, element=idx, analytic=a, numeric=numeric,
                    )
    finally:
        for leaf, data in zip(leaves, originals):
            leaf.data = data
    return True


def _central_difference(f, leaves, i, base, idx, v, eps) -> float:
    """``d(v . f)/dx[idx]`` for input ``i`` by central differences; input ``i`` is left as found."""
    leaf = leaves[i]
    original = leaf.data
    vals = []
    try:
        for step in (eps, -eps):
            x = base.copy()
            x[idx] += step
            leaf.data = float(x) if isinstance(leaf, Value) else x
            with no_grad():
                vals.append(_project(f(*leaves), v))
    finally:
        leaf.data = original
    return (vals[0] - vals[1]) / (2.0 * eps)
