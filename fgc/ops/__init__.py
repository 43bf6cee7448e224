"""``fgc.ops``: Keras 3's ``keras.ops`` for fgc.

On symbolic tensors (from ``fgc.Input`` or inside a subclassed layer's ``call``) an op records
the primitives it is made of, so models built from ops train and export like any other; on
arrays it computes the same definition at once with onnxruntime and returns numpy arrays.
"""
from . import core as _core, nn as _nn, numpy as _numpy, shape as _shape
from .records import install as _install_records

_install_records(_core, _nn, _numpy, _shape)  # before the names below are bound (see records.py)

from .core import convert_to_tensor, is_tensor  # noqa: E402
from .nn import (  # noqa: E402
    elu, gelu, hard_sigmoid, hard_silu, hard_swish, leaky_relu, log_sigmoid, log_softmax, one_hot, relu,
    relu6, selu, sigmoid, silu, softmax, softplus, softsign, swish, top_k)
from .numpy import (  # noqa: E402
    abs, absolute, add, all, amax, amin, any, arange, argmax, argmin, cast, ceil, clip, cumsum,
    divide, dot, einsum, equal, erf, exp, expm1, eye, floor, floor_divide, full, greater,
    greater_equal, less, less_equal, log, log1p, logical_and, logical_not, logical_or, logsumexp,
    matmul, max, maximum, mean, min, minimum, mod, multiply, negative, norm, not_equal, ones,
    ones_like, power, reciprocal, round, rsqrt, sign, sqrt, square, std, stop_gradient, subtract,
    sum, tanh, true_divide, var, where, zeros, zeros_like)
from .shape import (  # noqa: E402
    concatenate, expand_dims, flip, getitem, moveaxis, ndim, pad, repeat, reshape, shape, size,
    split, squeeze, stack, take, take_along_axis, tile, transpose)

from . import operators as _operators  # noqa: F401,E402  (installs the tensor operators)
