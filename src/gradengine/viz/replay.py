"""Watch backpropagation happen: a step-by-step replay of one backward pass.

    >>> from gradengine import Value
    >>> from gradengine.viz import replay
    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> L = (a * b + b.tanh()) ** 2; L.label = "L"
    >>> r = replay(L)          # runs the backward pass and records it
    >>> len(r)                 # one frame before the pass, then one per node processed
    7
    >>> step = next(f for f in r.frames if f.active == "a*b")   # the frame that processes a*b
    >>> print(step.explanation.splitlines()[1])
    dL/da = dL/d(a*b) · d(a*b)/da = -13.99 · -3.0 = 41.97
    >>> a.grad == r.frames[-1].grads["a"]   # replay leaves .grad as backward() does
    True

``r[3]`` is frame 3 as a picture (a ``graphviz.Digraph``, inline in Jupyter); ``r`` itself
displays in Jupyter as an interactive player (play, step, back, a slider; hover or click a
node for its whole chain-rule sum); ``r.save("backprop.html")`` writes the same player as one
self-contained HTML file (see :mod:`gradengine.viz.player`).

A frame shows which nodes already have their final gradient (coloured by its magnitude, as
:func:`gradengine.viz.draw` does), the node being processed (thick border), on each of its
input edges the local derivative (for tensors: the norm of what the edge carries), the chain
rule as numbers (``dL/da = dL/d(a*b) · d(a*b)/da = -13.99 · -3.0 = 41.97``), with ``+=`` and
the running total where a node feeds several ops, the partial sums of the nodes reached so far
(dashed) and nothing on nodes not reached yet.

The recording is the package's one reverse pass, :func:`gradengine.autograd.backprop`, with a
``watch`` callback: the frames show exactly the order and the numbers of the real pass. After
recording, ``replay`` calls ``root.backward(gradient)`` once, so every ``.grad`` ends exactly as
``backward()`` leaves it: leaves **accumulate** (call ``zero_grad()`` first for a fresh
picture; the frames always show this pass's gradients), a ``Value``'s intermediate nodes hold
this pass's gradient, a ``Tensor``'s intermediates stay ``None`` unless ``retain_grad()``.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..engine import Value, _check_real
from . import player, summary
from .graph import (THEMES, Drawing, GraphvizNotFoundError, Theme, _fill_attrs, _fmt, _INSTALL_HINT,
                    _is_tensor_like, _new_digraph, _norm, _param_names, _pipe, _plain, _record,
                    _record_text, _RANKDIRS, grad_marker)

from ..autograd import backprop, op_label  # the one reverse pass, shared by both engines

__all__ = ["replay", "Replay", "Frame"]

_ACTIVE = "#d62728"  # the node being processed (also drawn thick: colour is not the only cue)
_PENDING, _PARTIAL, _DONE, _CURRENT = 0, 1, 2, 3
_ids = itertools.count()


@dataclass(frozen=True)
class Frame:
    """One step of the replay.

    Attributes:
        step: 0 before the pass, then 1, 2, ... one per node processed.
        active: the ``data-node`` name of the node processed at this step (None at step 0).
        explanation: the chain rule of this step, as text with the numbers.
        grads: ``{data-node name: gradient}`` of every node whose gradient is final at this step.
    """

    step: int
    active: Optional[str]
    explanation: str
    grads: dict


def _num(x: float) -> str:
    """A short number for the chain-rule text: ``-13.99``, ``-3.0``, ``1.2e-07``."""
    x = float(x) + 0.0
    s = f"{x:.4g}"
    return s + ".0" if re.fullmatch(r"-?\d+", s) else s


def _d(name: str) -> str:
    """``a`` or ``(a*b)``: a name as it appears after ``d`` in ``dL/d…``."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) else f"({name})"


class _Node:
    """What the replay knows about one node of the graph."""

    __slots__ = ("node", "id", "name", "key", "children", "consumers", "is_value", "needs_grad")

    def __init__(self, node: Any, index: int, is_value: bool):
        self.node = node
        self.id = f"n{index}"
        self.is_value = is_value
        self.children: list[_Node] = []
        self.consumers: list[tuple[_Node, int]] = []  # (consumer, operand position)
        self.needs_grad = True if is_value else bool(node.requires_grad)
        self.name = self.key = ""


