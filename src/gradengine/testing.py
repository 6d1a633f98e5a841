"""Test derivatives the way gradengine tests its own: hypothesis strategies plus helpers.

Needs ``hypothesis`` (``pip install hypothesis``; it comes with ``gradengine[dev]``).

* :data:`SMOOTH` says, for every op of the scalar op table, where it is differentiable and well
  conditioned (central differences are only meaningful there), and :func:`op_args` draws
  operands from that region.
* :func:`expressions` draws random expression trees over the op table; :func:`evaluate`
  computes one on ``Value`` objects, PyTorch tensors or anything with the same method names,
  and :func:`is_smooth_at` tells whether a built graph stays inside every op's smooth region.
* :func:`check_gradients` checks a function of floats with :func:`gradengine.gradcheck`.

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
from typing import Any, Callable, Sequence, Union

try:
    from hypothesis import strategies as st
except ImportError as e:  # pragma: no cover - exercised only without the dev extra
    raise ImportError("gradengine.testing needs hypothesis: pip install hypothesis (or gradengine[dev])") from e

from .engine import OPS, Value, _node
from .gradcheck import gradcheck

__all__ = [
    "SMOOTH", "CALL", "finite_floats", "op_args", "expressions", "evaluate", "apply_op",
    "is_smooth_at", "check_gradients", "assert_close",
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
    return _node(op, a, b)


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
    f: Callable[..., Any], *args: float, atol: float = 1e-5, rtol: float = 1e-4, **kw: Any
) -> bool:
    """``gradcheck(f, *args)`` with tolerances suited to smooth float64 functions."""
    return gradcheck(f, *args, atol=atol, rtol=rtol, **kw)


def assert_close(actual: float, expected: float, *, rtol: float = 1e-9, atol: float = 1e-12, what: str = "") -> None:
    """Assert two floats agree to ``atol + rtol*|expected|`` (nan matches nan, inf matches inf)."""
    if math.isnan(expected) and math.isnan(actual):
        return
    if actual == expected:
        return
    if not abs(actual - expected) <= atol + rtol * abs(expected):
        raise AssertionError(f"{what or 'value'}: got {actual!r}, expected {expected!r}")

