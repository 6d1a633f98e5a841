"""Adam and AdamW, as ``torch/optim/adam.py``: the classes and :func:`adam`, which picks an
implementation of the one rule: :func:`_single_tensor_adam` (the formulas) or :func:`_fused_adam`
(the same rule compiled into one pass over memory)."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, Optional

import numpy as np

from .optimizer import Optimizer, Params, _check_nonnegative, _check_real

__all__ = ["Adam", "AdamW", "adam"]


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``), optionally AMSGrad; AdamW's decoupled weight decay
    with ``decoupled_weight_decay=True`` (or use :class:`AdamW`). The update is :func:`adam`.

    Args:
        params: parameters or param groups (see :class:`Optimizer`).
        lr: learning rate (>= 0). betas: decay rates of the moving averages, each in [0, 1).
        eps: added to the denominator (>= 0). weight_decay: (>= 0).
        amsgrad: use the maximum of past second moments (AMSGrad).
        maximize: maximize the objective. decoupled_weight_decay: AdamW's weight decay.
        fast: which implementation :func:`adam` uses (None: its default).
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False, fast: Optional[bool] = None) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        self._check_hparams(defaults)
        self.fast = fast
        super().__init__(params, defaults)

    def _check_hparams(self, group: dict[str, Any]) -> None:
        betas = group.get("betas")
        if not (isinstance(betas, (tuple, list, np.ndarray)) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check_nonnegative(group, lr="learning rate", eps="epsilon value", weight_decay="weight_decay value")
        for i, beta in enumerate(betas):
            _check_real(beta, f"betas[{i}]")
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        group["betas"] = (float(betas[0]), float(betas[1]))

    def _state_names(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return self._state_keys if group["amsgrad"] else self._state_keys[:3]

    def _update(self, group, params, grads, states) -> None:
        moments = self._state_names(group)[1:]  # zeros on the first update (or AMSGrad turned on)
        for p, st in zip(params, states):
            st["step"] = st.get("step", 0) + 1
            st.update((k, np.zeros_like(p)) for k in moments if k not in st)
        beta1, beta2 = group["betas"]
        adam(params, grads, [st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states],
             [st.get("max_exp_avg_sq") for st in states], [st["step"] for st in states],
             amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
             eps=group["eps"], maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"],
             fast=self.fast)


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's ``torch.optim.AdamW``): the parameters are
    shrunk by ``lr * weight_decay`` each step instead of adding ``weight_decay * p`` to the
    gradient, so the decay does not pass through the moving averages. Default weight decay 1e-2."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, fast: Optional[bool] = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, fast=fast)

    def _check_hparams(self, group: dict[str, Any]) -> None:
        group["decoupled_weight_decay"] = True  # as torch: always, even when loading a state dict
        super()._check_hparams(group)


def adam(params: list[np.ndarray], grads: list[np.ndarray], exp_avgs: list[np.ndarray],
         exp_avg_sqs: list[np.ndarray], max_exp_avg_sqs: list[Optional[np.ndarray]], state_steps: list[int], *,
         amsgrad: bool, beta1: float, beta2: float, lr: float, weight_decay: float, eps: float,
         maximize: bool, decoupled_weight_decay: bool, fast: Optional[bool] = None) -> None:
    """One Adam step, in place (``state_steps[i]``: parameter ``i``'s steps, this one included).
    As torch's ``adam``, it picks an implementation per parameter: the formulas (``fast=False``,
    and 0-d arrays: ``Value`` parameters) or the same rule in one pass, :func:`_fused_adam` (float
    arrays it can update through flat views: parameter and state contiguous in one order)."""
    kw = dict(amsgrad=amsgrad, beta1=beta1, beta2=beta2, lr=lr, weight_decay=weight_decay, eps=eps, maximize=maximize,
              decoupled_weight_decay=decoupled_weight_decay)
    fused = []  # per parameter: a float array contiguous in one order with its state (flat views line up)
    for p, m, v, v_max in zip(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs):
        order = "c_contiguous" if p.flags.c_contiguous else "f_contiguous"
        fused.append(fast is not False and p.ndim > 0 and p.dtype in (np.float32, np.float64)
                     and all(getattr(a.flags, order) for a in (p, m, v, v_max if amsgrad else p)))
    lists = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps)
    for impl, chosen in ((_fused_adam, True), (_single_tensor_adam, False)):
        pick = [i for i, f in enumerate(fused) if f is chosen]
        if pick:
            impl(*([xs[i] for i in pick] for xs in lists), **kw)


def _single_tensor_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad,
                        beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay) -> None:
    """Adam as torch's ``_single_tensor_adam`` writes it, one parameter at a time."""
    for p, g, exp_avg, exp_avg_sq, max_exp_avg_sq, step in zip(
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps):
        if maximize:
            g = -g
        if weight_decay != 0 and decoupled_weight_decay:
            p *= 1 - lr * weight_decay
        elif weight_decay != 0:
            g = g + weight_decay * p
        exp_avg += (1 - beta1) * (g - exp_avg)  # exp_avg.lerp_(g, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        if amsgrad:
            np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            exp_avg_sq = max_exp_avg_sq
        denom = np.sqrt(exp_avg_sq) / math.sqrt(bias_correction2) + eps
        p -= step_size * (exp_avg / denom)


