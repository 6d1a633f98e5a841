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
  an op node (``+``, ``*``, ``exp``, ``**2`` ... with the op's constants, from
  ``gradengine.autograd.op_label``) between each result and its operands;
* a ``Tensor``: each node shows its name, shape, dtype, a data range and its gradient (the
  value if it has one element, else the norm ``‖grad‖``). After ``backward()`` *every* tensor
  shows its gradient, activations included: ``draw`` runs its own backward pass to collect
  them (seeded with ones, as ``backward()`` of a one-element tensor) and leaves every ``.grad``
  untouched;
* a ``Module``: the model, with every parameter's name, shape and gradient norm; submodules are
  drawn as nested clusters, and runs of identical siblings (the 16 neurons of a layer) as one
  ``16 ×`` node.

What the picture encodes (the legend under the graph says it too):

* **Fill colour = gradient magnitude**, on an absolute log scale so two drawings compare. A
  colour-blind-safe blue/orange palette: blue where gradients vanish (below 1e-4, darker every
  two decades), a pale blue for small ones (1e-4 to 0.01), near-white (dark grey in the dark
  theme) for the healthy range 0.01 to 100, orange from 100 up, darkest from 1e6 (exploding).
  Colour is never the only cue: the number is printed, with ``▼`` for a vanishing and ``▲`` for an exploding gradient. NaN
  and infinite data or gradients are marked ``⚠`` with a thick border.
* **Shape = kind of node**: bold square box for a leaf that gets a gradient (an input or a
  parameter; parameters show their qualified name, such as ``0.weight``, when you pass
  ``params=model``), rounded box for a computed value, dashed box for a constant (a tensor
  without ``requires_grad``, or a number lifted into a graph such as the ``0.01`` of
  ``0.01 * x``), small ellipse for an op. Unary minus is ``neg``, subtraction ``-``.
* **Edges**: an op with several operands numbers its incoming edges by operand position
  (``0``, ``1``, ...), so ``a - b`` and ``b - a`` look different. That is the only edge label
  (in :func:`gradengine.viz.replay` frames the local derivative is added to it).
* Drawn **before** ``backward()``, the graph says that no gradient has been computed yet and
  shows none, instead of a misleading column of zeros.

Big graphs are **summarised, not cut** (:mod:`gradengine.viz.summary`): when a graph has more
than ``max_nodes`` nodes, long chains collapse into one box ("chain of 999,999 add",
"×12 linear → ReLU" with the gradient norm of every repetition), repeated subgraphs into one
"×99" box, and the path with the largest gradients stays expanded; every group shows how many
nodes of which ops it holds and its gradient norm. The traversal is iterative (a graph may be a
million nodes deep) and node ids come from the traversal order, never from ``id()``: the same
graph always gives byte-identical DOT source, which can be diffed and tested.

Rendering: ``draw()`` never needs the Graphviz ``dot`` program; ``draw(x).source`` is the DOT
text. Inline display in Jupyter uses ``dot`` when it is installed and otherwise falls back to a
readable text form of the same picture with the install hint (``draw(x).text``). To write a
file use :func:`render` (``render(loss, "graph.svg")``) or :func:`to_svg`; these need ``dot``
and, without it, raise :class:`GraphvizNotFoundError` saying how to install it.

