"""Test derivatives the way gradengine tests its own: hypothesis strategies plus helpers.

Needs ``hypothesis`` (``pip install hypothesis``; it comes with ``gradengine[dev]``).

* :data:`SMOOTH` says, for every op of the scalar op table, where it is differentiable and well
  conditioned (central differences are only meaningful there), and :func:`op_args` draws
  operands from that region.
* :func:`expressions` draws random expression trees over the op table; :func:`evaluate`
  computes one on ``Value`` objects, PyTorch tensors or anything with the same method names,
  and :func:`is_smooth_at` tells whether a built graph stays inside every op's smooth region.
* :func:`check_gradients` checks a function of floats or of float64 arrays with
  :func:`gradengine.gradcheck`.
* For the tensor engine: :func:`shapes`, :func:`arrays`, :func:`broadcast_pair`,
  :func:`away_from_zero` and :func:`axis_args` draw float64 operands (broadcasting pairs
  included), and :func:`check_vs_torch` compares values and vector-Jacobian products with
  PyTorch float64 (needs torch).

Example, testing your own function (see ``notebooks/04_property_testing.ipynb``)::

    from hypothesis import given
    from gradengine.testing import finite_floats, check_gradients

    def softplus(x):
        return (1 + x.exp()).log()

    @given(finite_floats(-20, 20))
    def test_softplus(x):
        check_gradients(softplus, x)
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the dev extra
    raise ImportError("gradengine.testing needs hypothesis: pip install hypothesis (or gradengine[dev])") from e

from .autograd import Op
from .engine import OPS, Value
from .gradcheck import gradcheck, gradgradcheck
from .tensor import Tensor

__all__ = [
    "SMOOTH", "CALL", "finite_floats", "op_args", "expressions", "evaluate", "apply_op",
    "is_smooth_at", "check_gradients", "check_grads", "assert_close",
    "shapes", "arrays", "broadcast_pair", "away_from_zero", "axis_args", "check_vs_torch", "to_torch",
]


def finite_floats(lo: float = -10.0, hi: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in ``[lo, hi]`` (no nan, no inf)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _smooth(op: Op) -> Callable[..., bool]:
    dom = op.domain
    if op.nin == 2:
        return lambda a, b: dom.contains(a, b)
    return lambda a, c=None: dom.contains(a) if c is None else dom.contains(a, c)


def _call(op: Op) -> Callable[..., Any]:
    """How op is called through the public API (the same for Values, Tensors and torch)."""
    if op.method is None:  # identity: no method, the op itself
        return lambda a: a
    if op.method.startswith("__"):
        return getattr(operator, op.method.strip("_"))
    return lambda *a: getattr(a[0], op.method)(*a[1:])


#: Where each scalar op is smooth: ``SMOOTH[name](a, b)`` with b the second operand, the
#: constant (``powc``'s exponent) or None. Generated from each op record's ``domain``.
SMOOTH: dict[str, Callable[..., bool]] = {name: _smooth(op) for name, op in OPS.items()}

#: How each scalar op is called through the public API; Values, PyTorch tensors and NumPy-like
#: objects share these names, so one expression can be evaluated by several engines.
CALL: dict[str, Callable[..., Any]] = {name: _call(op) for name, op in OPS.items()}

_BINARY = {name for name, op in OPS.items() if op.nin == 2}


def apply_op(name: str, a: Union[Value, float], b: Union[Value, float, None] = None) -> Value:
    """Apply op ``name`` of the op table directly (also ops without a method, like ``identity``).

    Numbers are lifted to constant Values, except the constant of a unary op (``powc``'s exponent).
    """
    op = OPS[name]
    a = a if isinstance(a, Value) else Value(a)
    return op(a, b) if op.nin == 2 or b is not None else op(a)


@st.composite
def op_args(draw: Callable, name: str) -> tuple:
    """Operands for op ``name`` inside its smooth region (its record's ``domain``):
    ``(a,)``, ``(a, b)`` or ``(a, constant)``."""
    op = OPS[name]
    dom = op.domain
    if dom.params:
        c = draw(st.sampled_from(dom.params))
        a = draw(finite_floats(*dom.ranges[0]).filter(lambda x: dom.contains(x, c)))
        return (a, c)
    xs: list = []
    for i, (lo, hi) in enumerate(dom.ranges):
        x = draw(finite_floats(lo, hi).filter(lambda x, i=i: dom.avoid[i] is None or abs(x - dom.avoid[i]) > dom.margin))
        xs.append(x)
    return tuple(xs)


# ---------------------------------------------------------------------------------------------
# Random expression trees
# ---------------------------------------------------------------------------------------------
Tree = Union[int, float, tuple]  # variable index | constant | (op name, child[, child or exponent])


def expressions(n_vars: int = 2, max_leaves: int = 8, ops: Sequence[str] | None = None) -> st.SearchStrategy[Tree]:
    """Random expression trees over the op table with variables ``0 .. n_vars-1``.

    A tree is a variable index (int), a constant (float), or ``(op_name, child, ...)``; ``powc``
    nodes carry their exponent as the second item. Evaluate with :func:`evaluate`.
    """
    names = sorted(n for n in (ops or OPS) if n != "identity")
    powc_exponents = st.sampled_from(OPS["powc"].domain.params)
    leaves = st.one_of(st.integers(0, n_vars - 1), finite_floats(-2.0, 2.0).map(lambda c: round(c, 2)))

    def extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        def node(name: str) -> st.SearchStrategy[Tree]:
            if name == "powc":
                return st.tuples(st.just(name), children, powc_exponents)
            if name in _BINARY:
                return st.tuples(st.just(name), children, children)
            return st.tuples(st.just(name), children)

        return st.sampled_from(names).flatmap(node)

    # A tree whose leaves are all constants is still a valid expression (its gradient is zero),
    # but never a bare constant: evaluate() always returns a Value.
    return st.recursive(leaves, extend, max_leaves=max_leaves).filter(lambda t: not isinstance(t, float))


def evaluate(tree: Tree, variables: Sequence[Any], constant: Callable[[float], Any] = float) -> Any:
    """Evaluate ``tree`` with ``variables[i]`` for variable ``i`` (Values, torch tensors, ...).

    Iterative, so very deep trees are fine. ``constant`` turns a constant leaf into the engine's
    type when an op needs one (e.g. ``lambda c: torch.tensor(c, dtype=torch.float64)``).
    """
    results: list[Any] = []
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        t, expanded = stack.pop()
        if isinstance(t, bool) or not isinstance(t, (int, float, tuple)):
            raise TypeError(f"not an expression tree: {t!r}")
        if isinstance(t, int):
            results.append(variables[t])
        elif isinstance(t, float):
            results.append(constant(t))
        elif not expanded:
            stack.append((t, True))
            children = t[1:2] if t[0] == "powc" else t[1:]  # powc's exponent is not a subtree
            stack += [(child, False) for child in reversed(children)]
        else:
            n = 1 if t[0] == "powc" else len(t) - 1
            args = results[-n:]
            del results[-n:]
            if all(_is_number(x) for x in args):  # only constants: lift one to the engine's type
                args[0] = Value(args[0]) if constant is float else constant(args[0])
            if t[0] == "powc":
                args.append(t[2])
            results.append(CALL[t[0]](*args))
    return results[0]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float))


def is_smooth_at(root: Any, *, max_abs: float = 1e6) -> bool:
    """True if every op in ``root``'s graph is inside its :data:`SMOOTH` region and every
    intermediate value is finite and at most ``max_abs`` in size."""
    if not isinstance(root, Value):
        return _is_number(root) and math.isfinite(root)
    seen, stack = {root}, [root]
    while stack:
        v = stack.pop()
        if not (math.isfinite(v.data) and abs(v.data) <= max_abs):
            return False
        if v.op is None:
            continue
        children = v.children
        b = children[1].data if len(children) == 2 else (v._params[0] if v._params else None)
        if not SMOOTH[v.op.name](children[0].data, b):
            return False
        for c in children:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return True


def check_gradients(
    f: Callable[..., Any], *args: Any, atol: float = 1e-5, rtol: float = 1e-4, **kw: Any
) -> bool:
    """``gradcheck(f, *args)`` with tolerances suited to smooth float64 functions; ``args`` are
    floats/Values (scalar engine) or float64 arrays/Tensors (tensor engine)."""
    return gradcheck(f, *args, atol=atol, rtol=rtol, **kw)


def check_grads(
    f: Callable[..., Any], *args: Any, modes: Sequence[str] = ("fwd", "rev"), order: int = 2,
    eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0,
) -> bool:
    """Check ``f``'s derivatives up to ``order`` in forward and/or reverse mode (HIPS autograd's
    ``check_grads``), against central differences in float64.

    ``"rev"``: :func:`gradengine.gradcheck`, and for ``order >= 2``
    :func:`gradengine.gradgradcheck` (second derivatives, also w.r.t. the incoming gradient).
    ``"fwd"``: ``jvp`` along a random tangent against the numeric directional derivative; for
    higher orders the same check on ``x -> jvp(f, x, t)``. ``args`` are floats or float64 arrays.
    """
    from .func import jvp

    bad = set(modes) - {"fwd", "rev"}
    if bad or not modes:
        raise ValueError(f"check_grads: modes must be a subset of ('fwd', 'rev'), got {tuple(modes)!r}")
    if order < 1:
        raise ValueError(f"check_grads: order must be at least 1, got {order}")
    if "rev" in modes:
        gradcheck(f, *args, eps=eps, atol=atol, rtol=rtol, seed=seed)
        if order >= 2:
            gradgradcheck(f, *args, eps=eps, atol=atol, rtol=rtol, seed=seed)
        if order >= 3:  # the same checks, one order down, on x -> <grad f(x), w>
            from .func import grad

            rng = np.random.default_rng(seed + 7)
            ws = [rng.standard_normal(np.shape(getattr(a, "data", a))) for a in args]

            def grad_dot_w(*xs: Any) -> Any:
                gs = grad(f, tuple(range(len(xs))))(*xs)
                terms = [g * float(w) if isinstance(g, Value) else (g * w).sum() for g, w in zip(gs, ws)]
                return sum(terms[1:], terms[0])

            check_grads(grad_dot_w, *args, modes=("rev",), order=order - 1, eps=eps, atol=atol, rtol=rtol, seed=seed)
    if "fwd" in modes:
        rng = np.random.default_rng(seed)
        raw = [np.asarray(getattr(a, "data", a), dtype=np.float64) for a in args]
        tangents = [rng.standard_normal(a.shape) if a.ndim else float(rng.standard_normal()) for a in raw]
        prim = [a if a.ndim else float(a) for a in raw]
        f_of_raw = lambda *xs: f(*[_lift_arg(x) for x in xs])  # noqa: E731  (numbers in: nodes for f)
        for k in range(order):
            _, analytic = jvp(f_of_raw, prim, tangents)
            plus = [p + eps * t for p, t in zip(prim, tangents)]
            minus = [p - eps * t for p, t in zip(prim, tangents)]
            numeric = (np.asarray(_data_of(f_of_raw(*plus))) - np.asarray(_data_of(f_of_raw(*minus)))) / (2 * eps)
            if not np.allclose(np.asarray(analytic, dtype=np.float64), numeric, atol=atol, rtol=rtol, equal_nan=True):
                raise AssertionError(
                    f"check_grads: forward mode, order {k + 1}: jvp {np.asarray(analytic)!r} vs numeric {numeric!r}"
                )
            f_of_raw = (lambda g: lambda *xs: jvp(g, xs, tangents)[1])(f_of_raw)
    return True


def _data_of(x: Any) -> Any:
    return x.data if isinstance(x, (Value, Tensor)) else x


def _lift_arg(x: Any) -> Any:
    """A raw float or array as a constant node, so ``f`` can call methods on it."""
    if isinstance(x, (Value, Tensor)):
        return x
    return Value(x) if isinstance(x, float) else Tensor(np.asarray(x, dtype=np.float64))


def assert_close(actual: float, expected: float, *, rtol: float = 1e-9, atol: float = 1e-12, what: str = "") -> None:
    """Assert two floats agree to ``atol + rtol*|expected|`` (nan matches nan, inf matches inf)."""
    if math.isnan(expected) and math.isnan(actual):
        return
    if actual == expected:
        return
    if not abs(actual - expected) <= atol + rtol * abs(expected):
        raise AssertionError(f"{what or 'value'}: got {actual!r}, expected {expected!r}")


# ---------------------------------------------------------------------------------------------
# The tensor engine: float64 operands (gradient checks need float64)
# ---------------------------------------------------------------------------------------------
def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Array shapes; small by default so finite differences stay fast."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape: Any, lo: float = -3.0, hi: float = 3.0, unique: bool = False) -> st.SearchStrategy:
    """float64 arrays of ``shape`` (a shape or a strategy of shapes) with elements in [lo, hi].

    With ``unique=True`` the elements are distinct multiples of 1/16, so any two differ by
    far more than a finite-difference step (1e-83 and 1e-115 are distinct, but not usefully).
    """
    if unique:
        elements = st.integers(int(np.ceil(lo * 16)), int(np.floor(hi * 16))).map(lambda i: i / 16)
    else:
        elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(np.float64, shape, elements=elements, unique=unique)


def away_from_zero(shape: Any, lo: float = 0.2, hi: float = 3.0) -> st.SearchStrategy:
    """float64 arrays with ``lo <= |x| <= hi`` (either sign): for ops with a kink or pole at 0."""
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(lambda s: away_from_zero(s, lo, hi))
    return st.tuples(arrays(shape, lo, hi), hnp.arrays(np.bool_, shape)).map(lambda t: np.where(t[1], -t[0], t[0]))


@st.composite
def broadcast_pair(draw, lo: float = -3.0, hi: float = 3.0, max_dims: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two float64 arrays whose shapes broadcast together, in either direction (a may be
    smaller than b, or b smaller than a, or both stretched)."""
    shapes_ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=3))
    a = draw(arrays(shapes_.input_shapes[0], lo, hi))
    b = draw(arrays(shapes_.input_shapes[1], lo, hi))
    return a, b


