"""The elementwise ops, each defined once for both engines.

A record gives the op's name and symbol, its forward function on floats (IEEE-754 / PyTorch
float64 semantics: ``log(-1) = nan``, ``0 ** -1 = inf``, ``exp(1000) = inf``, never an
exception from inside an op), the same on ndarrays when it differs, and one derivative rule per
input, ``vjp(g, out, *inputs)``. A rule is written with Python operators and the ops themselves
(``div``, ``log``, ``where``, ...), so it runs on floats and arrays for a fast first-order pass
and on ``Value``s and ``Tensor``s for derivatives of any order. A rule that uses ``out`` gets
the real output node when a graph is recorded, so second derivatives keep that term. Rules are
written for one element: the tensor engine undoes broadcasting itself.

``Value`` and ``Tensor`` build their methods from these records (``method``); the property
tests draw operands from each record's ``domain``. Adding an elementwise op to both engines is
one ``elementwise(...)`` call here.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from .autograd import Domain, Node, Op, defop

__all__ = ["ELEMENTWISE", "data", "where", "sign", "install_methods"]

inf, nan = math.inf, math.nan


# ---------------------------------------------------------------------------------------------
# IEEE-754 float functions: Python's own float ops raise (ZeroDivisionError, OverflowError,
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
    e = _fexp(x)  # x < 0 (or nan): exp(x) <= 1, and e / (1 + e) keeps full relative precision
    return e / (1.0 + e)


def _asigmoid(a: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(a))  # the same two branches, on arrays
    return np.where(a >= 0, 1, e) / (1 + e)


def _periodic(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        return fn(x) if abs(x) != inf else nan  # math.sin(inf) raises; IEEE says nan

    f.__name__ = fn.__name__
    return f


def _apow(a: np.ndarray, b: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 = inf, (-8) ** 0.5 = nan
        return np.power(a, b)


def _adiv(a: np.ndarray, b: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # 1 / 0 = inf, 0 / 0 = nan
        return np.divide(a, b)


# ---------------------------------------------------------------------------------------------
# Helpers the rules use: they accept floats, ndarrays, Values and Tensors
# ---------------------------------------------------------------------------------------------
def data(x: Any) -> Any:
    """The raw number or array of a node (a constant for the rule: no derivative flows)."""
    return x.data if isinstance(x, Node) else x


def sign(x: Any) -> Any:
    """Sign of x as a constant (the derivative of ``sign`` is zero wherever it exists)."""
    x = data(x)
    if isinstance(x, np.ndarray):
        return np.sign(x)
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def where(cond: Any, x: Any, y: Any) -> Any:
    """``x`` where ``cond`` holds, else ``y``; ``cond`` is raw (a bool or a bool array)."""
    if isinstance(cond, (bool, np.bool_)):
        return x if cond else y
    return WHERE(x, y, cond)


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
ELEMENTWISE: list[Op] = []


def install_methods(cls: type, unary: Callable[[Op], Callable], binary: Callable[[Op, bool], Callable],
                    note: str = "") -> None:
    """Give ``cls`` one method per elementwise record, skipping any written out in its body.

    ``unary(op)`` and ``binary(op, reflected)`` make the engine's methods; a binary op also
    gets its reflected method (``__radd__`` beside ``__add__``), and ``abs`` is ``__abs__`` too.
    """
    def put(name: str, fn: Callable, op: Op, doc: str) -> None:
        fn.__name__, fn.__qualname__ = name, f"{cls.__name__}.{name}"
        fn.__doc__ = f"{doc}{note} (op {op.name!r})"
        setattr(cls, name, fn)

    for op in ELEMENTWISE:
        if op.method is None or op.method in cls.__dict__:
            continue
        if op.nin == 2:
            put(op.method, binary(op, False), op, op.doc)
            put("__r" + op.method[2:], binary(op, True), op, f"``other {op.symbol} self``.")
        else:
            put(op.method, unary(op), op, op.doc)
    cls.__abs__ = cls.abs


def elementwise(
    name: str, symbol: str, scalar: Callable, vjps: tuple, domain: Domain, *,
    array: Optional[Callable] = None, method: Optional[str] = None, doc: str = "",
) -> Op:
    """Define an elementwise op for both engines (``array`` defaults to ``scalar``)."""
    op = defop(name, symbol, len(vjps), scalar=scalar, array=array or scalar, vjps=vjps,
               kind="elementwise", domain=domain, method=method, doc=doc)
    ELEMENTWISE.append(op)
    return op


def _pow_vjp_base(g, out, a, b):
    # 0 ** b is flat in a where b == 0 (PyTorch: d/da = 0 there, not 0 * inf). The mask applies
    # only at a == b == 0, so elsewhere the rule stays a function of b, differentiable again.
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 * inf where masked
        return where((data(a) == 0) & (data(b) == 0), 0.0, g * b * POW(a, b - 1))


def _pow_vjp_exponent(g, out, a, b):
    # PyTorch: d/db = 0 where a == 0 and b >= 0 (there out * log(a) is 0 * -inf).
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0), 0 * -inf where masked
        return where((data(a) == 0) & (data(b) >= 0), 0.0, g * out * LOG(a))


_ANY, _SMALL = (-5.0, 5.0), (-3.0, 3.0)

# fmt: off
#                  name       symbol    forward on floats           d/d(input) rules: vjp(g, out, *inputs)
ADD  = elementwise("add",     "+",      lambda a, b: a + b,         (lambda g, out, a, b: g,
                                                                     lambda g, out, a, b: g),
                   Domain(_ANY, _SMALL), method="__add__", doc="``self + other``.")
SUB  = elementwise("sub",     "-",      lambda a, b: a - b,         (lambda g, out, a, b: g,
                                                                     lambda g, out, a, b: -g),
                   Domain(_ANY, _SMALL), method="__sub__", doc="``self - other``.")
MUL  = elementwise("mul",     "*",      lambda a, b: a * b,         (lambda g, out, a, b: g * b,
                                                                     lambda g, out, a, b: g * a),
                   Domain(_ANY, _SMALL), method="__mul__", doc="``self * other``.")
DIV  = elementwise("div",     "/",      _fdiv,                      (lambda g, out, a, b: DIV(g, b),
                                                                     lambda g, out, a, b: -DIV(g * out, b)),
                   Domain(_ANY, _SMALL, avoid=(None, 0.0)), array=_adiv, method="__truediv__",
                   doc="``self / other`` (IEEE: ``x / 0`` is ``±inf``, ``0 / 0`` is nan).")
POW  = elementwise("pow",     "**",     _fpow,                      (_pow_vjp_base, _pow_vjp_exponent),
                   Domain((0.2, 5.0), _SMALL), array=_apow, method="__pow__",
                   doc="``self ** other`` for a differentiable exponent.")
POWC = elementwise("powc",    "**",     _fpow,                      (lambda g, out, a, c: where(c == 0, 0.0, g * c * POWC(a, c - 1)),),
                   Domain((0.2, 5.0), params=(-2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)),
                   array=_apow, method="__pow__", doc="``self ** c`` for a constant exponent ``c``.")
NEG  = elementwise("neg",     "neg",    lambda a: -a,               (lambda g, out, a: -g,),
                   Domain(_ANY), method="__neg__", doc="``-self``.")
EXP  = elementwise("exp",     "exp",    _fexp,                      (lambda g, out, a: g * out,),
                   Domain((-10.0, 5.0)), array=np.exp, method="exp", doc="``e ** self``.")
LOG  = elementwise("log",     "log",    _flog,                      (lambda g, out, a: DIV(g, a),),
                   Domain((0.2, 50.0)), array=np.log, method="log",
                   doc="Natural logarithm (``log(0) = -inf``, ``log(x < 0) = nan``).")
SQRT = elementwise("sqrt",    "sqrt",   _fsqrt,                     (lambda g, out, a: DIV(g, out * 2),),
                   Domain((0.2, 50.0)), array=np.sqrt, method="sqrt", doc="Square root (nan below 0).")
TANH = elementwise("tanh",    "tanh",   math.tanh,                  (lambda g, out, a: g * (1 - out * out),),
                   Domain(_ANY), array=np.tanh, method="tanh", doc="Hyperbolic tangent.")
SIGM = elementwise("sigmoid", "sigmoid", _fsigmoid,                 (lambda g, out, a: g * (out * (1 - out)),),
                   Domain(_ANY), array=_asigmoid, method="sigmoid",
                   doc="``1 / (1 + exp(-self))``, computed stably for any input.")
RELU = elementwise("relu",    "ReLU",   lambda a: 0.0 if a <= 0.0 else a, (lambda g, out, a: where(data(a) <= 0, 0.0, g),),
                   Domain(_ANY, avoid=(0.0,), margin=1e-2), array=lambda a: np.maximum(a, 0),
                   method="relu", doc="``max(self, 0)``; the derivative is 0 at 0 and 1 at nan (as PyTorch).")
ABS  = elementwise("abs",     "abs",    abs,                        (lambda g, out, a: g * sign(a),),
                   Domain(_ANY, avoid=(0.0,), margin=1e-2), array=np.abs, method="abs",
                   doc="``|self|``; the derivative at 0 is 0 (as PyTorch).")
SIN  = elementwise("sin",     "sin",    _periodic(math.sin),        (lambda g, out, a: g * COS(a),),
                   Domain(_ANY), array=np.sin, method="sin", doc="Sine.")
COS  = elementwise("cos",     "cos",    _periodic(math.cos),        (lambda g, out, a: -g * SIN(a),),
                   Domain(_ANY), array=np.cos, method="cos", doc="Cosine.")
IDENT = elementwise("identity", "id",   lambda a: a,                (lambda g, out, a: g,),
                   Domain(_ANY), method="clone", array=np.copy,
                   doc="A differentiable copy: a new node with the same value (PyTorch's ``clone``).")
# fmt: on

_BITS = {4: np.int32, 8: np.int64}  # the integer type with a float's width


def _select(x: Any, y: Any, cond: Any) -> np.ndarray:
    """``np.where(cond, x, y)``. In the rules' case, a float32/float64 array on one side and
    ``0.0`` on the other, the array's bits are kept with a bit mask instead: the same result (nan,
    inf and -0.0 pass unchanged), and on an unpredictable mask such as ReLU's several times
    faster, because ``np.where`` branches on every element."""
    if _maskable(x, y, cond):
        return _keep(x, cond, True)
    if _maskable(y, x, cond):
        return _keep(y, cond, False)
    return np.where(cond, x, y)


def _maskable(a: Any, other: Any, cond: Any) -> bool:
    return (other.__class__ is float and other == 0.0 and math.copysign(1.0, other) > 0 and a.__class__ is np.ndarray
            and a.dtype.kind == "f" and a.dtype.itemsize in _BITS and cond.__class__ is np.ndarray
            and cond.dtype == bool and cond.shape == a.shape and a.ndim > 0)


def _keep(a: np.ndarray, cond: np.ndarray, where: bool) -> np.ndarray:
    """``a`` where ``cond == where``, else +0.0, by masking its bits."""
    keep = cond.astype(_BITS[a.dtype.itemsize])
    if where:
        np.negative(keep, out=keep)  # all ones where cond holds, else all zeros
    else:
        np.subtract(keep, 1, out=keep)  # all ones where cond does not hold, else all zeros
    return np.bitwise_and(a.view(keep.dtype), keep, out=keep).view(a.dtype)


#: ``x`` where ``cond`` else ``y``, for arrays (cond is a constant): used by the rules above.
WHERE = defop(
    "where", "where", 2, kind="elementwise",
    array=_select,
    vjps=(lambda g, out, x, y, cond: where(cond, g, 0.0), lambda g, out, x, y, cond: where(cond, 0.0, g)),
)
