"""``gradengine.nn.utils``, as ``torch.nn.utils``: gradient clipping for a training loop::

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import Value

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Any) -> list:
    """``(param, grad)`` for every parameter with a gradient."""
    params = [parameters] if hasattr(parameters, "grad") else list(parameters)
    pairs = [(p, p.grad.data if isinstance(p.grad, Value) else p.grad) for p in params]
    return [(p, g) for p, g in pairs if g is not None]


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale the gradients in place so that their total norm is at most ``max_norm`` (PyTorch's
    ``torch.nn.utils.clip_grad_norm_``), and return the total norm before clipping.

    The total norm is the ``norm_type``-norm of all gradients together, as if concatenated into
    one vector (``inf``: the max-norm). If it exceeds ``max_norm``, every gradient is multiplied
    by ``max_norm / (total_norm + 1e-6)``. Parameters without a gradient are ignored."""
    max_norm, norm_type = float(max_norm), float(norm_type)
    pairs = _grads(parameters)
    norms = [float(np.linalg.norm(np.ravel(g), ord=norm_type)) if np.size(g) else 0.0 for _, g in pairs]
    total = float(np.linalg.norm(np.array(norms, np.float64), ord=norm_type)) if pairs else 0.0
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           f"it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # as torch: clamp(coef, max=1); a nan norm makes every gradient nan
        for p, g in pairs:
            if isinstance(g, np.ndarray) and g.flags.writeable and not isinstance(p, Value):
                np.multiply(g, coef, out=g, casting="unsafe")
            else:
                p.grad = g * coef if isinstance(p, Value) else np.multiply(g, coef)
    return total


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]`` (PyTorch's
    ``torch.nn.utils.clip_grad_value_``); nan stays nan."""
    c = float(clip_value)
    for p, g in _grads(parameters):
        if isinstance(p, Value):
            p.grad = g if g != g else min(max(g, -c), c)
        elif isinstance(g, np.ndarray) and g.flags.writeable:
            np.clip(g, -c, c, out=g)
        else:
            p.grad = np.clip(g, -c, c)
