"""PyTorch-style layers on the tensor engine: ``Linear``, the activations (``ReLU``, ``LeakyReLU``,
``Tanh``, ``Sigmoid``, ``Softmax``, ``LogSoftmax``), ``Identity``, ``Flatten``, ``Dropout`` and the
containers ``Sequential`` and ``ModuleList``. The loss modules are in :mod:`gradengine.nn.loss`.

Parameter names and shapes match PyTorch's, so a ``state_dict`` lines up with the same
``torch.nn.Sequential``: ``Linear`` stores ``weight`` with shape ``(out_features, in_features)``
and ``bias`` with shape ``(out_features,)``, and ``Sequential`` names its layers ``0``, ``1``, ...
(``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...).

Layers accept a ``Tensor`` or a NumPy array as input (an array is a constant: no gradient).
"""

from __future__ import annotations

import math
import warnings
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from .. import functional as F
from ..creation import seed_generator
from ..tensor import Tensor, _wrap
from .module import Module

__all__ = [
    "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Identity",
    "Flatten", "Dropout", "Sequential", "ModuleList",
]

Input = Union[Tensor, np.ndarray]
Seed = Union[int, np.random.Generator, None]


class Linear(Module):
    """``y = x @ weight.T + bias``, one fused op.

    Initialised like PyTorch (``kaiming_uniform_(a=sqrt(5))`` for the weight, which is
    ``U(-1/sqrt(in_features), 1/sqrt(in_features))``, and the same range for the bias; the
    weight is drawn first). The input must be floating point: an integer or bool input raises
    ``TypeError``, as in PyTorch (convert it, e.g. ``x.astype(np.float32)``).

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: whether to learn an additive bias.
        dtype: the parameters' dtype (float32 by default, as PyTorch).
        rng: a ``np.random.Generator`` or an int seed for the initialisation; None uses
            the global RNG (seeded by ``gradengine.manual_seed`` or ``np.random.seed``). Share
            one Generator between layers to seed a whole model.
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
        gen = seed_generator(rng)
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


class LeakyReLU(Module):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Input) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x: Input) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise, stable for any x."""

    def forward(self, x: Input) -> Tensor:
        return F.sigmoid(x)


def _softmax_dim(dim: Optional[int], ndim: int, name: str) -> int:
    """``dim``, or PyTorch's deprecated implicit choice (with its warning) when it is None."""
    if dim is not None:
        return dim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        f"dim=X as an argument.", UserWarning, stacklevel=4,
    )
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim`` (PyTorch's ``nn.Softmax(dim)``).

    Without ``dim``, PyTorch's deprecated rule picks one (0 for 0-, 1- and 3-D inputs, else 1)
    and warns: pass ``dim`` (usually ``dim=1`` or ``dim=-1`` for a batch of scores).
    """

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Input) -> Tensor:
        x = F._tensor(x)
        return F.softmax(x, _softmax_dim(self.dim, x.ndim, "softmax"))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``x - logsumexp(x)`` along ``dim`` (PyTorch's ``nn.LogSoftmax(dim)``); pair it with
    ``NLLLoss``. ``dim=None`` follows PyTorch's deprecated implicit rule, as ``Softmax``."""

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Input) -> Tensor:
        x = F._tensor(x)
        return F.log_softmax(x, _softmax_dim(self.dim, x.ndim, "log_softmax"))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Identity(Module):
    """Returns its input unchanged (as a Tensor); a placeholder layer. Like PyTorch's, it
    accepts and ignores any constructor arguments."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()

    def forward(self, x: Input) -> Tensor:
        return F._tensor(x)


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (by default all but the batch dim, as PyTorch's
    ``nn.Flatten``): ``(N, 28, 28) -> (N, 784)``. Free for a contiguous batch (a reshape)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Input) -> Tensor:
        if isinstance(x, np.ndarray):
            if self.start_dim == 1 and self.end_dim == -1 and x.ndim >= 2:
                return _wrap(x.reshape(x.shape[0], math.prod(x.shape[1:])))  # the common case: a constant batch (empty too)
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
            the global RNG (seeded by ``gradengine.manual_seed`` or ``np.random.seed``).
    """

    def __init__(self, p: float = 0.5, *, rng: Seed = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1], got {p}")
        self.p = p
        self.rng = None if rng is None else seed_generator(rng)

    def forward(self, x: Input) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Container(Module):
    """Modules stored as attributes ``"0"``, ``"1"``, ... (so parameters are named ``"0.weight"``,
    ``"1.bias"`` ... as in PyTorch); indexable, sized and iterable."""

    def __init__(self, layers: Iterable[Module] = ()) -> None:
        super().__init__()
        for layer in layers:
            self.append(layer)

    def _layers(self) -> list[Module]:
        return [v for k, v in vars(self).items() if k.isdigit()]

    def append(self, layer: Module) -> "_Container":
        """Add a layer at the end; returns self."""
        if not isinstance(layer, Module):
            raise TypeError(f"{type(self).__name__} takes Modules, got {type(layer).__name__}")
        setattr(self, str(len(self)), layer)
        return self

    def extend(self, layers: Iterable[Module]) -> "_Container":
        """Append every layer of ``layers``; returns self."""
        for layer in layers:
            self.append(layer)
        return self

    def __getitem__(self, index: Union[int, slice]) -> Module:
        layers = self._layers()
        if isinstance(index, slice):
            part = type(self).__new__(type(self))
            _Container.__init__(part, layers[index])
            return part
        return layers[index]

    def __len__(self) -> int:
        return sum(1 for k in vars(self) if k.isdigit())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())


class Sequential(_Container):
    """Apply modules in order: ``Sequential(Linear(10, 5), ReLU(), Linear(5, 1))``. Indexable
    (``model[0]``, ``model[1:]``), sized and iterable.

    The layers are stored as attributes named ``"0"``, ``"1"``, ..., so parameters are named
    ``"0.weight"``, ``"0.bias"``, ``"2.weight"`` ... exactly as in ``torch.nn.Sequential``.
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__(layers)

    def forward(self, x: Input) -> Tensor:
        for layer in self._layers():
            x = layer(x)
        return x


class ModuleList(_Container):
    """A list of modules whose parameters the parent module finds (``torch.nn.ModuleList``):
    ``self.layers = ModuleList([Linear(4, 4) for _ in range(3)])`` gives parameters named
    ``"layers.0.weight"``, ... Call the layers yourself in ``forward``; the list has none."""

    def forward(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("ModuleList has no forward(): iterate over it and call its modules")