def _fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad,
                beta1, beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay) -> None:
    """:func:`_single_tensor_adam`'s rule as one loop per parameter, compiled by numba (Adam is
    memory-bound: NumPy makes a dozen passes over the state, this one). In the parameter's dtype,
    as torch; but a moment that would become subnormal (MNIST's border pixels get zero gradients
    step after step) is stored as 0, as subnormal arithmetic is slow on many CPUs."""
    kernel, constants = _adam_kernel(), {}
    for p, g, m, v, v_max, step in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps):
        order = "C" if p.flags.c_contiguous else "F"  # flat in memory order: views of p and its state
        c = constants.get((p.dtype, step))
        if c is None:  # the loop's scalars, once per step and dtype: one array to pass
            bc2_sqrt = math.sqrt(1 - beta2**step)
            c = constants[p.dtype, step] = np.array(
                [1 - beta1, beta2, 1 - beta2, lr / (1 - beta1**step) * bc2_sqrt, eps * bc2_sqrt,
                 0 if decoupled_weight_decay else weight_decay, 1 - lr * weight_decay if decoupled_weight_decay else 1,
                 -1 if maximize else 1, np.finfo(p.dtype).tiny], dtype=p.dtype)
        kernel(p.ravel(order), g.ravel(order), m.ravel(order), v.ravel(order), (v_max if amsgrad else v).ravel(order),
               c, amsgrad)


def _adam_loop(p, g, m, v, v_max, constants, amsgrad):
    """One Adam step on flat arrays in the parameter's dtype. The options are arithmetic, not
    branches around stores, so every variant vectorizes: ``decay`` is AdamW's ``1 - lr * wd``
    (else 1), ``l2`` Adam's weight decay, ``sign`` -1 to maximize; without AMSGrad v_max is v.
    ``step_size * m / (sqrt(v) / bc2_sqrt + eps)`` is computed as ``lr_bc2 * m / (sqrt(v) + eps_bc2)``
    (both scaled by ``bc2_sqrt``): the same value with one division, not two (the divider bounds it)."""
    one_minus_beta1, beta2, one_minus_beta2, lr_bc2, eps_bc2, l2, decay, sign, tiny = constants
    zero = tiny - tiny
    for i in range(p.shape[0]):
        p_i = p[i] * decay
        g_i = g[i] * sign
        g_i = g_i + l2 * p_i if l2 != 0 else g_i
        m_i = m[i] + one_minus_beta1 * (g_i - m[i])  # exp_avg.lerp_(g, 1 - beta1)
        v_i = beta2 * v[i] + one_minus_beta2 * g_i * g_i
        m[i] = m_i = zero if abs(m_i) < tiny else m_i  # never store a subnormal (nan stays nan, as torch)
        v[i] = v_i = zero if v_i < tiny else v_i
        v_i = max(v_max[i], v_i) if amsgrad else v_i
        v_max[i] = v_i if amsgrad else v_max[i]  # a store either way: no branch around it
        p[i] = p_i - lr_bc2 * m_i / (np.sqrt(v_i) + eps_bc2)


@functools.cache
def _adam_kernel() -> Callable[..., None]:
    """:func:`_adam_loop` compiled by numba on first use (cached on disk)."""
    import numba  # here, not at the top: only a fused Adam step pays for importing it
    return numba.njit(cache=True, error_model="numpy")(_adam_loop)  # numpy errors: no checks, so it vectorizes
