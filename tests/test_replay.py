"""Tests for gradengine.viz.replay: the recorded frames against the engines' own gradients, the
frame pictures (parsed DOT), the HTML player's content and its escaping. The player in a real
browser is tested in tests/test_replay_browser.py."""

from __future__ import annotations

import html.parser
import math
import re
import shutil

import numpy as np
import pytest

from gradengine import Tensor, Value, nn
from gradengine.viz import Frame, Replay, replay
from gradengine.viz.graph import backprop

from test_viz import fields, parse_dot

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="needs the Graphviz dot binary: apt-get install graphviz")


def issue_example():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    L = (a * b + b.tanh()) ** 2
    L.label = "L"
    return L, a, b


def neuron():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    s = x1w1 + x2w2
    s.label = "x1*w1 + x2*w2"
    n = s + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, {"x1": x1, "x2": x2, "w1": w1, "w2": w2, "b": b, "n": n, "o": o, "x1*w1": x1w1}


def all_nodes(root):
    seen, stack, out = {root}, [root], [root]
    while stack:
        for c in stack.pop().children:
            if c not in seen:
                seen.add(c)
                stack.append(c)
                out.append(c)
    return out


# ---------------------------------------------------------------------------------------------
# Frames against the engine
# ---------------------------------------------------------------------------------------------
def test_issue_example_frames():
    L, a, b = issue_example()
    r = replay(L)
    assert isinstance(r, Replay) and len(r) == 7  # before the pass + 6 nodes
    assert r.frames[0] == Frame(0, None, r.frames[0].explanation, {})
    assert "no node has a gradient yet" in r.frames[0].explanation
    step = next(f for f in r.frames if f.active == "a*b")
    assert step.explanation.splitlines()[1] == "dL/da = dL/d(a*b) · d(a*b)/da = -13.99 · -3.0 = 41.97"
    # b feeds two ops: its lines accumulate, with the running total
    b_lines = [line for f in r.frames for line in f.explanation.splitlines() if line.startswith("dL/db +=")]
    assert len(b_lines) == 2 and "2 of 2 consumers" in b_lines[-1] and "so far -28.12" in b_lines[-1]
    # the last frame's gradients are backward()'s
    L2, a2, b2 = issue_example()
    L2.backward()
    last = r.frames[-1].grads
    assert last["a"] == a2.grad == a.grad and last["b"] == b2.grad == b.grad and last["L"] == 1.0
    assert math.isclose(a.grad, 2 * L.children[0].data * b.data)


def test_frames_follow_the_core_reverse_pass_one_node_at_a_time():
    o, v = neuron()
    order = []
    backprop(o, 1.0, watch=lambda node, grad, sent: order.append((node, grad)))
    r = replay(o)
    assert len(r) == len(order) + 1 == len(all_nodes(o)) + 1
    names = {id(n): n.label for n in all_nodes(o)}
    assert [f.active for f in r.frames[1:]] == [names[id(n)] for n, _ in order]
    for k, f in enumerate(r.frames):
        assert f.step == k
        assert list(f.grads) == [names[id(n)] for n, _ in order[:k]]  # done nodes, in order
        for n, g in order[:k]:
            assert f.grads[names[id(n)]] == g  # final as soon as it is shown


def test_replay_leaves_grad_as_backward_does():
    o, v = neuron()
    replay(o)
    o2, v2 = neuron()
    o2.backward()
    for k in v:
        assert v[k].grad == v2[k].grad, k
    # leaves accumulate across calls, exactly like backward()
    replay(o)
    o2.backward()
    for k in v:
        assert v[k].grad == v2[k].grad, k
    assert v["w1"].grad == pytest.approx(2 * v["x1"].data * (1 - o.data**2))  # twice x1 * do/dn


def test_seed_gradient():
    L, a, b = issue_example()
    r = replay(L, 2.0)
    L2, a2, b2 = issue_example()
    L2.backward(2.0)
    assert r.frames[-1].grads["a"] == a2.grad == a.grad


def test_unlabelled_and_repeated_names_get_stable_ids():
    x = Value(3.0)
    y = Value(3.0)
    z = x * y + x * y
    r = replay(z)
    names = {f.active for f in r.frames[1:]}
    assert len(names) == len(r) - 1  # every processed node has its own data-node
    assert all(re.fullmatch(r"n\d+", n) for n in names if n not in {"n0"} and not any(c in n for c in "*+("))