Labels, names and values are escaped wherever they enter DOT (record fields and HTML-like
labels alike), so a label such as ``<script>`` or ``{a|b}`` shows as its text.
"""

from __future__ import annotations

import contextlib
import gc
import html
import math
import re
import warnings
from operator import attrgetter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Optional, Union

import graphviz
import numpy as np

from ..engine import Value
from ..nn.module import Module
from . import summary as _summary

from ..autograd import backprop, op_label  # the one reverse pass, shared by both engines

__all__ = ["draw", "render", "to_svg", "grad_fill", "Drawing", "GraphvizNotFoundError", "THEMES"]

GraphLike = Union[Value, Module, Any]  # Any: a Tensor

# ---------------------------------------------------------------------------------------------
# Gradient colour scale. Blues (ColorBrewer "Blues") for small gradients, oranges ("Oranges")
# for large ones: blue/orange stays distinct under every common colour-vision deficiency. The
# healthy range 0.01 <= |g| < 100 is one near-neutral band; "vanishing" starts below 1e-4,
# where a float32 update of a unit-scale weight is lost in rounding after a few hundred steps.
# ---------------------------------------------------------------------------------------------
_GRAD_EDGES = (1e-8, 1e-6, 1e-4, 1e-2, 1e2, 1e4, 1e6)  # bin i holds EDGES[i-1] <= |g| < EDGES[i]
_GRAD_FILLS = ("#08519c", "#3182bd", "#6baed6", "#c6dbef", "#f7f7f7", "#fdd0a2", "#fd8d3c", "#a63603")
_GRAD_BIN_TEXT = ("< 1e-8", "1e-8", "1e-6", "1e-4", "0.01", "100", "1e4", ">= 1e6")
_DARK_FILLS = frozenset({"#08519c", "#3182bd", "#fd8d3c", "#a63603"})  # white text on these
_NAN_FILL = "#ffd92f"
_HEALTHY = _GRAD_FILLS[4]
VANISHING_BELOW = 1e-4
EXPLODING_FROM = 1e4


@dataclass(frozen=True)
class Theme:
    """The colours of a drawing besides the gradient scale."""

    background: str
    text: str
    faint: str  # edge labels, notes
    line: str  # edges and outlines
    op_fill: str
    no_grad: str  # fill of a node without gradient (or a zero one)
    group_line: str
    healthy: str  # fill of the healthy band, 0.01 <= |grad| < 100


THEMES = {
    # hex colours (not X11 names such as grey30): the replay's player sets them from CSS too
    "light": Theme("white", "black", "#595959", "#4d4d4d", "#ebebeb", "white", "#737373", "#f7f7f7"),
    "dark": Theme("#1e1e1e", "#e8e8e8", "#b0b0b0", "#a0a0a0", "#3a3a3a", "#2b2b2b", "#9a9a9a", "#4a4a4a"),
}
_FONT = "Helvetica"
_RANKDIRS = ("LR", "TB", "RL", "BT")


class GraphvizNotFoundError(RuntimeError):
    """Rendering needs the Graphviz ``dot`` program, and it is not installed (or not on PATH)."""


def _bin(magnitude: float) -> int:
    i = 0
    while i < len(_GRAD_EDGES) and magnitude >= _GRAD_EDGES[i]:
        i += 1
    return i


def grad_fill(magnitude: Optional[float]) -> str:
    """The fill colour for a gradient of this magnitude (``|grad|`` or ``‖grad‖``).

    ``None`` or ``0`` (no gradient) is white and ``nan``/``inf`` yellow; otherwise the colour of
    the band the magnitude falls in, from dark blue (< 1e-8) to dark orange (>= 1e6).
    """
    if magnitude is None or magnitude == 0.0:
        return "white"
    if magnitude != magnitude or abs(magnitude) == math.inf:
        return _NAN_FILL
    return _GRAD_FILLS[_bin(abs(magnitude))]


def grad_marker(magnitude: Optional[float]) -> str:
    """The text cue printed after a gradient: ``▼`` vanishing, ``▲`` exploding, ``⚠`` nan/inf."""
    if magnitude is None or magnitude == 0.0:
        return ""
    if magnitude != magnitude or abs(magnitude) == math.inf:
        return " ⚠"
    m = abs(magnitude)
    return " ▼" if m < VANISHING_BELOW else " ▲" if m >= EXPLODING_FROM else ""


def _fill_attrs(magnitude: Optional[float], theme: Theme) -> dict[str, str]:
    """Fill and text colour of a node with this gradient magnitude."""
    fill = grad_fill(magnitude)
    if fill == "white":
        fill, font = theme.no_grad, theme.text
    elif fill == _HEALTHY:
        fill, font = theme.healthy, theme.text
    else:
        font = "white" if fill in _DARK_FILLS else "black"
    return {"fillcolor": fill} if font == theme.text else {"fillcolor": fill, "fontcolor": font}


# ---------------------------------------------------------------------------------------------
# Text helpers: every string that enters DOT goes through one of these
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


_RECORD_SPECIAL = re.compile(r"([\\{}|<>\"])")


def _record_text(text: object) -> str:
    """Escape text for one field of a Graphviz record label (``{ } | < > " \\``)."""
    text = " ".join(str(text).split())  # newlines and tabs would break the record
    return _RECORD_SPECIAL.sub(r"\\\1", text)


def _record(fields: Sequence[str], rankdir: str) -> str:
    """A record label whose fields sit side by side, whatever the rank direction."""
    body = " | ".join(fields)
    # In a left-to-right layout a record's fields stack vertically unless wrapped in braces.
    return graphviz.nohtml("{ " + body + " }" if rankdir in ("LR", "RL") else body)


def _plain(text: object) -> str:
    """Text for a plain (non-record, non-HTML) DOT label: graphviz quotes it, we keep it one line."""
    return graphviz.nohtml(" ".join(str(text).split()).replace("\\", "\\\\"))


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _count(n: int, noun: str = "") -> str:
    """``65,618`` or, with a noun, ``1 op`` / ``4 ops``."""
    if not noun:
        return f"{n:,}"
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


# ---------------------------------------------------------------------------------------------
# How each engine's nodes are shown
# ---------------------------------------------------------------------------------------------
def _is_tensor_like(x: object) -> bool:
    return all(hasattr(x, a) for a in ("op", "children", "is_leaf", "shape", "dtype", "grad"))


def _as_float(g: Any) -> float:
    return float(g.data if isinstance(g, Value) else g)


def _norm(g: Any) -> Optional[float]:
    """|g| of a number, ‖g‖ (L2, in float64) of an array; None for no gradient."""
    if g is None:
        return None
    if isinstance(g, (float, int)):
        return abs(g)
    if isinstance(g, Value):
        return abs(g.data)
    a = np.asarray(g, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(a * a)))


def _finite(x: Any) -> bool:
    if isinstance(x, float):
        return math.isfinite(x)
    return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))


_GRAD = attrgetter("grad")


