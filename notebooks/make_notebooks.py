"""Write the teaching notebooks from the cell sources below, and execute them in place.

    python notebooks/make_notebooks.py            # write + execute all (outputs are committed)
    python notebooks/make_notebooks.py --no-run   # only write the .ipynb files

The notebooks read MNIST from ``$GRADENGINE_DATA`` (an absolute path; ``.ci/run`` sets it).
Keeping their source here, as plain Python, makes them reviewable and diffable; the test suite
executes every committed notebook (tests/test_notebooks.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
TIMEOUT = 600  # seconds per cell


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


SETUP = code(
    """
from gradengine.data import load_mnist

# MNIST is read from $GRADENGINE_DATA if it is set (make it an absolute path: this notebook runs
# in notebooks/, so a path relative to the repository would point elsewhere), else from
# ~/.cache/gradengine/mnist, where load_mnist downloads it on first use.
"""
)


NOTEBOOKS = {
    # ------------------------------------------------------------------------------------------
    "01_expressions_and_graphs": [
        md(
            """
# 1. Expressions and their graphs

Every `Value` remembers the op that made it and its operands. `draw()` shows that graph; after
`backward()` it shows every gradient too. `replay()` shows the backward pass itself, node by
node, with the chain rule written out in numbers.
"""
        ),
        code(
            """
from gradengine import Value, draw
from gradengine.viz import replay
a, b = Value(2.0, label="a"), Value(-3.0, label="b")
c = a * b; c.label = "c"
d = c + a ** 2; d.label = "d"
draw(d)      # before backward(): the graph says no gradient has been computed yet
"""
        ),
        md(
            """
`d = a*b + a**2`. Backpropagation starts with `dd/dd = 1` and applies each op's local rule:
`+` passes the gradient to both operands, `*` multiplies it by the *other* operand, `**2`
multiplies it by `2a`. The gradient of `a` is the sum over both paths: `b + 2a = -3 + 4 = 1`.
"""
        ),
        code(
            """
d.backward()
print(f"dd/da = {a.grad}   (b + 2a = {b.data + 2 * a.data})")
print(f"dd/db = {b.grad}   (a = {a.data})")
draw(d)
"""
        ),
        md(
            """
## The chain rule, node by node

Each node's gradient is its consumers' gradients times the local derivative. The local rules
come from the engine's op table (`gradengine.engine.OPS`), the single place each op is defined:
"""
        ),
        code(
            """
from gradengine.engine import OPS
for name in ["add", "mul", "powc", "tanh", "exp"]:
    op = OPS[name]
    args = (2.0, -3.0) if op.nin == 2 else (2.0,)
    params = (2.0,) if name == "powc" else ()   # powc's constant exponent
    out = op(*args, *params)
    derivs = tuple(rule(1.0, out, *args, *params) for rule in op.vjps)
    print(f"{name:5} symbol {op.symbol!r:8} d/dinputs at a=2, b=-3, g=1:", derivs)
"""
        ),
        md(
            """
## Watch backpropagation happen: a neuron

