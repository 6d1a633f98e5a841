"""Draw computation graphs and models with Graphviz, to *see* the forward pass and every gradient.

    >>> from gradengine import Value
    >>> from gradengine.viz import draw
    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> c = a - b
    >>> c.label = "c"
    >>> c.backward()
    >>> g = draw(c)        # a graphviz.Digraph; in Jupyter it displays inline
    >>> "data 5.0000" in g.source and "grad -1.0000" in g.source
    True

``draw(x)`` is the one way to look at a graph. It accepts

* a scalar ``Value``: micrograd-style record nodes ``label | data 2.0000 | grad -3.0000``, with
  an op node (``+``, ``*``, ``exp``, ``**2`` ... taken from the engine's op table) between each
  result and its operands; the two operands of a binary op arrive on edges labelled ``lhs`` and
  ``rhs``, so ``a - b`` and ``b - a`` look different;
* a ``Tensor`` (duck-typed: anything with ``op``, ``children``, ``is_leaf``, ``name``, ``shape``,
  ``dtype``, ``data``, ``grad`` and ``requires_grad``): each node shows its name, shape, dtype,
  a data range and a gradient summary (``‖grad‖``) rather than every number. As in PyTorch,
  only leaves keep their gradient, so computed tensors show ``grad None`` (and stay white)
  unless ``retain_grad()`` was called on them;
* a ``Module``: the model, with every parameter's name, shape and gradient norm; submodules are
  drawn as nested clusters, and runs of identical siblings (the 16 neurons of a layer) as one
  ``16 ×`` node.

What the picture encodes:

* **Fill colour = gradient magnitude on a log scale**, one colour per two decades: blue for
  vanishing gradients (< 1e-6 is darkest), red for exploding ones (>= 1e6 is darkest), white for
  zero or no gradient, yellow for ``nan``. The scale is absolute, not relative to the graph, so two
  drawings can be compared (a deep sigmoid chain turns blue; a ReLU chain stays pale). The legend
  under the graph says so.
* **Shape = kind of node**: bold square box for a leaf (an input or a parameter), rounded box for
  a computed value, dashed box for a tensor constant (a leaf without ``requires_grad``), small grey
  ellipse for an op.

Big graphs: only the ``max_nodes`` value nodes closest to the root (breadth-first) are drawn; the
rest collapse into one summary node ("… 64,932 more nodes hidden (max_nodes=200)"), and the graph
label says so. The traversal is iterative (a graph may be a million nodes deep) and node ids come
from the traversal order, never from ``id()``: the same graph always gives byte-identical DOT
source, which can be diffed and tested.

Rendering: ``draw()`` never needs the Graphviz ``dot`` program; ``draw(x).source`` is the DOT
text. To write a file use :func:`render` (``render(loss, "graph.svg")``) or :func:`to_svg`; these
need ``dot`` and, without it, raise :class:`GraphvizNotFoundError` saying how to install it.
(``draw(x).render(...)`` also works but raises graphviz's own error and leaves a ``.gv`` file
beside the output.)

Why no automatic notebook display of every ``Value`` or ``Tensor``? The engines stay free of
any drawing code, and a notebook cell that ends in ``loss`` should print a number, not lay out a
65,000-node graph. ``draw(loss)`` is explicit and just as short.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Optional, Union

import graphviz
import numpy as np

from .autograd import op_label
from .engine import Value
from .nn.module import Module

__all__ = ["draw", "render", "to_svg", "grad_fill", "GraphvizNotFoundError"]

GraphLike = Union[Value, Module, Any]  # Any: a Tensor, duck-typed (see the module docstring)

# ---------------------------------------------------------------------------------------------
# Gradient colour scale: one colour per two decades of |grad|, a diverging blue-red palette
# (ColorBrewer RdBu) centred on 1, so "vanishing" and "exploding" are equally easy to spot.
# ---------------------------------------------------------------------------------------------
_GRAD_EDGES = (1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6)  # bin i holds EDGES[i-1] <= |g| < EDGES[i]
_GRAD_FILLS = ("#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#fddbc7", "#f4a582", "#d6604d", "#b2182b")
_GRAD_BIN_TEXT = ("< 1e-6", "1e-6", "1e-4", "0.01", "1", "100", "1e4", ">= 1e6")
_DARK_FILLS = frozenset({_GRAD_FILLS[0], _GRAD_FILLS[1], _GRAD_FILLS[-2], _GRAD_FILLS[-1]})
_NO_GRAD_FILL = "white"  # zero gradient, or none computed
_NAN_FILL = "#ffd92f"

_OPERAND_NAMES = ("lhs", "rhs")  # edge labels of a binary op's operands, in order
_RANKDIRS = ("LR", "TB", "RL", "BT")
_FONT = "Helvetica"


class GraphvizNotFoundError(RuntimeError):
    """Rendering needs the Graphviz ``dot`` program, and it is not installed (or not on PATH)."""


def grad_fill(magnitude: Optional[float]) -> str:
    """The fill colour for a gradient of this magnitude (``|grad|`` or ``‖grad‖``).

    ``None`` or ``0`` (no gradient) is white and ``nan`` yellow; otherwise the colour of the
    two-decade bin the magnitude falls in, from dark blue (< 1e-6) to dark red (>= 1e6).
    """
    if magnitude is None or magnitude == 0.0:
        return _NO_GRAD_FILL
    if magnitude != magnitude:
        return _NAN_FILL
    magnitude = abs(magnitude)
    i = 0
    while i < len(_GRAD_EDGES) and magnitude >= _GRAD_EDGES[i]:
        i += 1
    return _GRAD_FILLS[i]


def _colour_attrs(magnitude: Optional[float]) -> dict[str, str]:
    fill = grad_fill(magnitude)
    attrs = {"fillcolor": fill}
    if fill in _DARK_FILLS:
        attrs["fontcolor"] = "white"
    return attrs


# ---------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    """A number as micrograd shows it (``2.0000``), switching to ``1.2346e-12`` when ``%.4f``
    would hide it: a vanishing gradient must not print as ``0.0000``."""
    x += 0.0  # -0.0 -> 0.0
    if x == 0.0 or 1e-4 <= abs(x) < 1e6:
        return f"{x:.4f}"
    return f"{x:.4e}"  # also nan, inf, -inf


def _short(x: float) -> str:
    return f"{x + 0.0:.4g}"


_RECORD_SPECIAL = re.compile(r"([\\{}|<>])")


def _record_text(text: str) -> str:
    """Escape text for one field of a Graphviz record label."""
    text = " ".join(str(text).split())  # newlines and tabs would break the record
    return _RECORD_SPECIAL.sub(r"\\\1", text)


def _record(fields: Sequence[str], rankdir: str) -> str:
    """A record label whose fields sit side by side, whatever the rank direction."""
    body = " | ".join(fields)
    # In a left-to-right layout a record's fields stack vertically unless wrapped in braces.
    return graphviz.nohtml("{ " + body + " }" if rankdir in ("LR", "RL") else body)


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_text(text: str, fill: str) -> str:
    """Text for an HTML table cell, white on the dark fills."""
    return f'<font color="white">{_h(text)}</font>' if fill in _DARK_FILLS else _h(text)


def _count(n: int, noun: str = "") -> str:
    """``65,618`` or, with a noun, ``1 op`` / ``4 ops``."""
    if not noun:
        return f"{n:,}"
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


# ---------------------------------------------------------------------------------------------
# Traversal
# ---------------------------------------------------------------------------------------------
def _bfs(root: Any, children: Callable[[Any], Sequence[Any]]) -> list[Any]:
    """Every node reachable from ``root``, breadth first, operands in order; iterative."""
    order = [root]
    seen = {id(root)}  # nodes stay alive in ``order``, so their ids cannot be reused
    i = 0
    while i < len(order):
        for c in children(order[i]):
            if id(c) not in seen:
                seen.add(id(c))
                order.append(c)
        i += 1
    return order


# ---------------------------------------------------------------------------------------------
# How each engine's nodes are shown
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _NodeView:
    """What the generic graph drawer needs to know about one engine's nodes."""

    kind: str  # "Value" or "Tensor", for the graph label
    grad_name: str  # "|grad|" or "‖grad‖", for the legend
    children: Callable[[Any], Sequence[Any]]
    op_label: Callable[[Any], Optional[str]]  # None for a leaf
    fields: Callable[[Any, bool, bool], list[str]]  # record fields (already escaped)
    grad_magnitude: Callable[[Any], Optional[float]]
    shape_attrs: Callable[[Any], dict[str, str]]