def test_a_label_equal_to_another_nodes_expression_does_not_collide():
    # before: the unlabelled a*b and the Value labelled "a*b" were both data-node "a*b", and
    # one of their gradients was lost from the frames
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    p = a * b
    q = Value(5.0, label="a*b")
    L = p + q * a
    r = replay(L)
    keys = [f.active for f in r.frames[1:]]
    assert len(set(keys)) == len(keys) == 6
    assert len(r.frames[-1].grads) == 6
    nodes = re.findall(r'data-node="([^"]*)"', r.html())
    assert len(set(nodes)) == len(nodes) == 6
    assert sorted(r.frames[-1].grads.values()) == [1.0, 1.0, 1.0, 2.0, 2.0, 8.0]  # L, p, q*a; b, q; a


def test_shared_operand_x_times_x():
    x = Value(3.0, label="x")
    y = x * x
    y.label = "y"
    r = replay(y)
    lines = [line for line in r.frames[1].explanation.splitlines() if line.startswith("dy/dx")]
    assert lines == ["dy/dx += dy/dy · dy/dx = 1.0 · 3.0 = 3.0   (so far 3.0, 1 of 2 consumers)",
                     "dy/dx += dy/dy · dy/dx = 1.0 · 3.0 = 3.0   (so far 6.0, 2 of 2 consumers)"]
    assert r.frames[-1].grads["x"] == 6.0 == x.grad


def test_full_chain_rule_sums_for_hover():
    L, a, b = issue_example()
    r = replay(L)
    sums = {rn.key: r._sums[rn] for rn in r._nodes}
    assert sums["b"].startswith("dL/db = dL/d(a*b) · d(a*b)/db + dL/d(tanh(b)) · d(tanh(b))/db")
    assert sums["b"].endswith("= -28.12") and "(-13.99)(2.0)" in sums["b"]
    assert sums["L"] == "dL/dL = 1.0 (the seed)"


def test_tensor_replay_matches_retain_grad():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    x = Tensor(rng.standard_normal((5, 3)), name="x")

    def build():
        h = model[0](x)
        h.retain_grad()
        a = model[1](h)
        a.retain_grad()
        out = model[2](a)
        loss = (out**2).mean()
        loss.name = "loss"
        return loss, h, a

    loss, h, a = build()
    model.zero_grad()
    r = replay(loss, params=model)
    after = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    loss2, h2, a2 = build()
    loss2.backward()
    last = r.frames[-1].grads
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(after[name], p.grad)  # replay left .grad as backward() does
        np.testing.assert_allclose(last[name], p.grad, rtol=1e-6)  # .grad is float32, like p
    found = [g for g in last.values() if np.shape(g) == h2.grad.shape]
    assert any(np.allclose(g, h2.grad) for g in found) and any(np.allclose(g, a2.grad) for g in found)
    assert loss.grad is None  # intermediates stay None, as after backward()
    assert "x" not in last  # needs no gradient: never processed
    assert any("vjp of" in f.explanation for f in r.frames)


def test_bad_arguments():
    with pytest.raises(TypeError, match="Value or a Tensor"):
        replay(3.0)
    x = Value(1.0)
    y = x
    for _ in range(200):
        y = y + x
    with pytest.raises(ValueError, match="use draw"):
        replay(y)
    with pytest.raises(RuntimeError, match="does not require grad"):
        replay(Tensor([1.0]).sum())
    with pytest.raises(RuntimeError, match="pass the gradient"):
        replay(Tensor([1.0, 2.0], requires_grad=True) * 2)
    L, a, b = issue_example()
    r = replay(L)
    with pytest.raises(IndexError, match="7 frames"):
        r[7]
    with pytest.raises(TypeError):
        r["a"]
    with pytest.raises(ValueError, match=r"\.html"):
        r.save("frames.txt")
    with pytest.raises(ValueError, match="theme"):
        replay(L, theme="sepia")


