"""Function transforms for both engines, named and shaped as ``torch.func``.

``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian`` and ``hvp``
take functions of floats (or ``Value``s) returning a ``Value``, or of ndarrays (or
``Tensor``s) returning a ``Tensor``. Plain numbers and arrays in give plain floats and ndarrays
out; nodes in (as happens when transforms are nested) give results with history, so every
transform composes with every other to any order: ``grad(grad(f))``, ``jacfwd(jacrev(f))``.
As in ``torch.func``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd`` and ``hessian`` also take an ``f``
returning a tuple or list of outputs (results and cotangents then have that structure), and
an output that does not depend on the arguments (a constant) has zero derivatives. Arguments
not differentiated are lifted to constants (see ``_constant``); ``argnums`` must be unique.

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
    """``argnums`` for a call with ``n`` arguments: distinct indices in ``[0, n)``, or an error."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(i, int) and not isinstance(i, bool) for i in nums):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    for i in nums:
        if not -n <= i < n:
            raise IndexError(f"argnums={i} but the function was called with {n} arguments")
    seen: set[int] = set()
    for i in nums:
        if i % n in seen:
            raise ValueError(f"argnums={argnums!r} names argument {i % n} more than once; argnums must be unique")
        seen.add(i % n)
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


def _constant(x: Any, tensors: bool) -> Any:
    """A non-differentiated argument, lifted to a constant node so that ``f`` written with
    methods (``y.exp()``) works for every argument.

    Numeric arrays become constant Tensors (integer arrays keep their dtype: they may be labels
    or indices). Numbers (``int``, ``float``, NumPy scalars, not ``bool``) become constant
    Values when the differentiated arguments are Values (the scalar engine); beside Tensors
    (``tensors``) they are passed as they are, since a Value does not combine with a Tensor and
    ``x * 2.0`` or ``x[k]`` must keep working. Nodes and anything else are passed unchanged.
    """
    if isinstance(x, np.ndarray):
        return _wrap(x) if x.dtype.kind in "iuf" else x
    if isinstance(x, Real) and not isinstance(x, bool) and not tensors:
        return Value(float(x))
    return x


def _call(f: Callable, args: Sequence, nums: tuple[int, ...], where: str) -> tuple[Any, list, bool]:
    """Run ``f`` on fresh variables for ``args[nums]``: ``(output, variables, nested)``."""
    nested = _Nesting.depth > 0 or any(isinstance(a, Node) for a in args)
    with set_grad_enabled(True):
        wrt = [_variable(args[i], where) for i in nums]
        tensors = any(isinstance(x, Tensor) for x in wrt)
        args_ = [_constant(a, tensors) for a in args]
        for i, x in zip(nums, wrt):
            args_[i] = x
        _Nesting.depth += 1
        try:
            out = f(*args_)
        finally:
            _Nesting.depth -= 1
    return out, wrt, nested


# ---------------------------------------------------------------------------------------------
# Outputs: f returns one output, or a tuple or list of them (nested or not), as in torch.func
# ---------------------------------------------------------------------------------------------
def _leaves(out: Any, where: str) -> list:
    """The outputs in ``out``, in order: a Value or Tensor, or a number or numeric array (a
    constant, whose derivatives are zero); tuples and lists are looked into."""
    if isinstance(out, (tuple, list)):
        return [leaf for o in out for leaf in _leaves(o, where)]
    if not (isinstance(out, (Node, Real)) or (isinstance(out, np.ndarray) and out.dtype.kind in "biuf")):
        raise TypeError(f"{where}: f must return Values, Tensors, numbers or arrays (or a tuple or list of them), "
                        f"got {type(out).__name__}")
    return [out]


def _rebuild(like: Any, leaves: list) -> Any:
    """``like``'s structure of tuples and lists, its outputs replaced in order by ``leaves``."""
    it = iter(leaves)

    def build(x: Any) -> Any:
        if isinstance(x, (tuple, list)):
            parts = [build(o) for o in x]
            return parts if isinstance(x, list) else tuple(parts)
        return next(it)

    return build(like)