micrograd's classic neuron: `o = tanh(x1*w1 + x2*w2 + b)`. `replay(o)` runs the backward pass
and records it: one frame before the pass, then one per node, in the order the pass processes
them. Below is the player: **step** through it, **play** it, drag the slider; hover or click a
node for its whole chain-rule sum. (In a notebook viewer that runs no JavaScript, such as
GitHub's, you see the final picture and every step as text.)
"""
        ),
        code(
            """
x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
b = Value(6.8813735870195432, label="b")
x1w1 = x1 * w1; x1w1.label = "x1*w1"
x2w2 = x2 * w2; x2w2.label = "x2*w2"
n = x1w1 + x2w2 + b; n.label = "n"
o = n.tanh(); o.label = "o"
r = replay(o)        # records the pass, then leaves .grad exactly as o.backward() would
print(f"{len(r)} frames; o = {o.data:.4f}, do/dn = 1 - o^2 = {1 - o.data ** 2:.4f}")
print(f"do/dw1 = {w1.grad:.4f}, do/dx1 = {x1.grad:.4f}, do/dw2 = {w2.grad:.4f} (x2 = 0)")
r
"""
        ),
        md(
            """
Each frame is also a picture of its own, and its numbers are there to read: `r[k]` is frame
`k` as a graph (coloured nodes have their final gradient, the thick border is the node being
processed, dashed nodes hold a partial sum, the edges carry the local derivatives), and
`r.frames[k].explanation` is its chain rule.
"""
        ),
        code(
            """
k = next(f.step for f in r.frames if f.active == "x1*w1")
print(r.frames[k].explanation)
r[k]
"""
        ),
        md(
            """
`r.save("neuron_backprop.html")` writes the same player as one self-contained HTML file (no
server, no network): open it in any browser.

## The shop example

Two apples at 100 each and three oranges at 150 each, with 10% tax: `(2*100 + 3*150) * 1.1 = 715`.
How much does the total change per unit change of each input? Replay it: the total's
gradient 1 flows back through `*` (times the tax, 1.1) and `+` (unchanged) to each price and
count.
"""
        ),
        code(
            """
apple, n_apple = Value(100.0, label="apple price"), Value(2.0, label="# apples")
orange, n_orange = Value(150.0, label="orange price"), Value(3.0, label="# oranges")
tax = Value(1.1, label="tax")
apples = apple * n_apple; apples.label = "apples"
oranges = orange * n_orange; oranges.label = "oranges"
subtotal = apples + oranges; subtotal.label = "subtotal"
total = subtotal * tax; total.label = "total"
shop = replay(total)
print(f"total = {total.data:.1f}")
for v in (apple, n_apple, orange, n_orange, tax):
    print(f"d total / d {v.label:13} = {v.grad:8.2f}")
shop
"""
        ),
        md(
            """
The price of one apple moves the total by `2 * 1.1 = 2.2`, the number of apples by
`100 * 1.1 = 110`, and the tax by the subtotal, `650`. The last frame is what `draw()` shows
after `backward()`:
"""
        ),
        code(
            """
draw(total)
"""
        ),
        md(
            """
## Trust, but verify

`gradcheck` compares backpropagation with central finite differences in float64, and
`grad` gives derivatives of any order.
"""
        ),
        code(
            """
from gradengine import gradcheck, grad
neuron = lambda x1, x2, w1, w2, b: (x1 * w1 + x2 * w2 + b).tanh()
print(gradcheck(neuron, 2.0, 0.0, -3.0, 1.0, 6.8813735870195432))
d2 = grad(grad(lambda x: x.tanh()))(0.5)     # -2 tanh(x) (1 - tanh(x)^2)
import math
print(d2, -2 * math.tanh(0.5) * (1 - math.tanh(0.5) ** 2))
"""
        ),
    ],
    # ------------------------------------------------------------------------------------------
    "02_scalar_mlp_moons": [
        md(
            """
# 2. A tiny MLP with the scalar engine

micrograd's demo: a 2-16-16-1 MLP learns the two-moons data set with an SVM max-margin loss.
Every weight is a `Value`; one step builds a graph of about 65,000 nodes.
"""
        ),
        code(
            """
import random
import numpy as np
import matplotlib.pyplot as plt
from gradengine import Value, draw
from gradengine.nn import MLP
from gradengine.data import make_moons

X, y = make_moons(100, noise=0.1, seed=1)
y = y * 2 - 1                       # labels in {-1, 1}
random.seed(1337)
model = MLP(2, [16, 16, 1])
print(model)
print("parameters:", len(model.parameters()))
"""
        ),
        code(
            """
def loss_and_accuracy():
    inputs = [list(map(Value, row)) for row in X.tolist()]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * si).relu() for yi, si in zip(y.tolist(), scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    accuracy = np.mean([(yi > 0) == (si.data > 0) for yi, si in zip(y, scores)])
    return data_loss + reg_loss, accuracy

history = []
for k in range(100):
    total_loss, acc = loss_and_accuracy()
    model.zero_grad()
    total_loss.backward()
    lr = 1.0 - 0.9 * k / 100
    for p in model.parameters():
        p.data -= lr * p.grad
    history.append((total_loss.data, acc))
    if k % 10 == 0 or k == 99:
        print(f"step {k:3d} loss {total_loss.data:.4f} accuracy {acc:.0%}")
"""
        ),
        code(
            """
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot([h[0] for h in history]); ax1.set(title="training loss", xlabel="step", yscale="log")
h = 0.05
xx, yy = np.meshgrid(np.arange(X[:, 0].min() - 1, X[:, 0].max() + 1, h),
                     np.arange(X[:, 1].min() - 1, X[:, 1].max() + 1, h))
from gradengine import no_grad
with no_grad():                      # no graph needed to evaluate the grid
    Z = np.array([model(list(map(Value, p))).data > 0 for p in np.c_[xx.ravel(), yy.ravel()].tolist()])
ax2.contourf(xx, yy, Z.reshape(xx.shape), cmap=plt.cm.Spectral, alpha=0.8)
ax2.scatter(X[:, 0], X[:, 1], c=y, s=40, cmap=plt.cm.Spectral, edgecolors="k")
ax2.set(title=f"decision boundary, training accuracy {history[-1][1]:.0%}")
plt.show()
"""
        ),
        md(
            """
The graph of one training step is far too big to draw whole; `draw` keeps the nodes closest
to the loss and says what it hid.
"""
        ),
        code(
            """
total_loss, _ = loss_and_accuracy()
total_loss.backward()
draw(total_loss, max_nodes=40)
"""
        ),
        code(
            """
draw(model)     # the module view: layers, neurons and parameter shapes
"""
        ),
    ],
    # ------------------------------------------------------------------------------------------
    "03_mnist_tensor_engine": [
        md(
            """
# 3. MNIST with the tensor engine

The same autograd model, vectorized with NumPy: a 784-128-64-10 network with cross-entropy and
Adam. (The full 10-epoch run is `gradengine train`; here two epochs keep the notebook quick.)
"""
        ),
        SETUP,
        code(
            """
import numpy as np
import matplotlib.pyplot as plt
from gradengine import Tensor, nn, optim, no_grad, gradcheck, draw
import gradengine.functional as F
from gradengine.data import DataLoader

(x_tr, y_tr), (x_te, y_te) = load_mnist(normalize=True)   # float32 images in [0, 1]: the fast form
print(x_tr.shape, x_tr.dtype, y_tr.shape, x_te.shape)
np.random.seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                      nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
opt = optim.Adam(model.parameters(), lr=1e-3)
model
"""
        ),
        code(
            """
def evaluate(x, y):
    with no_grad():
        logits = model(Tensor(x))
    return float(np.mean(logits.numpy().argmax(axis=1) == y)), logits.numpy()

losses, accs = [], []
for epoch in range(2):
    model.train()
    for i, (xb, yb) in enumerate(DataLoader(x_tr, y_tr, batch_size=32, shuffle=True, seed=epoch)):
        loss = F.cross_entropy(model(Tensor(xb)), yb)
        opt.zero_grad(); loss.backward(); opt.step()
        if i % 100 == 0:
            losses.append(loss.item())
    model.eval()
    acc, _ = evaluate(x_te, y_te)
    accs.append(acc)
    print(f"epoch {epoch + 1}: last loss {loss.item():.4f}, test accuracy {acc:.4f}")
"""
        ),
        code(
            """
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))
ax1.plot(np.arange(len(losses)) * 100, losses); ax1.set(title="training loss (every 100 batches)", xlabel="batch")
ax2.plot(range(1, len(accs) + 1), accs, "o-"); ax2.set(title="test accuracy", xlabel="epoch")
plt.show()
"""
        ),
        code(
            """