_LEAF = {"shape": "record", "style": "filled,bold"}
_COMPUTED = {"shape": "Mrecord", "style": "filled"}
_CONSTANT = {"shape": "record", "style": "filled,dashed"}


def _value_children(v: Value) -> tuple[Value, ...]:
    return v.children


def _value_op_label(v: Value) -> Optional[str]:
    return None if v._op is None else op_label(v)


def _value_grad(v: Value) -> float:
    g = v.grad  # a Value itself after backward(create_graph=True)
    return float(g.data if isinstance(g, Value) else g)


def _value_fields(v: Value, show_data: bool, show_grad: bool) -> list[str]:
    fields = [_record_text(v.label)]
    if show_data:
        fields.append(f"data {_fmt(v.data)}")
    if show_grad:
        fields.append(f"grad {_fmt(_value_grad(v))}")
    return fields


_SCALAR_VIEW = _NodeView(
    kind="Value",
    grad_name="|grad|",
    children=_value_children,
    op_label=_value_op_label,
    fields=_value_fields,
    grad_magnitude=lambda v: abs(_value_grad(v)),
    shape_attrs=lambda v: _LEAF if v._op is None else _COMPUTED,
)


def _tensor_op_label(t: Any) -> Optional[str]:
    op = t.op
    return None if op is None else str(op.symbol or op.name)