class _Engine:
    """What the drawing needs to know about one engine's nodes (the base: shared behaviour)."""

    kind = ""
    grad_name = ""

    def __init__(self, root: Any, names: Mapping[int, str]):
        self.names = names  # id(param) -> qualified name, from params=
        self.grads: dict = {}
        self.computed = False  # were gradients computed (backward() called)?
        self.note = ""

    # The core's Node contract (gradengine.autograd.Node): ``_prev`` is the operand tuple and
    # ``_op`` the op record, the attributes behind the public ``children`` and ``op``. Read
    # directly: a million-node graph makes millions of these calls.
    children = staticmethod(attrgetter("_prev"))
    op_of = staticmethod(attrgetter("_op"))

    @staticmethod
    def is_leaf(n: Any) -> bool:
        return n.op is None

    def grad(self, n: Any) -> Any:
        return self.grads.get(n)

    def magnitude(self, n: Any) -> Optional[float]:
        return _norm(self.grad(n)) if self.computed else None

    def magnitudes(self, nodes: list) -> list:
        return [self.magnitude(n) for n in nodes]

    def name(self, n: Any) -> str:
        raise NotImplementedError

    def kind_of(self, n: Any) -> str:
        """"param" (a leaf that gets a gradient), "constant", or "computed"."""
        raise NotImplementedError


class _ValueEngine(_Engine):
    kind = "Value"
    grad_name = "|grad|"

    def __init__(self, root: Value, names: Mapping[int, str]):
        super().__init__(root, names)
        # After backward() the root's grad is the seed (1.0); before, every grad is 0.
        self.computed = _as_float(root.grad) != 0.0

    def grad(self, n: Value) -> Any:
        return n.grad

    def magnitude(self, n: Value) -> Optional[float]:
        if not self.computed:
            return None
        g = n.grad
        return abs(g) if g.__class__ is float else abs(_as_float(g))

    def magnitudes(self, nodes: list) -> list:
        if not self.computed:
            return [None] * len(nodes)
        try:  # fast path: float gradients, in NumPy
            return np.abs(np.fromiter(map(_GRAD, nodes), dtype=np.float64, count=len(nodes))).tolist()
        except TypeError:  # Value gradients, after backward(create_graph=True)
            return [self.magnitude(n) for n in nodes]

    def name(self, n: Value) -> str:
        return self.names.get(id(n)) or n.label

    def kind_of(self, n: Value) -> str:
        if n.op is not None:
            return "computed"
        # A number lifted into the graph (the 0.01 of 0.01 * x) needs no gradient.
        return "constant" if getattr(n, "requires_grad", True) is False else "param"

    def fields(self, n: Value, show_data: bool, show_grad: bool) -> list[str]:
        fields = [_record_text(self.name(n))]
        if show_data:
            fields.append(_record_text(f"data {_fmt(n.data)}" + ("" if _finite(n.data) else " ⚠")))
        if show_grad and self.computed:
            g = _as_float(n.grad)
            fields.append(_record_text(f"grad {_fmt(g)}{grad_marker(g)}"))
        return fields

    def bad(self, n: Value) -> bool:
        return not _finite(n.data) or (self.computed and not _finite(_as_float(n.grad)))

    def constant_text(self, n: Value) -> str:
        return _short(n.data)


def _same_grad(stored: Any, g: Any) -> bool:
    """Is a leaf's ``.grad`` (``stored``) the gradient ``g`` this graph gives it?"""
    if g is None:  # the graph sends it nothing: any .grad is someone else's, and not drawn wrong
        return True
    if stored is None:
        return False
    a, b = np.asarray(getattr(stored, "data", stored)), np.asarray(getattr(g, "data", g))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=0.0, equal_nan=True))


class _TensorEngine(_Engine):
    kind = "Tensor"
    grad_name = "‖grad‖"

    def __init__(self, root: Any, names: Mapping[int, str]):
        super().__init__(root, names)
        # Nothing on a Tensor records that backward() ran, and a leaf's .grad may be left from
        # another graph that shares it (a model's weights). So this graph counts as backwarded
        # only if the root kept a gradient (retain_grad) or every leaf's .grad is exactly the
        # gradient this graph gives it (recomputed here): stale numbers are never shown.
        self.computed = False
        if not root.requires_grad:
            return
        seed = np.ones(root.shape, dtype=root.dtype)
        leaves, stack, seen = [], [root], {id(root)}
        while stack:
            for c in stack.pop().children:
                if id(c) not in seen:
                    seen.add(id(c))
                    if c.op is None:
                        if c.requires_grad:
                            leaves.append(c)
                    else:
                        stack.append(c)
        if root.grad is None and not any(c.grad is not None for c in leaves):
            return
        self.grads = backprop(root, seed)  # .grad untouched
        if root.grad is None and not all(_same_grad(c.grad, self.grads.get(c)) for c in leaves):
            self.grads = {}
            self.note = ("the leaves' .grad are not this graph's gradients (left from another graph, "
                         "accumulated over several backward() calls, or another seed): not shown")
            return
        self.computed = True
        if root.data.size != 1:
            self.note = "activation gradients from a backward pass seeded with ones"

    def grad(self, n: Any) -> Any:
        if n.op is None:  # a leaf: what backward() left in .grad (it accumulates)
            return n.grad
        return self.grads.get(n) if self.computed else None

    def name(self, n: Any) -> str:
        return self.names.get(id(n)) or n.name

    def kind_of(self, n: Any) -> str:
        if n.op is not None:
            return "computed"
        return "param" if n.requires_grad else "constant"

    def fields(self, t: Any, show_data: bool, show_grad: bool) -> list[str]:
        fields = []
        name = self.name(t)
        if name:
            fields.append(_record_text(name))
        fields.append(_record_text(f"{tuple(t.shape)} {t.dtype}"))
        if show_data:
            data = np.asarray(t.data)
            mark = "" if data.dtype.kind != "f" or _finite(data) else " ⚠"
            if data.size == 0:
                fields.append("data (empty)")
            elif data.size == 1:
                fields.append(_record_text(f"data {_fmt(float(data.reshape(())))}{mark}"))
            else:
                fields.append(_record_text(f"data [{_short(float(np.min(data)))}, "
                                           f"{_short(float(np.max(data)))}]{mark}"))
        if show_grad and self.computed:
            if not t.requires_grad:
                fields.append("no grad")
            else:
                g = self.grad(t)
                if g is None:
                    fields.append("grad None")
                else:
                    g = np.asarray(g)
                    if g.size == 1:
                        v = float(g.reshape(()))
                        fields.append(_record_text(f"grad {_fmt(v)}{grad_marker(v)}"))
                    else:
                        m = _norm(g)
                        fields.append(_record_text(f"‖grad‖ {_fmt(m)}{grad_marker(m)}"))
        return fields

    def bad(self, t: Any) -> bool:
        data = np.asarray(t.data)
        if data.dtype.kind == "f" and not _finite(data):
            return True
        g = self.grad(t) if self.computed else None
        return g is not None and not _finite(g)

    def constant_text(self, t: Any) -> str:
        return _short(float(np.asarray(t.data).reshape(())))

    def is_scalar_constant(self, t: Any) -> bool:
        return t.op is None and not t.requires_grad and np.size(t.data) == 1 and not self.name(t)


