"""Loss modules with PyTorch's names, arguments and defaults: ``criterion = nn.MSELoss()``, then
``loss = criterion(output, target)``.

Each module stores its options and calls the function of the same name in
:mod:`gradengine.functional`, where the formulas, shapes and reduction rules are documented.
``weight`` and ``pos_weight`` are constants: they are stored as Tensors without history
(``requires_grad=False``), so they are not parameters and receive no gradient.
"""

from __future__ import annotations

from typing import Any, Optional

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss"]


def _constant(value: Optional[Any]) -> Optional[Tensor]:
    """A weight argument as a Tensor that is not a parameter (None stays None)."""
    return None if value is None else F._tensor(value).detach()


class _Loss(Module):
    """Base of the losses: the ``reduction`` option, with PyTorch's deprecated
    ``size_average``/``reduce`` arguments translated once, at construction."""

    def __init__(self, size_average: Optional[bool] = None, reduce: Optional[bool] = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._reduction(size_average, reduce, reduction, type(self).__name__)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error, ``mean((input - target) ** 2)``: see :func:`gradengine.functional.mse_loss`."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error, ``mean(|input - target|)``: see :func:`gradengine.functional.l1_loss`."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class labels or probabilities, with PyTorch's
    ``weight``, ``ignore_index``, ``reduction`` and ``label_smoothing``: see
    :func:`gradengine.functional.cross_entropy`. Give it raw scores, not softmax outputs."""

    def __init__(self, weight: Optional[Any] = None, size_average: Optional[bool] = None,
                 ignore_index: int = -100, reduce: Optional[bool] = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
        self.weight, self.ignore_index, self.label_smoothing = _constant(weight), int(ignore_index), float(label_smoothing)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        parts = [super().extra_repr()] + ([f"ignore_index={self.ignore_index}"] if self.ignore_index != -100 else []) \
            + ([f"label_smoothing={self.label_smoothing}"] if self.label_smoothing else [])
        return ", ".join(p for p in parts if p)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (pair it with ``LogSoftmax(dim=1)``), with
    ``weight``, ``ignore_index`` and ``reduction``: see :func:`gradengine.functional.nll_loss`."""

    def __init__(self, weight: Optional[Any] = None, size_average: Optional[bool] = None,
                 ignore_index: int = -100, reduce: Optional[bool] = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight, self.ignore_index = _constant(weight), int(ignore_index)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)

    def extra_repr(self) -> str:
        parts = [super().extra_repr()] + ([f"ignore_index={self.ignore_index}"] if self.ignore_index != -100 else [])
        return ", ".join(p for p in parts if p)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, stable for any logits, with ``weight`` and
    ``pos_weight``: see :func:`gradengine.functional.binary_cross_entropy_with_logits`."""

    def __init__(self, weight: Optional[Any] = None, size_average: Optional[bool] = None,
                 reduce: Optional[bool] = None, reduction: str = "mean", pos_weight: Optional[Any] = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight, self.pos_weight = _constant(weight), _constant(pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