def _grad_norm(g: Any) -> Optional[float]:
    """The L2 norm of a gradient (a float or an array), in float64; None for no gradient."""
    if g is None:
        return None
    a = np.asarray(g, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(a * a)))


def _tensor_fields(t: Any, show_data: bool, show_grad: bool) -> list[str]:
    fields = []
    if t.name:
        fields.append(_record_text(t.name))
    fields.append(_record_text(f"{tuple(t.shape)} {t.dtype}"))
    if show_data:
        data = np.asarray(t.data)
        if data.size == 0:
            fields.append("data (empty)")
        elif data.size == 1:
            fields.append(f"data {_fmt(float(data.reshape(())))}")
        else:
            fields.append(f"data [{_short(float(np.min(data)))}, {_short(float(np.max(data)))}]")
    if show_grad:
        if t.grad is None:
            fields.append("grad None")
        else:
            g = np.asarray(t.grad)
            if g.size == 1:
                fields.append(f"grad {_fmt(float(g.reshape(())))}")
            else:
                fields.append(f"‖grad‖ {_fmt(_grad_norm(g))}")
    return fields


def _tensor_shape_attrs(t: Any) -> dict[str, str]:
    if not t.is_leaf:
        return _COMPUTED
    return _LEAF if t.requires_grad else _CONSTANT


_TENSOR_VIEW = _NodeView(
    kind="Tensor",
    grad_name="‖grad‖",
    children=lambda t: t.children,
    op_label=_tensor_op_label,
    fields=_tensor_fields,
    grad_magnitude=lambda t: _grad_norm(t.grad),
    shape_attrs=_tensor_shape_attrs,
)


def _is_tensor_like(x: object) -> bool:
    return all(hasattr(x, a) for a in ("op", "children", "is_leaf", "shape", "dtype", "grad"))


