"""The scalar autograd engine: ``Value``, micrograd's model with every op from one table.

A ``Value`` holds a float (``data``), the gradient of the last ``backward()`` (``grad``), the
``Op`` that made it and its one or two operands (``_a``, ``_b``). The ops and their derivative rules are not
written here: each is one record in :mod:`gradengine.ops`, shared with the tensor engine, and
``Value``'s methods are built from those records in one loop at the end of this module.
``backward()`` is the shared reverse pass of :mod:`gradengine.autograd`: iterative (no
recursion limit), deterministic, and able to record the gradient itself as a graph
(``create_graph=True``), so derivatives of any order come from the same rules.

Memory: a node is one slotted object with no closure and no reference cycle, so a graph is
freed by reference counting the moment it is no longer used.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Callable, Iterable, Optional, Sequence, Union

from .autograd import OPS as _ALL_OPS, Node, Op, backprop, check_forward
from .grad_mode import GradMode
from .ops import POW, POWC, install_methods

__all__ = ["Value", "Op", "OPS", "sum", "mean", "dot"]

Number = Union[int, float]

#: The ops of the scalar engine (every op with a float forward), by name.
OPS: dict[str, Op] = {name: op for name, op in _ALL_OPS.items() if op.scalar is not None}


def _check_real(data: object, where: str) -> float:
    if isinstance(data, Real):  # int, float, bool and NumPy real scalars
        return float(data)
    hint = "; use .detach() for a copy without history" if isinstance(data, Value) else ""
    raise TypeError(f"{where} expects a real number, got {type(data).__name__}: {data!r:.60}{hint}")


class Value(Node):
    """A scalar that remembers how it was computed, so it can be differentiated.

    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> c = a * b + a.exp()
    >>> c.backward()
    >>> a.grad, b.grad   # (b + exp(a), a)
    (4.38905609893065, 2.0)

    Comparisons (``<``, ``<=``, ``>``, ``>=``) compare ``data`` like floats; ``==`` stays
    identity (as micrograd), so Values can be dict keys and set members.
    """

    # Operands in two slots rather than a tuple: one object per node for the cyclic garbage
    # collector to track instead of two, which keeps training fast with the collector on.
    __slots__ = ("data", "grad", "_label", "_op", "_a", "_b", "_params")

    def __init__(self, data: Number, *, label: str = "") -> None:
        self.data = _check_real(data, "Value()")
        self.grad: Union[float, "Value"] = 0.0
        self._label = label
        self._op: Optional[Op] = None
        self._a: Optional[Value] = None
        self._b: Optional[Value] = None
        self._params: tuple = ()

    # -- graph structure ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        """A name shown in graph drawings (empty unless set; computed nodes start unnamed)."""
        try:
            return self._label
        except AttributeError:  # the slot is left empty when a node is made: one store less
            return ""

    @label.setter
    def label(self, text: str) -> None:
        self._label = text

    @property
    def op(self) -> Optional[Op]:
        """The op that produced this value, or None for a leaf (an input or a constant)."""
        return self._op

    @property
    def children(self) -> tuple["Value", ...]:
        """The operands this value was computed from, in order (empty for a leaf)."""
        return self._prev

    @property
    def _prev(self) -> tuple["Value", ...]:
        a, b = self._a, self._b
        return () if a is None else (a,) if b is None else (a, b)

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def requires_grad(self) -> bool:
        """False only for the constants a number becomes inside an expression (the ``0.01``
        of ``0.01 * x``); every other Value takes part in differentiation. Read-only."""
        return self._params is not _CONSTANT

    def detach(self) -> "Value":
        """A new leaf with the same data and no history: gradients do not flow through it."""
        return Value(self.data, label=self.label)

    # -- arithmetic ---------------------------------------------------------------------------
    # Built from the op table at the end of this module: + - * / (and reflected), unary -,
    # exp log sqrt tanh sigmoid relu abs sin cos. Only ** is written out: a Value exponent and
    # a number exponent are different ops.
    def __pow__(self, other: Union["Value", Number]) -> "Value":
        """``self ** other``: a number exponent is a constant (op ``powc``), a Value one is
        differentiated too (op ``pow``)."""
        if other.__class__ is Value:
            return _node(POW, POW.scalar(self.data, other.data), self, other)
        if isinstance(other, Real):
            c = float(other)
            return _node(POWC, POWC.scalar(self.data, c), self, None, (c,))
        return NotImplemented

    def __rpow__(self, other: Number) -> "Value":
        """``other ** self`` for a number base."""
        if isinstance(other, Real):
            return Value(other) ** self
        return NotImplemented

    def log10(self) -> "Value":
        """Base-10 logarithm, ``log(self) / log(10)``."""
        return self.log() / math.log(10.0)

    def log2(self) -> "Value":
        """Base-2 logarithm, ``log(self) / log(2)``."""
        return self.log() / math.log(2.0)

    def __lt__(self, other: object) -> bool:
        return self.data < _data(other)

    def __le__(self, other: object) -> bool:
        return self.data <= _data(other)

    def __gt__(self, other: object) -> bool:
        return self.data > _data(other)

    def __ge__(self, other: object) -> bool:
        return self.data >= _data(other)

    __hash__ = object.__hash__

    def __float__(self) -> float:
        return self.data

    def __round__(self, ndigits: Optional[int] = None) -> Number:
        """``round(v)`` rounds the data, as ``round(float)``; it is not differentiable."""
        return round(self.data, ndigits)

    def item(self) -> float:
        """The data as a Python float (as ``Tensor.item()``)."""
        return self.data

    def __repr__(self) -> str:
        lbl = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data}, grad={self.grad}{lbl})"

    # -- backpropagation ----------------------------------------------------------------------
    def backward(self, gradient: Union[Number, "Value"] = 1.0, *, create_graph: bool = False) -> None:
        """Backpropagate from this value: every node it depends on gets ``d(self)/d(node)``.

        Leaves accumulate into ``grad``, as in PyTorch, so set ``grad = 0.0`` between steps
        (``Module.zero_grad()`` does that for a model's parameters). Intermediate nodes get
        this pass's gradient (replacing the previous one), so calling ``backward()`` twice on
        the same graph gives the leaves the gradient twice, exactly as
        ``backward(retain_graph=True)`` twice does in PyTorch.

        With ``create_graph=True`` the gradients are themselves ``Value`` graphs, so
        ``x.grad.backward()`` (or :func:`gradengine.grad`) differentiates again.

        Raises RuntimeError if this value was computed with recording off (``no_grad()``) and
        so has no graph, as PyTorch does; a leaf's backward just adds ``gradient`` to it.
        """
        seed = gradient if isinstance(gradient, Value) else _check_real(gradient, "backward(gradient)")
        if self._params is _NO_GRAD:
            raise RuntimeError(
                "backward() on a Value computed under no_grad(): it has no graph to differentiate"
            )
        for node, g in backprop(self, seed, create_graph=create_graph).items():
            node.grad = node.grad + g if node._op is None else g

    def _backward(self, g, create_graph: bool):
        """The chain rule at this node: the ``(operand, gradient)`` pairs it sends back."""
        vjps, a, b = self._op.vjps, self._a, self._b
        if create_graph:  # on nodes: the gradients are graphs (constants become Values)
            params = self._params
            return tuple((p, _as_value(rule(g, self, *self._prev, *params))) for p, rule in zip(self._prev, vjps))
        if b is not None:  # the common case first: a binary op, no constants
            x, y, out = a.data, b.data, self.data
            return ((a, vjps[0](g, out, x, y)), (b, vjps[1](g, out, x, y)))
        params = self._params
        return ((a, vjps[0](g, self.data, a.data, *params) if params else vjps[0](g, self.data, a.data)),)

    @staticmethod
    def _dispatch(op: Op, args: Sequence, params: Sequence = ()) -> "Value":
        """Apply ``op`` to Values and numbers (numbers become constants): used by ``op(...)``."""
        if op.scalar is None:
            raise TypeError(f"op {op.name!r} works on Tensors, not on Values")
        prev = tuple(a if a.__class__ is Value else _lift(_check_real(a, op.name)) for a in args)
        a, b = prev if len(prev) == 2 else (prev[0], None)
        return _node(op, op.scalar(*[p.data for p in prev], *params), a, b, tuple(params))

    def _fit(self, g):
        return g


def _node(op: Op, data: float, a: Value, b: Optional[Value] = None, params: tuple = ()) -> Value:
    """Make the output node of ``op``: the one place the scalar engine creates a node.

    Under ``no_grad()`` the node records nothing (and is marked so, for ``backward()``).
    """
    out = _new(Value)  # no __init__: the fields are set here
    out.data = data
    out.grad = 0.0
    if GradMode.enabled:  # one store a statement: a 4-way unpacking would build a tuple per node
        out._op = op
        out._a = a
        out._b = b
        out._params = params
    else:
        out._op = out._a = out._b = None
        out._params = _NO_GRAD
    if GradMode.anomaly:
        check_forward(op, (a,) if b is None else (a, b), data)
    return out


_new = object.__new__
_NO_GRAD = ("no_grad",)  # the params of a node made with recording off: it has no graph
_CONSTANT = ("constant",)  # the params of a number lifted into an expression


def _as_value(x: Union[Value, float]) -> Value:
    return x if x.__class__ is Value else Value(x)


def _data(x: Union[Value, float]) -> float:
    return x.data if isinstance(x, Value) else x


def _lift(x: object) -> Optional[Value]:
    """A Python/NumPy real number as a constant leaf; None for anything else."""
    if not isinstance(x, Real):
        return None
    c = Value(x)
    c._params = _CONSTANT
    return c


# ---------------------------------------------------------------------------------------------
# Methods built from the op table, one loop, one method per record
# ---------------------------------------------------------------------------------------------
def _unary(op: Op) -> Callable[[Value], Value]:
    f = op.scalar

    def method(self: Value) -> Value:
        return _node(op, f(self.data), self)

    return method


def _binary(op: Op, reflected: bool = False) -> Callable[[Value, object], Value]:
    f = op.scalar

    def method(self: Value, other: object) -> Value:
        if other.__class__ is not Value:
            other = _lift(other)
            if other is None:
                return NotImplemented
        if reflected:
            return _node(op, f(other.data, self.data), other, self)
        return _node(op, f(self.data, other.data), self, other)

    return method


install_methods(Value, _unary, _binary)


# ---------------------------------------------------------------------------------------------
# Helpers over many Values
# ---------------------------------------------------------------------------------------------
def sum(values: Iterable[Union[Value, Number]], start: Union[Value, Number] = 0.0) -> Value:  # noqa: A001
    """``start + v0 + v1 + ...`` as a Value (a chain of ``add`` nodes, like ``builtins.sum``)."""
    values = list(values)
    if not values:
        return start if isinstance(start, Value) else Value(start)
    if isinstance(start, Real) and start == 0:
        total, values = values[0], values[1:]
        total = total if isinstance(total, Value) else Value(total)
    else:
        total = start if isinstance(start, Value) else Value(start)
    for v in values:
        total = total + v
    return total


def mean(values: Iterable[Union[Value, Number]]) -> Value:
    """The arithmetic mean of a non-empty sequence of Values."""
    values = list(values)
    if not values:
        raise ValueError("mean() of an empty sequence")
    return sum(values) * (1.0 / len(values))


def dot(xs: Sequence[Union[Value, Number]], ys: Sequence[Union[Value, Number]]) -> Value:
    """``sum(x * y for x, y in zip(xs, ys))``; the sequences must have the same length."""
    if len(xs) != len(ys):
        raise ValueError(f"dot() needs sequences of the same length, got {len(xs)} and {len(ys)}")
    return sum(x * y for x, y in zip(xs, ys))
