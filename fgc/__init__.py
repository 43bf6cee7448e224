"""fgc: the Keras functional API, compiled to ONNX and run on onnxruntime."""
from . import activations, initializers, layers, models, utils
from .functional import Model, Sequential
from .layers import Input
from .runtime.session import get_device, set_device

__version__ = "0.1.0"

__all__ = ["Input", "Model", "Sequential", "activations", "initializers", "layers", "models", "utils",
           "get_device", "set_device", "__version__"]
