"""Tests for gradengine.viz: the DOT source is parsed and checked, and, when the Graphviz ``dot``
program is installed (CI installs it), so is the SVG it produces."""

from __future__ import annotations

import importlib.util
import math
import random
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

from gradengine import Value
from gradengine.autograd import op_label
from gradengine.engine import OPS
from gradengine.nn import MLP
from gradengine.viz import GraphvizNotFoundError, draw, grad_fill, render, to_svg

REPO = Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="needs the Graphviz dot binary: apt-get install graphviz")
HAS_TENSOR = importlib.util.find_spec("gradengine.tensor") is not None
needs_tensor = pytest.mark.skipif(not HAS_TENSOR, reason="gradengine.tensor is not written yet")

VANISHING = {"#2166ac", "#4393c3", "#92c5de", "#d1e5f0"}  # the blue half of the scale (< 1)
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


def test_op_labels_come_from_the_op_table():
    a, b = Value(0.7, label="a"), Value(1.3, label="b")
    for op in OPS.values():
        out = op(a, b) if op.nin == 2 else op(a, 2.0) if op.name == "powc" else op(a)
        out.label = "out"
        dot = parse_dot(draw(out).source)
        assert dot.nodes["v0_op"]["label"] == op_label(out)
        assert dot.nodes["v0_op"]["label"].startswith(op.symbol)
    assert parse_dot(draw(a**2).source).nodes["v0_op"]["label"] == "**2"  # the constant shows
    assert parse_dot(draw(a**0.5).source).nodes["v0_op"]["label"] == "**0.5"
    assert parse_dot(draw(a.exp()).source).nodes["v0_op"]["label"] == "exp"


@pytest.mark.parametrize("swap", [False, True])
def test_operand_order_is_visible_for_sub(swap):
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = b - a if swap else a - b
    c.backward()
    dot = parse_dot(draw(c).source)
    edges = dot.into("v0_op")
    first, second = (dot.by_label("b"), dot.by_label("a")) if swap else (dot.by_label("a"), dot.by_label("b"))
    assert edges == [(first, {"label": "lhs"}), (second, {"label": "rhs"})]
    assert fields(dot.values[dot.by_label("a")])[2] == ("grad -1.0000" if swap else "grad 1.0000")


def test_same_operand_twice_gets_two_edges():
    a = Value(3.0, label="a")
    dot = parse_dot(draw(a * a).source)
    assert [attrs["label"] for _, attrs in dot.into("v0_op")] == ["lhs", "rhs"]
    assert len(dot.values) == 2


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
    assert re.fullmatch(r"grad \d\.\d{4}e-\d\d", grad), grad  # not "grad 0.0000"
    assert float(grad.split()[1]) == pytest.approx(_leaf(y).grad, rel=1e-4)


def test_special_characters_in_labels_are_escaped():
    a = Value(1.0, label='x{1}|<y> "q" \\ end')
    out = a * 2
    out.label = "line1\nline2"
    dot = parse_dot(draw(out).source)
    assert fields(dot.values["v0"])[0] == "line1 line2"
    assert fields(dot.values[dot.by_label('x{1}|<y> "q" \\ end')])[1] == "data 1.0000"


def test_grad_that_is_a_value_after_create_graph():
    x = Value(3.0, label="x")
    y = x**3
    y.backward(create_graph=True)  # x.grad is now a Value graph
    assert isinstance(x.grad, Value)
    dot = parse_dot(draw(y).source)
    assert fields(dot.values[dot.by_label("x")])[2] == "grad 27.0000"
    dot = parse_dot(draw(x.grad).source)  # the gradient's own graph can be drawn too
    assert dot.values["v0"]


# ---------------------------------------------------------------------------------------------
# Colour = gradient magnitude
# ---------------------------------------------------------------------------------------------
def test_grad_fill_scale():
    assert grad_fill(None) == grad_fill(0.0) == grad_fill(-0.0) == "white"
    assert grad_fill(math.nan) == "#ffd92f"
    assert grad_fill(1e-30) == grad_fill(-1e-7) == "#2166ac"
    assert grad_fill(0.999) == "#d1e5f0" and grad_fill(1.0) == grad_fill(-99.0) == "#fddbc7"
    assert grad_fill(1e6) == grad_fill(math.inf) == "#b2182b"
    colours = [grad_fill(10.0**k) for k in range(-8, 9)]
    assert len(set(colours)) == 8  # one colour per two decades, 8 bins
    assert colours == sorted(colours, key=colours.index)  # monotone: never returns to a colour


