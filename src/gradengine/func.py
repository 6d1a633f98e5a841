"""Function transforms for both engines, named and shaped as ``torch.func``.

``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian`` and ``hvp``
take functions of floats (or ``Value``s) returning a ``Value``, or of ndarrays (or
``Tensor``s) returning a ``Tensor``. Plain numbers and arrays in give plain floats and ndarrays
out; nodes in (as happens when transforms are nested) give results with history, so every
transform composes with every other to any order: ``grad(grad(f))``, ``jacfwd(jacrev(f))``.

Each call differentiates with respect to fresh nodes made for its own arguments, so nested
transforms never confuse their variables:

>>> grad(lambda x: x * grad(lambda y: x * y)(x))(3.0)   # d/dx (x * x) = 2x
6.0
>>> import numpy as np
>>> hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
array([[ 6.,  0.],
       [ 0., 12.]])

Reverse mode (``grad``, ``vjp``, ``jacrev``) is :func:`gradengine.autograd.backprop`; forward
mode (``jvp``, ``jacfwd``) is :func:`gradengine.autograd.forward_sweep`, from the same rules.
``hvp`` is reverse-over-reverse: the gradient, recorded, then differentiated once more.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, Callable, Sequence, Union

import numpy as np

from .autograd import Node, backprop, forward_sweep
from .engine import Value
from .grad_mode import set_grad_enabled
from .ops import IDENT
from .tensor import Tensor, _wrap, stack

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "hvp"]

Argnums = Union[int, Sequence[int]]


class _Nesting:
    """How many transforms are evaluating their function right now."""

    depth = 0


def _nums(argnums: Argnums, n: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(i, int) and not isinstance(i, bool) for i in nums):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    for i in nums:
        if not -n <= i < n:
            raise IndexError(f"argnums={i} but the function was called with {n} arguments")
    return tuple(i % n for i in nums)


def _variable(x: Any, where: str) -> Node:
    """A fresh node for ``x`` that the derivative is taken with respect to (and only it)."""
    if isinstance(x, Value):
        return IDENT(x)
    if isinstance(x, Tensor):
        if x.requires_grad:
            return IDENT(x)
        x = x.data
    if isinstance(x, Real) and not isinstance(x, bool):
        return Value(float(x))
    if isinstance(x, (np.ndarray, list, tuple)):
        a = np.asarray(x)
        if a.dtype.kind not in "f":
            a = a.astype(np.float64)
        return Tensor(a, requires_grad=True)
    raise TypeError(f"{where}: cannot differentiate with respect to a {type(x).__name__}; pass a float, an ndarray, a Value or a Tensor")


def _constant(x: Any) -> Any:
    """A non-differentiated argument: floats and float arrays become constant nodes, so a
    function written with methods (``x.exp()``) works for every argument."""
    if isinstance(x, float):
        return Value(x)
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return _wrap(x)
    return x


def _call(f: Callable, args: Sequence, nums: tuple[int, ...], where: str) -> tuple[Any, list, bool]:
    """Run ``f`` on fresh variables for ``args[nums]``: ``(output, variables, nested)``."""
    nested = _Nesting.depth > 0 or any(isinstance(a, Node) for a in args)
    args_ = [_constant(a) for a in args]
    wrt = []
    with set_grad_enabled(True):
        for i in nums:
            args_[i] = _variable(args[i], where)
            wrt.append(args_[i])
        _Nesting.depth += 1
        try:
            out = f(*args_)
        finally:
            _Nesting.depth -= 1
    return out, wrt, nested


def _raw(x: Any) -> Any:
    """A result for a caller outside any transform: a float or an ndarray, no history."""
    if isinstance(x, Value):
        return x.data
    if isinstance(x, Tensor):
        return x.data
    return x


def _node(x: Any) -> Any:
    """A result for a nested caller, always a node: a raw constant (a zero gradient, or one
    that does not depend on the arguments) becomes a constant Value or Tensor."""
    if isinstance(x, Node):
        return x
    return _wrap(x) if isinstance(x, np.ndarray) else Value(x)


def _zeros(x: Node) -> Any:
    return 0.0 if isinstance(x, Value) else np.zeros(x.shape, dtype=x.dtype)


def _pullback(out: Any, wrt: list, ct: Any, nested: bool) -> tuple:
    """``(d<ct, out>/d wrt_i)`` for each variable: one reverse pass."""
    if not isinstance(out, Node):  # f did not depend on its arguments
        gs = [_zeros(x) for x in wrt]
    else:
        if isinstance(out, Tensor):
            ct = ct if isinstance(ct, Tensor) else np.asarray(ct, dtype=out.dtype)
            if ct.shape != out.shape:
                raise ValueError(f"the cotangent has shape {ct.shape} but the output has shape {out.shape}")
        grads = backprop(out, ct, create_graph=nested, stop=set(wrt))  # nothing needed behind wrt
        gs = [grads.get(x, _zeros(x)) for x in wrt]
    return tuple(_node(g) if nested else _raw(g) for g in gs)


def _scalar_out(out: Any, where: str) -> None:
    if isinstance(out, Tensor) and out.size != 1:
        raise ValueError(f"{where} needs f to return a scalar (one element), got a Tensor of shape {out.shape}; use jacrev or vjp")
    if not isinstance(out, (Value, Tensor, Real)):
        raise TypeError(f"{where} needs f to return a Value, a one-element Tensor or a number, got {type(out).__name__}")


def value_and_grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """Like :func:`grad`, but the returned function gives ``(f(*args), gradient)``."""
    _nums(argnums, 1 << 30)

    def value_and_grad_f(*args: Any):
        nums = _nums(argnums, len(args))
        out, wrt, nested = _call(f, args, nums, "grad")
        _scalar_out(out, "grad")
        seed = 1.0 if not isinstance(out, Tensor) else np.ones(out.shape, dtype=out.dtype)
        gs = _pullback(out, wrt, seed, nested)
        value = out if nested else (_raw(out).item() if isinstance(out, Tensor) else _raw(out))
        return value, (gs[0] if isinstance(argnums, int) else gs)

    return value_and_grad_f


def grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """The function computing the gradient of scalar-valued ``f`` w.r.t. argument ``argnums``.

    Floats in give a float; arrays give an ndarray of the argument's shape; a tuple
    ``argnums`` gives a tuple. Given ``Value``s or ``Tensor``s (as when nested), the result has
    history and can be differentiated again: ``grad(grad(f))`` is the second derivative.

    >>> grad(lambda x: x ** 3)(2.0)
    12.0
    >>> grad(grad(lambda x: x ** 3))(2.0)
    12.0
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any):
        return vg(*args)[1]

    grad_f.__doc__ = f"Gradient of {getattr(f, '__name__', 'f')} w.r.t. argument(s) {argnums}."
    return grad_f


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(u)`` gives ``u^T J`` for every primal, as a tuple."""
    out, wrt, nested = _call(f, primals, tuple(range(len(primals))), "vjp")

    def vjp_fn(cotangent: Any) -> tuple:
        return _pullback(out, wrt, cotangent, nested)

    return (out if nested else _raw(out)), vjp_fn


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward mode: ``(f(*primals), J @ tangents)``, the directional derivative of ``f``."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp needs one tangent per primal, got {len(primals)} primals and {len(tangents)} tangents")
    out, wrt, nested = _call(f, primals, tuple(range(len(primals))), "jvp")
    tans = {}
    for x, t in zip(wrt, tangents):
        t = t if isinstance(t, Node) else (np.asarray(t, dtype=x.dtype) if isinstance(x, Tensor) else float(t))
        if isinstance(x, Tensor) and t.shape != x.shape:
            raise ValueError(f"jvp: a tangent of shape {t.shape} for a primal of shape {x.shape}")
        tans[x] = t
    with set_grad_enabled(True):
        t_out = forward_sweep(out, tans) if isinstance(out, Node) else None
    if t_out is None:
        t_out = _zeros(out) if isinstance(out, Node) else 0.0
    if nested:
        return out, _node(t_out)
    return _raw(out), _raw(t_out)


def _basis(x: Any) -> list:
    """The unit tangents of an argument: ``[1.0]`` for a float, else one array per element."""
    if isinstance(x, (Value, Real)):
        return [1.0]
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    n = int(np.prod(shape, dtype=np.int64))
    dtype = x.dtype if isinstance(x, (Tensor, np.ndarray)) and x.dtype.kind == "f" else np.float64
    return list(np.eye(n, dtype=dtype).reshape((n,) + shape))


def _assemble(columns: list, out_shape: tuple, in_shape: tuple, axis: int) -> Any:
    """Stack the columns (jacfwd, ``axis=-1``) or rows (jacrev, ``axis=0``) into a Jacobian of
    shape ``out_shape + in_shape``."""
    if not columns or 0 in out_shape:  # an empty input or output: an empty Jacobian
        return np.zeros(out_shape + in_shape)
    if not in_shape and not out_shape:
        return columns[0]
    if any(isinstance(c, Tensor) for c in columns):
        cols = [c if isinstance(c, Tensor) else _wrap(np.asarray(c)) for c in columns]
        if axis == 0:
            return stack([c.reshape(-1) for c in cols], axis=0).reshape(out_shape + in_shape)
        return stack([c.reshape(-1) for c in cols], axis=1).reshape(out_shape + in_shape)
    if isinstance(columns[0], Value):
        raise TypeError("jacobians of Value-valued functions of arrays are not supported; use Tensors")
    cols = [np.asarray(c).reshape(-1) for c in columns]
    return np.stack(cols, axis=0 if axis == 0 else 1).reshape(out_shape + in_shape)


def _shape(x: Any) -> tuple:
    return () if isinstance(x, (Value, Real)) else tuple(np.shape(x.data if isinstance(x, Tensor) else x))


def jacrev(f: Callable, argnums: Argnums = 0) -> Callable:
    """The Jacobian of ``f`` by reverse mode: one pullback per output element. The result has
    shape ``out.shape + x.shape`` (a tuple of those for a tuple ``argnums``)."""

    def jacrev_f(*args: Any):
        nums = _nums(argnums, len(args))
        out, wrt, nested = _call(f, args, nums, "jacrev")
        out_shape = _shape(out)
        cts = _basis(out) if isinstance(out, Node) or isinstance(out, Real) else None
        rows = [_pullback(out, wrt, ct, nested) for ct in cts]
        jac = tuple(_assemble([r[k] for r in rows], out_shape, _shape(args[i]), 0) for k, i in enumerate(nums))
        return jac[0] if isinstance(argnums, int) else jac

    return jacrev_f


def jacfwd(f: Callable, argnums: Argnums = 0) -> Callable:
    """The Jacobian of ``f`` by forward mode: one jvp per input element. Same shapes as
    :func:`jacrev`; cheaper when ``f`` has fewer inputs than outputs."""

    def jacfwd_f(*args: Any):
        nums = _nums(argnums, len(args))
        jac = []
        for i in nums:
            def f_i(x, i=i):
                return f(*map(_constant, args[:i]), x, *map(_constant, args[i + 1:]))

            cols, out = [], None
            for t in _basis(args[i]):
                out, col = jvp(f_i, (args[i],), (t,))
                cols.append(col)
            jac.append(_assemble(cols, _shape(out), _shape(args[i]), -1))
        return jac[0] if isinstance(argnums, int) else tuple(jac)

    return jacfwd_f


def hessian(f: Callable, argnums: Argnums = 0) -> Callable:
    """The Hessian of scalar ``f``: ``jacfwd(jacrev(f))``, forward-over-reverse as in
    ``torch.func.hessian``. A tuple ``argnums`` gives the nested tuple of blocks."""
    if isinstance(argnums, int):
        return jacfwd(jacrev(f, argnums), argnums)

    def hessian_f(*args: Any):
        nums = _nums(argnums, len(args))
        return tuple(tuple(jacfwd(jacrev(f, i), j)(*args) for j in nums) for i in nums)

    return hessian_f


def hvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, tuple]:
    """``(f(*primals), (H @ v for each primal))`` without forming the Hessian.

    Reverse-over-reverse: the gradient is recorded as a graph, dotted with ``tangents``, and
    differentiated again, so the cost is a few gradients whatever the number of parameters.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"hvp needs one tangent per primal, got {len(primals)} primals and {len(tangents)} tangents")
    nums = tuple(range(len(primals)))
    value: list = []

    def grad_dot_v(*xs: Any) -> Any:
        out, gs = value_and_grad(f, nums)(*xs)
        value.append(out)
        terms = [g * v if isinstance(g, Value) else (g * np.asarray(v, dtype=g.dtype)).sum() for g, v in zip(gs, tangents)]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total

    hv = grad(grad_dot_v, nums)(*primals)
    out = value[0]
    if not any(isinstance(p, Node) for p in primals) and _Nesting.depth == 0:
        out = _raw(out)
        out = out.item() if isinstance(out, np.ndarray) else out
    return out, hv