# ---------------------------------------------------------------------------------------------
# Graph label: what is shown, the truncation note, the legend
# ---------------------------------------------------------------------------------------------
def _graph_label(lines: list[str], legend: bool, grad_name: str, show_grad: bool, shapes: str) -> str:
    """An HTML-like graph label: a few lines of text, then the colour legend."""
    rows = [f'<tr><td align="left">{_h(line)}</td></tr>' for line in lines]
    if legend:
        if show_grad:
            cells = [f'<td bgcolor="{_NO_GRAD_FILL}">0 / none</td>']
            for fill, text in zip(_GRAD_FILLS, _GRAD_BIN_TEXT):
                cells.append(f'<td bgcolor="{fill}">{_html_text(text, fill)}</td>')
            cells.append(f'<td bgcolor="{_NAN_FILL}">nan</td>')
            rows.append(
                f'<tr><td align="left">fill colour = {_h(grad_name)} on a log scale '
                "(each colour from its number up to the next): blue = vanishing, red = exploding"
                "</td></tr>"
            )
            rows.append(
                '<tr><td align="left"><table border="0" cellborder="1" cellspacing="0" cellpadding="2">'
                f"<tr>{''.join(cells)}</tr></table></td></tr>"
            )
        rows.append(f'<tr><td align="left">{_h(shapes)}</td></tr>')
    return '<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">' + "".join(rows) + "</table>>"


def _new_digraph(format: str, rankdir: str, label: str) -> graphviz.Digraph:
    return graphviz.Digraph(
        name="gradengine",
        format=format,
        graph_attr={"rankdir": rankdir, "label": label, "labelloc": "b", "labeljust": "l",
                    "fontname": _FONT, "fontsize": "10"},
        node_attr={"fontname": _FONT, "fontsize": "11"},
        edge_attr={"fontname": _FONT, "fontsize": "9", "fontcolor": "grey35", "color": "grey30"},
    )


# ---------------------------------------------------------------------------------------------
# Computation graphs (Value or Tensor)
# ---------------------------------------------------------------------------------------------
def _draw_graph(root: Any, view: _NodeView, *, format: str, rankdir: str, show_data: bool,
                show_grad: bool, max_nodes: Optional[int], legend: bool) -> graphviz.Digraph:
    order = _bfs(root, view.children)
    total = len(order)
    kept = order if max_nodes is None else order[:max_nodes]
    index = {id(n): i for i, n in enumerate(kept)}  # node id = position in the traversal
    hidden = total - len(kept)

    n_ops = sum(1 for n in kept if view.op_label(n) is not None)
    lines = [f"{view.kind} graph: {_count(len(kept), 'value')}, {_count(n_ops, 'op')}"]
    if hidden:
        lines[0] = f"{view.kind} graph: {_count(len(kept))} of {_count(total)} values shown"
        lines.append(_hidden_text(hidden, max_nodes))
    shapes = "bold box = leaf (input or parameter), rounded = computed, ellipse = op"
    if view.kind == "Tensor":
        shapes += ", dashed = constant (no requires_grad)"
    dot = _new_digraph(format, rankdir, _graph_label(lines, legend, view.grad_name, show_grad, shapes))

    for i, n in enumerate(kept):
        attrs = dict(view.shape_attrs(n))
        if show_grad:
            attrs.update(_colour_attrs(view.grad_magnitude(n)))
        else:
            attrs["fillcolor"] = _NO_GRAD_FILL
        dot.node(f"v{i}", label=_record(view.fields(n, show_data, show_grad), rankdir), **attrs)
        op = view.op_label(n)
        if op is not None:
            dot.node(f"v{i}_op", label=graphviz.nohtml(op), shape="ellipse", style="filled",
                     fillcolor="grey92", color="grey50", fontsize="10", height="0.3", margin="0.04,0.02")
            dot.edge(f"v{i}_op", f"v{i}")
    if hidden:
        dot.node("hidden", label=graphviz.nohtml(_hidden_text(hidden, max_nodes)),
                 shape="box", style="dashed,rounded", color="grey50", fontcolor="grey30")

    for i, n in enumerate(kept):
        operands = view.children(n)
        if not operands:
            continue
        names = _OPERAND_NAMES if len(operands) == 2 else tuple(str(k) for k in range(len(operands)))
        hidden_edge = False
        for name, c in zip(names, operands):
            j = index.get(id(c))
            attrs = {"label": name} if len(operands) > 1 else {}
            if j is not None:
                dot.edge(f"v{j}", f"v{i}_op", **attrs)
            elif not hidden_edge:  # one dashed edge per op, however many operands it lost
                hidden_edge = True
                dot.edge("hidden", f"v{i}_op", style="dashed", color="grey50")
    return dot