def test_vanishing_gradient_is_coloured_differently_from_healthy():
    sig, relu = chain("sigmoid"), chain("relu")
    assert _leaf(sig).grad < 1e-15 and _leaf(relu).grad == 1.0
    ds, dr = parse_dot(draw(sig).source), parse_dot(draw(relu).source)
    sig_leaf, relu_leaf = ds.values[ds.by_label("x")], dr.values[dr.by_label("x")]
    assert sig_leaf["fillcolor"] == "#2166ac"  # darkest blue: vanishing
    assert sig_leaf["fontcolor"] == "white"  # readable on the dark fill
    assert relu_leaf["fillcolor"] == "#fddbc7"
    # along the sigmoid chain the colour cools from the root to the input
    fills = [ds.values[f"v{i}"]["fillcolor"] for i in range(len(ds.values))]
    assert fills[0] == "#fddbc7"
    assert fills[-1] == "#2166ac"
    assert len(set(fills)) >= 4 and set(fills[1:]) <= VANISHING
    assert "blue = vanishing, red = exploding" in ds.graph["label"]


def test_exploding_and_nan_gradients():
    x = Value(1.0, label="x")
    y = x
    for _ in range(4):
        y = y * 100.0
    y.backward()
    dot = parse_dot(draw(y).source)
    assert dot.values[dot.by_label("x")]["fillcolor"] == "#b2182b"  # 1e8: darkest red
    z = Value(-1.0, label="z")
    w = z.sqrt()
    w.backward()
    dot = parse_dot(draw(w).source)
    assert dot.values[dot.by_label("z")]["fillcolor"] == "#ffd92f"
    assert fields(dot.values[dot.by_label("z")])[2] == "grad nan"


def test_zero_grad_is_neutral():
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    c = a * b  # no backward: every grad is 0
    assert {n["fillcolor"] for n in parse_dot(draw(c).source).values.values()} == {"white"}


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
# Large graphs
# ---------------------------------------------------------------------------------------------
def test_truncation_keeps_nodes_closest_to_root():
    x = Value(1.0, label="x")
    y = x
    for _ in range(500):
        y = y * 1.0001 + x
    y.label = "y"
    y.backward()
    total = count_nodes(y)
    dot = parse_dot(draw(y, max_nodes=50).source)
    assert len(dot.values) == 50
    assert dot.values["v0"]["label"].startswith("{ y |")
    note = f"… {total - 50:,} more nodes hidden (max_nodes=50)"
    assert dot.nodes["hidden"]["label"] == note
    assert note in dot.graph["label"]
    assert f"50 of {total:,} values shown" in dot.graph["label"]
    hidden_edges = [e for e in dot.edges if e[0] == "hidden"]
    assert hidden_edges and all(e[1].endswith("_op") and e[2]["style"] == "dashed" for e in hidden_edges)
    assert all(a in dot.nodes and b in dot.nodes for a, b, _ in dot.edges)  # no dangling edges
    # no truncation when the graph fits
    dot = parse_dot(draw(y, max_nodes=None).source)
    assert len(dot.values) == total and "hidden" not in dot.nodes


def test_one_hidden_node_is_singular():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    dot = parse_dot(draw(a + b, max_nodes=2).source)
    assert dot.nodes["hidden"]["label"] == "… 1 more node hidden (max_nodes=2)"


def test_mlp_step_graph_is_drawn_quickly():
    loss = mlp_loss()
    total = count_nodes(loss)
    assert total > 60_000
    start = time.perf_counter()
    source = draw(loss).source
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"draw() of a {total}-node graph took {elapsed:.2f} s"
    dot = parse_dot(source)
    assert len(dot.values) == 200
    assert dot.nodes["hidden"]["label"] == f"… {total - 200:,} more nodes hidden (max_nodes=200)"
    assert len(source) < 200_000


def test_very_deep_graph_does_not_recurse():
    x = Value(0.0, label="x")
    y = x
    for _ in range(200_000):
        y = y + 1.0
    dot = parse_dot(draw(y, max_nodes=10).source)
    assert len(dot.values) == 10
    assert "399,991 more nodes hidden" in dot.nodes["hidden"]["label"]  # 200k sums + 200k constants + x


