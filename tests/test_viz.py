"""Tests for gradengine.viz: the DOT source is parsed and checked, and, when the Graphviz ``dot``
program is installed (CI installs it), so is the SVG it produces."""

from __future__ import annotations

import math
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradengine import Tensor, Value, nn
from gradengine.engine import OPS
from gradengine.nn import MLP
from gradengine.viz import GraphvizNotFoundError, draw, grad_fill, render, to_svg
from gradengine.viz import summary
from gradengine.autograd import op_label

REPO = Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="needs the Graphviz dot binary: apt-get install graphviz")

VANISHING = {"#08519c", "#3182bd", "#6baed6"}  # the blue bands, |grad| < 1e-4
HEALTHY = "#f7f7f7"  # 0.01 <= |grad| < 100
SVG_NS = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------------------------------------
# A small DOT parser: enough for the statements graphviz.Digraph writes
# ---------------------------------------------------------------------------------------------
def _parse_attrs(text: str) -> dict[str, str]:
    """Parse ``a=1 b="x y" c=<<b>html</b>>`` into a dict (quotes and escapes kept as written)."""
    attrs, i = {}, 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        eq = text.index("=", i)
        key, i = text[i:eq], eq + 1
        if text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            attrs[key], i = text[i + 1:j], j + 1
        elif text[i] == "<":
            depth, j = 0, i
            while True:
                depth += {"<": 1, ">": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            attrs[key], i = text[i:j], j
        else:
            j = text.find(" ", i)
            j = len(text) if j < 0 else j
            attrs[key], i = text[i:j], j
    return attrs


@dataclass
class Dot:
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)  # in declaration order
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    graph: dict[str, str] = field(default_factory=dict)

    @property
    def values(self) -> dict[str, dict[str, str]]:
        """Value/tensor nodes (``v0``, ``v1``...), without op nodes."""
        return {k: v for k, v in self.nodes.items() if re.fullmatch(r"v\d+", k)}

    @property
    def groups(self) -> dict[str, dict[str, str]]:
        """Summary groups (``g3``...)."""
        return {k: v for k, v in self.nodes.items() if re.fullmatch(r"g\d+", k)}

    def by_label(self, first_field: str) -> str:
        """The id of the value node whose record starts with ``first_field``."""
        hits = [k for k, a in self.values.items() if fields(a)[0] == first_field]
        assert len(hits) == 1, (first_field, hits)
        return hits[0]

    def into(self, node: str) -> list[tuple[str, dict[str, str]]]:
        return [(a, attrs) for a, b, attrs in self.edges if b == node]


def parse_dot(source: str) -> Dot:
    dot = Dot()
    for line in source.splitlines():
        line = line.strip()
        if m := re.fullmatch(r"graph \[(.*)\]", line):
            dot.graph = _parse_attrs(m.group(1))
        elif m := re.fullmatch(r"(\w+) -> (\w+)(?: \[(.*)\])?", line):
            dot.edges.append((m.group(1), m.group(2), _parse_attrs(m.group(3) or "")))
        elif m := re.fullmatch(r"(\w+) \[(.*)\]", line):
            if m.group(1) not in ("node", "edge", "graph"):
                dot.nodes[m.group(1)] = _parse_attrs(m.group(2))
    return dot


def fields(node_attrs: dict[str, str]) -> list[str]:
    """The fields of a record label, unescaped."""
    label = node_attrs["label"].strip()
    if label.startswith("{") and label.endswith("}"):
        label = label[1:-1]
    parts = re.split(r"(?<!\\)\|", label)
    return [re.sub(r"\\(.)", r"\1", p).strip() for p in parts]


def svg_of(graph) -> ET.Element:
    return ET.fromstring(to_svg(graph))


def svg_groups(svg: ET.Element, cls: str) -> dict[str, ET.Element]:
    """``{title: <g>}`` for every SVG group of class ``node`` or ``edge``."""
    return {g.find(f"{SVG_NS}title").text: g for g in svg.iter(f"{SVG_NS}g") if g.get("class") == cls}


def svg_texts(el: ET.Element) -> list[str]:
    return [t.text for t in el.iter(f"{SVG_NS}text") if t.text]


# ---------------------------------------------------------------------------------------------
# Graphs used by the tests
# ---------------------------------------------------------------------------------------------
def shop() -> dict[str, Value]:
    """2 apples at 100 and 3 oranges at 150, with 10% tax: 715 to pay."""
    v = {k: Value(x, label=k) for k, x in
         [("apple", 100), ("n_apple", 2), ("orange", 150), ("n_orange", 3), ("tax", 1.1)]}
    v["apple_cost"] = v["apple"] * v["n_apple"]
    v["orange_cost"] = v["orange"] * v["n_orange"]
    v["subtotal"] = v["apple_cost"] + v["orange_cost"]
    v["total"] = v["subtotal"] * v["tax"]
    for k in ("apple_cost", "orange_cost", "subtotal", "total"):
        v[k].label = k
    v["total"].backward()
    return v


