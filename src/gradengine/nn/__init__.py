"""Neural-network building blocks: micrograd-style scalar modules and PyTorch-style tensor modules.

As in PyTorch: layers and containers (``nn.Linear``, ``nn.Sequential``, ...), loss modules
(``nn.MSELoss``, ``nn.CrossEntropyLoss``, ...), ``nn.utils`` (gradient clipping) and
``nn.functional`` (the same module as :mod:`gradengine.functional`, so both
``import gradengine.nn.functional as F`` and ``import gradengine.functional as F`` work).
"""
import sys as _sys

from .. import functional
from .module import CheckpointError, IncompatibleKeys, Module, StateDictError
from .scalar import MLP, Layer, Neuron
from .layers import (
    Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ModuleList, ReLU, Sequential, Sigmoid,
    Softmax, Tanh,
)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from . import utils

# `import gradengine.nn.functional` finds the module here (as `import os.path` does).
_sys.modules[__name__ + ".functional"] = functional

__all__ = ["Module", "StateDictError", "CheckpointError", "IncompatibleKeys", "Neuron", "Layer", "MLP",
           "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Identity",
           "Flatten", "Dropout", "Sequential", "ModuleList",
           "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss",
           "functional", "utils"]