def _flat_like(tree: Any, like: Any, where: str) -> list:
    """The cotangents in ``tree``, one per output of ``like`` (f's output), which ``tree`` must
    match: a tuple or list of the same length wherever ``like`` has one."""
    if not isinstance(like, (tuple, list)):
        return [tree]
    if not isinstance(tree, (tuple, list)) or len(tree) != len(like):
        got = f"a {type(tree).__name__} of {len(tree)}" if isinstance(tree, (tuple, list)) else type(tree).__name__
        raise TypeError(f"{where}: f returned a {type(like).__name__} of {len(like)} outputs, so the cotangent must be "
                        f"a tuple of {len(like)} cotangents, one per output; got {got}")
    return [c for t, o in zip(tree, like) for c in _flat_like(t, o, where)]


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


def _shape(x: Any) -> tuple:
    """The shape of an argument or output: ``()`` for a Value or a number."""
    return () if isinstance(x, (Value, Real)) else tuple(np.shape(x.data if isinstance(x, Tensor) else x))


def _zeros(x: Any) -> Any:
    """A zero derivative shaped as ``x`` (a variable or an output): 0.0 for a Value or a
    number, else a float array of its shape (of its dtype if that is a float)."""
    if isinstance(x, (Value, Real)):
        return 0.0
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    return np.zeros(a.shape, dtype=a.dtype if a.dtype.kind == "f" else np.float64)


def _cotangent(out: Any, ct: Any, where: str) -> Any:
    """``ct``, checked as the cotangent of output ``out``: of its shape, a Value or a float for
    a Value (or number) output, a Tensor or an array of the output's float dtype otherwise."""
    if not isinstance(ct, (Node, Real, np.ndarray, list, tuple)):
        raise TypeError(f"{where}: the cotangent must be a number, an array, a Value or a Tensor, got {type(ct).__name__}")
    shape, out_shape = _shape(ct), _shape(out)
    if shape != out_shape:
        raise ValueError(f"{where}: the cotangent has shape {shape} but the output has shape {out_shape}")
    scalar = isinstance(out, (Value, Real))
    if isinstance(ct, Node) and isinstance(ct, Value) != scalar:
        raise TypeError(f"{where}: the cotangent of a {type(out).__name__} output cannot be a {type(ct).__name__}")
    if scalar:
        return ct if isinstance(ct, Value) else float(np.asarray(ct))
    if isinstance(ct, Tensor):
        return ct
    dtype = out.dtype if out.dtype.kind == "f" else np.float64
    return np.asarray(ct, dtype=dtype)


def _pullback(outs: list, wrt: list, cts: list, create_graph: bool) -> tuple:
    """``d(sum_i <cts_i, outs_i>) / d wrt_j`` for each variable: one reverse pass per output
    that depends on the variables (a constant output adds nothing). With ``create_graph`` the
    results are nodes with history, else floats and ndarrays."""
    total: list = [None] * len(wrt)
    with set_grad_enabled(create_graph):
        for out, ct in zip(outs, cts):
            if not isinstance(out, Node):
                continue
            grads = backprop(out, ct, create_graph=create_graph, stop=set(wrt))  # nothing needed behind wrt
            for k, x in enumerate(wrt):
                g = grads.get(x)
                if g is not None:
                    total[k] = g if total[k] is None else total[k] + g
    gs = [_zeros(x) if g is None else g for x, g in zip(wrt, total)]
    return tuple(_node(g) if create_graph else _raw(g) for g in gs)


def _push(outs: list, tangents: dict, record: bool) -> list:
    """The tangent of each output, given the ``tangents`` of the variables: one forward sweep
    per output that is a node; zeros of the output's shape where it does not depend on them."""
    result = []
    with set_grad_enabled(True):
        for out in outs:
            t = forward_sweep(out, tangents) if isinstance(out, Node) else None
            t = _zeros(out) if t is None else t
            result.append(_node(t) if record else _raw(t))
    return result


