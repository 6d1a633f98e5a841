"""Neural-network building blocks: micrograd-style scalar modules and PyTorch-style tensor modules."""
from .module import Module, StateDictError
from .scalar import MLP, Layer, Neuron

__all__ = ["Module", "StateDictError", "Neuron", "Layer", "MLP"]
