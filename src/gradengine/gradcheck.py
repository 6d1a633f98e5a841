"""``gradcheck`` and ``gradgradcheck``: derivatives against central finite differences, in float64.

Both work for the scalar engine (float / ``Value`` inputs) and the tensor engine (float64
``Tensor`` / ``ndarray`` inputs). For an output that is not a scalar, ``gradcheck`` checks the
vector-Jacobian product with a fixed random vector ``v``: the analytic ``d(v . f)/dx`` from
one backward pass against ``(v . f(x + eps) - v . f(x - eps)) / (2 eps)`` for every element of
every input. ``gradgradcheck`` does the same for the gradient itself, as a function of the
inputs and of the incoming gradient ``v``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from .autograd import Node, backprop
from .engine import Value
from .grad_mode import no_grad, set_grad_enabled
from .tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Backpropagation disagrees with finite differences; the message names input and element."""

    def __init__(self, message: str, *, input_index: int, element: tuple, analytic: float, numeric: float):
        super().__init__(message)
        self.input_index, self.element = input_index, element
        self.analytic, self.numeric = analytic, numeric


def _as_leaf(x: Any, i: int, where: str) -> Node:
    """Input ``i`` as a differentiable float64 leaf (a Value or a Tensor)."""
    if isinstance(x, Value):
        return Value(x.data)
    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        return Value(x)
    if isinstance(x, np.ndarray):
        x = Tensor(x)
    if isinstance(x, Tensor):
        if x.dtype != np.float64:
            raise TypeError(
                f"{where} needs float64 inputs for accurate finite differences: input {i} is "
                f"{x.dtype}; pass np.float64 data (e.g. Tensor(arr.astype(np.float64)))"
            )
        return Tensor(x.data, requires_grad=True)
    raise TypeError(f"{where} input {i} must be a number, Value, ndarray or Tensor, got {type(x).__name__}")


def _output(out: Any, where: str) -> Any:
    """``f``'s output, checked: a Value or a Tensor computed from the inputs."""
    if isinstance(out, (Value, Tensor)):
        return out
    if isinstance(out, (tuple, list)):
        raise TypeError(
            f"{where} needs f to return one Value or Tensor, got a {type(out).__name__} of "
            f"{len(out)}; check each output separately (or a weighted sum of them)"
        )
    raise TypeError(
        f"{where} needs f to return a Value or a Tensor computed from its inputs, got "
        f"{type(out).__name__} {out!r:.40}; a plain number has no graph to check (was .data, "
        "float() or .item() used inside f?)"
    )


