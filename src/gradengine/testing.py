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

from .engine import OPS, Value
from .gradcheck import gradcheck
from .tensor import Tensor

__all__ = [
    "SMOOTH", "CALL", "finite_floats", "op_args", "expressions", "evaluate", "apply_op",
    "is_smooth_at", "check_gradients", "assert_close",
    "shapes", "arrays", "broadcast_pair", "away_from_zero", "axis_args", "check_vs_torch", "to_torch",
]


def finite_floats(lo: float = -10.0, hi: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in ``[lo, hi]`` (no nan, no inf)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _far_from_zero(x: float, margin: float = 1e-2) -> bool:
    return abs(x) > margin


# Where each op is smooth: predicate over its operands' data (a, b); b is None or a constant.
SMOOTH: dict[str, Callable[[float, Any], bool]] = {
    "add": lambda a, b: True,
    "sub": lambda a, b: True,
    "mul": lambda a, b: True,
    "div": lambda a, b: abs(b) > 0.1,
    "pow": lambda a, b: a > 0.1,
    "powc": lambda a, c: a > 0.1 or (float(c).is_integer() and c >= 0),
    "neg": lambda a, b: True,
    "exp": lambda a, b: a < 20.0,
    "log": lambda a, b: a > 0.1,
    "sqrt": lambda a, b: a > 0.1,
    "tanh": lambda a, b: True,
    "sigmoid": lambda a, b: True,
    "relu": lambda a, b: _far_from_zero(a),
    "abs": lambda a, b: _far_from_zero(a),
    "sin": lambda a, b: True,
    "cos": lambda a, b: True,
    "identity": lambda a, b: True,
}

# How each op is called through the public API. Values, PyTorch tensors and NumPy-like objects
# share these method names, so one expression can be evaluated by several engines.
CALL: dict[str, Callable[..., Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
    "powc": operator.pow,
    "neg": operator.neg,
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "sqrt": lambda a: a.sqrt(),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
    "abs": lambda a: abs(a),
    "sin": lambda a: a.sin(),
    "cos": lambda a: a.cos(),
    "identity": lambda a: a,
}

_BINARY = {name for name, op in OPS.items() if op.arity == 2}
_POWC_EXPONENTS = st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0])


def apply_op(name: str, a: Union[Value, float], b: Union[Value, float, None] = None) -> Value:
    """Apply op ``name`` of the op table directly (also ops without a method, like ``identity``).

    Numbers are lifted to constant Values, except the constant of a unary op (``powc``'s exponent).
    """
    op = OPS[name]
    a = a if isinstance(a, Value) else Value(a)
    if op.arity == 2 and not isinstance(b, Value):
        b = Value(b)
    return op.make(a, b)


@st.composite
def op_args(draw: Callable, name: str) -> tuple:
    """Operands for op ``name`` inside its smooth region: ``(a,)``, ``(a, b)`` or ``(a, const)``."""
    smooth = SMOOTH[name]
    if name == "powc":
        c = draw(_POWC_EXPONENTS)
        a = draw(finite_floats(0.2, 5.0) if not c.is_integer() or c < 0 else finite_floats(-5.0, 5.0))
        return (a, c)
    lo, hi = {"exp": (-10.0, 5.0), "pow": (0.2, 5.0), "log": (0.2, 50.0), "sqrt": (0.2, 50.0)}.get(name, (-5.0, 5.0))
    a = draw(finite_floats(lo, hi).filter(lambda x: smooth(x, None)) if name not in _BINARY else finite_floats(lo, hi))
    if name not in _BINARY:
        return (a,)
    b = draw(finite_floats(-3.0, 3.0).filter(lambda y: smooth(a, y)))
    return (a, b)


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
    leaves = st.one_of(st.integers(0, n_vars - 1), finite_floats(-2.0, 2.0).map(lambda c: round(c, 2)))

    def extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        def node(name: str) -> st.SearchStrategy[Tree]:
            if name == "powc":
                return st.tuples(st.just(name), children, _POWC_EXPONENTS)
            if name in _BINARY:
                return st.tuples(st.just(name), children, children)
            return st.tuples(st.just(name), children)

        return st.sampled_from(names).flatmap(node)

    # A tree whose leaves are all constants is still a valid expression (its gradient is zero).
    return st.recursive(leaves, extend, max_leaves=max_leaves)


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
        b = children[1].data if len(children) == 2 else v._b
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


def check_vs_torch(
    fn: Callable[..., Tensor],
    torch_fn: Callable[..., Any],
    *inputs: np.ndarray,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    seed: int = 0,
    differentiable: Optional[Sequence[bool]] = None,
) -> None:
    """Compare ``fn`` (on Tensors) and ``torch_fn`` (on torch float64 tensors): the output, and
    the gradient of every input for a random output gradient ``v``."""
    import torch

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
