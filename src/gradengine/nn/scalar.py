"""micrograd's ``Neuron``, ``Layer`` and ``MLP`` on the scalar engine.

Same constructor signatures and behaviour as micrograd's ``nn.py`` (weights uniform in
[-1, 1] from Python's ``random``, zero bias, ReLU on every layer but the last), so a micrograd
user switches with one import.
"""

from __future__ import annotations

import random
from typing import Sequence, Union

from ..engine import Value
from .module import Module

__all__ = ["Neuron", "Layer", "MLP"]

Scalar = Union[Value, float]


class Neuron(Module):
    """``relu(w . x + b)``, or linear with ``nonlin=False``."""

    def __init__(self, nin: int, nonlin: bool = True) -> None:
        super().__init__()
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Scalar]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron expects {len(self.w)} inputs, got {len(x)}")
        act = self.b  # b + w0*x0 + w1*x1 + ..., the same graph as micrograd's sum(..., self.b)
        for wi, xi in zip(self.w, x):
            act = act + wi * xi
        return act.relu() if self.nonlin else act

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons on the same inputs; returns a single Value when ``nout == 1``."""

    def __init__(self, nin: int, nout: int, **kwargs: bool) -> None:
        super().__init__()
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence[Scalar]) -> Union[Value, list[Value]]:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: ``MLP(2, [16, 16, 1])`` maps 2 inputs to 1 output."""

    def __init__(self, nin: int, nouts: Sequence[int]) -> None:
        super().__init__()
        sz = [nin] + list(nouts)
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]

    def __call__(self, x: Sequence[Scalar]) -> Union[Value, list[Value]]:
        for layer in self.layers:
            x = layer(x)
            if isinstance(x, Value):
                x = [x] if layer is not self.layers[-1] else x
        return x

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