@st.composite
def axis_args(draw, ndim: int) -> tuple[Any, bool]:
    """``(axis, keepdims)`` for a reduction over an ``ndim``-D array: None, an int (maybe
    negative) or a non-empty tuple of distinct axes."""
    keepdims = draw(st.booleans())
    if ndim == 0:
        return None, keepdims
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None, keepdims
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1)), keepdims
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(axes), keepdims


def to_torch(a: np.ndarray, requires_grad: bool = True) -> Any:
    """``a`` as a float64 PyTorch tensor (needs torch)."""
    import torch

    return torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad)


_torch_warm = False


def _warm_torch() -> None:
    """Import torch and run one tiny backward, so the first check in a test is not slowed by
    torch's start-up (which trips hypothesis' default 200 ms deadline)."""
    global _torch_warm
    if not _torch_warm:
        import torch

        x = torch.ones(2, dtype=torch.float64, requires_grad=True)
        y = x * x
        y.backward(torch.ones_like(y))  # an explicit gradient: torch imports sympy on first use
        _torch_warm = True


def __getattr__(name: str) -> Any:
    # ``from gradengine.testing import check_vs_torch`` warms torch up at import time, not
    # inside the first (timed) hypothesis example; without torch it raises ImportError there.
    if name == "check_vs_torch":
        _warm_torch()
        return _check_vs_torch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_vs_torch(
    fn: Callable[..., Tensor],
    torch_fn: Callable[..., Any],
    *inputs: np.ndarray,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    seed: int = 0,
    differentiable: Optional[Sequence[bool]] = None,
) -> None:
    """Compare ``fn`` (on Tensors) and ``torch_fn`` (on torch float64 tensors): the output, and
    the gradient of every input for a random output gradient ``v``. Needs torch; importing it
    from this module warms torch up, so it works under ``@given`` with default settings."""
    import torch

    _warm_torch()
    differentiable = differentiable or [True] * len(inputs)
    ours = [Tensor(x, requires_grad=d) for x, d in zip(inputs, differentiable)]
    theirs = [to_torch(x, d) for x, d in zip(inputs, differentiable)]
    out, tout = fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    assert out.shape == tuple(tout.shape)
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(v)
    tout.backward(torch.tensor(v))
    for i, (a, b, d) in enumerate(zip(ours, theirs, differentiable)):
        if not d:
            continue
        expected = b.grad.numpy() if b.grad is not None else np.zeros(a.shape)
        got = a.grad if a.grad is not None else np.zeros(a.shape)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