def _hidden_text(hidden: int, max_nodes: Optional[int]) -> str:
    return f"… {_count(hidden, 'more node')} hidden (max_nodes={max_nodes})"


# ---------------------------------------------------------------------------------------------
# Module view
# ---------------------------------------------------------------------------------------------
@dataclass
class _ParamRow:
    name: str
    shape: str  # "(16, 2) float64", "(2,)" for a list of 2 Values, "scalar" for one Value
    grads: list  # the gradients summarised in this row (floats or arrays or None)

    def grad_text(self) -> str:
        gs = [g for g in self.grads if g is not None]
        if not gs:
            return "grad None"
        if len(self.grads) == 1 and isinstance(gs[0], float):  # one scalar: keep its sign
            return f"grad {_fmt(gs[0])}"
        return f"‖grad‖ {_fmt(self.grad_norm())}"

    def grad_norm(self) -> Optional[float]:
        gs = [g for g in self.grads if g is not None]
        if not gs:
            return None
        return math.sqrt(math.fsum(_grad_norm(g) ** 2 for g in gs))


def _param_rows(params: list[tuple[str, Any]]) -> list[_ParamRow]:
    """One row per parameter; Values listed under one name (``w.0``, ``w.1``) become one row
    ``w (2,)``, as micrograd's lists of weights are vectors."""
    rows: dict[str, _ParamRow] = {}
    value_index: dict[str, list[tuple[int, ...]]] = {}
    for name, p in params:
        if isinstance(p, Value):
            parts = name.split(".")
            key = ".".join(s for s in parts if not s.isdigit()) or name
            row = rows.setdefault(key, _ParamRow(key, "", []))
            row.grads.append(_value_grad(p))
            value_index.setdefault(key, []).append(tuple(int(s) for s in parts if s.isdigit()))
        else:
            rows[name] = _ParamRow(name, f"{tuple(p.shape)} {p.dtype}", [p.grad])
    for key, idx in value_index.items():
        dims = max(len(i) for i in idx)
        shape = tuple(max(i[d] for i in idx if len(i) > d) + 1 for d in range(dims))
        rows[key].shape = str(shape) if shape else "scalar"
    return list(rows.values())


def _module_title(name: str, m: Module, leaf: bool) -> str:
    kind = type(m).__name__
    if leaf:
        r = repr(m)
        if "\n" not in r and len(r) <= 60:
            kind = r
    return f"{name}: {kind}" if name else kind


def _module_table(titles: list[str], rows: list[_ParamRow], show_grad: bool) -> str:
    cols = 3 if show_grad else 2
    out = ['<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">']
    for i, t in enumerate(titles):
        out.append(f'<tr><td colspan="{cols}" bgcolor="grey92"><b>{_h(t)}</b></td></tr>' if i == 0
                   else f'<tr><td colspan="{cols}" bgcolor="grey92">{_h(t)}</td></tr>')
    for r in rows:
        cells = f'<td align="left">{_h(r.name)}</td><td align="left">{_h(r.shape)}</td>'
        if show_grad:
            norm = r.grad_norm()
            fill = grad_fill(norm)
            cells += f'<td bgcolor="{fill}" align="left">{_html_text(r.grad_text(), fill)}</td>'
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</table>>"