# ---------------------------------------------------------------------------------------------
# Tensor graphs, against the Tensor contract (a stand-in until gradengine.tensor exists)
# ---------------------------------------------------------------------------------------------
@dataclass
class FakeOp:
    name: str
    symbol: str


@dataclass(eq=False)
class FakeTensor:
    """The part of the Tensor contract viz relies on; ``__eq__`` is elementwise as in NumPy,
    so viz must not put tensors in sets or dicts."""

    data: np.ndarray
    requires_grad: bool = False
    name: str = ""
    op: Optional[FakeOp] = None
    children: tuple = ()
    grad: Optional[np.ndarray] = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    def __eq__(self, other: Any) -> Any:
        return self.data == getattr(other, "data", other)

    __hash__ = None  # unhashable, like an elementwise-comparing array


def fake_tensor_graph() -> FakeTensor:
    x = FakeTensor(np.ones((4, 3)), name="x")
    w = FakeTensor(np.full((3, 2), 0.5), requires_grad=True, name="W")
    h = FakeTensor(x.data @ w.data, requires_grad=True, op=FakeOp("matmul", "@"), children=(x, w))
    out = FakeTensor(np.array(h.data.sum()), requires_grad=True, name="loss", op=FakeOp("sum", "sum"),
                     children=(h,))
    out.grad, h.grad = np.array(1.0), np.ones((4, 2))
    w.grad = np.full((3, 2), 1e-5)  # vanishing
    return out


def test_tensor_graph_shows_shapes_dtypes_and_grad_summaries():
    dot = parse_dot(draw(fake_tensor_graph()).source)
    assert len(dot.values) == 4 and len(dot.edges) == 5
    assert fields(dot.values["v0"]) == ["loss", "() float64", "data 12.0000", "grad 1.0000"]
    h = fields(dot.values["v1"])
    assert h == ["(4, 2) float64", "data [1.5, 1.5]", "‖grad‖ 2.8284"]
    assert fields(dot.values[dot.by_label("W")]) == ["W", "(3, 2) float64", "data [0.5, 0.5]",
                                                     "‖grad‖ 2.4495e-05"]
    assert fields(dot.values[dot.by_label("x")])[-1] == "grad None"
    assert dot.nodes["v1_op"]["label"] == "@" and dot.nodes["v0_op"]["label"] == "sum"
    assert [attrs["label"] for _, attrs in dot.into("v1_op")] == ["lhs", "rhs"]
    # parameter (bold), constant input (dashed), computed (rounded) look different
    assert "bold" in dot.values[dot.by_label("W")]["style"]
    assert "dashed" in dot.values[dot.by_label("x")]["style"]
    assert dot.values["v1"]["shape"] == "Mrecord"
    assert dot.values[dot.by_label("W")]["fillcolor"] == "#4393c3"  # ‖g‖ = 2.4e-5
    assert dot.values[dot.by_label("x")]["fillcolor"] == "white"
    assert "‖grad‖" in dot.graph["label"] and "Tensor graph" in dot.graph["label"]
    assert draw(fake_tensor_graph()).source == draw(fake_tensor_graph()).source


@needs_tensor
def test_real_tensor_graph():
    from gradengine.tensor import OPS as TENSOR_OPS, Tensor

    x = Tensor(np.ones((4, 3)), name="x")
    w = Tensor(np.full((3, 2), 0.5), requires_grad=True, name="W")
    h = x @ w
    h.retain_grad()
    loss = h.sum()
    loss.name = "loss"
    loss.backward()
    dot = parse_dot(draw(loss).source)
    assert len(dot.values) == 4 and len(dot.edges) == 5
    # as in PyTorch only leaves and retain_grad() tensors keep a gradient
    assert fields(dot.values["v0"]) == ["loss", "() float64", "data 12.0000", "grad None"]
    assert fields(dot.values["v1"]) == ["(4, 2) float64", "data [1.5, 1.5]", "‖grad‖ 2.8284"]
    assert fields(dot.values[dot.by_label("W")]) == ["W", "(3, 2) float64", "data [0.5, 0.5]",
                                                     f"‖grad‖ {4 * math.sqrt(6):.4f}"]
    assert dot.values["v0"]["fillcolor"] == "white" and dot.values["v1"]["fillcolor"] == "#fddbc7"
    assert fields(dot.values[dot.by_label("x")]) == ["x", "(4, 3) float64", "data [1, 1]", "grad None"]
    assert dot.nodes["v1_op"]["label"] == TENSOR_OPS["matmul"].symbol == h.op.symbol
    assert dot.nodes["v0_op"]["label"] == loss.op.symbol
    assert dot.into("v1_op") == [(dot.by_label("x"), {"label": "lhs"}), (dot.by_label("W"), {"label": "rhs"})]
    assert "bold" in dot.values[dot.by_label("W")]["style"]
    assert "dashed" in dot.values[dot.by_label("x")]["style"]
    assert dot.values["v1"]["shape"] == "Mrecord"
    assert draw(loss).source == draw(loss).source


