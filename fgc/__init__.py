"""fgc: the Keras functional API, compiled to ONNX and run on onnxruntime."""
from . import activations, applications, callbacks, constraints, initializers, layers, losses, metrics, models, optimizers, regularizers, utils
from . import ops
from . import dtype_policies, mixed_precision
from .functional import Model, Sequential
from .layers import Input
from .runtime.session import get_device, set_device
from . import distribute  # data-parallel fit over MPI; mpi4py is imported only when a DataParallel is made

__version__ = "0.1.0"

__all__ = ["Input", "Model", "Sequential", "activations", "applications", "callbacks", "constraints", "initializers", "layers", "losses", "metrics",
           "models", "ops", "optimizers", "utils",
           "get_device", "set_device", "__version__"]
__all__ += ["distribute"]
__all__ += ["dtype_policies", "mixed_precision"]