def _scalar_out(out: Any, where: str) -> None:
    """Raise unless ``out`` is one scalar: a Value, a number, or a one-element Tensor or array."""
    if isinstance(out, (tuple, list)):
        raise TypeError(f"{where} needs f to return a Value, a one-element Tensor or a number (one scalar), got a "
                        f"{type(out).__name__} of {len(out)} outputs; use vjp or jacrev for several outputs")
    if not isinstance(out, (Value, Tensor, Real, np.ndarray)):
        raise TypeError(f"{where} needs f to return a Value, a one-element Tensor or a number (one scalar), "
                        f"got {type(out).__name__}")
    if isinstance(out, (Tensor, np.ndarray)) and out.size != 1:
        kind = "Tensor" if isinstance(out, Tensor) else "array"
        raise ValueError(f"{where} needs f to return a scalar (one element), got a {kind} of shape {out.shape}; "
                         "use jacrev or vjp")


# ---------------------------------------------------------------------------------------------
# The transforms
# ---------------------------------------------------------------------------------------------
def value_and_grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """Like :func:`grad`, but the returned function gives ``(f(*args), gradient)``."""
    _nums(argnums, 1 << 30)

    def value_and_grad_f(*args: Any) -> tuple[Any, Any]:
        nums = _nums(argnums, len(args))
        out, wrt, nested = _call(f, args, nums, "grad")
        _scalar_out(out, "grad")
        seed = np.ones(out.shape, dtype=out.dtype) if isinstance(out, Tensor) else 1.0
        gs = _pullback([out], wrt, [seed], nested)
        if nested:
            value = out
        else:
            value = np.asarray(_raw(out)).item() if isinstance(out, (Tensor, np.ndarray)) else _raw(out)
        return value, (gs[0] if isinstance(argnums, int) else gs)

    return value_and_grad_f


def grad(f: Callable, argnums: Argnums = 0) -> Callable:
    """The function computing the gradient of scalar-valued ``f`` w.r.t. argument ``argnums``.

    Floats in give a float; arrays give an ndarray of the argument's shape; a tuple
    ``argnums`` (of distinct indices) gives a tuple. Given ``Value``s or ``Tensor``s (as when
    nested), the result has history and can be differentiated again: ``grad(grad(f))`` is the
    second derivative. ``f`` must return one scalar (a tuple is refused: use :func:`vjp`).

    >>> grad(lambda x: x ** 3)(2.0)
    12.0
    >>> grad(grad(lambda x: x ** 3))(2.0)
    12.0
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return vg(*args)[1]

    grad_f.__doc__ = f"Gradient of {getattr(f, '__name__', 'f')} w.r.t. argument(s) {argnums}."
    return grad_f


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(u)`` gives ``u^T J`` for every primal, as a tuple.

    ``f`` may return one output or a tuple or list of them (nested or not); ``u`` then has the
    same structure, one cotangent of each output's shape, and the products are summed. The
    pullback records a graph, so that it can be differentiated again (with respect to ``u``
    too), when the primals or ``u`` are nodes or when it is called inside another transform.
    """
    out, wrt, nested = _call(f, primals, tuple(range(len(primals))), "vjp")
    outs = _leaves(out, "vjp")

    def vjp_fn(cotangent: Any) -> tuple:
        cts = [_cotangent(o, c, "vjp") for o, c in zip(outs, _flat_like(cotangent, out, "vjp"))]
        record = nested or _Nesting.depth > 0 or any(isinstance(c, Node) for c in cts)
        return _pullback(outs, wrt, cts, record)

    return (out if nested else _rebuild(out, [_raw(o) for o in outs])), vjp_fn


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward mode: ``(f(*primals), J @ tangents)``, the directional derivative of ``f``.

    A tuple or list output gives tangents of the same structure. Results have history when
    the primals or the tangents are nodes, or inside another transform.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp needs one tangent per primal, got {len(primals)} primals and {len(tangents)} tangents")
    out, wrt, nested = _call(f, primals, tuple(range(len(primals))), "jvp")
    nested = nested or any(isinstance(t, Node) for t in tangents)
    tans = {}
    for x, t in zip(wrt, tangents):
        t = t if isinstance(t, Node) else (np.asarray(t, dtype=x.dtype) if isinstance(x, Tensor) else float(t))
        if isinstance(x, Tensor) and t.shape != x.shape:
            raise ValueError(f"jvp: a tangent of shape {t.shape} for a primal of shape {x.shape}")
        tans[x] = t
    outs = _leaves(out, "jvp")
    t_out = _rebuild(out, _push(outs, tans, nested))
    return (out if nested else _rebuild(out, [_raw(o) for o in outs])), t_out