SHOP_EXPECTED = {  # label: (data, grad)
    "total": (715.0, 1.0), "subtotal": (650.0, 1.1), "tax": (1.1, 650.0),
    "apple_cost": (200.0, 1.1), "orange_cost": (450.0, 1.1),
    "apple": (100.0, 2.2), "n_apple": (2.0, 110.0), "orange": (150.0, 3.3), "n_orange": (3.0, 165.0),
}


def chain(act: str, depth: int = 30, x0: float = 0.5) -> Value:
    x = Value(x0, label="x")
    y = x
    for _ in range(depth):
        y = getattr(y, act)()
    y.label = "y"
    y.backward()
    return y


def mlp_loss(n_points: int = 100, seed: int = 1337) -> Value:
    """micrograd's demo step: MLP(2, [16, 16, 1]) on 100 points, SVM loss + L2 (~65k nodes)."""
    rng = random.Random(seed)
    random.seed(seed)
    model = MLP(2, [16, 16, 1])
    xs = [(rng.uniform(-1.5, 2.5), rng.uniform(-1.0, 1.5)) for _ in range(n_points)]
    ys = [1.0 if a * a + b > 0.5 else -1.0 for a, b in xs]
    scores = [model([Value(a), Value(b)]) for a, b in xs]
    losses = [(1 + -y * s).relu() for y, s in zip(ys, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    loss = data_loss + reg_loss
    loss.backward()
    return loss


def _leaf(root: Value) -> Value:
    """The input at the start of a chain."""
    while root.children:
        root = root.children[0]
    return root


def count_nodes(root: Value) -> int:
    seen, stack = {root}, [root]
    while stack:
        for c in stack.pop().children:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return len(seen)


# ---------------------------------------------------------------------------------------------
# Scalar graphs: content of the DOT source
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# Scalar graphs: content of the DOT source
# ---------------------------------------------------------------------------------------------
def test_shop_example_labels_data_and_grads():
    v = shop()
    assert v["total"].data == pytest.approx(715.0)
    dot = parse_dot(draw(v["total"]).source)
    assert len(dot.values) == 9  # 5 inputs + 4 results
    assert len(dot.nodes) == 13  # + 4 op nodes
    assert len(dot.edges) == 12  # 8 operand edges + 4 op -> result edges
    for label, (data, grad) in SHOP_EXPECTED.items():
        assert fields(dot.values[dot.by_label(label)]) == [label, f"data {data:.4f}", f"grad {grad:.4f}"]
    # leaves are bold square records, results rounded
    assert dot.values[dot.by_label("tax")]["shape"] == "record"
    assert "bold" in dot.values[dot.by_label("tax")]["style"]
    assert dot.values[dot.by_label("total")]["shape"] == "Mrecord"
    # the root comes first, and op nodes sit between operands and results
    assert dot.by_label("total") == "v0"
    assert dot.into("v0") == [("v0_op", {})]
    assert dot.nodes["v0_op"]["label"] == "*"
    assert sorted(a for a, _ in dot.into("v0_op")) == sorted([dot.by_label("subtotal"), dot.by_label("tax")])
    assert "Value graph: 9 values, 4 ops" in dot.graph["label"]
    assert "no gradients computed yet" not in dot.graph["label"]


def test_op_labels_come_from_the_op_table():
    a, b = Value(0.7, label="a"), Value(1.3, label="b")
    for op in OPS.values():
        out = op(a, b) if op.nin == 2 else op(a, 2.0) if op.name == "powc" else op(a)
        out.label = "out"
        dot = parse_dot(draw(out).source)
        assert dot.nodes["v0_op"]["label"] == op_label(out)
    assert parse_dot(draw(a**2).source).nodes["v0_op"]["label"] == "**2"  # the constant shows
    assert parse_dot(draw(a**0.5).source).nodes["v0_op"]["label"] == "**0.5"
    assert parse_dot(draw(a.exp()).source).nodes["v0_op"]["label"] == "exp"


def test_unary_minus_is_not_subtraction():
    # before: both were drawn as "-", so -a and 0 - a looked the same
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    neg = parse_dot(draw(-a).source).nodes["v0_op"]["label"]
    sub = parse_dot(draw(a - b).source).nodes["v0_op"]["label"]
    assert neg != sub and sub == "-"


@pytest.mark.parametrize("swap", [False, True])
def test_operand_order_is_visible_for_sub(swap):
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = b - a if swap else a - b
    c.backward()
    dot = parse_dot(draw(c).source)
    edges = dot.into("v0_op")
    first, second = (dot.by_label("b"), dot.by_label("a")) if swap else (dot.by_label("a"), dot.by_label("b"))
    assert edges == [(first, {"label": "0"}), (second, {"label": "1"})]
    assert fields(dot.values[dot.by_label("a")])[2] == ("grad -1.0000" if swap else "grad 1.0000")


def test_same_operand_twice_gets_two_edges():
    a = Value(3.0, label="a")
    a2 = a * a
    a2.backward()
    dot = parse_dot(draw(a2).source)
    assert [attrs["label"] for _, attrs in dot.into("v0_op")] == ["0", "1"]
    assert len(dot.values) == 2


def test_one_edge_labelling_convention_for_every_op():
    """Edges into an op with several operands carry the operand position, whatever the engine
    or arity (before: "lhs"/"rhs" for two operands, "0"/"1"/"2" for three)."""
    x = Tensor(np.ones((2, 3)), name="x")
    lin = nn.Linear(3, 2)
    loss = lin(x).sum()
    loss.backward()
    dot = parse_dot(draw(loss, params=lin).source)
    labels = {}
    for a, b, attrs in dot.edges:
        if b.endswith("_op"):
            labels.setdefault(b, []).append(attrs.get("label"))
    assert sorted(labels.values(), key=len) == [[None], ["0", "1", "2"]]


def test_show_data_and_show_grad_flags():
    v = shop()
    dot = parse_dot(draw(v["total"], show_data=False).source)
    assert fields(dot.values["v0"]) == ["total", "grad 1.0000"]
    dot = parse_dot(draw(v["total"], show_grad=False).source)
    assert fields(dot.values["v0"]) == ["total", "data 715.0000"]
    assert {a["fillcolor"] for a in dot.values.values()} == {"white"}  # no grad: no colour
    assert "log scale" not in dot.graph["label"]
    assert "log scale" not in parse_dot(draw(v["total"], legend=False).source).graph["label"]


def test_record_layout_follows_rankdir():
    v = shop()
    assert parse_dot(draw(v["total"]).source).values["v0"]["label"].startswith("{")
    tb = parse_dot(draw(v["total"], rankdir="TB").source)
    assert tb.graph["rankdir"] == "TB"
    assert tb.values["v0"]["label"] == "total | data 715.0000 | grad 1.0000"


def test_numbers_never_hide_as_zero():
    y = chain("sigmoid", depth=30)
    dot = parse_dot(draw(y).source)
    grad = fields(dot.values[dot.by_label("x")])[2]
    assert re.fullmatch(r"grad \d\.\d{4}e-\d\d ▼", grad), grad  # not "grad 0.0000"; marked vanishing
    assert float(grad.split()[1]) == pytest.approx(_leaf(y).grad, rel=1e-4)


HOSTILE = ["<script>alert(1)</script>", 'say "hi"', "{a|b}", "x{1}|<y> \\ end", "a&b <b>bold</b>"]


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_labels_are_escaped_in_dot(label):
    a = Value(1.0, label=label)
    out = a * 2
    out.label = label + "\nline2"
    out.backward()
    d = draw(out)
    dot = parse_dot(d.source)
    assert fields(dot.values["v0"])[0] == " ".join((label + " line2").split())
    assert fields(dot.values[dot.by_label(label)])[1] == "data 1.0000"
    assert label in d.text
    # a label in an HTML-like group title is escaped too
    x = Value(1.0, label=label)
    y = x
    for _ in range(300):
        y = y + x
    y.backward()
    assert "<script>" not in draw(y, params={label: x}).source


@needs_dot
@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_labels_round_trip_through_svg(label):
    a = Value(1.0, label=label)
    out = a * 2
    out.backward()
    svg = svg_of(out)  # well-formed XML, or this raises
    texts = [t for g in svg_groups(svg, "node").values() for t in svg_texts(g)]
    assert " ".join(label.split()) in texts
    assert not list(svg.iter(f"{SVG_NS}script"))


def test_grad_that_is_a_value_after_create_graph():
    x = Value(3.0, label="x")
    y = x**3
    y.backward(create_graph=True)  # x.grad is now a Value graph
    assert isinstance(x.grad, Value)
    dot = parse_dot(draw(y).source)
    assert fields(dot.values[dot.by_label("x")])[2] == "grad 27.0000"
    dot = parse_dot(draw(x.grad).source)  # the gradient's own graph can be drawn too
    assert dot.values["v0"]


def test_before_backward_the_graph_says_so_instead_of_showing_zeros():
    # before: every node showed "grad 0.0000", as if the gradients were zero
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b + a**2
    d = draw(c)
    dot = parse_dot(d.source)
    assert "no gradients computed yet" in dot.graph["label"]
    assert all(not f.startswith("grad") for n in dot.values.values() for f in fields(n))
    assert {n["fillcolor"] for n in dot.values.values()} == {"white"}
    c.backward()
    dot = parse_dot(draw(c).source)
    assert "no gradients computed yet" not in dot.graph["label"]
    assert fields(dot.values[dot.by_label("a")])[2] == "grad 1.0000"


def test_before_backward_tensor_graph_says_so():
    w = Tensor(np.ones((2, 2)), requires_grad=True, name="W")
    loss = (w * w).sum()
    dot = parse_dot(draw(loss).source)
    assert "no gradients computed yet" in dot.graph["label"]
    assert all("grad" not in f for n in dot.values.values() for f in fields(n))


def test_tensor_graph_not_backwarded_ignores_grads_left_by_another_graph():
    # before: l2 was drawn with gradients (its activations', and l1's on weight and bias)
    m = nn.Linear(3, 2)
    x = np.ones((4, 3), np.float32)
    l1 = (m(x) ** 2).mean()
    l1.backward()
    l2 = (m(2 * x) ** 2).mean()
    text = draw(l2, params=m).text
    assert "no gradients computed yet" in text
    assert "grad " not in text.replace("no grad", "").replace(".grad", "")
    assert "no gradients computed yet" not in draw(l1, params=m).text  # l1 itself was backwarded
    l2.backward()  # now the leaves hold l1's + l2's: not l2's alone, still not shown as l2's
    assert "no gradients computed yet" in draw(l2, params=m).text
    m.zero_grad()
    l2.backward()
    assert "no gradients computed yet" not in draw(l2, params=m).text


# ---------------------------------------------------------------------------------------------
# Colour = gradient magnitude
# ---------------------------------------------------------------------------------------------
def test_grad_fill_scale():
    assert grad_fill(None) == grad_fill(0.0) == grad_fill(-0.0) == "white"
    assert grad_fill(math.nan) == grad_fill(math.inf) == grad_fill(-math.inf) == "#ffd92f"
    assert grad_fill(1e-30) == grad_fill(-1e-9) == "#08519c"
    colours = [grad_fill(10.0**k) for k in range(-10, 9)]
    assert len(set(colours)) == 8
    assert colours == sorted(colours, key=colours.index)  # monotone: never returns to a colour


@pytest.mark.parametrize("g", [0.5, -0.5, 0.05, 0.011, 1.0, 3.0, 99.0])
def test_healthy_gradients_are_not_in_the_vanishing_band(g):
    # before: 0.5 was drawn in the blue "vanishing" band
    assert grad_fill(g) == HEALTHY


@pytest.mark.parametrize("g", [1e-5, 1e-7, 1e-12])
def test_vanishing_band_starts_below_1e_4(g):
    assert grad_fill(g) in VANISHING
    assert grad_fill(2e-4) not in VANISHING


def test_colour_is_never_the_only_cue():
    sig = chain("sigmoid")
    x = parse_dot(draw(sig).source)
    leaf = x.values[x.by_label("x")]
    assert fields(leaf)[2].endswith("▼")  # vanishing, said in text too
    y = Value(1.0, label="y")
    z = y
    for _ in range(3):
        z = z * y * 100.0
    z.backward()
    dot = parse_dot(draw(z).source)
    assert fields(dot.values[dot.by_label("y")])[2].endswith("▲")


def test_vanishing_gradient_is_coloured_differently_from_healthy():
    sig, relu = chain("sigmoid"), chain("relu")
    assert _leaf(sig).grad < 1e-15 and _leaf(relu).grad == 1.0
    ds, dr = parse_dot(draw(sig).source), parse_dot(draw(relu).source)
    sig_leaf, relu_leaf = ds.values[ds.by_label("x")], dr.values[dr.by_label("x")]
    assert sig_leaf["fillcolor"] == "#08519c"  # darkest blue: vanishing
    assert sig_leaf["fontcolor"] == "white"  # readable on the dark fill
    assert relu_leaf["fillcolor"] == HEALTHY
    fills = [ds.values[f"v{i}"]["fillcolor"] for i in range(len(ds.values))]
    assert fills[0] == HEALTHY and fills[-1] == "#08519c"
    assert len(set(fills)) >= 4
    assert "vanishing" in ds.graph["label"] and "exploding" in ds.graph["label"]


def test_exploding_and_nan_gradients_are_marked():
    x = Value(1.0, label="x")
    y = x
    for _ in range(4):
        y = y * 100.0
    y.backward()
    dot = parse_dot(draw(y).source)
    assert dot.values[dot.by_label("x")]["fillcolor"] == "#a63603"  # 1e8: darkest orange
    z = Value(-1.0, label="z")
    w = z.sqrt()
    w.backward()
    dot = parse_dot(draw(w).source)
    node = dot.values[dot.by_label("z")]
    assert node["fillcolor"] == "#ffd92f"
    assert fields(node)[2] == "grad nan ⚠" and node["penwidth"] == "3"
    assert fields(dot.values["v0"])[1] == "data nan ⚠"


def test_dark_theme():
    v = shop()
    dot = parse_dot(draw(v["total"], theme="dark").source)
    assert dot.graph["bgcolor"] == "#1e1e1e"
    assert draw(v["total"]).source != draw(v["total"], theme="dark").source
    # healthy gradients are a dark neutral with light text, not a glaring white box
    total = dot.values[dot.by_label("total")]
    assert total["fillcolor"] == "#4a4a4a" and total.get("fontcolor", "default") == "default"
    assert 'fontcolor="#e8e8e8"' in [line for line in draw(v["total"], theme="dark").source.splitlines()
                                     if line.strip().startswith("node [")][0]  # the default: light
    assert dot.values[dot.by_label("tax")]["fillcolor"] == grad_fill(650.0)  # same scale
    with pytest.raises(ValueError, match="theme"):
        draw(v["total"], theme="blue")


# ---------------------------------------------------------------------------------------------
# Names and constants
# ---------------------------------------------------------------------------------------------
def test_parameters_are_labelled_by_qualified_name():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    x = Tensor(np.ones((3, 2), dtype=np.float32), name="x")
    loss = (model(x) ** 2).mean()
    loss.backward()
    dot = parse_dot(draw(loss, params=model).source)
    for name, p in model.named_parameters():
        f = fields(dot.values[dot.by_label(name)])
        assert f[1] == f"{tuple(p.shape)} float32"
        assert dot.values[dot.by_label(name)]["fillcolor"] == grad_fill(float(np.linalg.norm(p.grad)))
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= {fields(n)[0] for n in dot.values.values()}
    # scalar MLP: micrograd-style names
    random.seed(0)
    mlp = MLP(2, [3, 1])
    out = mlp([Value(1.0), Value(2.0)])
    out.backward()
    names = {fields(n)[0] for n in parse_dot(draw(out, params=mlp).source).values.values()}
    assert "layers.0.neurons.0.w.0" in names and "layers.1.neurons.0.b" in names


def test_tensor_constants_are_drawn_as_constants():
    w = Tensor(np.ones(3), requires_grad=True, name="w")
    loss = (w * 0.01).sum()
    loss.backward()
    dot = parse_dot(draw(loss).source)
    const = [n for n in dot.values.values() if n["label"] == "0.01"]
    assert len(const) == 1 and "dashed" in const[0]["style"] and "bold" not in const[0]["style"]


def test_value_constants_are_drawn_as_constants():
    assert (Value(1.0) * 2.0).children[1].requires_grad is False and Value(1.0).requires_grad
    x = Value(2.0, label="x")
    y = 0.01 * x
    y.backward()
    dot = parse_dot(draw(y).source)
    const = [n for n in dot.values.values() if n["label"] == "0.01"]
    assert len(const) == 1 and "dashed" in const[0]["style"] and "bold" not in const[0]["style"]


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------
def test_same_graph_same_dot():
    v = shop()
    assert draw(v["total"]).source == draw(v["total"]).source
    assert draw(shop()["total"]).source == draw(v["total"]).source  # ids never come from id()


def test_dot_is_identical_across_processes():
    code = ("import sys; sys.path.insert(0, %r); from test_viz import shop; "
            "from gradengine.viz import draw; sys.stdout.write(draw(shop()['total']).source)")
    out = [subprocess.run([sys.executable, "-c", code % str(Path(__file__).parent)], check=True,
                          capture_output=True, text=True).stdout for _ in range(2)]
    assert out[0] == out[1] == draw(shop()["total"]).source


# ---------------------------------------------------------------------------------------------
# Large graphs: summarised, not cut
# ---------------------------------------------------------------------------------------------
def _accounted(root: Any, **kw: Any) -> summary.Summary:
    """The summary draw() would make, checked to hold every node of the graph exactly once."""
    from gradengine.viz.graph import _TensorEngine, _ValueEngine

    eng = _ValueEngine(root, {}) if isinstance(root, Value) else _TensorEngine(root, {})
    order, uses = summary.traverse(root, eng.children)
    s = summary.summarise(root, order, uses, children=eng.children, op_of=eng.op_of,
                          magnitude=eng.magnitude, fold=True, **kw)
    seen = [it.node for it in s.items if it.kind == "node"] + [m for it in s.items for m in it.members]
    assert len(seen) == len(order) == s.total
    assert len({id(n) for n in seen}) == len(order)  # each node in exactly one box
    return s


def test_long_chain_is_one_labelled_group():
    x = Value(0.5, label="x")
    y = x
    for _ in range(200_000):
        y = y + x
    y.label = "y"
    y.backward()
    s = _accounted(y, budget=200)
    d = draw(y)
    dot = parse_dot(d.source)
    assert len(dot.values) == 2 and len(dot.groups) == 1  # y, x and the chain
    (g,) = dot.groups.values()
    assert "chain of 199,999 add" in g["label"]
    assert "‖grad‖" in g["label"]
    assert "200,001 nodes, summarised" in dot.graph["label"]
    # x feeds every link of the chain: one edge, with the count
    assert sorted((a, b, attrs["label"]) for a, b, attrs in dot.edges if a == dot.by_label("x")) == \
        [(dot.by_label("x"), "g1", "×200,000"), (dot.by_label("x"), "v0_op", "1")]
    assert len(s.items) == 3


def test_folded_chain_counts_the_partial_repetition_at_the_output_end():
    # before: "×12 (linear → sigmoid) → linear" was counted as 13 sigmoid, 12 linear
    layers: list = []
    for _ in range(12):
        layers += [nn.Linear(2, 2), nn.Sigmoid()]
    layers.append(nn.Linear(2, 2))
    out = nn.Sequential(*layers)(Tensor(np.ones((1, 2), np.float32))).sum()
    line = next(l for l in draw(out, summarise=True).text.splitlines() if "×12" in l)
    assert "×12 (linear → sigmoid) → linear" in line
    assert "13 linear, 12 sigmoid" in line
    chain = next(it for it in _accounted(out, budget=50).items if it.kind == "chain")
    assert (chain.counts["linear"], chain.counts["sigmoid"]) == (13, 12)


def test_chain_with_constants_folds_them():
    x = Value(1.0, label="x")
    y = x
    for _ in range(500):
        y = (y * 1.0001).tanh()
    y.backward()
    dot = parse_dot(draw(y, max_nodes=50).source)
    (g,) = [n for n in dot.groups.values() if "×" in n["label"]]
    assert "×499 (mul → tanh)" in g["label"] or "×500 (mul → tanh)" in g["label"]
    assert dot.by_label("x")  # the input stays visible


def test_deep_network_collapses_with_per_layer_gradient_norms():
    rng = np.random.default_rng(0)
    layers = []
    for _ in range(12):
        lin = nn.Linear(8, 8)
        lin.weight.data[...] = rng.normal(0, 1 / np.sqrt(8), (8, 8)).astype(np.float32)
        layers += [lin, nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(8, 1))
    x = Tensor(rng.normal(size=(4, 8)).astype(np.float32), name="x")
    loss = model(x).sum()
    loss.backward()
    d = draw(loss, summarise=True, params=model)
    dot = parse_dot(d.source)
    (g,) = dot.groups.values()
    label = html_unescape(g["label"])
    assert "×12 (linear → sigmoid) → linear: chain of 25 ops" in label, label
    assert f"then linear: output 2 · 24.weight {float(np.linalg.norm(model[24].weight.grad)):.4g}" in label
    for i in range(1, 12):  # one row per layer, with the weight's name and gradient norm
        w = model[2 * i].weight
        assert f"{i + 1}: output " in label and f"· {2 * i}.weight {float(np.linalg.norm(w.grad)):.4g}" in label
    assert "x" in {fields(n)[0] for n in dot.values.values()}
    assert d.source == draw(loss, summarise=True, params=model).source


def html_unescape(s: str) -> str:
    import html

    return html.unescape(s)


def test_mlp_step_graph_is_summarised_and_quick():
    loss = mlp_loss()
    total = count_nodes(loss)
    assert total > 60_000
    s = _accounted(loss, budget=200)
    source = draw(loss).source
    dot = parse_dot(source)
    assert f"{total:,} nodes, summarised" in dot.graph["label"]
    labels = " ".join(html_unescape(g["label"]) for g in dot.groups.values())
    assert "×99 more subgraphs like the ReLU" in labels  # the 100 per-sample terms
    assert "chain of 100 add" in labels  # their sum
    assert len(dot.values) + len(dot.groups) <= 200
    assert len(source) < 200_000
    assert any(it.kind == "repeat" for it in s.items)


def test_path_with_the_largest_gradient_stays_expanded():
    # 10 terms with different weights: the drawn representative is the one with the largest grad
    xs = [Value(float(i), label=f"x{i}") for i in range(10)]
    terms = [(x * x).tanh() * (0.1 * (i + 1)) for i, x in enumerate(xs)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    total.backward()
    dot = parse_dot(draw(total, summarise=True).source)
    names = {fields(n)[0] for n in dot.values.values()}
    assert "x9" in names  # largest weight: largest gradient path
    assert "x0" not in names


def test_budget_exhausted_leaves_a_counted_rest():
    loss = mlp_loss(n_points=10)
    s = _accounted(loss, budget=10)
    assert sum(1 for it in s.items if it.kind != "rest") <= 10
    dot = parse_dot(draw(loss, max_nodes=10).source)
    rest = [html_unescape(g["label"]) for g in dot.groups.values() if "not drawn" in g["label"]]
    assert len(rest) == 1 and "(max_nodes=10)" in rest[0]
    assert all(a in dot.nodes and b in dot.nodes for a, b, _ in dot.edges)  # no dangling edges


def test_summarise_false_and_max_nodes_none():
    x = Value(1.0, label="x")
    y = x
    for _ in range(6000):
        y = y + x
    with pytest.raises(ValueError, match="more than max_nodes=200"):
        draw(y, summarise=False)
    with pytest.warns(UserWarning, match="minutes"):
        dot = parse_dot(draw(y, max_nodes=None).source)
    assert len(dot.values) == 6001 and not dot.groups
    small = Value(1.0) + Value(2.0)
    assert not parse_dot(draw(small, summarise=True).source).groups  # nothing long to fold


def test_very_deep_graph_does_not_recurse():
    x = Value(0.0, label="x")
    y = x
    for _ in range(200_000):
        y = y + 1.0
    dot = parse_dot(draw(y, max_nodes=10).source)
    assert len(dot.values) + len(dot.groups) <= 10


# ---------------------------------------------------------------------------------------------
# Tensor graphs
# ---------------------------------------------------------------------------------------------
def test_real_tensor_graph():
    from gradengine.tensor import OPS as TENSOR_OPS

    x = Tensor(np.ones((4, 3)), name="x")
    w = Tensor(np.full((3, 2), 0.5), requires_grad=True, name="W")
    h = x @ w
    loss = h.sum()
    loss.name = "loss"
    loss.backward()
    dot = parse_dot(draw(loss).source)
    assert len(dot.values) == 4 and len(dot.edges) == 5
    # every tensor shows its gradient, activations included (before: "grad None"), and draw()
    # leaves .grad as backward() left it
    assert fields(dot.values["v0"]) == ["loss", "() float64", "data 12.0000", "grad 1.0000"]
    assert fields(dot.values["v1"]) == ["(4, 2) float64", "data [1.5, 1.5]", "‖grad‖ 2.8284"]
    assert h.grad is None and loss.grad is None
    assert fields(dot.values[dot.by_label("W")]) == ["W", "(3, 2) float64", "data [0.5, 0.5]",
                                                     f"‖grad‖ {4 * math.sqrt(6):.4f}"]
    assert dot.values["v1"]["fillcolor"] == HEALTHY
    assert fields(dot.values[dot.by_label("x")]) == ["x", "(4, 3) float64", "data [1, 1]", "no grad"]
    assert dot.nodes["v1_op"]["label"] == TENSOR_OPS["matmul"].symbol == h.op.symbol
    assert dot.into("v1_op") == [(dot.by_label("x"), {"label": "0"}), (dot.by_label("W"), {"label": "1"})]
    assert "bold" in dot.values[dot.by_label("W")]["style"]
    assert "dashed" in dot.values[dot.by_label("x")]["style"]
    assert dot.values["v1"]["shape"] == "Mrecord"
    assert draw(loss).source == draw(loss).source


def test_tensor_activation_gradients_match_retain_grad():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh() if hasattr(nn, "Tanh") else nn.ReLU(), nn.Linear(4, 1))
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)), name="x")
    h = model[0](x)
    h.retain_grad()
    a = model[1](h)
    a.retain_grad()
    loss = (model[2](a) ** 2).mean()
    loss.backward()
    dot = parse_dot(draw(loss).source)
    shown = {fields(n)[0]: fields(n)[-1] for n in dot.values.values() if fields(n)[0].startswith("(5, 4)")}
    texts = sorted(f for n in dot.values.values() for f in fields(n)[-1:] if f.startswith("‖grad‖"))
    assert f"‖grad‖ {np.linalg.norm(h.grad):.4f}" in texts and f"‖grad‖ {np.linalg.norm(a.grad):.4f}" in texts
    assert shown