def _param_names(params: Any) -> dict[int, str]:
    """``params=`` (a Module, a mapping name -> parameter, or (name, parameter) pairs) as
    ``{id(parameter): name}``."""
    if params is None:
        return {}
    if isinstance(params, Module):
        pairs = params.named_parameters()
    elif isinstance(params, Mapping):
        pairs = params.items()
    else:
        pairs = params
    out: dict[int, str] = {}
    for name, p in pairs:
        if not isinstance(name, str):
            raise TypeError(f"params= must map names (str) to parameters, got a {type(name).__name__} key")
        out.setdefault(id(p), name)
    return out


# ---------------------------------------------------------------------------------------------
# The drawing
# ---------------------------------------------------------------------------------------------
class Drawing(graphviz.Digraph):
    """What :func:`draw` returns: a ``graphviz.Digraph`` (``.source`` is the DOT text) that
    also carries a readable text form of the same picture (``.text``). In Jupyter it displays
    as SVG, or, when Graphviz's ``dot`` is not installed, as that text with the install hint
    (only :func:`render` and :func:`to_svg` raise)."""

    text: str = ""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound:
            return {"text/plain": f"{self.text}\n\n(not drawn: {_INSTALL_HINT})"}


_LEAF = {"shape": "record", "style": "filled,bold"}
_COMPUTED = {"shape": "Mrecord", "style": "filled"}
_CONSTANT = {"shape": "record", "style": "filled,dashed"}
_NUMBER = {"shape": "box", "style": "filled,dashed,rounded", "fontsize": "10", "height": "0.3",
           "width": "0.3", "margin": "0.05,0.02"}
_BAD = {"penwidth": "3", "color": "#d62728"}  # nan / inf: a thick border, and ⚠ in the text
_MAX_ROWS = 16  # rows of a chain's per-repetition table before the middle is elided


def _new_digraph(format: str, rankdir: str, label: str, theme: Theme) -> Drawing:
    return Drawing(
        name="gradengine",
        format=format,
        graph_attr={"rankdir": rankdir, "label": label, "labelloc": "b", "labeljust": "l",
                    "fontname": _FONT, "fontsize": "10", "bgcolor": theme.background,
                    "fontcolor": theme.text},
        node_attr={"fontname": _FONT, "fontsize": "11", "color": theme.line, "fontcolor": theme.text},
        edge_attr={"fontname": _FONT, "fontsize": "9", "fontcolor": theme.faint, "color": theme.line},
    )


def _graph_label(lines: list[str], legend: bool, grad_name: str, show_grad: bool, shapes: str,
                 theme: Theme) -> str:
    """An HTML-like graph label: a few lines of text, then the legend."""
    rows = [f'<tr><td align="left">{_h(line)}</td></tr>' for line in lines]
    if legend:
        if show_grad:
            cells = [f'<td bgcolor="{theme.no_grad}">0 / none</td>']
            for fill, text in zip(_GRAD_FILLS, _GRAD_BIN_TEXT):
                font = "white" if fill in _DARK_FILLS else "black"
                if fill == _HEALTHY:
                    fill, font = theme.healthy, theme.text
                cells.append(f'<td bgcolor="{fill}"><font color="{font}">{_h(text)}</font></td>')
            cells.append(f'<td bgcolor="{_NAN_FILL}"><font color="black">nan / inf</font></td>')
            rows.append(
                f'<tr><td align="left">fill colour = {_h(grad_name)}, log scale (each colour from its '
                f"number up to the next): blue ▼ vanishing below 1e-4, neutral = healthy 0.01 to 100, "
                f"orange ▲ exploding from 1e4, ⚠ nan or inf</td></tr>"
            )
            rows.append(
                '<tr><td align="left"><table border="0" cellborder="1" cellspacing="0" cellpadding="2">'
                f"<tr>{''.join(cells)}</tr></table></td></tr>"
            )
        rows.append(f'<tr><td align="left">{_h(shapes)}</td></tr>')
    return '<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">' + "".join(rows) + "</table>>"