def _basis(x: Any) -> list:
    """The unit tangents of a variable or an output: ``[1.0]`` for a Value or a number, else
    one array of its shape per element."""
    if isinstance(x, (Value, Real)):
        return [1.0]
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    dtype = a.dtype if a.dtype.kind == "f" else np.float64
    return [e.reshape(a.shape) for e in np.eye(a.size, dtype=dtype)]


def _assemble(columns: list, out_shape: tuple, in_shape: tuple, axis: int, nested: bool) -> Any:
    """Stack the columns (jacfwd, ``axis=-1``) or rows (jacrev, ``axis=0``) into a Jacobian of
    shape ``out_shape + in_shape``: a node if ``nested``, else a float or an ndarray."""
    if not columns or 0 in out_shape:  # an empty input or output: an empty Jacobian
        jac = np.zeros(out_shape + in_shape)
    elif not in_shape and not out_shape:
        jac = columns[0]
    elif any(isinstance(c, Tensor) for c in columns):
        cols = [c if isinstance(c, Tensor) else _wrap(np.asarray(c)) for c in columns]
        jac = stack([c.reshape(-1) for c in cols], axis=0 if axis == 0 else 1).reshape(out_shape + in_shape)
    elif isinstance(columns[0], Value):
        raise TypeError("jacobians of Value-valued functions of arrays are not supported; use Tensors")
    else:
        cols = [np.asarray(c).reshape(-1) for c in columns]
        jac = np.stack(cols, axis=0 if axis == 0 else 1).reshape(out_shape + in_shape)
    return _node(jac) if nested else _raw(jac)


def jacrev(f: Callable, argnums: Argnums = 0) -> Callable:
    """The Jacobian of ``f`` by reverse mode: one pullback per output element. The result has
    shape ``out.shape + x.shape`` (a tuple of those for a tuple ``argnums``); a tuple or list
    output gives one such result per output, in the same structure, as ``torch.func.jacrev``.
    An output that does not depend on the arguments (a constant) has a zero Jacobian."""
    _nums(argnums, 1 << 30)

    def jacrev_f(*args: Any) -> Any:
        nums = _nums(argnums, len(args))
        out, wrt, nested = _call(f, args, nums, "jacrev")
        jacs = []
        for o in _leaves(out, "jacrev"):
            rows = [_pullback([o], wrt, [_cotangent(o, ct, "jacrev")], nested) for ct in _basis(o)]
            per_arg = tuple(_assemble([r[k] for r in rows], _shape(o), _shape(x), 0, nested) for k, x in enumerate(wrt))
            jacs.append(per_arg[0] if isinstance(argnums, int) else per_arg)
        return _rebuild(out, jacs)

    return jacrev_f


def jacfwd(f: Callable, argnums: Argnums = 0) -> Callable:
    """The Jacobian of ``f`` by forward mode: ``f`` is run once, then one forward sweep per
    input element. Same shapes and structure as :func:`jacrev`; cheaper when ``f`` has fewer
    inputs than outputs."""
    _nums(argnums, 1 << 30)

    def jacfwd_f(*args: Any) -> Any:
        nums = _nums(argnums, len(args))
        out, wrt, nested = _call(f, args, nums, "jacfwd")
        outs = _leaves(out, "jacfwd")
        per_var = []  # for each variable, the Jacobian of each output
        for x in wrt:
            cols = [_push(outs, {x: t}, nested) for t in _basis(x)]
            per_var.append([_assemble([c[m] for c in cols], _shape(o), _shape(x), -1, nested) for m, o in enumerate(outs)])
        jacs = [per_var[0][m] if isinstance(argnums, int) else tuple(J[m] for J in per_var) for m in range(len(outs))]
        return _rebuild(out, jacs)

    return jacfwd_f


def hessian(f: Callable, argnums: Argnums = 0) -> Callable:
    """The Hessian of scalar ``f``: ``jacfwd(jacrev(f, argnums), argnums)``, forward-over-reverse
    as ``torch.func.hessian``. A tuple ``argnums`` gives the nested tuple of blocks
    ``H[i][j] = d/d(arg j) d f/d(arg i)``; a tuple output, one such result per output."""
    return jacfwd(jacrev(f, argnums), argnums)


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