def test_tensor_reduction_axis_and_index_are_shown():
    x = Tensor(np.ones((3, 4)), requires_grad=True, name="x")
    y = x.sum(axis=1)[0]
    y.backward()
    ops = [n["label"] for k, n in parse_dot(draw(y).source).nodes.items() if k.endswith("_op")]
    assert any("axis=1" in o for o in ops) and any("0" in o and "[" in o for o in ops)
    assert ops == [op_label(y), op_label(y.children[0])]


# ---------------------------------------------------------------------------------------------
# Module view
# ---------------------------------------------------------------------------------------------
def test_module_view_scalar_mlp():
    random.seed(0)
    model = MLP(2, [16, 16, 1])
    out = model([Value(1.0), Value(-2.0)])
    out.backward()
    source = draw(model).source
    assert "MLP: 337 parameters" in source
    assert "neurons.0 … neurons.15: 16 × ReLUNeuron(2)" in source
    assert "16 × ReLUNeuron(16)" in source and "neurons.0: LinearNeuron(16)" in source
    assert '<td align="left">w</td><td align="left">(2,)</td>' in source
    assert '<td align="left">w</td><td align="left">(16,)</td>' in source
    assert '<td align="left">b</td><td align="left">scalar</td>' in source
    assert source.count("subgraph cluster_") == 4  # the MLP and its 3 layers
    assert 'label="layers.0: Layer"' in source
    assert "grad 1.0000" in source  # the output neuron's bias gets d(out)/d(out) = 1
    assert draw(model).source == source
    random.seed(0)
    assert draw(MLP(2, [16, 16, 1])).source != source  # no grads yet: other numbers