def _shapes_text() -> str:
    return ("bold box = leaf that gets a gradient (input or parameter), rounded = computed, "
            "dashed = constant (no gradient), ellipse = op; edge numbers = operand order")


def _ops_text(counts: Any, limit: int = 4) -> str:
    parts = [f"{k:,} {name}" for name, k in counts.most_common(limit)]
    rest = sum(counts.values()) - sum(k for _, k in counts.most_common(limit))
    if rest:
        parts.append(f"{rest:,} other")
    return ", ".join(parts)


class _Renderer:
    """Turns a :class:`summary.Summary` into DOT statements and the text form."""

    def __init__(self, eng: _Engine, dot: Drawing, *, rankdir: str, show_data: bool, show_grad: bool,
                 theme: Theme, budget: Optional[int]):
        self.eng, self.dot, self.rankdir = eng, dot, rankdir
        self.show_data, self.show_grad, self.theme, self.budget = show_data, show_grad, theme, budget
        self.text: list[str] = []
        self.shown_grad = show_grad and eng.computed
        self.compact = False

    def ident(self, it: _summary.Item) -> str:
        if it.kind == "node":
            name = self.eng.name(it.node)
            return name if name else it.id
        return f"[{it.id}]"

    def fill(self, magnitude: Optional[float]) -> dict[str, str]:
        return _fill_attrs(magnitude if self.shown_grad else None, self.theme)

    # -- one drawn node ----------------------------------------------------------------------
    def node(self, it: _summary.Item, operands: list[str]) -> None:
        eng, n = self.eng, it.node
        kind = eng.kind_of(n)
        scalar_constant = kind == "constant" and (
            isinstance(n, Value) or (isinstance(eng, _TensorEngine) and eng.is_scalar_constant(n)))
        if scalar_constant:  # a number in the formula, not an input: just the number
            text = eng.constant_text(n)
            self.dot.node(it.id, label=_plain(text), fillcolor=self.theme.no_grad, **_NUMBER)
            self.text.append(f"{self.ident(it)}: constant {text}")
            return
        attrs = dict(_COMPUTED if kind == "computed" else _LEAF if kind == "param" else _CONSTANT)
        attrs.update(self.fill(eng.magnitude(n) if kind != "constant" else None))
        if eng.bad(n):
            attrs.update(_BAD)
        fields = eng.fields(n, self.show_data, self.show_grad)
        # in a summary the drawn path is long: fields stacked keep each box narrow along it
        drawn = fields[1:] if self.compact and not fields[0] else fields
        self.dot.node(it.id, label=_record(drawn, "TB" if self.compact else self.rankdir), **attrs)
        shown = [re.sub(r"\\(.)", r"\1", f) for f in fields]
        if kind == "computed":
            op = op_label(n)
            self.dot.node(f"{it.id}_op", label=_plain(op), shape="ellipse", style="filled",
                          fillcolor=self.theme.op_fill, color=self.theme.faint, fontsize="10",
                          height="0.3", margin="0.04,0.02")
            self.dot.edge(f"{it.id}_op", it.id)
            head = shown[0] if eng.name(n) else it.id
            rest = shown[1:] if eng.name(n) else shown
            self.text.append(f"{head} = {op}({', '.join(operands)})   " + "   ".join(f for f in rest if f))
        else:
            label = "parameter/input" if kind == "param" else "constant"
            self.text.append(f"{self.ident(it)} ({label})   " + "   ".join(
                f for f in (shown[1:] if eng.name(n) else shown) if f))

    # -- groups ------------------------------------------------------------------------------
    def stats_text(self, mags: list) -> tuple[str, Optional[float]]:
        if not self.shown_grad:
            return "", None
        norm, lo, hi = _summary.group_stats(mags)
        if norm is None:
            return "no gradient", None
        name = self.eng.grad_name
        return (f"‖grad‖ {_fmt(norm)}{grad_marker(norm)} ({name} from {_short(lo)} to {_short(hi)})",
                norm)

    def group(self, it: _summary.Item) -> None:
        eng = self.eng
        counts = it.counts
        rows: list[tuple[str, Optional[float]]] = []
        if it.kind == "chain":
            if it.period:
                reps, extra = divmod(len(it.spine), len(it.period))
                unit = " → ".join(it.period)
                unit = f"({unit})" if len(it.period) > 1 else unit
                title = f"×{reps:,} {unit}" + (f" → {' → '.join(it.period[:extra])}" if extra else "") + \
                    f": chain of {_count(len(it.spine), 'op')}"
                if len(it.period) > 1 or len(it.members) > len(it.spine):  # a table worth reading
                    rows = self.chain_rows(it, reps)
            else:
                title = f"chain of {len(it.spine):,} ops"
            if it.period and len(it.period) == 1:
                title = f"chain of {len(it.spine):,} {it.period[0]}"
            mags = eng.magnitudes(it.spine)
            stats, norm = self.stats_text(mags)
            if stats and it.spine:
                top, bottom = mags[0], mags[-1]
                if top is not None and bottom is not None:
                    stats += f"; {_short(top)} at the output end, {_short(bottom)} at the input end"
        elif it.kind == "repeat":
            each = round(len(it.members) / max(it.instances, 1))
            head = op_label(it.head)
            title = (f"×{it.instances:,} more subgraphs like the {head} drawn "
                     f"({_count(each, 'node')} each)")
            stats, norm = self.stats_text(eng.magnitudes(it.members[:it.instances]))
        else:
            why = f"not drawn (max_nodes={self.budget})" if it.instances else "shared by the groups drawn"
            title = f"… {_count(len(it.members), 'more node')} {why}"
            stats, norm = self.stats_text(eng.magnitudes(it.members))
        lines = [_count(len(it.members), "node") + ": " + _ops_text(counts)]
        if stats:
            lines.append(stats)
        self.text.append(f"{self.ident(it)} {title}; " + "; ".join(lines))
        fill = self.fill(norm)
        font = fill.get("fontcolor", self.theme.text)
        cells = [f'<tr><td align="left"><b>{_h(title)}</b></td></tr>']
        for text, m in rows:
            rf = self.fill(m)
            rfont = rf.get("fontcolor", self.theme.text)
            cells.append(f'<tr><td align="left" bgcolor="{rf["fillcolor"]}">'
                         f'<font color="{rfont}">{_h(text)}</font></td></tr>')
        cells += [f'<tr><td align="left">{_h(line)}</td></tr>' for line in lines]
        label = (f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="2">'
                 f'{"".join(cells)}</table>>')
        self.dot.node(it.id, label=label, shape="box", style="filled,rounded,dashed" if it.kind == "rest"
                      else "filled,rounded", penwidth="2", color=self.theme.group_line,
                      fillcolor=fill["fillcolor"], fontcolor=font, margin="0.1,0.05")

    def chain_rows(self, it: _summary.Item, reps: int) -> list[tuple[str, Optional[float]]]:
        """One row per repetition of a periodic chain, numbered from the input end: the
        gradient of its output and of the parameters folded into it; then a row for the ops
        past the last whole repetition (a network's output layer)."""
        p = len(it.period)
        folded = set(it.members[len(it.spine):])
        order = list(range(reps))
        if reps > _MAX_ROWS:
            order = order[:_MAX_ROWS // 2] + [-1] + order[-_MAX_ROWS // 2:]
        rows = []
        for k in order:
            if k < 0:
                rows.append((f"⋮ {reps - _MAX_ROWS:,} more", None))
                continue
            end = len(it.spine) - k * p  # the spine is output end first; repetition k from the input
            rows.append(self.chain_row(f"{k + 1}:", it.spine[end - p:end], folded))
        extra = len(it.spine) - reps * p
        if extra:
            rows.append(self.chain_row(f"then {' → '.join(it.period[:extra])}:", it.spine[:extra], folded))
        return rows

    def chain_row(self, head: str, nodes: list, folded: set) -> tuple[str, Optional[float]]:
        eng = self.eng
        m = eng.magnitude(nodes[0])  # the repetition's output
        parts = [head]
        if self.shown_grad and m is not None:
            parts.append(f"output {_short(m)}{grad_marker(m)}")
        for n in nodes:
            for c in eng.children(n):
                if c not in folded:
                    continue
                constant = eng.kind_of(c) == "constant" or (isinstance(c, Value) and not eng.name(c))
                if constant and (isinstance(c, Value) or np.size(c.data) == 1):
                    parts.append(f"· {eng.name(c) or eng.constant_text(c)}")
                    continue
                name = eng.name(c) or "leaf"
                cm = eng.magnitude(c)
                parts.append(f"· {name}" if cm is None or not self.shown_grad
                             else f"· {name} {_short(cm)}{grad_marker(cm)}")
        return " ".join(parts), m

    # -- edges -------------------------------------------------------------------------------
    def edges(self, summ: _summary.Summary) -> None:
        n_operands = {it: len(self.eng.children(it.node)) for it in summ.items if it.kind == "node"}
        for src, dst, pos, count in summ.edges:
            attrs: dict[str, str] = {}
            tail = src.id
            if dst.kind == "node":
                head = f"{dst.id}_op"
                if n_operands[dst] > 1:
                    attrs["label"] = str(pos)
            else:
                head = dst.id
                if count > 1:
                    attrs["label"] = f"×{count:,}"
            if src.kind != "node":
                attrs["style"] = "dashed"
            self.dot.edge(tail, head, **attrs)


def _operand_names(summ: _summary.Summary, r: "_Renderer") -> dict:
    names: dict = {it: [] for it in summ.items}
    for src, dst, pos, count in summ.edges:
        if dst.kind == "node":
            names[dst].append((pos, r.ident(src)))
    return {it: [n for _, n in sorted(v, key=lambda t: t[0])] for it, v in names.items()}


@contextlib.contextmanager
def _gc_paused() -> Any:
    """Pause Python's cyclic garbage collector while walking a graph.

    The walk allocates only acyclic lists, dicts and tuples (freed by reference counting), but a
    million new containers trigger several full collections, each rescanning the whole graph:
    a third of the time of drawing a million-node chain."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _draw_graph(root: Any, eng: _Engine, **kw: Any) -> Drawing:
    with _gc_paused():
        return _draw_graph_now(root, eng, **kw)


def _draw_graph_now(root: Any, eng: _Engine, *, format: str, rankdir: str, show_data: bool,
                show_grad: bool, max_nodes: Optional[int], summarise: Optional[bool], legend: bool,
                theme: Theme) -> Drawing:
    order, uses = _summary.traverse(root, eng.children)
    total = len(order)
    fold = summarise if summarise is not None else (max_nodes is not None and total > max_nodes)
    if not fold and max_nodes is not None and total > max_nodes:
        raise ValueError(
            f"the graph has {total:,} nodes, more than max_nodes={max_nodes}: leave summarise unset "
            f"(or True) to fold chains and repeated subgraphs, or raise max_nodes")
    if max_nodes is None and not fold and total > 5000:
        warnings.warn(f"draw(max_nodes=None) of a {total:,}-node graph: Graphviz will take minutes "
                      "to lay it out; the default max_nodes summarises it instead", stacklevel=3)
    if fold:
        summ = _summary.summarise(root, order, uses, children=eng.children, op_of=eng.op_of,
                                  magnitude=eng.magnitude,
                                  budget=max_nodes if max_nodes is not None else total, fold=True)
    else:
        items = [_summary.Item(f"v{i}", "node", node=n) for i, n in enumerate(order)]
        where = dict(zip(order, items))
        edges = [(where[c], it, pos, 1) for it in items for pos, c in enumerate(eng.children(it.node))]
        summ = _summary.Summary(items, edges, total, False)

    n_nodes = sum(1 for it in summ.items if it.kind == "node")
    if summ.folded:
        lines = [f"{eng.kind} graph: {_count(total, 'node')}, summarised in "
                 f"{len(summ.items):,} boxes: chains and repeated subgraphs folded, the path "
                 f"with the largest gradients drawn ({n_nodes} nodes)"]
    else:
        n_ops = sum(1 for it in summ.items if not eng.is_leaf(it.node))
        lines = [f"{eng.kind} graph: {_count(total, 'value')}, {_count(n_ops, 'op')}"]
    if show_grad and not eng.computed:
        lines.append("no gradients computed yet: call backward() to see them (none is shown as 0)")
        if eng.note:
            lines.append(eng.note)
    elif show_grad and eng.note:
        lines.append(eng.note)
    dot = _new_digraph(format, rankdir, _graph_label(lines, legend, eng.grad_name, show_grad,
                                                     _shapes_text(), theme), theme)
    if summ.folded:  # a summary is a long path: pack it tighter
        dot.graph_attr.update(ranksep="0.3", nodesep="0.15")
    r = _Renderer(eng, dot, rankdir=rankdir, show_data=show_data, show_grad=show_grad, theme=theme,
                  budget=max_nodes)
    r.compact = summ.folded and rankdir in ("LR", "RL")
    operands = _operand_names(summ, r)
    for it in summ.items:
        if it.kind == "node":
            r.node(it, operands[it])
        else:
            r.group(it)
    r.edges(summ)
    dot.text = "\n".join(lines + r.text)
    return dot


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
        return math.sqrt(math.fsum(_norm(g) ** 2 for g in gs))


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
            row.grads.append(_as_float(p.grad))
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


def _module_table(titles: list[str], rows: list[_ParamRow], show_grad: bool, theme: Theme) -> str:
    cols = 3 if show_grad else 2
    out = ['<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">']
    for i, t in enumerate(titles):
        out.append(f'<tr><td colspan="{cols}" bgcolor="{theme.op_fill}"><b>{_h(t)}</b></td></tr>' if i == 0
                   else f'<tr><td colspan="{cols}" bgcolor="{theme.op_fill}">{_h(t)}</td></tr>')
    for r in rows:
        cells = f'<td align="left">{_h(r.name)}</td><td align="left">{_h(r.shape)}</td>'
        if show_grad:
            norm = r.grad_norm()
            attrs = _fill_attrs(norm, theme)
            font = attrs.get("fontcolor", theme.text)
            text = r.grad_text() + grad_marker(norm)
            cells += (f'<td bgcolor="{attrs["fillcolor"]}" align="left"><font color="{font}">'
                      f'{_h(text)}</font></td>')
        out.append(f"<tr>{cells}</tr>")
    return "".join(out) + "</table>>"


def _draw_module(root: Module, *, format: str, rankdir: str, show_grad: bool,
                 legend: bool, theme: Theme) -> graphviz.Digraph:
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
                                                     show_grad, shapes, theme), theme)
    counter = [0]
    text: list[str] = []  # the text form (Drawing.text): one line per box and per parameter row

    def node(g: graphviz.Digraph, titles: list[str], rows: list[_ParamRow], depth: int = 0) -> str:
        nid = f"m{counter[0]}"
        counter[0] += 1
        pad = "  " * depth
        text.append(pad + "; ".join(titles))
        for row in rows:
            text.append(f"{pad}  {row.name}  {row.shape}" + (f"  {row.grad_text()}" if show_grad else ""))
        g.node(nid, label=_module_table(titles, rows, show_grad, theme), shape="none", margin="0")
        return nid

    def add(g: graphviz.Digraph, name: str, m: Module, shown: str, depth: int = 0) -> tuple[str, str]:
        """Draw module ``m`` (called ``shown`` inside its parent) into ``g``; return its first and
        last node ids, so siblings can be kept in order."""
        children = kids[name]
        if not children:
            nid = node(g, [_module_title(shown, m, leaf=True)], _param_rows(own[name]), depth)
            return nid, nid
        text.append("  " * depth + _module_title(shown, m, leaf=False))
        with g.subgraph(name=f"cluster_m{counter[0]}") as c:
            counter[0] += 1
            c.attr(label=_module_title(shown, m, leaf=False), labelloc="t", labeljust="l",
                   style="rounded", color=theme.group_line, fontname=_FONT, fontsize="11")
            ids: list[tuple[str, str]] = []
            if own[name]:
                nid = node(c, ["own parameters"], _param_rows(own[name]), depth + 1)
                ids.append((nid, nid))
            for group in _runs(children, kids, own):
                first, m0 = group[0]
                if len(group) == 1:
                    ids.append(add(c, first, m0, _relative(first, name), depth + 1))
                    continue
                # identical leaf siblings (a layer's neurons): one node for all of them
                last = group[-1][0]
                titles = [f"{_relative(first, name)} … {_relative(last, name)}: "
                          f"{len(group)} × {_module_title('', m0, leaf=True)}"]
                if own[first]:
                    titles.append(f"shapes per module, ‖grad‖ over all {len(group)}")
                nid = node(c, titles, _param_rows([kp for n, _ in group for kp in own[n]]), depth + 1)
                ids.append((nid, nid))
            for (_, a), (b, _) in zip(ids, ids[1:]):  # keep registration order along rankdir
                c.edge(a, b, style="invis")
        return ids[0][0], ids[-1][1]

    add(dot, "", root, "")
    dot.text = "\n".join(lines + text)
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
         show_grad: bool = True, max_nodes: Optional[int] = 200, summarise: Optional[bool] = None,
         params: Any = None, legend: bool = True, theme: str = "light") -> Drawing:
    """Draw the computation graph ending at ``root`` (a ``Value`` or ``Tensor``), or a ``Module``.

    Args:
        root: the output of a computation (usually the loss, after ``backward()``), or a model.
        format: the default output format of the returned graph's ``render()``/``pipe()``.
        rankdir: ``"LR"`` (inputs on the left, output on the right), ``"TB"``, ``"RL"`` or ``"BT"``.
        show_data: show each node's data (for tensors: the range, or the value if it has one).
            Not used for a Module.
        show_grad: show each node's gradient and colour nodes by its magnitude (log scale).
        max_nodes: the most boxes to draw. A bigger graph is summarised (see ``summarise``).
            ``None``: no limit (a graph of thousands of nodes then takes Graphviz minutes).
        summarise: fold long chains and repeated subgraphs into labelled groups. ``None`` (the
            default) does it only when the graph has more than ``max_nodes`` nodes; ``True``
            always (to see a deep network as "×12 linear → ReLU" with per-layer gradient norms);
            ``False`` never (a graph bigger than ``max_nodes`` then raises ``ValueError``).
        params: a ``Module`` (or a mapping, or ``(name, parameter)`` pairs) whose parameters are
            labelled with their qualified names (``0.weight``, ``layers.1.neurons.3.w.0``).
        legend: put the colour and shape legend under the graph.
        theme: ``"light"`` or ``"dark"``.

    Returns:
        A :class:`Drawing` (a ``graphviz.Digraph``): ``.source`` is its DOT text and ``.text`` a
        readable text form (no Graphviz install needed for either); in Jupyter it displays
        inline, as SVG if ``dot`` is installed and as the text form otherwise.
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}; got {rankdir!r}")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int)
                                  or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    if summarise is not None and not isinstance(summarise, bool):
        raise TypeError(f"summarise must be True, False or None, got {summarise!r}")
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(map(repr, THEMES))}; got {theme!r}")
    th = THEMES[theme]
    if isinstance(root, Module):
        return _draw_module(root, format=format, rankdir=rankdir, show_grad=show_grad, legend=legend,
                            theme=th)
    names = _param_names(params)
    if isinstance(root, Value):
        eng: _Engine = _ValueEngine(root, names)
    elif _is_tensor_like(root):
        eng = _TensorEngine(root, names)
    else:
        hint = (" (a Layer with several neurons returns a list: draw each output, or their sum)"
                if isinstance(root, (list, tuple)) else "")
        raise TypeError(f"draw() takes a Value, a Tensor or a Module, got {type(root).__name__}{hint}")
    return _draw_graph(root, eng, format=format, rankdir=rankdir, show_data=show_data,
                       show_grad=show_grad, max_nodes=max_nodes, summarise=summarise, legend=legend,
                       theme=th)


_INSTALL_HINT = (
    "rendering needs the Graphviz 'dot' program, which was not found on PATH. Install Graphviz "
    "(the program, not just the Python package): 'apt-get install graphviz' (Debian/Ubuntu), "
    "'brew install graphviz' (macOS) or 'conda install graphviz'. "
    "Without it, draw(x).source still gives the DOT text and draw(x).text a text form."
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