def _project(out: Any, v: np.ndarray) -> float:
    """``v . out`` as a float (the scalar whose gradient is checked)."""
    return float(np.sum(np.asarray(getattr(out, "data", out), dtype=np.float64) * v))


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check ``f``'s first derivatives at ``inputs`` against central differences in float64.

    Returns True, or raises :class:`GradcheckError` naming the first input and element whose
    analytic gradient ``a`` and numeric gradient ``n`` differ by more than ``atol + rtol*|n|``.
    ``f`` must return a ``Value`` or a ``Tensor`` of any shape computed from its inputs; a
    tuple, a list or a plain number is a TypeError. Gradients are recorded even inside
    ``no_grad()``. The inputs are not modified.

    >>> gradcheck(lambda x, y: (x * y).tanh(), 0.3, -1.2)
    True
    """
    return _check(f, inputs, eps, atol, rtol, seed, "gradcheck")


def _check(f, inputs, eps, atol, rtol, seed, where, extra=None, incoming=None) -> bool:
    if not inputs:
        raise ValueError(f"{where} needs at least one input")
    leaves = [_as_leaf(x, i, where) for i, x in enumerate(inputs)]
    with set_grad_enabled(True):
        out = _output(f(*leaves), where)
    out_data = np.asarray(out.data, dtype=np.float64)
    v = np.random.default_rng(seed).standard_normal(out_data.shape) if out_data.ndim else np.float64(1.0)
    seed_ = float(v) if isinstance(out, Value) else v.astype(out_data.dtype)
    with set_grad_enabled(True):
        grads = backprop(out, seed_, create_graph=False)
    analytic = [np.zeros(np.shape(leaf.data)) + np.asarray(grads.get(leaf, 0.0), dtype=np.float64) for leaf in leaves]
    for i, leaf in enumerate(leaves):
        base = np.array(leaf.data, dtype=np.float64)
        for idx in np.ndindex(base.shape):
            numeric = _central_difference(f, leaves, i, base, idx, v, eps)
            a = float(analytic[i][idx])
            _compare(a, numeric, i, idx, atol, rtol, where, name="the incoming gradient" if i == incoming else None)
    if extra is not None:
        extra(leaves, v)
    return True


def _compare(a: float, numeric: float, i: int, idx: tuple, atol: float, rtol: float, where: str,
             what: str = "gradient", name: Optional[str] = None) -> None:
    if abs(a - numeric) <= atol + rtol * abs(numeric) or (np.isnan(a) and np.isnan(numeric)):
        return
    at = f" element {idx}" if idx else ""
    raise GradcheckError(
        f"{where} failed for {name or f'input {i}'}{at}: analytic {what} {a!r} vs numeric {numeric!r} "
        f"(difference {abs(a - numeric):.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|)",
        input_index=i, element=idx, analytic=a, numeric=numeric,
    )


def _central_difference(f, leaves, i, base, idx, v, eps) -> float:
    """``d(v . f)/dx[idx]`` for input ``i`` by central differences; the leaves are not modified."""
    vals = []
    for step in (eps, -eps):
        x = base.copy()
        x[idx] += step
        args = list(leaves)
        args[i] = Value(float(x)) if isinstance(leaves[i], Value) else Tensor(x)
        with no_grad():
            vals.append(_project(_output(f(*args), "gradcheck"), v))
    return (vals[0] - vals[1]) / (2.0 * eps)


def gradgradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check ``f``'s second derivatives at ``inputs`` against central differences of the first.

    The gradient ``x, u -> J(x)^T u`` (recorded with ``create_graph``) is itself checked with
    :func:`gradcheck`, w.r.t. the inputs ``x`` and the incoming gradient ``u``; and its
    derivative w.r.t. ``u`` is checked against ``J w`` from central differences of ``f``
    itself, so a vjp rule that is not linear in ``u``, or not the transpose of ``f``'s
    derivative, fails. Returns True or raises :class:`GradcheckError`.

    >>> import numpy as np
    >>> gradgradcheck(lambda w: (w @ w.T).tanh().sum(), np.ones((2, 3)))
    True
    """
    gradcheck(f, *inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
    leaves = [_as_leaf(x, i, "gradgradcheck") for i, x in enumerate(inputs)]
    with set_grad_enabled(True):
        out = _output(f(*leaves), "gradgradcheck")
    rng = np.random.default_rng(seed + 1)
    out_shape = np.shape(out.data)
    u0 = np.asarray(rng.standard_normal(out_shape)) if isinstance(out, Tensor) else float(rng.standard_normal())
    ws = [rng.standard_normal(np.shape(leaf.data)) for leaf in leaves]
    n = len(inputs)

    def vjp_projected(*args: Any) -> Any:
        """``sum_i <w_i, (J(x)^T u)_i>``: a scalar function of the inputs and of ``u``."""
        xs = [x if isinstance(x, Value) or x.requires_grad else Tensor(x.data, requires_grad=True) for x in args[:n]]
        u = args[n]
        with set_grad_enabled(True):  # the gradient is computed even for the numeric side
            y = f(*xs)
        if not isinstance(y, Node):
            return 0.0
        grads = backprop(y, u, create_graph=True)
        total = 0.0
        for x, w in zip(xs, ws):
            g = grads.get(x, 0.0)
            total = total + (g * w if isinstance(x, Value) else (g * w).sum() if isinstance(g, Tensor) else float(np.sum(g * w)))
        return total

    def against_f(leaves_: list, v: Any) -> None:
        """d/du of vjp_projected is J w: compare with central differences of f along w."""
        xs, u = leaves_[:n], leaves_[n]
        with set_grad_enabled(True):
            s = vjp_projected(*xs, u)
        du = backprop(s, 1.0, create_graph=False).get(u, 0.0) if isinstance(s, Node) else 0.0
        du = np.asarray(getattr(du, "data", du), dtype=np.float64) * np.ones(out_shape)
        plus = [Value(x.data + eps * float(w)) if isinstance(x, Value) else Tensor(x.data + eps * w) for x, w in zip(xs, ws)]
        minus = [Value(x.data - eps * float(w)) if isinstance(x, Value) else Tensor(x.data - eps * w) for x, w in zip(xs, ws)]
        with no_grad():
            jw = (np.asarray(getattr(f(*plus), "data", 0.0), dtype=np.float64)
                  - np.asarray(getattr(f(*minus), "data", 0.0), dtype=np.float64)) / (2 * eps)
        for idx in np.ndindex(out_shape):
            _compare(float(du[idx]), float(jw[idx]), n, idx, atol, rtol, "gradgradcheck",
                     "d(vjp)/d(incoming gradient)", name="the incoming gradient")

    return _check(vjp_projected, tuple(inputs) + (u0,), eps, atol, rtol, seed, "gradgradcheck", extra=against_f, incoming=n)