def test_module_view_tensor_layers():
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    source = draw(model).source
    for name, p in model.named_parameters():
        assert f"{tuple(p.shape)} {p.dtype}" in source, name
    assert "Sequential: 65 parameters in 4 tensors" in source
    assert "<b>1: ReLU" in source and "<b>0: Linear" in source
    assert '<td align="left">weight</td><td align="left">(16, 2) float32</td>' in source
    assert source.count("grad None") == 4  # no backward yet


# ---------------------------------------------------------------------------------------------
# Errors, and life without dot
# ---------------------------------------------------------------------------------------------
def test_module_view_has_a_text_form():
    # before: draw(model).text was "", so without Graphviz only the install hint showed
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    text = draw(model).text
    assert text.splitlines()[0] == "Sequential: 11 parameters in 4 tensors"
    assert "0: Linear(in_features=3, out_features=2, bias=True)" in text
    assert "weight  (2, 3) float32  grad None" in text
    (model(np.ones((1, 3), np.float32)) ** 2).sum().backward()
    assert "weight  (2, 3) float32  ‖grad‖" in draw(model).text
    assert "grad" not in draw(model, show_grad=False).text.replace("‖grad‖ of", "")
    assert "3 × ReLUNeuron(2)" in draw(MLP(2, [3, 1])).text