def _draw_module(root: Module, *, format: str, rankdir: str, show_grad: bool,
                 legend: bool) -> graphviz.Digraph:
    modules = list(root.named_modules())
    names = {n for n, _ in modules}
    kids: dict[str, list[tuple[str, Module]]] = {n: [] for n, _ in modules}
    for n, m in modules[1:]:
        parent = n
        while True:  # the nearest enclosing module; "" (the root) always matches
            parent = parent.rpartition(".")[0]
            if parent in names:
                break
        kids[parent].append((n, m))
    own: dict[str, list[tuple[str, Any]]] = {n: [] for n in names}
    params = list(root.named_parameters())
    for pname, p in params:
        owner = pname
        while True:
            owner = owner.rpartition(".")[0]
            if owner in names:
                break
        own[owner].append((pname[len(owner) + 1:] if owner else pname, p))

    n_params = sum(int(np.size(p.data)) for _, p in params)
    lines = [f"{type(root).__name__}: {_count(n_params, 'parameter')}"]
    n_tensors = sum(1 for _, p in params if not isinstance(p, Value))
    if n_tensors:
        lines[0] += f" in {_count(n_tensors, 'tensor')}"
    shapes = "cluster = module with submodules; n × = n identical sibling modules"
    dot = _new_digraph(format, rankdir, _graph_label(lines, legend, "‖grad‖ of each parameter",
                                                     show_grad, shapes))
    counter = [0]

    def node(g: graphviz.Digraph, titles: list[str], rows: list[_ParamRow]) -> str:
        nid = f"m{counter[0]}"
        counter[0] += 1
        g.node(nid, label=_module_table(titles, rows, show_grad), shape="none", margin="0")
        return nid

    def add(g: graphviz.Digraph, name: str, m: Module, shown: str) -> tuple[str, str]:
        """Draw module ``m`` (called ``shown`` inside its parent) into ``g``; return its first and
        last node ids, so siblings can be kept in order."""
        children = kids[name]
        if not children:
            nid = node(g, [_module_title(shown, m, leaf=True)], _param_rows(own[name]))
            return nid, nid
        with g.subgraph(name=f"cluster_m{counter[0]}") as c:
            counter[0] += 1
            c.attr(label=_module_title(shown, m, leaf=False), labelloc="t", labeljust="l",
                   style="rounded", color="grey50", fontname=_FONT, fontsize="11")
            ids: list[tuple[str, str]] = []
            if own[name]:
                nid = node(c, ["own parameters"], _param_rows(own[name]))
                ids.append((nid, nid))
            for group in _runs(children, kids, own):
                first, m0 = group[0]
                if len(group) == 1:
                    ids.append(add(c, first, m0, _relative(first, name)))
                    continue
                # identical leaf siblings (a layer's neurons): one node for all of them
                last = group[-1][0]
                titles = [f"{_relative(first, name)} … {_relative(last, name)}: "
                          f"{len(group)} × {_module_title('', m0, leaf=True)}"]
                if own[first]:
                    titles.append(f"shapes per module, ‖grad‖ over all {len(group)}")
                nid = node(c, titles, _param_rows([kp for n, _ in group for kp in own[n]]))
                ids.append((nid, nid))
            for (_, a), (b, _) in zip(ids, ids[1:]):  # keep registration order along rankdir
                c.edge(a, b, style="invis")
        return ids[0][0], ids[-1][1]

    add(dot, "", root, "")
    return dot


def _relative(name: str, parent: str) -> str:
    """``layers.0.neurons.3`` inside ``layers.0`` is ``neurons.3``."""
    return name[len(parent) + 1:] if parent else name


def _signature(name: str, m: Module, kids: dict, own: dict) -> Optional[tuple]:
    """What makes two leaf modules look the same in the module view (None: never merged)."""
    if kids[name]:
        return None
    return (_module_title("", m, leaf=True),
            tuple((r.name, r.shape) for r in _param_rows(own[name])))


