"""Learning-rate schedules, as ``torch/optim/lr_scheduler.py``: call ``step()`` once per epoch,
after the epoch's ``optimizer.step()`` calls."""

from __future__ import annotations

import numbers
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from ..nn.module import StateDictError
from .optimizer import Optimizer, StateDict, _check_real, _restore

__all__ = ["LRScheduler", "StepLR", "LambdaLR"]


class LRScheduler:
    """Base class of learning-rate schedules (PyTorch's ``torch.optim.lr_scheduler``).

    Construction records each group's ``"initial_lr"`` and makes the first ``step()`` (epoch 0).
    Call :meth:`step` after ``optimizer.step()``, usually once per epoch. A subclass defines
    :meth:`get_lr`, the learning rates for ``self.last_epoch``. To resume with ``last_epoch=k``,
    the optimizer's groups need ``"initial_lr"`` (a loaded optimizer state dict has it); or
    construct with the default and call :meth:`load_state_dict`.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                               f"a schedule with last_epoch={last_epoch}: load the optimizer's state first")
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the new learning rate of every param group."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last :meth:`step`, one per param group."""
        return list(self._last_lr)

    def _hparams(self) -> dict[str, Any]:
        return {}

    def _check_hparams(self, **hparams: Any) -> None:
        """Raise TypeError/ValueError for a value the constructor would refuse (a loaded state is
        checked too)."""

    def state_dict(self) -> StateDict:
        """A flat dict for ``np.savez``: ``last_epoch``, ``base_lrs``, ``last_lr`` and the
        schedule's own numbers (e.g. ``step_size``, ``gamma``)."""
        return {"type": type(self).__name__, "last_epoch": self.last_epoch,
                "base_lrs": list(self.base_lrs), "last_lr": list(self._last_lr), **self._hparams()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`, checking every key first (the optimizer's
        lr is not changed: it is in the optimizer's own state dict)."""
        sd = {k: state_dict[k] for k in state_dict}
        kind = str(np.asarray(sd.get("type", "")))
        if kind != type(self).__name__:
            raise StateDictError(f"this state dict is for {kind or 'an unknown schedule'}, not {type(self).__name__}")
        hp = self._hparams()
        expected = {"type", "last_epoch", "base_lrs", "last_lr", *hp}
        if set(sd) != expected:
            raise StateDictError(f"schedule state dict: missing keys {sorted(expected - set(sd))}, "
                                 f"unexpected keys {sorted(set(sd) - expected)}")
        lists = {k: np.asarray(sd[k], dtype=np.float64) for k in ("base_lrs", "last_lr")}
        for key, arr in lists.items():
            if arr.shape != (len(self.optimizer.param_groups),):
                raise StateDictError(f"{key} has shape {arr.shape}, the optimizer has "
                                     f"{len(self.optimizer.param_groups)} param group(s)")
        values = {k: _restore(sd[k], v, k) for k, v in hp.items()}
        last_epoch = np.asarray(sd["last_epoch"])
        if last_epoch.shape != () or last_epoch.dtype.kind not in "iu" or int(last_epoch) < -1:
            raise StateDictError(f"last_epoch should be an integer >= -1, got {sd['last_epoch']!r}")
        try:
            self._check_hparams(**values)
        except (TypeError, ValueError) as e:
            raise StateDictError(f"schedule state dict: {e}") from None
        self.last_epoch = int(last_epoch)
        self.base_lrs, self._last_lr = lists["base_lrs"].tolist(), lists["last_lr"].tolist()
        for k, v in values.items():
            setattr(self, k, v)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (PyTorch's ``StepLR``):
    ``lr = initial_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self._check_hparams(step_size=step_size, gamma=gamma)
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def _check_hparams(self, *, step_size: Any, gamma: Any) -> None:
        if isinstance(step_size, (bool, np.bool_)) or not isinstance(step_size, numbers.Integral) or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        _check_real(gamma, "gamma")

    def get_lr(self) -> list[float]:
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]  # chained, exactly as torch

    def _hparams(self) -> dict[str, Any]:
        return {"step_size": self.step_size, "gamma": self.gamma}


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)`` (PyTorch's ``LambdaLR``): one function for all
    param groups, or a list with one per group. The functions are not part of the state dict."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)) and len(lr_lambda) != n:
            raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]