acc, logits = evaluate(x_te, y_te)
pred = logits.argmax(axis=1)
fig, axes = plt.subplots(3, 8, figsize=(12, 5))
for ax, i in zip(axes.flat, range(24)):
    ax.imshow(x_te[i], cmap="gray_r"); ax.axis("off")
    ax.set_title(f"{pred[i]}" + ("" if pred[i] == y_te[i] else f" (true {y_te[i]})"),
                 color="black" if pred[i] == y_te[i] else "red")
plt.suptitle(f"test digits and predictions (accuracy {acc:.2%})"); plt.show()

confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_te, pred), 1)
plt.figure(figsize=(5, 5)); plt.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        plt.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7,
                 color="white" if confusion[i, j] > confusion.max() / 2 else "black")
plt.xlabel("predicted"); plt.ylabel("true"); plt.title("confusion matrix"); plt.show()
"""
        ),
        md(
            """
## Gradient check before trusting backprop

As textbooks do: compare the analytic gradient of the loss w.r.t. every weight of a small
float64 copy of the network with central differences.
"""
        ),
        code(
            """
rng = np.random.default_rng(0)
W1, b1 = rng.normal(0, 0.1, (16, 784)), np.zeros(16)
W2, b2 = rng.normal(0, 0.1, (10, 16)), np.zeros(10)
xb = Tensor(x_tr[:4].reshape(4, -1).astype(np.float64))   # gradcheck wants float64
def loss_fn(W1, b1, W2, b2):
    h = (xb @ W1.T + b1).relu()
    return F.cross_entropy(h @ W2.T + b2, y_tr[:4])
print("gradcheck on", W1.size + b1.size + W2.size + b2.size, "weights:", gradcheck(loss_fn, W1, b1, W2, b2))
"""
        ),
        code(
            """
x = Tensor(x_tr[:2])
loss = F.cross_entropy(model(x), y_tr[:2])
loss.backward()
draw(loss)       # a tensor graph: shapes, dtypes and gradient norms instead of numbers
"""
        ),
    ],
    # ------------------------------------------------------------------------------------------
    "04_property_testing": [
        md(
            """
# 4. Property-testing your own derivatives

A new function is only trusted once its gradient is checked — at many random points, not at
one. `gradengine.testing` ships the hypothesis strategies and helpers gradengine's own tests
use, so you can test your code the same way: scalar functions with `finite_floats` and
`check_gradients`, tensor code with `shapes`, `arrays`, `away_from_zero`, `broadcast_pair`,
`axis_args` and `check_vs_torch` (PyTorch float64 as the oracle), and `SMOOTH`, which says
where each op of the table is differentiable.
"""
        ),
        code(
            """
import math
import numpy as np
import matplotlib.pyplot as plt
from hypothesis import given, settings, strategies as st
from gradengine import Value, gradcheck, grad, GradcheckError, draw
from gradengine.testing import finite_floats, check_gradients, expressions, evaluate, is_smooth_at

def softplus(x):
    # log(1 + e^x), written stably: max(x, 0) + log(1 + e^-|x|)
    return x.relu() + (1 + (-abs(x)).exp()).log()

print(softplus(Value(2.0)).data, math.log1p(math.exp(2.0)))
print(gradcheck(softplus, 2.0), gradcheck(softplus, -3.0))
"""
        ),
        md(
            """
What is being tested: the function's graph (every op is one node), and its derivative from
backpropagation next to the central-difference estimate. They coincide, except at the kink of
`relu`/`abs` at 0, where no derivative exists — which is why the tests below stay away from it.
"""
        ),
        code(
            """
x = Value(2.0, label="x")
y = softplus(x); y.label = "softplus(x)"
y.backward()
display(draw(y))

xs = np.linspace(-6, 6, 241)
analytic = [grad(softplus)(float(v)) for v in xs]
h = 1e-6
numeric = [(softplus(Value(v + h)).data - softplus(Value(v - h)).data) / (2 * h) for v in xs]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(xs, analytic, label="backprop")
ax1.plot(xs[::12], numeric[::12], "o", mfc="none", label="central differences")
ax1.set_title("d softplus / dx"); ax1.set_xlabel("x"); ax1.legend()
ax2.semilogy(xs, np.abs(np.subtract(analytic, numeric)) + 1e-17)
ax2.set_title("|backprop - finite differences|"); ax2.set_xlabel("x")
plt.tight_layout(); plt.show()
"""
        ),
        md("Now at a hundred random points (kinks of `relu`/`abs` at 0 excluded):"),
        code(
            """
@settings(max_examples=100, deadline=None)
@given(finite_floats(-20, 20).filter(lambda x: abs(x) > 1e-3))
def test_softplus(x):
    check_gradients(softplus, x)
    # softplus' = sigmoid, exactly
    assert abs(grad(softplus)(x) - Value(x).sigmoid().data) < 1e-12

test_softplus()
print("100 random points: gradients agree")
"""
        ),
        md(
            """
A wrong derivative does not survive. Here is a "custom op" whose gradient is wrong on purpose
(`detach()` hides half of it); hypothesis finds a counterexample and `GradcheckError` names it:
"""
        ),
        code(
            """
def broken_square(x):
    return x.detach() * x        # the value is x^2, but the gradient is x instead of 2x

