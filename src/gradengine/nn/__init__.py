"""Neural-network building blocks: micrograd-style scalar modules and PyTorch-style tensor modules."""
from .module import Module, StateDictError
from .scalar import MLP, Layer, Neuron
from .layers import Dropout, Flatten, Linear, ReLU, Sequential, Sigmoid, Tanh

__all__ = ["Module", "StateDictError", "Neuron", "Layer", "MLP",
           "Linear", "ReLU", "Tanh", "Sigmoid", "Flatten", "Dropout", "Sequential"]