def test_bad_arguments():
    a = Value(1.0)
    with pytest.raises(TypeError, match="Value, a Tensor or a Module"):
        draw(3.0)
    with pytest.raises(TypeError, match="returns a list"):
        draw([a, a])
    with pytest.raises(ValueError, match="rankdir"):
        draw(a, rankdir="XY")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_nodes"):
            draw(a, max_nodes=bad)
    with pytest.raises(TypeError, match="summarise"):
        draw(a, summarise="yes")
    with pytest.raises(TypeError, match="params="):
        draw(a, params={1: a})
    with pytest.raises(ValueError, match="format"):
        render(a, "graph.svg", format="png")
    with pytest.raises(ValueError, match="unknown output format"):
        render(a, "graph.nope")
    with pytest.raises(TypeError, match="already drawn"):
        to_svg(draw(a), rankdir="TB")


def test_without_dot_inline_display_falls_back_to_text(monkeypatch, tmp_path):
    # before: displaying draw(x) in Jupyter raised graphviz's ExecutableNotFound
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    v = shop()
    d = draw(v["total"])
    bundle = d._repr_mimebundle_()
    assert set(bundle) == {"text/plain"}
    text = bundle["text/plain"]
    assert "total = *(subtotal, tax)" in text and "grad 650.0000" in text
    assert "apt-get install graphviz" in text
    for call in (lambda: to_svg(v["total"]), lambda: render(v["total"], tmp_path / "g.svg")):
        with pytest.raises(GraphvizNotFoundError) as info:
            call()
        assert isinstance(info.value, RuntimeError)
        msg = str(info.value)
        assert "apt-get install graphviz" in msg and "brew install graphviz" in msg
        assert "conda install graphviz" in msg
    assert not (tmp_path / "g.svg").exists()