def _runs(children: list[tuple[str, Module]], kids: dict, own: dict) -> list[list[tuple[str, Module]]]:
    """Group consecutive siblings with the same signature (leaf modules only)."""
    groups: list[list[tuple[str, Module]]] = []
    last = None
    for name, m in children:
        sig = _signature(name, m, kids, own)
        if groups and sig is not None and sig == last:
            groups[-1].append((name, m))
        else:
            groups.append([(name, m)])
        last = sig
    return groups


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def draw(root: GraphLike, *, format: str = "svg", rankdir: str = "LR", show_data: bool = True,
         show_grad: bool = True, max_nodes: Optional[int] = 200, legend: bool = True) -> graphviz.Digraph:
    """Draw the computation graph ending at ``root`` (a ``Value`` or ``Tensor``), or a ``Module``.

    Args:
        root: the output of a computation (usually the loss, after ``backward()``), or a model.
        format: the default output format of the returned graph's ``render()``/``pipe()``.
        rankdir: ``"LR"`` (inputs on the left, output on the right), ``"TB"``, ``"RL"`` or ``"BT"``.
        show_data: show each node's data (for tensors: the range, or the value if it has one).
            Not used for a Module.
        show_grad: show each node's gradient and colour nodes by its magnitude (log scale).
        max_nodes: draw at most this many value nodes, those closest to ``root``; the rest become
            one "… N more nodes hidden" node. ``None`` draws everything (slow for big graphs).
            Each value node's op node comes with it and is not counted. Not used for a Module.
        legend: put the colour and shape legend under the graph.

    Returns:
        A ``graphviz.Digraph``: ``.source`` is its DOT text (no Graphviz install needed); in
        Jupyter it displays inline (that, like :func:`render` and :func:`to_svg`, runs ``dot``).
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}; got {rankdir!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int)
                                  or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    if isinstance(root, Value):
        view = _SCALAR_VIEW
    elif isinstance(root, Module):
        return _draw_module(root, format=format, rankdir=rankdir, show_grad=show_grad, legend=legend)
    elif _is_tensor_like(root):
        view = _TENSOR_VIEW
    else:
        hint = (" (a Layer with several neurons returns a list: draw each output, or their sum)"
                if isinstance(root, (list, tuple)) else "")
        raise TypeError(f"draw() takes a Value, a Tensor or a Module, got {type(root).__name__}{hint}")
    return _draw_graph(root, view, format=format, rankdir=rankdir, show_data=show_data,
                       show_grad=show_grad, max_nodes=max_nodes, legend=legend)


_INSTALL_HINT = (
    "rendering needs the Graphviz 'dot' program, which was not found on PATH. Install Graphviz "
    "(the program, not just the Python package): 'apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS) or 'conda install graphviz'. "
    "Without it, draw(x).source still gives the DOT text."
)


def _as_graph(root: Union[GraphLike, graphviz.Digraph], kw: dict) -> graphviz.Digraph:
    if isinstance(root, (graphviz.Digraph, graphviz.Graph, graphviz.Source)):
        if kw:
            raise TypeError(f"draw() options {sorted(kw)} cannot be applied to an already drawn graph")
        return root
    return draw(root, **kw)


def _pipe(graph: Any, format: str) -> bytes:
    try:
        return graph.pipe(format=format)
    except graphviz.ExecutableNotFound as e:
        raise GraphvizNotFoundError(_INSTALL_HINT) from e


def to_svg(root: Union[GraphLike, graphviz.Digraph], **kw: Any) -> str:
    """The SVG text of ``draw(root, **kw)`` (or of an already drawn graph). Needs ``dot``."""
    return _pipe(_as_graph(root, kw), "svg").decode("utf-8")


def render(root: Union[GraphLike, graphviz.Digraph], path: Union[str, PathLike],
           format: Optional[str] = None, **kw: Any) -> Path:
    """Write ``draw(root, **kw)`` (or an already drawn graph) to ``path``; return the path.

    The format is ``format`` if given, else the file's suffix (``graph.svg``, ``graph.png``), else
    SVG (and ``.svg`` is appended). Only that one file is written. Needs ``dot``: without it this
    raises :class:`GraphvizNotFoundError`, which says how to install Graphviz.
    """
    path = Path(path)
    suffix = path.suffix.lstrip(".").lower()
    fmt = (format or suffix or "svg").lower()
    if fmt not in graphviz.FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; use e.g. 'svg', 'png' or 'pdf'")
    if not suffix:
        path = path.with_name(f"{path.name}.{fmt}")
    elif format is not None and suffix != fmt:
        raise ValueError(f"format={format!r} does not match the file name {path.name!r}")
    data = _pipe(_as_graph(root, kw), fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
