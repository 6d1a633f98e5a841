"""The scalar autograd engine: ``Value`` and the table of ops it is built from.

A ``Value`` holds a float (``data``), the gradient of the last ``backward()`` (``grad``), its
operands and the ``Op`` that made it. Each op is defined exactly once, below, as

* a **forward** function on floats, following IEEE-754 / PyTorch float64 semantics
  (``log(-1) = nan``, ``log(0) = -inf``, ``0 ** -1 = inf``, ``exp(1000) = inf``: never an
  exception from deep inside an op), and
* a **vjp** rule ``vjp(g, a, b, out)``: given the gradient ``g`` of the op's output, return the
  gradient of its operand(s). ``a`` and ``b`` are the operands (for unary ops ``b`` is ``None``,
  or the op's constant such as the exponent of ``x ** 2``), ``out`` the result.

A vjp rule is written with ordinary arithmetic and the generic helpers ``div``, ``pow``,
``log``, ``sin``, ``cos``, so the same rule runs on floats (``backward()``: fast, no graph) and
on ``Value`` objects (``backward(create_graph=True)`` and ``grad``: the gradient is itself a
graph, so it can be differentiated again, to any order).

Memory and speed: a node is one slotted object with no per-node closure, tuple or reference
cycle, so a graph is freed by reference counting the moment it is no longer used, and Python's
cyclic garbage collector has almost nothing to do. ``backward()`` is iterative (no recursion
limit) and visits nodes in a deterministic order.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from .grad_mode import GradMode, set_grad_enabled

__all__ = ["Value", "Op", "OPS", "grad", "value_and_grad", "sum", "mean", "dot"]

Number = Union[int, float]
inf, nan = math.inf, math.nan


# ---------------------------------------------------------------------------------------------
# IEEE-754 float functions. Python's own float ops raise (ZeroDivisionError, OverflowError,
# ValueError) or return complex numbers where IEEE-754 and PyTorch give inf or nan.
# ---------------------------------------------------------------------------------------------
def _fdiv(x: float, y: float) -> float:
    try:
        return x / y
    except ZeroDivisionError:  # x / ±0
        if x == 0.0 or x != x:
            return nan
        return math.copysign(inf, x) * math.copysign(1.0, y)


def _is_odd_integer(y: float) -> bool:
    return y == y and abs(y) != inf and y == math.floor(y) and y % 2.0 == 1.0


def _fpow(x: float, y: float) -> float:
    try:
        r = x**y
    except ZeroDivisionError:  # ±0 ** negative
        return math.copysign(inf, x) if _is_odd_integer(y) else inf
    except OverflowError:
        return -inf if x < 0.0 and _is_odd_integer(y) else inf
    return nan if r.__class__ is complex else r  # negative ** fractional


def _fexp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return inf


def _flog(x: float) -> float:
    if x > 0.0:
        return math.log(x)
    return -inf if x == 0.0 else nan


def _fsqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else nan


def _fsigmoid(x: float) -> float:
    if x >= 0.0:  # exp(-x) <= 1: cannot overflow
        return 1.0 / (1.0 + math.exp(-x))
    e = _fexp(x)  # x < 0 (or nan): exp(x) <= 1
    return e / (1.0 + e)


def _periodic(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        return fn(x) if abs(x) != inf else nan  # math.sin(inf) raises; IEEE says nan

    f.__name__ = fn.__name__
    return f


_fsin, _fcos = _periodic(math.sin), _periodic(math.cos)


# ---------------------------------------------------------------------------------------------
# Generic helpers used by the vjp rules: floats in, float out; any Value in, Value out (a graph).
# ---------------------------------------------------------------------------------------------
def _data(x: Union["Value", float]) -> float:
    return x.data if isinstance(x, Value) else x


def div(x, y):
    return x / y if isinstance(x, Value) or isinstance(y, Value) else _fdiv(x, y)


def pow(x, y):  # noqa: A001 - mirrors math.pow
    return x**y if isinstance(x, Value) or isinstance(y, Value) else _fpow(x, y)


def log(x):
    return x.log() if isinstance(x, Value) else _flog(x)


def sin(x):
    return x.sin() if isinstance(x, Value) else _fsin(x)


def cos(x):
    return x.cos() if isinstance(x, Value) else _fcos(x)


def sign(x) -> float:
    """Sign of x as a constant (the derivative of ``sign`` is zero wherever it exists)."""
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


# ---------------------------------------------------------------------------------------------
# The op table
# ---------------------------------------------------------------------------------------------
_new = object.__new__


def _constructor(op: "Op") -> Callable[..., "Value"]:
    """The function that makes ``op``'s output nodes: the one place the engine creates a node.

    It is installed directly as the op's method (``Value.__mul__`` is the ``mul`` op's
    constructor), so an operator costs a single Python call. For a binary op, ``b`` is the
    second operand: a number is lifted to a constant leaf, anything else gives
    ``NotImplemented`` (so Python raises its usual TypeError). For a unary op, ``b`` is the
    op's constant (the exponent of ``x ** 2``) or None.
    """
    forward, binary = op.forward, op.arity == 2

    def make(a: "Value", b: Any = None) -> "Value":
        if binary:
            if b.__class__ is not Value:
                b = _lift(b)
                if b is None:
                    return NotImplemented
            data = forward(a.data, b.data)
        else:
            data = forward(a.data, b)
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out._n = 0
        if GradMode.enabled:
            out._op, out._a, out._b = op, a, b
        else:
            out._op = out._a = out._b = None
        return out

    make.__name__ = op.name
    make.__doc__ = (f"``self {op.symbol} other``" if binary else f"Elementwise {op.name}") + f" (op {op.name!r})."
    return make


class Op:
    """One primitive: its name, the symbol a graph drawing shows, forward and vjp rules."""

    __slots__ = ("name", "symbol", "arity", "forward", "vjp", "make")

    def __init__(self, name: str, symbol: str, arity: int, forward: Callable, vjp: Callable):
        self.name, self.symbol, self.arity = name, symbol, arity
        self.forward, self.vjp = forward, vjp
        self.make = _constructor(self)  # builds this op's output nodes (see _constructor)

    def label(self, b: object = None) -> str:
        """The text a graph node shows, e.g. ``*``, ``exp`` or ``**2`` for a constant exponent."""
        return f"{self.symbol}{b:g}" if isinstance(b, float) else self.symbol

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}  # name -> Op: the single definition of every primitive


def defop(name: str, symbol: str, arity: int, forward: Callable, vjp: Callable) -> Op:
    """Register a primitive. Adding an op to the engine is one call here plus its method."""
    if name in OPS:
        raise ValueError(f"op {name!r} is already defined")
    OPS[name] = op = Op(name, symbol, arity, forward, vjp)
    return op


def _pow_vjp(g, a, b, out):
    # At a == 0 the formulas give 0 * inf; there, like PyTorch, d/da is 0 where b == 0 and
    # d/db is 0 where b >= 0. The masks apply only there, so that elsewhere the derivative
    # stays a function of b too and can be differentiated again.
    ga = 0.0 if _data(b) == 0.0 and _data(a) == 0.0 else g * b * pow(a, b - 1.0)
    gb = 0.0 if _data(a) == 0.0 and _data(b) >= 0.0 else g * out * log(a)
    return ga, gb


# fmt: off
#            name       symbol   arity forward                  vjp(g, a, b, out) -> d/da[, d/db]
ADD   = defop("add",     "+",      2, lambda a, b: a + b,      lambda g, a, b, out: (g, g))
SUB   = defop("sub",     "-",      2, lambda a, b: a - b,      lambda g, a, b, out: (g, -g))
MUL   = defop("mul",     "*",      2, lambda a, b: a * b,      lambda g, a, b, out: (g * b, g * a))
DIV   = defop("div",     "/",      2, _fdiv,                   lambda g, a, b, out: (div(g, b), -div(g * out, b)))
POW   = defop("pow",     "**",     2, _fpow,                   _pow_vjp)
POWC  = defop("powc",    "**",     1, _fpow,                   lambda g, a, c, out: 0.0 if c == 0.0 else g * c * pow(a, c - 1.0))
NEG   = defop("neg",     "-",      1, lambda a, _: -a,         lambda g, a, _, out: -g)
EXP   = defop("exp",     "exp",    1, lambda a, _: _fexp(a),   lambda g, a, _, out: g * out)
LOG   = defop("log",     "log",    1, lambda a, _: _flog(a),   lambda g, a, _, out: div(g, a))
SQRT  = defop("sqrt",    "sqrt",   1, lambda a, _: _fsqrt(a),  lambda g, a, _, out: div(g, 2.0 * out))
TANH  = defop("tanh",    "tanh",   1, lambda a, _: math.tanh(a), lambda g, a, _, out: g * (1.0 - out * out))
SIGM  = defop("sigmoid", "sigmoid", 1, lambda a, _: _fsigmoid(a), lambda g, a, _, out: g * out * (1.0 - out))
RELU  = defop("relu",    "ReLU",   1, lambda a, _: 0.0 if a <= 0.0 else a, lambda g, a, _, out: g if out > 0.0 else 0.0)
ABS   = defop("abs",     "abs",    1, lambda a, _: abs(a),     lambda g, a, _, out: g * sign(a))
SIN   = defop("sin",     "sin",    1, lambda a, _: _fsin(a),   lambda g, a, _, out: g * cos(a))
COS   = defop("cos",     "cos",    1, lambda a, _: _fcos(a),   lambda g, a, _, out: -g * sin(a))
IDENT = defop("identity", "id",    1, lambda a, _: a,          lambda g, a, _, out: g)
# fmt: on


# ---------------------------------------------------------------------------------------------
# Value
# ---------------------------------------------------------------------------------------------
def _check_real(data: object, where: str) -> float:
    if isinstance(data, Real):  # int, float, bool and NumPy real scalars
        return float(data)
    hint = "; use .detach() for a copy without history" if isinstance(data, Value) else ""
    raise TypeError(f"{where} expects a real number, got {type(data).__name__}: {data!r:.60}{hint}")


class Value:
    """A scalar that remembers how it was computed, so it can be differentiated.

    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> c = a * b + a.exp()
    >>> c.backward()
    >>> a.grad, b.grad   # (b + exp(a), a)
    (4.38905609893065, 2.0)
    """

    __slots__ = ("data", "grad", "_label", "_op", "_a", "_b", "_n")

    def __init__(self, data: Number, *, label: str = "") -> None:
        self.data = _check_real(data, "Value()")
        self.grad: Union[float, "Value"] = 0.0
        self._label = label
        self._op: Optional[Op] = None
        self._a: Optional[Value] = None
        self._b: Union[Value, float, None] = None
        self._n = 0  # backward's count of consumers still to send a gradient; 0 between passes

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
        if self._a is None:
            return ()
        return (self._a, self._b) if self._b.__class__ is Value else (self._a,)

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    def detach(self) -> "Value":
        """A new leaf with the same data and no history: gradients do not flow through it."""
        return Value(self.data, label=self.label)

    # -- arithmetic ---------------------------------------------------------------------------
    # The methods are generated from the op table at the end of this module:
    # __add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __neg__
    # exp log sqrt tanh sigmoid relu abs/__abs__ sin cos. Only ** is written out, because
    # a Value exponent and a number exponent are different ops.
    def __pow__(self, other: Union["Value", Number]) -> "Value":
        if other.__class__ is Value:
            return POW.make(self, other)
        if isinstance(other, Real):
            return POWC.make(self, float(other))
        return NotImplemented

    def __rpow__(self, other: Number) -> "Value":
        if isinstance(other, Real):
            return POW.make(Value(other), self)
        return NotImplemented

    # Comparisons look at the data (like ``float``); equality stays identity so Values can be
    # dict keys and set members.
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

    def item(self) -> float:
        """The data as a Python float (as ``Tensor.item()``)."""
        return self.data

    def __repr__(self) -> str:
        lbl = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data}, grad={self.grad}{lbl})"

    # -- backpropagation ----------------------------------------------------------------------
    def backward(self, gradient: Union[Number, "Value"] = 1.0, *, create_graph: bool = False) -> None:
        """Backpropagate from this value, accumulating d(self)/d(leaf) into every leaf's ``grad``.

        Leaves accumulate, as in PyTorch: call ``zero_grad()`` (or set ``grad = 0``) between
        steps. Intermediate nodes get this pass's gradient (it replaces the previous one), so
        calling ``backward()`` twice on the same graph is well defined: the leaves receive the
        gradient twice, exactly as ``backward(retain_graph=True)`` twice does in PyTorch, and
        nothing is freed by the first call (a scalar graph keeps only the nodes themselves).

        With ``create_graph=True`` the gradients are themselves ``Value`` graphs, so
        ``x.grad.backward()`` (or :func:`grad`) differentiates again.
        """
        seed = gradient if isinstance(gradient, Value) else _check_real(gradient, "backward(gradient)")
        if create_graph:
            grads = _backprop(self, seed, create_graph=True)
            for node, g in grads.items():
                node.grad = node.grad + g if node._op is None else g
            return
        _count_consumers(self, reset_grads=True)
        self.grad += seed
        ready = [self]
        push, pop = ready.append, ready.pop
        try:
            while ready:  # a node is ready once every consumer has sent it its gradient
                v = pop()
                op = v._op
                if op is None:
                    continue
                a, b = v._a, v._b
                if b.__class__ is Value:
                    ga, gb = op.vjp(v.grad, a.data, b.data, v.data)
                    a.grad += ga
                    b.grad += gb
                    b._n -= 1
                    if b._n == 0:
                        push(b)
                else:
                    a.grad += op.vjp(v.grad, a.data, b, v.data)
                a._n -= 1
                if a._n == 0:
                    push(a)
        except BaseException:
            _reset_consumers(self)  # leave every count at 0, as between passes
            raise


def _count_consumers(root: Value, *, reset_grads: bool, stop: frozenset = frozenset()) -> None:
    """Set ``_n`` of every node ``root`` depends on to its number of consumers in that graph.

    Iterative (a graph may be a million nodes deep). Every ``_n`` is 0 between passes, and a
    pass counts each node down to 0 again as it sends gradients. With ``reset_grads``,
    intermediate nodes' ``grad`` is zeroed: it belongs to one backward pass, while leaves
    accumulate across passes. Nodes in ``stop`` are treated as leaves.
    """
    stack = [root]
    push, pop = stack.append, stack.pop
    while stack:
        v = pop()
        a = v._a
        if a is None or (stop and v in stop):
            continue
        if reset_grads:
            v.grad = 0.0
        a._n += 1
        if a._n == 1:
            push(a)
        b = v._b
        if b.__class__ is Value:
            b._n += 1
            if b._n == 1:
                push(b)


def _reset_consumers(root: Value) -> None:
    """After an interrupted pass (an exception, Ctrl-C): set every count back to 0."""
    seen, stack = {root}, [root]
    while stack:
        v = stack.pop()
        v._n = 0
        for c in v.children:
            if c not in seen:
                seen.add(c)
                stack.append(c)


def _backprop(root: Value, seed, *, create_graph: bool, stop: frozenset = frozenset()) -> dict:
    """Return ``{node: d(root)/d(node)}`` for every node that ``root`` depends on.

    The general form of ``backward()``: gradients are kept in a dict, not in ``.grad``, and
    with ``create_graph`` the vjp rules run on Values, so each gradient is a differentiable
    graph. Used by ``backward(create_graph=True)`` and by :func:`grad`.
    """
    _count_consumers(root, reset_grads=False, stop=stop)
    grads: dict = {root: seed}
    ready = [root]
    try:
        with set_grad_enabled(create_graph):
            while ready:
                v = ready.pop()
                op = v._op
                if op is None or v in stop:
                    continue
                g, a, b = grads[v], v._a, v._b
                binary = b.__class__ is Value
                if create_graph:
                    ga = op.vjp(g, a, b, v)
                else:
                    ga = op.vjp(_data(g), a.data, b.data if binary else b, v.data)
                if binary:
                    ga, gb = ga
                    grads[b] = grads[b] + gb if b in grads else gb
                    b._n -= 1
                    if b._n == 0:
                        ready.append(b)
                grads[a] = grads[a] + ga if a in grads else ga
                a._n -= 1
                if a._n == 0:
                    ready.append(a)
    except BaseException:
        _reset_consumers(root)
        raise
    return grads


# ---------------------------------------------------------------------------------------------
# Methods generated from the op table
# ---------------------------------------------------------------------------------------------
def _lift(x: object) -> Optional[Value]:
    """A Python/NumPy real number as a constant leaf; None for anything else."""
    return Value(x) if isinstance(x, Real) else None


def _reflected(op: Op) -> Callable[[Value, Number], Value]:
    make = op.make

    def reflected(self: Value, other: Number) -> Value:
        other = _lift(other)
        return NotImplemented if other is None else make(other, self)

    reflected.__doc__ = f"``other {op.symbol} self`` (op {op.name!r})."
    return reflected


for _dunder, _op in (("add", ADD), ("sub", SUB), ("mul", MUL), ("truediv", DIV)):
    setattr(Value, f"__{_dunder}__", _op.make)
    setattr(Value, f"__r{_dunder}__", _reflected(_op))
for _op in (EXP, LOG, SQRT, TANH, SIGM, RELU, ABS, SIN, COS):
    setattr(Value, _op.name, _op.make)
Value.__neg__ = NEG.make
Value.__abs__ = ABS.make


# ---------------------------------------------------------------------------------------------
# Functional API
# ---------------------------------------------------------------------------------------------
class _Nesting:
    """How many ``grad`` functions are evaluating their ``f`` right now."""

    depth = 0


def value_and_grad(f: Callable[..., Value], argnums: Union[int, Sequence[int]] = 0) -> Callable:
    """Like :func:`grad`, but the returned function gives ``(f(*args), gradient)``."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    if not nums or not all(isinstance(i, int) for i in nums):
        raise TypeError(f"argnums must be an int or a non-empty sequence of ints, got {argnums!r}")

    def value_and_grad_f(*args: object):
        for i in nums:
            if not -len(args) <= i < len(args):
                raise IndexError(f"argnums={i} but the function was called with {len(args)} arguments")
        # Inside another grad's function, or given Values, the result must stay differentiable:
        # the outer derivative may depend on it through an argument or a closure.
        nested = _Nesting.depth > 0 or any(isinstance(a, Value) for a in args)
        args_ = list(args)
        for i in nums:  # a fresh node per argument: the derivative is taken w.r.t. it alone
            x = args[i]
            args_[i] = IDENT.make(x) if isinstance(x, Value) else Value(_check_real(x, "grad()"))
        with set_grad_enabled(True):
            _Nesting.depth += 1
            try:
                out = f(*args_)
            finally:
                _Nesting.depth -= 1
            wrt = [args_[i] for i in nums]
            if isinstance(out, Value):
                grads = _backprop(out, 1.0, create_graph=nested, stop=frozenset(wrt))
                gs = tuple(grads.get(x, 0.0) for x in wrt)
            elif isinstance(out, Real):  # a constant function
                gs = (0.0,) * len(wrt)
            else:
                raise TypeError(f"grad() needs f to return a Value or a number, got {type(out).__name__}")
        if not nested:
            out = _data(out)
        return out, (gs[0] if single else gs)

    return value_and_grad_f


def grad(f: Callable[..., Value], argnums: Union[int, Sequence[int]] = 0) -> Callable:
    """Return the function computing the derivative of scalar ``f`` w.r.t. argument ``argnums``.

    ``grad(f)(x)`` returns a float for float arguments. Given Value arguments (as it is when
    nested), it returns a Value that can be differentiated again, so ``grad(grad(f))`` is the
    second derivative, and so on. With a sequence ``argnums`` it returns a tuple.

    >>> grad(lambda x: x ** 3)(2.0)
    12.0
    >>> grad(grad(lambda x: x ** 3))(2.0)
    12.0
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args: object):
        return vg(*args)[1]

    grad_f.__doc__ = f"Gradient of {getattr(f, '__name__', 'f')} w.r.t. argument(s) {argnums}."
    return grad_f


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
        total = start
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