@needs_dot
def test_with_dot_inline_display_is_svg():
    bundle = draw(shop()["total"])._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]


# ---------------------------------------------------------------------------------------------
# SVG and PNG, with the real dot program
# ---------------------------------------------------------------------------------------------
@needs_dot
def test_shop_svg_content():
    v = shop()
    svg = svg_of(v["total"])
    nodes, edges = svg_groups(svg, "node"), svg_groups(svg, "edge")
    assert len(nodes) == 13 and len(edges) == 12
    texts = [svg_texts(g) for t, g in nodes.items() if re.fullmatch(r"v\d+", t)]
    for label, (data, grad) in SHOP_EXPECTED.items():
        assert [label, f"data {data:.4f}", f"grad {grad:.4f}"] in texts
    assert svg_texts(nodes["v0_op"]) == ["*"]
    assert set(svg_texts(edges["v1->v0_op"]) + svg_texts(edges["v2->v0_op"])) == {"0", "1"}
    fill = {t: next(e.get("fill") for e in g if e.get("fill")) for t, g in nodes.items()}
    assert fill["v0"] == HEALTHY
    legend = svg_texts(svg)
    assert "0 / none" in legend and "nan / inf" in legend


@needs_dot
def test_svg_colours_vanishing_vs_relu():
    for act, colour in (("sigmoid", "#08519c"), ("relu", HEALTHY)):
        svg = svg_of(chain(act))
        leaf = svg_groups(svg, "node")["v30"]
        assert svg_texts(leaf)[0] == "x"
        assert any(e.get("fill") == colour for e in leaf)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@needs_dot
