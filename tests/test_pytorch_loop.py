"""A PyTorch user's first training loops run unchanged on gradengine: only the imports change.

Each loop below is written once, as source text, in plain PyTorch. It is executed twice: with
``import torch`` (the reference) and with ``import gradengine as torch`` (and ``gradengine.nn``,
``gradengine.optim``); both runs must train.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

TORCH_IMPORTS = """
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
"""

GRADENGINE_IMPORTS = """
import gradengine as torch
import gradengine.nn as nn
import gradengine.nn.functional as F
import gradengine.optim as optim
"""

# nn.Sequential + MSELoss + SGD + clip_grad_norm_, on inputs from torch.randn.
SEQUENTIAL_REGRESSION = """
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1))
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.01)

inputs = torch.randn(100, 10)
true_w = torch.randn(10, 1)
targets = inputs @ true_w + 0.1 * torch.randn(100, 1)

losses = []
for epoch in range(200):
    optimizer.zero_grad()
    outputs = model(inputs)
    loss = criterion(outputs, targets)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
    losses.append(loss.item())
"""

# An nn.Module subclass with super().__init__() and forward, fitting y = 2x from torch.Tensor data.
MODULE_SUBCLASS = """
torch.manual_seed(0)

class LinearRegression(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x)

model = LinearRegression()
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.01)
x_train = torch.Tensor([[1.0], [2.0], [3.0], [4.0]])
y_train = torch.Tensor([[2.0], [4.0], [6.0], [8.0]])

losses = []
for epoch in range(500):
    optimizer.zero_grad()
    loss = criterion(model(x_train), y_train)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

model.eval()
with torch.no_grad():
    prediction = model(torch.Tensor([[5.0]])).item()
"""

# Classification: a Module with F.relu, CrossEntropyLoss on labels from torch.randint, Adam,
# clip_grad_value_, train()/eval() and no_grad.
CLASSIFIER = """
torch.manual_seed(0)

class Net(nn.Module):
    def __init__(self, n_in, n_hidden, n_classes):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.dropout = nn.Dropout(0.1)
        self.fc2 = nn.Linear(n_hidden, n_classes)

    def forward(self, x):
        return self.fc2(self.dropout(F.relu(self.fc1(x))))

model = Net(4, 16, 3)
criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
optimizer = optim.Adam(model.parameters(), lr=0.01)
centers = 3 * torch.randn(3, 4)
labels = torch.randint(0, 3, (120,))
inputs = centers[labels] + torch.randn(120, 4)

losses = []
model.train()
for epoch in range(60):
    optimizer.zero_grad()
    loss = criterion(model(inputs), labels)
    loss.backward()
    nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
    optimizer.step()
    losses.append(loss.item())

model.eval()
with torch.no_grad():
    probabilities = nn.Softmax(dim=1)(model(inputs))
"""

LOOPS = {"sequential_regression": SEQUENTIAL_REGRESSION, "module_subclass": MODULE_SUBCLASS, "classifier": CLASSIFIER}


def run(imports: str, loop: str) -> dict:
    namespace: dict = {}
    exec(compile(textwrap.dedent(imports) + loop, "<pytorch loop>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("backend", ["gradengine", "torch"])
@pytest.mark.parametrize("name", list(LOOPS))
def test_the_same_loop_trains_on_both(name, backend):
    if backend == "torch":
        pytest.importorskip("torch", reason="PyTorch is not installed: the reference run is skipped")
    ns = run(GRADENGINE_IMPORTS if backend == "gradengine" else TORCH_IMPORTS, LOOPS[name])
    losses = ns["losses"]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], f"{backend} did not train: loss {losses[0]:.4f} -> {losses[-1]:.4f}"
    if name == "module_subclass":
        assert ns["prediction"] == pytest.approx(10.0, abs=0.5)
    if name == "classifier":
        probs = ns["probabilities"]
        assert tuple(probs.shape) == (120, 3)
        assert np.mean(probs.numpy().argmax(1) == ns["labels"].numpy()) > 0.9


def test_gradengine_runs_repeat_exactly():
    """manual_seed at the top of the loop makes a second run give the same losses, bit for bit."""
    first = run(GRADENGINE_IMPORTS, SEQUENTIAL_REGRESSION)["losses"]
    second = run(GRADENGINE_IMPORTS, SEQUENTIAL_REGRESSION)["losses"]
    assert first == second


def test_only_the_imports_differ():
    """The loops contain no gradengine-specific line: nothing names gradengine or numpy."""
    for name, loop in LOOPS.items():
        assert "gradengine" not in loop and "np." not in loop and "numpy" not in loop, name