@settings(max_examples=50, deadline=None)
@given(finite_floats(0.5, 10))
def test_broken(x):
    check_gradients(broken_square, x)

try:
    test_broken()
except GradcheckError as e:
    print("caught:", e)
"""
        ),
        md(
            """
## Where is an op smooth? `SMOOTH`

Central differences only mean something where the function is differentiable and well
conditioned. `SMOOTH[name](a, b)` answers that for every op of the table (generated from each
op's record), so a test can stay inside the region or `assume()` it:
"""
        ),
        code(
            """
from gradengine.testing import SMOOTH
for name, point in [("log", (0.5,)), ("log", (-1.0,)), ("sqrt", (0.0,)), ("relu", (0.0,)),
                    ("relu", (2.0,)), ("div", (1.0, 0.0)), ("div", (1.0, 2.0))]:
    print(f"SMOOTH[{name!r}]{point} = {SMOOTH[name](*point)}")
print(len(SMOOTH), "ops:", ", ".join(SMOOTH))
"""
        ),
        md(
            """
## Random expressions

`expressions()` draws random expression trees over the whole op table; `evaluate` computes one
on Values (or on PyTorch tensors, for an oracle). Each tree is checked where every op in it is
smooth (`is_smooth_at` applies `SMOOTH` to every node of the built graph):
"""
        ),
        code(
            """
from hypothesis import assume, HealthCheck
checked = []

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(expressions(n_vars=2, max_leaves=6), finite_floats(-2, 2), finite_floats(-2, 2))
def test_random_expressions(tree, x, y):
    out = evaluate(tree, [Value(x), Value(y)])
    assume(is_smooth_at(out, max_abs=1e4))
    check_gradients(lambda a, b: evaluate(tree, [a, b]), x, y, atol=1e-4, rtol=1e-3)
    checked.append(tree)

test_random_expressions()
print(len(checked), "random expressions checked; one of them:", checked[-1])
"""
        ),
        md(
            """
## Tensor code, against PyTorch

For the tensor engine the strategies draw float64 arrays: `shapes()` (small, so finite
differences stay fast), `arrays(shape)`, `away_from_zero(shape)` for ops with a kink or a
pole at 0, `broadcast_pair()` for two arrays whose shapes broadcast together in either
direction, and `axis_args(ndim)` for a reduction's `(axis, keepdims)`. `check_vs_torch(fn,
torch_fn, *arrays)` compares the output and every input's vector-Jacobian product with PyTorch
in float64 (importing it warms PyTorch up, so its first call is not slowed by PyTorch's
start-up). The tests below lift hypothesis' per-example deadline, as gradengine's own test
suite does on its shared CI machines: a loaded machine can make any example slow.

Here is a function of our own, a "log-cosh" loss with a broadcast scale, tested on random
shapes, broadcasting pairs and reduction axes:
"""
        ),
        code(
            """
from gradengine import Tensor
from gradengine.testing import shapes, arrays, away_from_zero, broadcast_pair, axis_args, check_vs_torch

def log_cosh(x, scale, axis=None, keepdims=False):
    # log(cosh(x * scale)) = |z| + log(1 + e^{-2|z|}) - log 2, stable for large |z|
    z = x * scale
    return (abs(z) + (1 + (-2 * abs(z)).exp()).log() - math.log(2)).mean(axis=axis, keepdims=keepdims)

def torch_log_cosh(x, scale, axis=None, keepdims=False):
    import torch
    z = x * scale
    dims = tuple(range(z.dim())) if axis is None else axis
    return torch.log(torch.cosh(z)).mean(dim=dims, keepdim=keepdims)

examples = []

@settings(max_examples=100, deadline=None)
@given(broadcast_pair(lo=-2, hi=2))
def test_log_cosh_broadcasting(pair):
    x, scale = pair
    check_vs_torch(log_cosh, torch_log_cosh, x, scale, rtol=1e-7, atol=1e-9)
    examples.append((x.shape, scale.shape))

@settings(max_examples=100, deadline=None)
@given(shapes(min_dims=1).flatmap(lambda s: st.tuples(away_from_zero(s), st.just(s))), st.data())
def test_log_cosh_reductions(xs, data):
    x, shape = xs
    axis, keepdims = data.draw(axis_args(len(shape)))
    scale = data.draw(arrays(()))
    check_vs_torch(lambda a, b: log_cosh(a, b, axis, keepdims),
                   lambda a, b: torch_log_cosh(a, b, axis, keepdims), x, scale)

test_log_cosh_broadcasting()
test_log_cosh_reductions()
print(len(examples), "broadcasting pairs checked against PyTorch float64, e.g.", examples[:4])
"""
        ),
        md(
            """
And the graph of one of them, as a tensor graph: shapes, dtypes, and the gradient norm of
every intermediate tensor (`draw` runs its own backward pass to collect them):
"""
        ),
        code(
            """
x = Tensor(np.linspace(-2, 2, 6).reshape(2, 3), requires_grad=True, name="x")
scale = Tensor(np.array([0.5, 1.0, 2.0]), requires_grad=True, name="scale")
loss = log_cosh(x, scale); loss.name = "loss"
loss.backward()
draw(loss)
"""
        ),
    ],
    # ------------------------------------------------------------------------------------------
    "05_vanishing_and_exploding_gradients": [
        md(
            """
# 5. Vanishing and exploding gradients

In a deep network the gradient is a product of many local derivatives. Sigmoid's is at most
1/4, so through many sigmoid layers the gradient *vanishes*; large weights make it *explode*.
"""
        ),
        code(
            """
import numpy as np
import matplotlib.pyplot as plt
from gradengine import Tensor, Value, nn, draw
from gradengine.nn.utils import clip_grad_norm_
import gradengine.functional as F

def deep_net(act, depth=12, width=32, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for i in range(depth):
        lin = nn.Linear(width, width)
        lin.weight.data[...] = rng.normal(0, scale / np.sqrt(width), (width, width)).astype(np.float32)
        layers += [lin, act()]
    return nn.Sequential(*layers, nn.Linear(width, 1))

def grad_norms(model, x):
    model.zero_grad()
    model(x).sum().backward()
    return [float(np.linalg.norm(m.weight.grad)) for m in model if isinstance(m, nn.Linear)][:-1]

x = Tensor(np.random.default_rng(1).normal(size=(64, 32)).astype(np.float32), name="x")
curves = {
    "sigmoid": grad_norms(deep_net(nn.Sigmoid), x),
    "ReLU (He-like scale)": grad_norms(deep_net(nn.ReLU, scale=np.sqrt(2)), x),
    "ReLU, weights x3": grad_norms(deep_net(nn.ReLU, scale=3 * np.sqrt(2)), x),
}
for name, norms in curves.items():
    plt.semilogy(range(1, len(norms) + 1), norms, "o-", label=name)
plt.xlabel("layer (1 = closest to the input)"); plt.ylabel("‖dL/dW‖"); plt.legend()
plt.title("gradient norm per layer"); plt.show()
for name, norms in curves.items():
    print(f"{name:22} first layer {norms[0]:.2e}   last layer {norms[-1]:.2e}")
"""
        ),
        md(
            """
## The deep network as one picture

Drawn node by node, a 12-layer network is a long row of boxes. `draw(loss, summarise=True)`
folds the repeated `linear → sigmoid` structure into one box with **one row per layer**: the
gradient norm of the layer's output and of its weight and bias (named by `params=model`),
coloured on the same absolute scale (blue ▼ vanishing below 1e-4, orange ▲ exploding from
1e4). The layers closest to the input are at the top of the table, the output layer and the
input `x` stay drawn beside it.
"""
        ),
        code(
            """
sigmoid_net = deep_net(nn.Sigmoid)
loss = sigmoid_net(x).sum(); loss.name = "loss"
sigmoid_net.zero_grad()
loss.backward()
draw(loss, summarise=True, params=sigmoid_net)
"""
        ),
        md("With ReLU and He-like initial weights the rows stay in the healthy band:"),
        code(
            """
relu_net = deep_net(nn.ReLU, scale=np.sqrt(2))
loss = relu_net(x).sum(); loss.name = "loss"
relu_net.zero_grad()
loss.backward()
draw(loss, summarise=True, params=relu_net)
"""
        ),
        md(
            """
## The same story, one scalar at a time

Colour encodes gradient magnitude on an absolute log scale (the legend says how), and the
number is printed beside it. A chain of sigmoids turns blue towards the input; a chain of ReLUs
keeps its gradient.
"""
        ),
        code(
            """
def chain(act, n=8):
    x = Value(0.5, label="x")
    v = x
    for i in range(n):
        v = getattr(v * 1.5, act)()
    v.label = "out"
    v.backward()
    return v, x

out, x_sig = chain("sigmoid")
print("d out / dx through 8 sigmoids:", x_sig.grad)
draw(out, rankdir="LR")
"""
        ),
        code(
            """
out, x_relu = chain("relu")
print("d out / dx through 8 ReLUs:", x_relu.grad)
draw(out, rankdir="LR")
"""
        ),
        md(
            """
A thousand sigmoids are summarised the same way, whatever the length: the chain becomes one
box that says how many repetitions it holds and how the gradient falls from the output end to
the input end.
"""
        ),
        code(
            """
out, x_long = chain("sigmoid", n=1000)
draw(out)
"""
        ),
        md(
            """
## Gradient clipping

When gradients explode, `clip_grad_norm_` rescales them so their total norm is at most
`max_norm`, keeping the update's direction:
"""
        ),
        code(
            """
model = deep_net(nn.ReLU, scale=3 * np.sqrt(2))
model.zero_grad()
model(x).sum().backward()
before = clip_grad_norm_(model.parameters(), max_norm=1.0)
after = np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in model.parameters()))
print(f"total gradient norm before clipping {before:.3e}, after {after:.3f}")
"""
        ),
    ],
    # ------------------------------------------------------------------------------------------
    "06_curvature": [
        md(
            """
# 6. Curvature: Hessians, Newton's method, forward and reverse mode

The gradient says which way is downhill; the **Hessian** (the matrix of second derivatives)
says how the slope itself changes: how curved the loss is in every direction. This notebook
uses the transforms of `gradengine.func`, which take a function and return a new function:

| transform | gives | for `f: R^n -> R^m` |
|---|---|---|
| `grad(f)` | the gradient | `m = 1` |
| `hessian(f)` | the `n x n` matrix of second derivatives | `m = 1` |
| `hvp(f, (x,), (v,))` | `H @ v` without building `H` | `m = 1` |
| `jacrev(f)`, `jacfwd(f)` | the `m x n` Jacobian, by reverse or forward mode | any |

Arrays in give arrays out: `f` is written with `Tensor` methods, and the transforms call it on
fresh `Tensor`s made from the arrays you pass.
"""
        ),
        code(
            """
import time
import numpy as np
import matplotlib.pyplot as plt
import gradengine.functional as F
from gradengine import Tensor
from gradengine.func import grad, hessian, hvp, jacfwd, jacrev

def rosenbrock(x):
    \"\"\"The banana-shaped valley: minimum 0 at (1, 1).\"\"\"
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

x0 = np.array([-1.2, 1.0])          # the classic starting point
print("f(x0)   =", rosenbrock(x0))  # plain NumPy works too: no Tensor needed to evaluate
print("grad    =", grad(rosenbrock)(x0))
print("hessian =\\n", hessian(rosenbrock)(x0))
"""
        ),
        md(
            """
## Newton's method against gradient descent

**Gradient descent** steps against the gradient: `x <- x - lr * grad f(x)`. **Newton's method**
fits the quadratic `f(x + d) ~ f(x) + g.d + d.H.d / 2` and jumps to its minimum,
`d = -H^{-1} g` (we solve `H d = -g` rather than inverting `H`). On a quadratic that is exact in
one step; near a minimum the number of correct digits roughly doubles every step.

The Rosenbrock valley is hard for gradient descent: across the valley it is very steep, along
it almost flat. A step size large enough to make progress along the floor makes it bounce from
wall to wall and diverge, so the learning rate is limited by the *largest* curvature while
progress is limited by the *smallest*.
"""
        ),
        code(
            """
g, H = grad(rosenbrock), hessian(rosenbrock)

def newton(x, steps=8):
    path = [x]
    for _ in range(steps):
        x = x - np.linalg.solve(H(x), g(x))
        path.append(x)
    return np.array(path)

def gradient_descent(x, lr=1e-3, steps=2000):
    path = [x]
    for _ in range(steps):
        x = x - lr * g(x)
        path.append(x)
    return np.array(path)

t0 = time.perf_counter(); newton_path = newton(x0); t_newton = time.perf_counter() - t0
t0 = time.perf_counter(); gd_path = gradient_descent(x0); t_gd = time.perf_counter() - t0
newton_loss = rosenbrock(newton_path.T)   # f works on a (2, steps) array: one value per point
gd_loss = rosenbrock(gd_path.T)
print(f"Newton, {len(newton_path) - 1:4} steps ({t_newton * 1e3:5.0f} ms): x = {newton_path[-1]}, f = {newton_loss[-1]:.1e}")
print(f"GD,     {len(gd_path) - 1:4} steps ({t_gd * 1e3:5.0f} ms): x = {gd_path[-1]}, f = {gd_loss[-1]:.1e}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
X, Y = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-3.5, 3, 300))
ax1.contour(X, Y, rosenbrock(np.stack([X, Y])), levels=np.logspace(-1, 3.5, 15), cmap="viridis", linewidths=0.8)
ax1.plot(*gd_path.T, ".-", ms=2, lw=0.8, color="tab:orange", label=f"gradient descent, lr 1e-3 ({len(gd_path) - 1} steps)")
ax1.plot(*newton_path.T, "o-", color="tab:red", label=f"Newton ({len(newton_path) - 1} steps)")
ax1.plot(1, 1, "k*", ms=14, label="minimum (1, 1)")
ax1.set_xlabel("x[0]"); ax1.set_ylabel("x[1]"); ax1.set_title("paths on the Rosenbrock function"); ax1.legend(loc="upper center", fontsize=9)
ax2.semilogy(gd_loss, color="tab:orange", label="gradient descent")
ax2.semilogy(np.where(newton_loss > 0, newton_loss, np.nan), "o-", color="tab:red", label="Newton (then f = 0 exactly)")
ax2.set_xscale("symlog", linthresh=10)
ax2.set_xlabel("iteration (linear to 10, then log scale)"); ax2.set_ylabel("f(x)  (log scale)"); ax2.set_title("loss per iteration"); ax2.legend()
plt.tight_layout(); plt.show()
"""
        ),
        md(
            """
Newton reaches the minimum in a handful of steps, then the loss falls to exactly zero in
floating point, while gradient descent is still crawling along the valley floor after 2000
steps. Newton's method is not a descent method, though: its second step jumps far out of the
valley and *raises* the loss, because the quadratic model is only trusted locally (practical
versions add a line search or a trust region). The Hessian at the minimum tells why: its eigenvalues
are the curvatures along its eigenvectors, and their ratio (the *condition number*) is the
number of small steps gradient descent needs for every unit of progress.
"""
        ),
        code(
            """
curvatures = np.linalg.eigvalsh(H(np.ones(2)))   # eigvalsh: eigenvalues of a symmetric matrix
print("eigenvalues of the Hessian at (1, 1):", curvatures)
print(f"condition number {curvatures[-1] / curvatures[0]:.0f}; gradient descent is stable only for lr < 2 / {curvatures[-1]:.0f} = {2 / curvatures[-1]:.4f}")
"""
        ),
        md(
            """
Newton's method has two costs that keep it out of deep learning: for `n` parameters the Hessian
has `n^2` entries and solving with it takes `~n^3` operations, and where `H` has negative
eigenvalues the Newton step heads for a saddle point or a maximum as happily as for a minimum.
What do the eigenvalues of a neural network's Hessian look like?

## The Hessian spectrum of a tiny MLP

`hessian` differentiates with respect to one array, so we write the network as a function of
**one flat parameter vector** `w` and cut it into `W1, b1, W2, b2` with slices and `reshape`
(both are ops with derivative rules, so second derivatives flow through them). A 2-8-3 tanh
network on three Gaussian blobs has 51 parameters: its Hessian is a 51 x 51 matrix.
"""
        ),
        code(
            """
rng = np.random.default_rng(0)
labels = np.repeat(np.arange(3), 30)
points = np.array([[0.0, 1.5], [-1.3, -0.75], [1.3, -0.75]])[labels] + rng.normal(0, 0.6, (90, 2))

SHAPES = [(8, 2), (8,), (3, 8), (3,)]                # W1, b1, W2, b2
SIZES = [int(np.prod(s)) for s in SHAPES]

def unflatten(w):
    parts, start = [], 0
    for shape, size in zip(SHAPES, SIZES):
        parts.append(w[start:start + size].reshape(shape))
        start += size
    return parts

def loss(w):
    W1, b1, W2, b2 = unflatten(w)
    hidden = (points @ W1.T + b1).tanh()
    return F.cross_entropy(hidden @ W2.T + b2, labels)

w_init = np.concatenate([rng.normal(0, 1 / np.sqrt(2), 16), np.zeros(8), rng.normal(0, 1 / np.sqrt(8), 24), np.zeros(3)])
print(f"{w_init.size} parameters, loss at init {loss(Tensor(w_init)).item():.3f}")

t0 = time.perf_counter()
H_init = hessian(loss)(w_init)
print(f"hessian: shape {H_init.shape}, {time.perf_counter() - t0:.2f} s, symmetric to {np.abs(H_init - H_init.T).max():.0e}")

w = w_init.copy()                                    # train: 300 steps of full-batch gradient descent
grad_loss = grad(loss)
for _ in range(300):
    w = w - 0.5 * grad_loss(w)
H_trained = hessian(loss)(w)
print(f"loss after training {loss(Tensor(w)).item():.4f}")

spectra = {"at initialisation": np.linalg.eigvalsh(H_init), "after training": np.linalg.eigvalsh(H_trained)}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
bins = np.histogram_bin_edges(np.concatenate(list(spectra.values())), bins=40)   # the same bins for both
for (name, ev), color in zip(spectra.items(), ["tab:blue", "tab:green"]):
    ax1.hist(ev, bins=bins, alpha=0.6, color=color, label=name)
    ax2.plot(ev, "o-", ms=3, color=color, label=name)
    print(f"{name:18}: largest {ev[-1]:7.4f}, smallest {ev[0]:8.4f}, {np.sum(ev < -1e-6):2} negative, "
          f"{np.sum(np.abs(ev) < 1e-3):2} with |eigenvalue| < 1e-3")
ax1.set_xlabel("eigenvalue"); ax1.set_ylabel("count"); ax1.set_title("Hessian eigenvalues (histogram)"); ax1.legend()
ax2.axhline(0, color="gray", lw=0.5); ax2.set_yscale("symlog", linthresh=1e-3)
ax2.set_xlabel("index (sorted)"); ax2.set_ylabel("eigenvalue (symlog scale)"); ax2.set_title("sorted eigenvalues"); ax2.legend()
plt.tight_layout(); plt.show()
"""
        ),
        md(
            """
At initialisation the loss surface is curved both up and down: many eigenvalues are negative,
so a pure Newton step would be pulled towards a saddle. After training the spectrum has the
shape reported for large networks: a *bulk* of eigenvalues near zero (directions in which the
loss barely changes: the network has more parameters than the data pins down), a few large
*outliers* (the steep directions, which set the largest stable learning rate `2 / lambda_max`),
and some small negative ones left.

## Hessian-vector products

For a real network `n` is millions and the Hessian cannot even be stored. But most uses of
curvature need only products `H @ v`: power iteration for the largest eigenvalue, conjugate
gradients for a Newton step, sharpness measures. `hvp` computes `H @ v` **reverse-over-reverse**:
it records the gradient as a graph, takes its dot product with `v`, and differentiates that
once more (`grad(w -> grad(loss)(w) . v)`), at the cost of a few gradients whatever `n` is
(about 3x one gradient on the MNIST MLP: `benchmarks/bench_hvp.py`).
"""
        ),
        code(
            """
v = rng.normal(size=w.size)
value, (Hv,) = hvp(loss, (w,), (v,))               # (f(w), (H @ v,)): one entry per primal
print(f"loss {value:.4f}; |hvp - hessian @ v| = {np.abs(Hv - H_trained @ v).max():.1e}  (|H v| = {np.linalg.norm(Hv):.3f})")

t0 = time.perf_counter(); hvp(loss, (w,), (v,)); t_hvp = time.perf_counter() - t0
t0 = time.perf_counter(); hessian(loss)(w); t_hess = time.perf_counter() - t0
print(f"one hvp {t_hvp * 1e3:.1f} ms, the full Hessian {t_hess * 1e3:.0f} ms")

# Power iteration with hvp alone: the largest eigenvalue without ever forming H.
u = v / np.linalg.norm(v)
for _ in range(50):
    Hu = hvp(loss, (w,), (u,))[1][0]
    u = Hu / np.linalg.norm(Hu)
print(f"largest eigenvalue: power iteration with hvp {u @ hvp(loss, (w,), (u,))[1][0]:.6f}, "
      f"eigvalsh {spectra['after training'][-1]:.6f}")
"""
        ),
        md(
            """
## Forward mode vs reverse mode

Reverse mode (`vjp`, the backward pass) pulls one *cotangent* `u` back through the graph and
returns one **row** combination `u^T J` of the Jacobian per pass. Forward mode (`jvp`) pushes
one *tangent* `v` forward alongside the computation and returns one **column** combination
`J v` per pass. So for `f: R^n -> R^m`:

* `jacrev` needs `m` backward passes (one per output),
* `jacfwd` needs `n` forward passes (one per input).

A loss is *wide* (`n` = all the weights, `m = 1`): reverse mode, which is why deep learning
runs on backpropagation. A *tall* function (few inputs, many outputs, say a curve traced by
one parameter) is cheaper in forward mode. Below, `f(x) = tanh(A x)` with `A` of shape `m x n`.
"""
        ),
        code(
            """
def best_time(fn, repeats=3):
    fn()                                  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return min(times)

def jacobian_times(n, m):
    A = rng.normal(size=(m, n)) / np.sqrt(n)
    f = lambda x: (A @ x).tanh()
    x = rng.normal(size=n)
    assert np.allclose(jacfwd(f)(x), jacrev(f)(x))     # the same Jacobian either way
    return best_time(lambda: jacfwd(f)(x)), best_time(lambda: jacrev(f)(x))

sizes = [2, 8, 32, 128]
wide = np.array([jacobian_times(n, 4) for n in sizes])   # n inputs -> 4 outputs
tall = np.array([jacobian_times(4, m) for m in sizes])   # 4 inputs -> m outputs

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, times, xlabel, title in [(ax1, wide, "n (inputs)", "wide: f: R^n -> R^4"),
                                 (ax2, tall, "m (outputs)", "tall: f: R^4 -> R^m")]:
    ax.loglog(sizes, times[:, 0] * 1e3, "o-", label="jacfwd (forward mode)")
    ax.loglog(sizes, times[:, 1] * 1e3, "s-", label="jacrev (reverse mode)")
    ax.set_xlabel(xlabel); ax.set_title(title); ax.legend()
ax1.set_ylabel("milliseconds (best of 3)")
plt.tight_layout(); plt.show()
for n, (tf, tr) in zip(sizes, wide):
    print(f"wide n={n:4}, m=4: jacfwd {tf * 1e3:6.2f} ms  jacrev {tr * 1e3:6.2f} ms")
for m, (tf, tr) in zip(sizes, tall):
    print(f"tall n=4, m={m:4}: jacfwd {tf * 1e3:6.2f} ms  jacrev {tr * 1e3:6.2f} ms")
"""
        ),
        md(
            """
Each mode's cost grows with its own dimension and is flat in the other. The constant factors
differ too: here `jacfwd` calls `f` again for every column and `matmul`'s forward-mode rule
is derived from its reverse rule (the double-vjp trick), while `jacrev` runs `f` once and then
one cheap backward pass per row; `torch.func` batches the passes with `vmap`. What carries over
to any library is the scaling.

The two modes also combine: `hessian(f)` is `jacfwd(jacrev(f))`. The gradient `jacrev(f)` maps
`R^n -> R^n` (square), and forward-over-reverse is what `torch.func.hessian` does too.

## Summary

* The Hessian is the Jacobian of the gradient: `hessian(f) == jacfwd(jacrev(f))`.
* Newton's method uses it to take curvature-aware steps: a few steps where gradient descent
  needs thousands, at `O(n^3)` per step and only where `H` is positive definite.
* A network's Hessian spectrum (`np.linalg.eigvalsh`) is mostly near zero with a few large
  outliers; its largest eigenvalue limits the learning rate.
* `hvp` gives `H @ v` for a few gradients' cost: curvature at any scale.
* Reverse mode costs one pass per output, forward mode one pass per input.
"""
        ),
    ],
}


def _cell_ids(cells: list) -> None:
    """Give every cell an id made from its source, so that regenerating a notebook keeps its ids
    (nbformat would draw random ones) and a diff shows only the cells that changed."""
    import hashlib

    seen: dict[str, int] = {}
    for cell in cells:
        digest = hashlib.sha1(f"{cell.cell_type}:{cell.source}".encode()).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def write(name: str, cells: list) -> Path:
    """Write notebook ``name`` from ``cells`` (without outputs), with stable cell ids."""
    import copy

    cells = [nbformat.from_dict(copy.deepcopy(dict(c))) for c in cells]  # SETUP is shared: never mutate it
    _cell_ids(cells)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    path = HERE / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _stable_outputs(nb) -> None:
    """Drop what changes from run to run without meaning anything: the object address in the
    text/plain fallback of an output that has a rich form (SVG, PNG, HTML: what Jupyter shows),
    as in "<graphviz.graphs.Digraph at 0x7f5e13598b50>"."""
    import re

    address = re.compile(r" at 0x[0-9a-fA-F]+>")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/plain" in data and any(k.startswith(("image/", "text/html")) for k in data):
                text = data["text/plain"]
                text = "".join(text) if isinstance(text, list) else text
                data["text/plain"] = address.sub(">", text)


def execute(path: Path, timeout: int = TIMEOUT) -> None:
    """Run every cell of the notebook at ``path`` in its own directory and save the outputs.

    No timestamps are recorded and object addresses are left out, so running an unchanged
    notebook again rewrites only outputs that really changed.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    _stable_outputs(nb)
    nbformat.write(nb, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-run", action="store_true", help="write the notebooks without executing them")
    ap.add_argument("names", nargs="*", help="only these notebooks, by any part of the name, e.g. 03 (default: all)")
    args = ap.parse_args()
    unknown = [n for n in args.names if not any(n in name for name in NOTEBOOKS)]
    if unknown:
        ap.error(f"no notebook matches {', '.join(unknown)} (notebooks: {', '.join(NOTEBOOKS)})")
    # The kernels run in notebooks/: a relative data path is resolved here, once, against the
    # directory this script was started from (the kernels inherit the absolute path).
    if os.environ.get("GRADENGINE_DATA"):
        data = os.path.abspath(os.path.expanduser(os.environ["GRADENGINE_DATA"]))
        if not os.path.isdir(data):
            ap.error(f"GRADENGINE_DATA={os.environ['GRADENGINE_DATA']} is {data}, which is not a directory")
        os.environ["GRADENGINE_DATA"] = data
    for name, cells in NOTEBOOKS.items():
        if args.names and not any(n in name for n in args.names):
            continue
        path = write(name, cells)
        if not args.no_run:
            execute(path)
        print(f"{'wrote' if args.no_run else 'wrote and executed'} {path.relative_to(HERE.parent)}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