def test_bad_seed_and_max_nodes_are_clear_errors():
    # before: a NumPy broadcast error, a TypeError inside ops.py, and "'>' not supported"
    t = Tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"replay\(gradient\): the gradient has shape \(3,\)"):
        replay(t, np.ones(3))
    with pytest.raises(TypeError, match=r"replay\(gradient\) expects a real number, got str"):
        replay(Value(2.0) * 3, "a")
    for bad in ("5", 0, True, 2.5):
        with pytest.raises(ValueError, match="max_nodes"):
            replay(Value(2.0) * 3, max_nodes=bad)
    assert len(replay(t, [1, 2])) == 3 and len(replay(Value(2.0) * 3, 2)) == 4


# ---------------------------------------------------------------------------------------------
# Frame pictures
# ---------------------------------------------------------------------------------------------
def test_frame_pictures():
    L, a, b = issue_example()
    r = replay(L)
    k = next(f.step for f in r.frames if f.active == "a*b")
    dot = parse_dot(r[k].source)
    by_name = {fields(n)[0]: (nid, n) for nid, n in dot.nodes.items() if not nid.endswith("_op")}
    nid, active = by_name["a*b"]
    assert active["penwidth"] == "4" and fields(active)[-1] == "grad -13.9901"
    assert fields(by_name["a"][1])[-1] == "so far 41.9703" and "dashed" in by_name["a"][1]["style"]
    edges = {(s, attrs.get("label")) for s, t, attrs in dot.edges if t == f"{nid}_op"}
    assert edges == {(by_name["a"][0], "0: ∂ = -3.0"), (by_name["b"][0], "1: ∂ = 2.0")}
    first = parse_dot(r[0].source)
    assert all(fields(n)[-1] == "" for i, n in first.nodes.items() if not i.endswith("_op"))  # nothing yet
    assert r[-1].source == r[len(r) - 1].source
    assert [d.source for d in r] == [r[i].source for i in range(len(r))]
    assert "step 0 of 6" in r[0].text


# ---------------------------------------------------------------------------------------------
# The player's HTML
# ---------------------------------------------------------------------------------------------
class _Scripts(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.urls, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        d = dict(attrs)
        if tag == "script":
            self.scripts.append(d.get("type", "text/javascript"))
        for key in ("src", "href"):
            if d.get(key) and not d[key].startswith("#"):
                self.urls.append(d[key])


@needs_dot
def test_player_html_is_self_contained(tmp_path):
    o, v = neuron()
    r = replay(o)
    p = r.save(tmp_path / "sub" / "backprop.html")
    text = p.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    parser = _Scripts()
    parser.feed(text)
    assert parser.scripts == ["application/json", "text/javascript"]  # ours, and no others
    assert parser.urls == []  # no CDN, no network
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    assert text.count('class="node" data-id=') == len(all_nodes(o))
    assert 'data-node="x1*w1"' in text and "window.gradengineReplay" in text
    fragment = r._repr_html_()
    assert "<!DOCTYPE" not in fragment and 'class="gradengine-replay' in fragment
    # without JavaScript the page still shows every step as text
    assert all(html_escape(f.explanation) in text for f in r.frames)


def html_escape(s):
    import html as h

    return h.escape(s)


HOSTILE = ['<script>window.pwned=1</script>', '"><img src=x onerror=alert(1)>', "{a|b}", "</script><b>x"]


@needs_dot
@pytest.mark.parametrize("label", HOSTILE)
def test_player_escapes_labels(label):
    a = Value(2.0, label=label)
    y = a * a
    y.label = "y"
    text = replay(y).html(standalone=True)
    parser = _Scripts()
    parser.feed(text)
    assert parser.scripts == ["application/json", "text/javascript"]
    assert "img" not in parser.tags and "b" not in parser.tags
    if "<" in label or '"' in label:
        assert label not in text  # never raw
    data = text[text.index('class="ge-data">'):]
    assert "</script" not in data[:data.index("</script>")]  # the JSON cannot close its element


def test_without_dot_the_player_falls_back_to_text(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    L, a, b = issue_example()
    r = replay(L)
    out = r._repr_html_()
    assert "apt-get install graphviz" in out and "41.97" in out
    assert r[2]._repr_mimebundle_().keys() == {"text/plain"}
    from gradengine.viz import GraphvizNotFoundError

    with pytest.raises(GraphvizNotFoundError):
        r.save(tmp_path / "x.html")