@needs_tensor
def test_real_tensor_mlp_graph_float32():
    from gradengine import nn
    from gradengine.tensor import Tensor

    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    for name, p in model.named_parameters():
        p.name = name
    x = Tensor(np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32), name="x")
    loss = (model(x) ** 2).mean()
    loss.backward()
    dot = parse_dot(draw(loss).source)
    for name, p in model.named_parameters():
        f = fields(dot.values[dot.by_label(name)])
        assert f[1] == f"{tuple(p.shape)} float32"
        assert f[-1].startswith("‖grad‖") or f[-1].startswith("grad ")
        assert dot.values[dot.by_label(name)]["fillcolor"] == grad_fill(float(np.linalg.norm(p.grad)))


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


@needs_tensor
def test_module_view_tensor_layers():
    from gradengine import nn

    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    source = draw(model).source
    for name, p in model.named_parameters():
        assert f"{tuple(p.shape)} {p.dtype}" in source, name
    assert "Sequential: 65 parameters in 4 tensors" in source
    assert "<b>1: ReLU" in source and "<b>0: Linear" in source
    assert '<td align="left">weight</td><td align="left">(16, 2) float32</td>' in source
    assert source.count("grad None") == 4  # no backward yet


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
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
    with pytest.raises(ValueError, match="format"):
        render(a, "graph.svg", format="png")
    with pytest.raises(ValueError, match="unknown output format"):
        render(a, "graph.nope")
    with pytest.raises(TypeError, match="already drawn"):
        to_svg(draw(a), rankdir="TB")


def test_rendering_without_dot_raises_a_helpful_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    v = shop()
    source = draw(v["total"]).source  # drawing itself never needs dot
    assert "data 715.0000" in source
    for call in (lambda: to_svg(v["total"]), lambda: render(v["total"], tmp_path / "g.svg")):
        with pytest.raises(GraphvizNotFoundError) as info:
            call()
        assert isinstance(info.value, RuntimeError)
        msg = str(info.value)
        assert "apt-get install graphviz" in msg and "brew install graphviz" in msg
        assert "conda install graphviz" in msg
    assert not (tmp_path / "g.svg").exists()


# ---------------------------------------------------------------------------------------------
# SVG, with the real dot program
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
    assert set(svg_texts(edges["v1->v0_op"]) + svg_texts(edges["v2->v0_op"])) == {"lhs", "rhs"}
    fill = {t: next(e.get("fill") for e in g if e.get("fill")) for t, g in nodes.items()}
    assert fill["v0"] == "#fddbc7"
    legend = svg_texts(svg)
    assert "0 / none" in legend and "nan" in legend


@needs_dot
def test_svg_colours_vanishing_vs_relu():
    for act, colour in (("sigmoid", "#2166ac"), ("relu", "#fddbc7")):
        svg = svg_of(chain(act))
        leaf = svg_groups(svg, "node")["v30"]
        assert svg_texts(leaf)[0] == "x"
        assert any(e.get("fill") == colour for e in leaf)


@needs_dot
def test_svg_of_big_graph_is_small_and_says_what_is_hidden():
    loss = mlp_loss()
    svg_text = to_svg(loss)
    assert len(svg_text) < 1_000_000
    svg = ET.fromstring(svg_text)
    assert len([t for t in svg_groups(svg, "node") if re.fullmatch(r"v\d+", t)]) == 200
    assert any("more nodes hidden (max_nodes=200)" in t for t in svg_texts(svg))


@needs_dot
def test_svg_escaped_labels_round_trip():
    a = Value(1.0, label='x{1}|<y> "q"')
    texts = svg_texts(svg_groups(svg_of(a * 2), "node")["v1"])
    assert texts[0] == 'x{1}|<y> "q"'


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
