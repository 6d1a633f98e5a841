"""The differentiation core shared by the scalar and the tensor engine.

An op is one :class:`Op` record: a name, the symbol a drawing shows, a forward function (for
floats and for ndarrays), and one vector-Jacobian-product rule per input. Each rule is written
with Python operators and the ops themselves, so it runs on raw numbers and arrays (a fast
first-order pass) and on ``Value``/``Tensor`` nodes (a pass that records a graph, which can be
differentiated again, to any order). An ``Op`` is callable: ``EXP(x)`` gives a float for a
float, an ndarray for an ndarray, and a node with history for a ``Value`` or a ``Tensor``.

Everything that differentiates goes through the two functions at the end of this module:

* :func:`backprop` -- the one reverse pass, used by ``Value.backward``, ``Tensor.backward``,
  :mod:`gradengine.func` (``grad``, ``vjp``, ``jacrev``, ``hessian``, ...) and the replay in
  :mod:`gradengine.viz`;
* :func:`forward_sweep` -- forward mode (``jvp``, ``jacfwd``), derived from the same rules:
  an elementwise op's jvp is its vjp applied to the tangent, a linear op's jvp is the op
  applied to the tangents, and any other op uses the double-vjp trick (see the function).

A node is one slotted object holding its op, its operands and any constants (``params``); no
closures and no reference cycles, so a graph is freed by reference counting.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Collection, Optional, Sequence

import numpy as np

from .grad_mode import AnomalyError, GradMode, set_grad_enabled

__all__ = ["Node", "Op", "OPS", "defop", "Domain", "toposort", "backprop", "forward_sweep", "op_label"]


class Node:
    """Base class of ``Value`` and ``Tensor``: what the core needs from a node.

    ``_op`` (None for a leaf), ``_prev`` (the operand nodes, in argument order), ``_params``
    (the op's constants: an exponent, an axis, an index), ``_backward(g, create_graph)``, the
    chain rule at the node: the ``(operand, gradient)`` pairs it sends back, ``_dispatch(op,
    args, params)``, how ``op(...)`` makes a node of this engine, and for forward mode
    ``_fit(x)`` (``x`` given this node's shape) and, in the tensor engine, ``_cotangent()``.
    """

    __slots__ = ()
    _requires_grad = True  # a Tensor's own slot overrides this; every Value takes part


class Domain:
    """Where an op is smooth and well conditioned, for the property tests.

    One ``(lo, hi)`` range per input; points to stay ``margin`` away from (a kink or a pole,
    ``None`` for none); for an op with a constant, the ``params`` to draw it from.
    """

    __slots__ = ("ranges", "avoid", "margin", "params")

    def __init__(self, *ranges: tuple[float, float], avoid: Sequence[Optional[float]] = (), margin: float = 0.1,
                 params: Sequence[float] = ()):
        self.ranges = ranges
        self.avoid = tuple(avoid) + (None,) * (len(ranges) - len(avoid))
        self.margin, self.params = margin, tuple(params)

    def contains(self, *xs: float) -> bool:
        """True if inputs (then constants) ``xs`` lie where the op is smooth."""
        n = len(self.ranges)
        return all(
            lo <= x <= hi and (p is None or abs(x - p) > self.margin)
            for x, (lo, hi), p in zip(xs[:n], self.ranges, self.avoid)
        )


class Op:
    """One primitive, defined once for both engines.

    Attributes:
        name, symbol: how errors and graph drawings name it (``"mul"``, ``"*"``).
        nin: number of differentiable inputs (None: variadic, as ``concatenate``).
        scalar: forward on Python floats (IEEE semantics: nan/inf, never an exception), or None
            for tensor-only ops.
        array: forward on ndarrays, ``array(*inputs, *params) -> ndarray``.
        vjps: one rule per input, ``vjp(g, out, *inputs, *params)`` -> the gradient for that
            input (before broadcasting is undone: the engine sums it to the input's shape).
            A variadic op has one rule ``vjp(i, g, out, *inputs, *params)``.
        kind: ``"elementwise"`` (the Jacobian is diagonal), ``"linear"`` (linear in all inputs
            together) or ``"other"``; forward mode uses it (see :func:`forward_sweep`).
        domain: where the op is smooth, for the property tests (:mod:`gradengine.testing`).
        method: the name of the method users call (``"exp"``, ``"__mul__"``), if any.
    """

    __slots__ = ("name", "symbol", "nin", "scalar", "array", "vjps", "kind", "domain", "method", "doc")

    def __init__(self, name, symbol, nin, scalar, array, vjps, kind, domain, method, doc):
        self.name, self.symbol, self.nin = name, symbol, nin
        self.scalar, self.array, self.vjps = scalar, array, vjps
        self.kind, self.domain, self.method, self.doc = kind, domain, method, doc

    def __call__(self, *args: Any) -> Any:
        """Apply the op: a node in gives a node out (recorded), raw numbers or arrays in give raw out."""
        n = len(args) - 1 if self.nin is None else self.nin  # a variadic op's one param: its axis
        for x in args[:n]:
            if isinstance(x, Node):
                return x._dispatch(self, args[:n], args[n:])
        if self.scalar is not None and all(x.__class__ is float or x.__class__ is int for x in args[:n]):
            return self.scalar(*args)
        out = self.array(*args)
        return out if out.__class__ is np.ndarray else np.asarray(out)  # a 0-d array, not a NumPy scalar

    def vjp(self, i: int) -> Callable[..., Any]:
        """The rule for input ``i``."""
        return self.vjps[i] if self.nin is not None else (lambda *a: self.vjps(i, *a))

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}  # name -> Op: the single definition of every primitive of both engines


def defop(
    name: str,
    symbol: str,
    nin: Optional[int],
    *,
    array: Callable[..., Any],
    vjps: Any,
    scalar: Optional[Callable[..., float]] = None,
    kind: str = "other",
    domain: Optional[Domain] = None,
    method: Optional[str] = None,
    doc: str = "",
) -> Op:
    """Register a primitive. ``scalar`` given means the scalar engine has it too."""
    if name in OPS:
        raise ValueError(f"op {name!r} is already defined")
    if nin is not None and len(vjps) != nin:
        raise ValueError(f"op {name!r} has {nin} inputs but {len(vjps)} vjp rules")
    if kind not in ("elementwise", "linear", "other"):
        raise ValueError(f"op {name!r}: unknown kind {kind!r}")
    OPS[name] = op = Op(name, symbol, nin, scalar, array, vjps, kind, domain, method, doc)
    return op


def op_label(node: Any) -> str:
    """The text a drawing shows for ``node``'s op, with its constants: ``**2``, ``sum(axis=1)``."""
    op = node._op
    if op is None:
        return ""
    params = node._params
    if not params:
        return op.symbol
    if op.name == "powc":
        return f"**{params[0]:g}"
    if op.name == "getitem":
        return f"[{_index_text(params[0])}]"
    if op.name in ("sum", "mean", "max", "logsumexp", "softmax", "log_softmax", "concatenate", "stack"):
        axis = params[0]
        if axis is None:
            return op.symbol
        if isinstance(axis, tuple) and len(axis) == 1:
            axis = axis[0]
        return f"{op.symbol}(axis={axis})"
    return op.symbol


def _index_text(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)

    def one(p: Any) -> str:
        if isinstance(p, slice):
            s = "" if p.start is None else str(p.start)
            s += ":" + ("" if p.stop is None else str(p.stop))
            return s + (f":{p.step}" if p.step is not None else "")
        if p is None:
            return "None"
        if p is Ellipsis:
            return "..."
        if isinstance(p, np.ndarray):
            return f"<{p.dtype} array {p.shape}>" if p.size > 4 else str(p.tolist())
        return str(p)

    return ", ".join(one(p) for p in parts)


# ---------------------------------------------------------------------------------------------
# The reverse pass
# ---------------------------------------------------------------------------------------------
def toposort(root: Node, stop: Collection[Node] = ()) -> list[Node]:
    """``root`` and every node it depends on, each after all of its consumers.

    A depth-first search, iterative (a graph may be a million nodes deep) and deterministic:
    a node is placed when everything it depends on is, and the reversed placing order puts
    every consumer before what it consumes. Nodes that need no gradient (Tensors without
    ``requires_grad``) are left out, and nodes in ``stop`` are not looked behind.
    """
    # The stack holds nodes to visit and, below the operands of a node being expanded, that
    # node followed by a ``None`` marker: popping the marker places the node under it. Plain
    # nodes and a shared marker, not (node, expanded) pairs: no object is made per node.
    order, seen, stack = [], set(), [root]
    place, visit, push, pop = order.append, seen.add, stack.append, stack.pop
    while stack:
        node = pop()
        if node is None:  # everything below the node under the marker is placed
            place(pop())
        elif node not in seen:
            visit(node)
            push(node)
            push(None)
            if stop and node in stop:
                continue
            for p in node._prev:
                if p not in seen and p._requires_grad:
                    push(p)
    order.reverse()
    return order


def backprop(
    root: Node,
    seed: Any,
    *,
    create_graph: bool = False,
    watch: Optional[Callable[[Node, Any, tuple], None]] = None,
    stop: Collection[Node] = (),
) -> dict[Node, Any]:
    """Return ``{node: d(root)/d(node)}`` (times ``seed``) for every node ``root`` depends on.

    The chain rule, applied in reverse topological order: each node's gradient is complete
    before it is sent on. With ``create_graph`` the rules run on nodes, so every gradient is
    itself a graph that can be differentiated again; otherwise they run on raw numbers/arrays.
    ``watch(node, grad, sent)``, if given, sees each node as it is processed, with the
    ``(operand, gradient)`` pairs it sent. Nodes in ``stop`` get their gradient but pass none
    on (the caller needs nothing behind them). Nothing is stored on the nodes.
    """
    grads = {root: seed}
    stop = set(stop)  # membership by identity (a Tensor's == is elementwise)
    get, anomaly = grads.get, GradMode.anomaly
    observed = anomaly or watch is not None  # one test a node in the common case
    with set_grad_enabled(create_graph):
        for node in toposort(root, stop):
            if node._op is None or (stop and node in stop):  # nothing to send on
                if watch is not None:
                    watch(node, grads[node], ())
                continue
            g = grads[node]
            sent = node._backward(g, create_graph)
            for p, gp in sent:
                prev = get(p)
                grads[p] = gp if prev is None else prev + gp
            if observed:
                if anomaly:
                    _check_backward(node, sent)
                if watch is not None:
                    watch(node, g, sent)
    return grads


def forward_sweep(root: Node, tangents: dict[Node, Any]) -> Any:
    """Forward mode: the tangent of ``root`` given the ``tangents`` of some of its inputs.

    Walks the recorded graph from the inputs up (the reverse pass's order, reversed) and gives
    each node the tangent ``sum_i J_i t_i`` of its operands' tangents ``t_i``, from the op's own
    vjp rules: for an elementwise op ``J_i`` is diagonal, so ``J_i t_i = vjp_i(t_i)``; a linear
    op applied to the tangents is its own jvp; any other op (``matmul``, ``linear``, the
    softmax family, the reductions ``max``/``logsumexp``, the fused losses) uses the double-vjp
    trick: ``u -> sum_i <vjp_i(u), t_i>`` is linear in ``u`` with gradient ``sum_i J_i t_i``,
    at the cost of one extra reverse pass through that op's rules. The tangents are computed
    with the library's ops, so they have history and forward mode nests with everything else.
    """
    order = toposort(root)
    tan = dict(tangents)
    for node in reversed(order):
        if node in tan or node._op is None:
            continue
        ts = [tan.get(p) for p in node._prev]
        if any(t is not None for t in ts):
            tan[node] = _jvp(node, ts)
    return tan.get(root)


def _jvp(node: Node, ts: list) -> Any:
    """``sum_i J_i t_i`` at ``node`` from its op's vjp rules (see :func:`forward_sweep`)."""
    op, prev, params = node._op, node._prev, node._params
    if op.kind == "linear":
        return op(*[np.zeros_like(p.data) if t is None else t for p, t in zip(prev, ts)], *params)
    if op.kind == "elementwise":  # J_i is diagonal: J_i t_i is the rule applied to t_i
        terms = [op.vjp(i)(t, node, *prev, *params) for i, t in enumerate(ts) if t is not None]
        return node._fit(_total(terms))
    u = node._cotangent()  # the double-vjp trick: d/du sum_i <vjp_i(u), t_i> = sum_i J_i t_i
    s = _total([(p._fit(op.vjp(i)(u, node, *prev, *params)) * t).sum() for i, (p, t) in enumerate(zip(prev, ts)) if t is not None])
    # Only the rules' own nodes lie between s and u: stop at the node, its operands and their
    # tangents, so the pass does not walk the graph behind them (the result keeps their history).
    stop = {node, *prev, *(t for t in ts if isinstance(t, Node))}
    return backprop(s, s._fit(1.0), create_graph=True, stop=stop)[u]


def _total(terms: list) -> Any:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _check_backward(node: Node, sent: tuple) -> None:
    """Under ``detect_anomaly()``: the first non-finite gradient names the op that made it."""
    for i, (p, g) in enumerate(sent):
        data = np.asarray(getattr(g, "data", g))
        if data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
            raise AnomalyError(
                f"backward of op {node._op.name!r} produced {_bad(data)} in the gradient of its "
                f"input {i}; inputs {describe_values(node._prev)}"
            )


def check_forward(op: Op, inputs: Sequence[Any], out: Any) -> None:
    """Under ``detect_anomaly()``: raise if ``op``'s forward output is not finite."""
    data = np.asarray(out)
    if data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
        raise AnomalyError(f"forward of op {op.name!r} produced {_bad(data)} from inputs {describe_values(inputs)}")


def _bad(a: np.ndarray) -> str:
    return "nan" if np.isnan(a).any() else "inf"


def describe_values(xs: Sequence[Any]) -> str:
    """``[float32 (32, 10) in [-1.2, 3.4], float 2]``: shapes and value ranges, for messages."""
    parts = []
    for x in xs:
        d = getattr(x, "data", x)
        if isinstance(d, np.ndarray):
            if d.size:
                with np.errstate(all="ignore"):
                    parts.append(f"{d.dtype} {d.shape} in [{np.nanmin(d) if not np.isnan(d).all() else math.nan:.4g}, "
                                 f"{np.nanmax(d) if not np.isnan(d).all() else math.nan:.4g}]")
            else:
                parts.append(f"{d.dtype} {d.shape}")
        else:
            parts.append(f"float {d:.6g}")
    return "[" + ", ".join(parts) + "]"
