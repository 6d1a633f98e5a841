"""gradengine: an autograd engine to see and trust backpropagation.

- ``Value``: the scalar engine (micrograd-style, any order of derivatives).
- ``Tensor``: the vectorized NumPy engine with the same autograd model.
- ``grad``, ``gradcheck``, ``no_grad``: functional derivatives, numerical checks, recording switch;
  ``gradengine.func`` has the rest of the transforms (``vjp``, ``jvp``, ``jacrev``, ``hessian``, ...).
"""
from .engine import Value
from .func import grad, value_and_grad
from .gradcheck import GradcheckError, gradcheck
from .grad_mode import (
    AnomalyError, detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad, set_grad_enabled,
)
from .tensor import Tensor, concatenate, stack
from . import func, functional, nn
from . import optim
from .viz import draw

__version__ = "0.1.0"

__all__ = [
    "Value", "grad", "value_and_grad", "gradcheck", "GradcheckError",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "nn",
    "detect_anomaly", "is_anomaly_enabled", "AnomalyError",
    "Tensor", "concatenate", "stack", "functional", "draw", "optim",
]
