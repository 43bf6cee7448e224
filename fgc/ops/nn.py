"""``keras.ops`` neural-network ops: activations, softmax / log_softmax, one_hot, top_k.

Formulas follow Keras 3's definitions (``keras/src/ops/nn.py`` and its backends)."""
from __future__ import annotations

import math

import numpy as np

from fgc.ir.types import canonical_dtype

from .core import apply, as_float

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _float_activation(name, body):
    def op(x):
        return apply(name, lambda b, v, body: body(b, as_float(b, v)), x, body=body)
    op.__name__ = name
    return op


relu = _float_activation("relu", lambda b, v: b.Relu(v))
relu6 = _float_activation("relu6", lambda b, v: b.Min(b.Relu(v), 6.0))
sigmoid = _float_activation("sigmoid", lambda b, v: b.Sigmoid(v))
softplus = _float_activation("softplus", lambda b, v: b.Softplus(v))
softsign = _float_activation("softsign", lambda b, v: b.Softsign(v))
silu = _float_activation("silu", lambda b, v: b.Mul(v, b.Sigmoid(v)))
swish = silu
log_sigmoid = _float_activation("log_sigmoid", lambda b, v: b.Neg(b.Softplus(b.Neg(v))))
# Keras 3: hard_sigmoid(x) = relu6(x + 3) / 6
hard_sigmoid = _float_activation("hard_sigmoid", lambda b, v: b.Div(b.Min(b.Relu(b.Add(v, 3.0)), 6.0), 6.0))
hard_silu = _float_activation("hard_silu", lambda b, v: b.Mul(v, b.Div(b.Min(b.Relu(b.Add(v, 3.0)), 6.0), 6.0)))
hard_swish = hard_silu
selu = _float_activation("selu", lambda b, v: b.Mul(b.Where(b.Greater(v, 0.0), v,
                                                           b.Mul(b.Sub(b.Exp(v), 1.0), _SELU_ALPHA)), _SELU_SCALE))


def _elu(b, v, alpha):
    v = as_float(b, v)
    return b.Where(b.Greater(v, 0.0), v, b.Mul(b.Sub(b.Exp(v), 1.0), alpha))


def elu(x, alpha=1.0):
    return apply("elu", _elu, x, alpha=float(alpha))


def _leaky_relu(b, v, slope):
    v = as_float(b, v)
    return b.Where(b.Greater(v, 0.0), v, b.Mul(v, slope))


def leaky_relu(x, negative_slope=0.2):
    return apply("leaky_relu", _leaky_relu, x, slope=float(negative_slope))


def _gelu(b, v, approximate):
    v = as_float(b, v)
    if approximate:  # Keras' default: the tanh approximation
        inner = b.Mul(b.Add(v, b.Mul(b.Mul(b.Mul(v, v), v), 0.044715)), math.sqrt(2.0 / math.pi))
        return b.Mul(b.Mul(v, 0.5), b.Add(b.Tanh(inner), 1.0))
    return b.Mul(b.Mul(v, 0.5), b.Add(b.Erf(b.Mul(v, 1.0 / math.sqrt(2.0))), 1.0))


def gelu(x, approximate=True):
    return apply("gelu", _gelu, x, approximate=bool(approximate))


def softmax(x, axis=-1):
    return apply("softmax", lambda b, v, axis: b.Softmax(as_float(b, v), axis=axis), x, axis=int(axis))


def log_softmax(x, axis=-1):
    return apply("log_softmax", lambda b, v, axis: b.LogSoftmax(as_float(b, v), axis=axis), x, axis=int(axis))


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ValueError("one_hot(sparse=True): fgc has no sparse tensors; use sparse=False")

    def build(b, v, n, axis, dtype):
        rank = b.type(v).rank + 1
        a = axis % rank if -rank <= axis < rank else None
        if a is None:
            raise ValueError(f"one_hot: axis {axis} is out of range for a result of rank {rank}")
        classes = np.arange(n, dtype=np.int64).reshape([n if i == a else 1 for i in range(rank)])
        ids = b.Unsqueeze(b.Cast(v, to="int64"), axes=(a,))
        return b.Cast(b.Equal(ids, b.const(classes)), to=dtype)  # out-of-range ids give all-zero rows
    return apply("one_hot", build, x, n=int(num_classes), axis=int(axis), dtype=canonical_dtype(dtype or "float32"))


def top_k(x, k, sorted=True):
    """(values, indices) of the k largest entries along the last axis; indices are int32."""
    def build(b, v, k, sorted):
        _, ids = b.TopK(v, k=k, sorted=int(sorted))
        return b.GatherElements(v, ids, axis=-1), b.Cast(ids, to="int32")
    return apply("top_k", build, x, k=int(k), sorted=bool(sorted), multi_output=True)