class Replay:
    """A recorded backward pass: frames as pictures, and an HTML player. Made by :func:`replay`."""

    def __init__(self, root: Any, seed: Any, *, rankdir: str, theme: Theme, names: dict):
        self.root = root
        self._theme, self._rankdir = theme, rankdir
        is_value = isinstance(root, Value)
        order, _ = summary.traverse(root, lambda n: n.children)
        nodes = [_Node(n, i, is_value) for i, n in enumerate(order)]
        by_node = dict(zip(order, nodes))
        for rn in nodes:
            rn.children = [by_node[c] for c in rn.node.children]
            for pos, c in enumerate(rn.children):
                c.consumers.append((rn, pos))
        self._nodes, self._by_node = nodes, by_node
        self._name_nodes(names)

        records: list[tuple[Any, Any, tuple]] = []
        backprop(root, seed, watch=lambda node, grad, sent: records.append((node, grad, tuple(sent))))
        self._records = [(by_node[n], g, self._align(by_node[n], sent)) for n, g, sent in records]
        # local derivatives d(node)/d(operand) of the scalar engine: one pass seeded with 1 each
        self._local: dict[_Node, list] = {}
        if is_value:
            for rn, _, _ in self._records:
                if rn.children:
                    first: list = []
                    backprop(rn.node, 1.0, watch=lambda n, g, s: first.append(s) if not first else None)
                    self._local[rn] = self._align(rn, first[0])
        self._build_frames()

    # -- naming --------------------------------------------------------------------------------
    def _name_nodes(self, names: dict) -> None:
        for rn in self._nodes:
            rn.name = names.get(id(rn.node)) or (rn.node.label if rn.is_value else rn.node.name)
        for rn in reversed(self._nodes):  # operands first: names are built from theirs
            if not rn.name:
                rn.name = self._expression(rn) if rn.children else rn.id
        # data-node: the name if no other node has it (a label, or an expression built from
        # labels: both count) and it is no other node's stable id, else the stable id
        count = Counter(rn.name for rn in self._nodes)
        ids = {rn.id for rn in self._nodes}
        for rn in self._nodes:
            unique = count[rn.name] == 1 and (rn.name == rn.id or rn.name not in ids)
            rn.key = rn.name if unique else rn.id

    @staticmethod
    def _expression(rn: _Node) -> str:
        op = op_label(rn.node)
        kids = [c.name for c in rn.children]
        if len(kids) == 2 and len(op) <= 2:
            text = f"{kids[0]}{op}{kids[1]}"
        elif len(kids) == 1 and op.startswith("**"):
            text = f"{_d(kids[0])}{op}"
        else:
            text = f"{op}({', '.join(kids)})"
        return text if len(text) <= 24 else rn.id

    @staticmethod
    def _align(rn: _Node, sent: tuple) -> list:
        """The contributions of ``sent`` by operand position (None: no gradient sent there)."""
        out: list = [None] * len(rn.children)
        used = [False] * len(sent)
        for pos, c in enumerate(rn.children):
            for j, (operand, g) in enumerate(sent):
                if not used[j] and operand is c.node:
                    out[pos], used[j] = g, True
                    break
        return out

    # -- numbers and text ------------------------------------------------------------------------
    def _grad_text(self, rn: _Node, g: Any, partial: bool = False) -> str:
        if rn.is_value:
            v = float(g.data if isinstance(g, Value) else g)
            return (f"so far {_fmt(v)}" if partial else f"grad {_fmt(v)}") + grad_marker(v)
        a = np.asarray(g)
        if a.size == 1:
            v = float(a.reshape(()))
            return (f"so far {_fmt(v)}" if partial else f"grad {_fmt(v)}") + grad_marker(v)
        m = _norm(a)
        return (f"so far ‖·‖ {_fmt(m)}" if partial else f"‖grad‖ {_fmt(m)}") + grad_marker(m)

    @staticmethod
    def _exact(rn: _Node, g: Any) -> str:
        """The ``data-grad`` text: every number at full precision."""
        if rn.is_value:
            return repr(float(g.data if isinstance(g, Value) else g))
        return ",".join(f"{x:.17g}" for x in np.asarray(g, dtype=np.float64).ravel())

    def _short(self, rn: _Node, g: Any) -> str:
        if rn.is_value or np.size(g) == 1:
            return _num(float(np.asarray(g.data if isinstance(g, Value) else g).reshape(())))
        return f"‖{_num(_norm(g))}‖"

    def _edge_label(self, rn: _Node, pos: int, processed: bool) -> str:
        many = len(rn.children) > 1
        prefix = f"{pos}" if many else ""
        if not processed or not rn.children[pos].needs_grad:
            return prefix
        if rn.is_value:
            body = f"∂ = {_num(self._local_value(rn, pos))}"
        else:
            sent = self._sent[rn][pos]
            body = "" if sent is None else f"sends ‖{_num(_norm(sent))}‖"
        return f"{prefix}: {body}" if many else body

    def _local_value(self, rn: _Node, pos: int) -> float:
        g = self._local[rn][pos]
        return float(g.data if isinstance(g, Value) else g)

    # -- frames ----------------------------------------------------------------------------------
    def _build_frames(self) -> None:
        R = self._by_node[self.root].name
        self._sent = {rn: sent for rn, _, sent in self._records}
        final = {rn: g for rn, g, _ in self._records}
        self._final = final
        partial: dict[_Node, Any] = {}
        received: dict[_Node, int] = {}
        done: dict[_Node, Any] = {}
        states = []  # per frame: (active, explanation, partial snapshot, done snapshot)
        root_rn = self._by_node[self.root]
        states.append((None, f"Before the backward pass: no node has a gradient yet. It starts at "
                             f"{R} with d{R}/d{_d(R)} = {self._short(root_rn, final[root_rn])} (the seed).",
                       {}, {}))
        for rn, g, sent in self._records:
            done[rn] = g
            lines = []
            if rn is root_rn:
                lines.append(f"{rn.name}: d{R}/d{_d(rn.name)} = {self._short(rn, g)} (the seed)")
            else:
                n = sum(1 for c, _ in rn.consumers if c.needs_grad)
                lines.append(f"{rn.name}: d{R}/d{_d(rn.name)} = {self._short(rn, g)} is final "
                             f"({'its one consumer has sent its part' if n == 1 else f'all {n} consumers have sent their parts'})")
            if not rn.children:
                what = "a leaf (an input or a parameter)" if rn.needs_grad else "a constant"
                lines.append(f"{rn.name} is {what}: nothing to send; backward() keeps d{R}/d{_d(rn.name)} "
                             f"in its .grad")
            for pos, c in enumerate(rn.children):
                contrib = sent[pos]
                if contrib is None:
                    continue
                partial[c] = contrib if c not in partial else partial[c] + contrib
                received[c] = received.get(c, 0) + 1
                users = sum(1 for u, _ in c.consumers if u.needs_grad)
                eq = "+=" if users > 1 else "="
                dv, dc = _d(rn.name), _d(c.name)
                if rn.is_value:
                    local = self._local_value(rn, pos)
                    line = (f"d{R}/d{dc} {eq} d{R}/d{dv} · d{dv}/d{dc} = {self._short(rn, g)} · "
                            f"{_num(local)} = {self._short(c, contrib)}")
                else:
                    line = (f"d{R}/d{dc} {eq} vjp of {rn.key and op_label(rn.node)}(d{R}/d{dv}): "
                            f"{self._short(c, contrib)}")
                if users > 1:
                    line += (f"   (so far {self._short(c, partial[c])}, {received[c]} of {users} "
                             "consumers)")
                lines.append(line)
            states.append((rn, "\n".join(lines), dict(partial), dict(done)))
        self._states = states
        self.frames = [
            Frame(k, None if a is None else a.key, text, {rn.key: g for rn, g in d.items()})
            for k, (a, text, _, d) in enumerate(states)
        ]
        self._sums = {rn: self._sum_text(rn, R) for rn in self._nodes}

    def _sum_text(self, rn: _Node, R: str) -> str:
        if rn not in self._final:
            return f"{rn.name}: needs no gradient (a constant)"
        g = self._final[rn]
        if rn.node is self.root:
            return f"d{R}/d{_d(rn.name)} = {self._short(rn, g)} (the seed)"
        terms, nums = [], []
        for v, pos in rn.consumers:
            if v not in self._final or self._sent[v][pos] is None:
                continue
            dv = _d(v.name)
            if rn.is_value:
                terms.append(f"d{R}/d{dv} · d{dv}/d{_d(rn.name)}")
                nums.append(f"({self._short(v, self._final[v])})({_num(self._local_value(v, pos))})")
            else:
                terms.append(f"vjp of {op_label(v.node)}(d{R}/d{dv})")
                nums.append(self._short(rn, self._sent[v][pos]))
        head = f"d{R}/d{_d(rn.name)} = " + " + ".join(terms)
        if rn.is_value:
            return f"{head}\n  = " + " + ".join(nums) + f"\n  = {self._short(rn, g)}"
        return f"{head}\n  = " + " + ".join(nums) + f"\n  = {self._short(rn, g)}"

    # -- pictures --------------------------------------------------------------------------------
    def _node_state(self, rn: _Node, k: int) -> tuple[int, Any]:
        active, _, partial, done = self._states[k]
        if rn is active:
            return _CURRENT, done[rn]
        if rn in done:
            return _DONE, done[rn]
        if rn in partial:
            return _PARTIAL, partial[rn]
        return _PENDING, None

    def _fields(self, rn: _Node, state: int, g: Any, final_layout: bool) -> list[str]:
        n = rn.node
        fields = [_record_text(rn.name)]
        if rn.is_value:
            fields.append(_record_text(f"data {_fmt(n.data)}"))
        else:
            fields.append(_record_text(f"{tuple(n.shape)} {n.dtype}"))
        if not rn.needs_grad:
            fields.append("no grad")
        elif final_layout:  # the player's layout: sized for the final text
            fields.append(_record_text(self._grad_text(rn, self._final[rn])))
        elif state in (_DONE, _CURRENT):
            fields.append(_record_text(self._grad_text(rn, g)))
        elif state == _PARTIAL:
            fields.append(_record_text(self._grad_text(rn, g, partial=True)))
        else:
            fields.append(" ")
        return fields

    def _colours(self, state: int, g: Any) -> dict[str, str]:
        th = self._theme
        if state in (_DONE, _CURRENT):
            attrs = _fill_attrs(_norm(g), th)
        else:
            attrs = {"fillcolor": th.no_grad, "fontcolor": th.faint if state == _PENDING else th.text}
        attrs.setdefault("fontcolor", th.text)
        return attrs

    def _dot(self, k: int, pid: Optional[str] = None) -> Drawing:
        """Frame ``k`` as DOT. With ``pid`` (the player's id): the player's base picture, laid
        out for the final texts, with ids on every node and edge."""
        th, rankdir = self._theme, self._rankdir
        active, text, _, _ = self._states[k]
        title = f"step {k} of {len(self) - 1}: " + (text.splitlines()[0] if k else "before the pass")
        if pid:  # the player's base: neutral, the script applies each step
            title = f"backward pass of {self._by_node[self.root].name}: {len(self) - 1} steps"
        label = (f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">'
                 f'<tr><td align="left">{html.escape(title)}</td></tr>'
                 f'<tr><td align="left">thick border = node being processed; coloured = gradient '
                 f'final; dashed = partial sum so far; edge labels = local derivative</td></tr></table>>')
        dot = _new_digraph("svg", rankdir, label, th)
        for rn in self._nodes:
            state, g = self._node_state(rn, k)
            if pid and state == _CURRENT:
                state = _DONE
            attrs = self._colours(state, g)
            attrs.update(shape="Mrecord" if rn.children else "record",
                         style="filled,dashed" if state == _PARTIAL else "filled,bold" if not rn.children
                         else "filled")
            if state == _CURRENT:
                attrs.update(penwidth="4", color=_ACTIVE)
            if pid:
                attrs["id"] = f"{pid}_{rn.id}"
            fields = self._fields(rn, state, g, final_layout=bool(pid))
            dot.node(rn.id, label=_record(fields, rankdir), **attrs)
            if rn.children:
                dot.node(f"{rn.id}_op", label=_plain(op_label(rn.node)), shape="ellipse", style="filled",
                         fillcolor=th.op_fill, color=th.faint, fontsize="10", height="0.3",
                         margin="0.04,0.02")
                dot.edge(f"{rn.id}_op", rn.id)
        for e, (rn, pos, c) in enumerate(self._edges()):
            state, _ = self._node_state(rn, k)
            if pid and state == _CURRENT:
                state = _DONE
            processed = state in (_DONE, _CURRENT) or bool(pid)
            attrs = {}
            lab = self._edge_label(rn, pos, processed)
            if lab:
                attrs["label"] = _plain(lab)
            if state == _CURRENT:
                attrs.update(penwidth="3", color=_ACTIVE)
            if pid:
                attrs["id"] = f"{pid}_e{e}"
            dot.edge(c.id, f"{rn.id}_op", **attrs)
        dot.text = f"{title}\n{text}"
        return dot

    def _edges(self) -> list[tuple[_Node, int, _Node]]:
        return [(rn, pos, c) for rn in self._nodes for pos, c in enumerate(rn.children)]

    # -- the player ------------------------------------------------------------------------------
    def _player_data(self) -> dict:
        th = self._theme
        edges = self._edges()
        frames = []
        for k, fr in enumerate(self.frames):
            ns = []
            for rn in self._nodes:
                state, g = self._node_state(rn, k)
                colours = self._colours(state, g)
                if not rn.needs_grad:
                    text, exact = "no grad", ""
                elif state in (_DONE, _CURRENT):
                    text, exact = self._grad_text(rn, g), self._exact(rn, g)
                elif state == _PARTIAL:
                    text, exact = self._grad_text(rn, g, partial=True), ""
                else:
                    text, exact = "", ""
                ns.append([text, colours["fillcolor"], state, exact, colours["fontcolor"]])
            es = []
            for rn, pos, c in edges:
                state, _ = self._node_state(rn, k)
                es.append([self._edge_label(rn, pos, state in (_DONE, _CURRENT)), state == _CURRENT])
            frames.append({"nodes": ns, "edges": es, "explanation": fr.explanation, "active": fr.active})
        return {"nodes": [rn.id for rn in self._nodes], "edges": [f"e{i}" for i in range(len(edges))],
                "gradField": [rn.needs_grad for rn in self._nodes], "frames": frames,
                "sums": [self._sums[rn] for rn in self._nodes], "activeColour": _ACTIVE,
                "lineColour": th.line}

    def _svg(self, pid: str) -> str:
        svg = _pipe(self._dot(len(self) - 1, pid=pid), "svg").decode("utf-8")
        svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML
        final = len(self) - 1
        by_id = {f"{pid}_{rn.id}": rn for rn in self._nodes}

        def node_attrs(m: re.Match) -> str:
            rn = by_id.get(m.group(1))
            if rn is None:
                return m.group(0)
            state, g = self._node_state(rn, final)
            exact = self._exact(rn, g) if rn.needs_grad and state in (_DONE, _CURRENT) else ""
            return (f'<g id="{m.group(1)}" class="node" data-id="{rn.id}" '
                    f'data-node="{html.escape(rn.key, quote=True)}" data-grad="{exact}">')

        svg = re.sub(r'<g id="([^"]+)" class="node">', node_attrs, svg)
        return re.sub(rf'<g id="{re.escape(pid)}_(e\d+)" class="edge">',
                      lambda m: f'<g id="{pid}_{m.group(1)}" class="edge" data-id="{m.group(1)}">', svg)

    def html(self, standalone: bool = False) -> str:
        """The player as HTML: a fragment for a notebook, or a whole page (``standalone``).
        Needs Graphviz's ``dot`` (for the SVG)."""
        data = self._player_data()
        digest = hashlib.sha1(repr(data["frames"]).encode("utf-8")).hexdigest()[:10]
        pid = f"ge_replay_{digest}_{next(_ids)}"
        steps = [f.explanation for f in self.frames]
        title = f"Backpropagation of {self._by_node[self.root].name}, {len(self) - 1} steps"
        return player.page(pid, self._svg(pid), data, steps, title, self._theme is THEMES["dark"],
                           standalone)

    def save(self, path: Union[str, PathLike]) -> Path:
        """Write the player to ``path`` as one self-contained HTML file (no network needed to
        view it); return the path. Needs Graphviz's ``dot``."""
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"replay.save() writes HTML: give a .html file name, got {path.name!r}")
        text = self.html(standalone=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        try:
            return self.html()
        except GraphvizNotFoundError:
            steps = "".join(f"<li>{html.escape(f.explanation)}</li>" for f in self.frames)
            return (f"<p>{html.escape(_INSTALL_HINT)}</p><ol start=\"0\" "
                    f"style=\"white-space:pre-wrap;font-family:monospace\">{steps}</ol>")

    # -- sequence protocol -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._states)

    def __getitem__(self, k: int) -> Drawing:
        """Frame ``k`` as a picture (a ``graphviz.Digraph``; negative ``k`` counts from the end)."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TypeError(f"frame index must be an int, got {type(k).__name__}")
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"frame {k} out of range: this replay has {n} frames (0 to {n - 1})")
        return self._dot(int(k) % n)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __repr__(self) -> str:
        return f"<Replay of {self._by_node[self.root].name}: {len(self)} frames>"


def replay(root: Any, gradient: Any = None, *, max_nodes: int = 100, params: Any = None,
           rankdir: str = "LR", theme: str = "light") -> Replay:
    """Run the backward pass from ``root`` (a ``Value`` or a ``Tensor``) and record it, node by node.

    Args:
        root: the output to differentiate (usually a loss).
        gradient: the seed, as for ``root.backward(gradient)`` (default 1, or ones for a
            one-element tensor).
        max_nodes: refuse graphs bigger than this (a replay has one frame per node); use
            :func:`gradengine.viz.draw` to look at big graphs.
        params: a ``Module`` (or mapping) whose parameters are named by qualified name.
        rankdir: ``"LR"``, ``"TB"``, ``"RL"`` or ``"BT"``.
        theme: ``"light"`` or ``"dark"``.

    Returns:
        A :class:`Replay`: ``len(r)`` frames, ``r[k]`` a picture, ``r.frames[k]`` the numbers,
        ``r.save("backprop.html")`` the player; in Jupyter ``r`` displays as the player.

    Afterwards ``.grad`` is exactly as after ``root.backward(gradient)`` (which ``replay`` calls
    once the pass is recorded): leaves accumulate.
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}; got {rankdir!r}")
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(map(repr, THEMES))}; got {theme!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"replay(max_nodes=...) must be a positive int, got {max_nodes!r}")
    if isinstance(root, Value):
        seed = 1.0 if gradient is None else gradient
        if gradient is not None and not isinstance(gradient, Value):
            seed = _check_real(gradient, "replay(gradient)")
    elif _is_tensor_like(root):
        if not root.requires_grad:
            raise RuntimeError("replay() of a tensor that does not require grad: none of its inputs "
                               "has requires_grad=True, or it was computed under no_grad()")
        if gradient is None:
            if root.data.size != 1:
                raise RuntimeError(f"replay() of a tensor of shape {tuple(root.shape)}: pass the "
                                   "gradient, as for backward(gradient)")
            seed = np.ones(root.shape, dtype=root.dtype)
        else:
            try:  # backward()'s own check and message: the shape must be the tensor's, numeric
                seed = root._seed(gradient)
            except (ValueError, TypeError) as e:
                raise type(e)(str(e).replace("backward(gradient)", "replay(gradient)")) from None
    else:
        raise TypeError(f"replay() takes a Value or a Tensor, got {type(root).__name__}")
    order, _ = summary.traverse(root, lambda n: n.children)
    if len(order) > max_nodes:
        raise ValueError(f"replay() draws one frame per node and this graph has {len(order):,} nodes "
                         f"(max_nodes={max_nodes}); use draw() to see a big graph, or raise max_nodes")
    r = Replay(root, seed, rankdir=rankdir, theme=THEMES[theme], names=_param_names(params))
    root.backward(*(() if gradient is None else (gradient,)))
    return r