@pytest.mark.slow
def test_big_graphs_render_small_and_within_cairo_limits():
    loss = mlp_loss()
    svg_text = to_svg(loss)
    assert len(svg_text) < 1_000_000
    png = subprocess.run(["dot", "-Tpng"], input=draw(loss).source.encode(), capture_output=True, check=True)
    assert b"too large" not in png.stderr
    w, h = _png_size(png.stdout)
    assert w < 10_000 and h < 10_000, (w, h)  # cairo's limit is 32,767; this reads at 100%
    svg = ET.fromstring(svg_text)
    assert any("chain of 100 add" in t for t in svg_texts(svg))


@needs_dot
def test_render_files(tmp_path):
    v = shop()
    p = render(v["total"], tmp_path / "sub" / "graph.svg")
    assert p == tmp_path / "sub" / "graph.svg"
    ET.parse(p)  # well-formed SVG
    png = render(v["total"], tmp_path / "graph.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    bare = render(v["total"], tmp_path / "graph", format="svg", rankdir="TB")
    assert bare == tmp_path / "graph.svg" and bare.exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["graph.png", "graph.svg", "sub"]  # no .gv
    assert to_svg(draw(v["total"])).lstrip().startswith("<?xml")


@needs_dot
def test_module_svg():
    random.seed(0)
    svg = svg_of(MLP(2, [3, 1]))
    texts = svg_texts(svg)
    assert "neurons.0 … neurons.2: 3 × ReLUNeuron(2)" in texts
    assert "(2,)" in texts and "scalar" in texts


@needs_dot
def test_make_figures_script(tmp_path):
    subprocess.run([sys.executable, str(REPO / "docs" / "make_figures.py"), "--out", str(tmp_path), "graph_example"],
                   check=True, capture_output=True, text=True)
    svg = ET.parse(tmp_path / "graph_example.svg").getroot()
    texts = svg_texts(svg)
    assert "tanh" in texts and any(t.startswith("grad ") for t in texts)
