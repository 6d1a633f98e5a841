"""SGD, as ``torch/optim/sgd.py``: the :class:`SGD` class and the update function :func:`sgd`."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from .optimizer import Optimizer, Params, _check_nonnegative, _check_real

__all__ = ["SGD", "sgd"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``);
    the update is :func:`sgd`.

    Args:
        params: parameters or param groups (see :class:`Optimizer`).
        lr: learning rate (>= 0). momentum: momentum factor (>= 0).
        dampening: dampening of the momentum. weight_decay: L2 penalty (>= 0).
        nesterov: Nesterov momentum (needs momentum > 0 and dampening == 0).
        maximize: maximize the objective instead of minimizing it.
    """

    _state_keys = ("momentum_buffer",)  # no "step", as torch's SGD

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        self._check_hparams(defaults)
        super().__init__(params, defaults)

    def _check_hparams(self, group: dict[str, Any]) -> None:
        _check_real(group["dampening"], "dampening")
        _check_nonnegative(group, lr="learning rate", momentum="momentum value", weight_decay="weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, group, params, grads, states) -> None:
        bufs = [st.get("momentum_buffer") for st in states]
        sgd(params, grads, bufs, lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])
        for st, buf in zip(states, bufs):
            if buf is not None:
                st["momentum_buffer"] = buf


def sgd(params: list[np.ndarray], grads: list[np.ndarray], momentum_buffers: list[Optional[np.ndarray]], *,
        lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool, maximize: bool) -> None:
    """One SGD step, in place (torch's ``_single_tensor_sgd``). ``momentum_buffers[i]`` is None
    before parameter ``i``'s first step with momentum; it is then set to the new buffer."""
    for i, (p, g) in enumerate(zip(params, grads)):
        if maximize:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            buf = momentum_buffers[i]
            if buf is None:
                buf = momentum_buffers[i] = np.array(g)  # the buffer starts as (a copy of) the first gradient
            else:
                buf *= momentum
                buf += (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p -= lr * g
