"""Write the teaching notebooks from the cell sources below, and execute them in place.

    python notebooks/make_notebooks.py            # write + execute all (outputs are committed)
    python notebooks/make_notebooks.py --no-run   # only write the .ipynb files

The notebooks read MNIST from ``$GRADENGINE_DATA`` (CI points it at ``../shared/data/mnist``).
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
`backward()` it shows every gradient too. This notebook walks the chain rule node by node.
"""
        ),
        code(
            """
from gradengine import Value, draw
a, b = Value(2.0, label="a"), Value(-3.0, label="b")
c = a * b; c.label = "c"
d = c + a ** 2; d.label = "d"
draw(d)      # before backward(): every grad is 0
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
## The shop example

Two apples at 100 each and three oranges at 150 each, with 10% tax: `(2*100 + 3*150) * 1.1 = 715`.
How much does the total change per unit change of each input?
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
total.backward()
print(f"total = {total.data:.1f}")
for v in (apple, n_apple, orange, n_orange, tax):
    print(f"d total / d {v.label:13} = {v.grad:8.2f}")
draw(total)
"""
        ),
        md(
            """
The price of one apple moves the total by `2 * 1.1 = 2.2`, the number of apples by
`100 * 1.1 = 110`, and the tax by the subtotal, `650`.

## A neuron with tanh

micrograd's classic neuron: `o = tanh(x1*w1 + x2*w2 + b)`.
"""
        ),
        code(
            """
x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
b = Value(6.8813735870195432, label="b")
n = x1 * w1 + x2 * w2 + b; n.label = "n"
o = n.tanh(); o.label = "o"
o.backward()
print(f"o = {o.data:.4f}, do/dn = 1 - o^2 = {1 - o.data ** 2:.4f}")
print(f"do/dw1 = {w1.grad:.4f}, do/dx1 = {x1.grad:.4f}, do/dw2 = {w2.grad:.4f} (x2 = 0)")
draw(o)
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
use, so you can test your code the same way.
"""
        ),
        code(
            """
import math
from hypothesis import given, settings, strategies as st
from gradengine import Value, gradcheck, grad, GradcheckError
from gradengine.testing import finite_floats, check_gradients, expressions, evaluate, is_smooth_at

def softplus(x):
    # log(1 + e^x), written stably: max(x, 0) + log(1 + e^-|x|)
    return x.relu() + (1 + (-abs(x)).exp()).log()

print(softplus(Value(2.0)).data, math.log1p(math.exp(2.0)))
print(gradcheck(softplus, 2.0), gradcheck(softplus, -3.0))
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
## Random expressions

`expressions()` draws random expression trees over the whole op table; `evaluate` computes one
on Values (or on PyTorch tensors, for an oracle). Each tree is checked where every op in it is
smooth:
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
from gradengine.optim import clip_grad_norm_
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

x = Tensor(np.random.default_rng(1).normal(size=(64, 32)).astype(np.float32))
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
## The same story in the graph

Colour encodes gradient magnitude on an absolute log scale (the legend says how). A chain of
sigmoids turns blue towards the input; a chain of ReLUs keeps its gradient.
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
