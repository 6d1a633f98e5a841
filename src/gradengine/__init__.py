"""gradengine: an autograd engine to see and trust backpropagation.

- ``Value``: the scalar engine (micrograd-style, any order of derivatives).
- ``Tensor``: the vectorized NumPy engine with the same autograd model.
- ``grad``, ``gradcheck``, ``no_grad``: functional derivatives, numerical checks, recording switch;
  ``gradengine.func`` has the rest of the transforms (``vjp``, ``jvp``, ``jacrev``, ``hessian``, ...).
- ``randn``, ``zeros``, ``arange``, ``tensor``, ``manual_seed``, ...: PyTorch's tensor factories
  (:mod:`gradengine.creation`), so ``import gradengine as torch`` runs a PyTorch training loop.
- ``interop.to_torch`` / ``interop.from_torch``: move models and tensors to and from PyTorch.
"""
from .engine import Value
from .func import grad, value_and_grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .grad_mode import (
    AnomalyError, detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled, no_grad, set_grad_enabled,
)
from .tensor import Tensor, concatenate, stack
from .creation import (
    arange, double, eye, float16, float32, float64, from_numpy, full, full_like, half, int8, int16, int32,
    int64, linspace, long, manual_seed, ones, ones_like, rand, rand_like, randint, randn, randn_like, tensor,
    uint8, zeros, zeros_like,
)
from . import func, functional, nn
from . import optim
from . import interop
from .viz import draw

__version__ = "0.1.0"

__all__ = [
    "Value", "grad", "value_and_grad", "gradcheck", "gradgradcheck", "GradcheckError", "func",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "nn",
    "detect_anomaly", "is_anomaly_enabled", "AnomalyError",
    "Tensor", "concatenate", "stack", "functional", "draw", "optim", "interop",
    "manual_seed", "randn", "rand", "randint", "randn_like", "rand_like", "zeros", "ones", "full",
    "zeros_like", "ones_like", "full_like", "arange", "linspace", "eye", "tensor", "from_numpy",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "half", "double", "long",
]
