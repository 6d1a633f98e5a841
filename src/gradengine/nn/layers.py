"""PyTorch-style layers on the tensor engine: ``Linear``, activations, ``Flatten``, ``Dropout``,
``Sequential``.

Parameter names and shapes match PyTorch's, so a ``state_dict`` lines up with the same
``torch.nn.Sequential``: ``Linear`` stores ``weight`` with shape ``(out_features, in_features)``
and ``bias`` with shape ``(out_features,)``, and ``Sequential`` names its layers ``0``, ``1``, ...
(``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...).

Layers accept a ``Tensor`` or a NumPy array as input (an array is a constant: no gradient).
"""

from __future__ import annotations

import math
from typing import Iterator, Union

import numpy as np

from .. import functional as F
from ..tensor import Tensor, _wrap
from .module import Module

__all__ = ["Linear", "ReLU", "Tanh", "Sigmoid", "Flatten", "Dropout", "Sequential"]

Input = Union[Tensor, np.ndarray]
Seed = Union[int, np.random.Generator, None]


def _rng(seed: Seed) -> Union[np.random.Generator, np.random.RandomState]:
    """A Generator for an int seed or a Generator; NumPy's global RNG for None, so that
    ``np.random.seed(0)`` makes a model reproducible (as ``torch.manual_seed`` does)."""
    if seed is None:
        return np.random.mtrand._rand  # the RandomState behind np.random.seed / np.random.uniform
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class Linear(Module):
    """``y = x @ weight.T + bias``, one fused op.

    Initialised like PyTorch (``kaiming_uniform_(a=sqrt(5))`` for the weight, which is
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))``, and the same range for the bias).

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: whether to learn an additive bias.
        dtype: the parameters' dtype (float32 by default, as PyTorch).
        rng: a ``np.random.Generator`` or an int seed for the initialisation; None uses
            NumPy's global RNG (seeded by ``np.random.seed``). Share one Generator between
            layers to seed a whole model.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: type = np.float32,
        rng: Seed = None,
    ) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: feature sizes must be non-negative, got ({in_features}, {out_features})")
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"Linear: dtype must be a floating-point type, got {np.dtype(dtype)}")
        self.in_features, self.out_features = in_features, out_features
        gen = _rng(rng)
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        # Drawn in float64 then rounded, so float32 and float64 models from one seed agree.
        weight = gen.uniform(-bound, bound, (out_features, in_features)).astype(dtype)
        self.weight = Tensor(weight, requires_grad=True, name="weight")
        self.bias = None
        if bias:
            self.bias = Tensor(gen.uniform(-bound, bound, out_features).astype(dtype), requires_grad=True, name="bias")

    def forward(self, x: Input) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        dtype = "" if self.weight.dtype == np.float32 else f", dtype={self.weight.dtype}"
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}{dtype}"


class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x: Input) -> Tensor:
        return F.relu(x)


class Tanh(Module):
    def forward(self, x: Input) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x: Input) -> Tensor:
        return F.sigmoid(x)


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (by default all but the batch dim, as PyTorch's
    ``nn.Flatten``): ``(N, 28, 28) -> (N, 784)``. Free for a contiguous batch (a reshape)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Input) -> Tensor:
        if isinstance(x, np.ndarray):
            if self.start_dim == 1 and self.end_dim == -1 and x.ndim >= 2:
                return _wrap(x.reshape(x.shape[0], -1))  # the common case: a constant batch
            x = _wrap(x)
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training mode zero each element with probability ``p`` and scale
    the rest by ``1/(1-p)``; the identity in ``eval()`` mode.

    Args:
        p: the probability of zeroing an element.
        rng: a ``np.random.Generator`` or int seed for reproducible masks; None uses
            NumPy's global RNG (``np.random.seed``).
    """

    def __init__(self, p: float = 0.5, *, rng: Seed = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1], got {p}")
        self.p = p
        self.rng = None if rng is None else _rng(rng)

    def forward(self, x: Input) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Apply modules in order. Indexable (``model[0]``, ``model[1:]``), sized and iterable.

    The layers are stored as attributes named ``"0"``, ``"1"``, ..., so parameters are named
    ``"0.weight"``, ``"0.bias"``, ``"2.weight"`` ... exactly as in ``torch.nn.Sequential``.
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for layer in layers:
            self.append(layer)

    def _layers(self) -> list[Module]:
        return [v for k, v in vars(self).items() if k.isdigit()]

    def append(self, layer: Module) -> "Sequential":
        """Add a layer at the end; returns self."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential takes Modules, got {type(layer).__name__}")
        setattr(self, str(len(self)), layer)
        return self

    def forward(self, x: Input) -> Tensor:
        for layer in self._layers():
            x = layer(x)
        return x

    def __getitem__(self, index: Union[int, slice]) -> Union[Module, "Sequential"]:
        layers = self._layers()
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self) -> int:
        return sum(1 for k in vars(self) if k.isdigit())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())
