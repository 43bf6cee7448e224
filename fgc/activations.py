"""Keras 3 activations, each lowered to primitives (Keras' own defaults for their constants)."""
from __future__ import annotations

import math

from .naming import near


def _gelu(b, x):
    # Keras 3 default: exact gelu, 0.5 x (1 + erf(x / sqrt 2)).
    return b.Mul(b.Mul(x, 0.5), b.Add(b.Erf(b.Mul(x, 1.0 / math.sqrt(2.0))), 1.0))


def _swish(b, x):
    return b.Mul(x, b.Sigmoid(x))


ACTIVATIONS = {
    "linear": lambda b, x: x,
    "relu": lambda b, x: b.Relu(x),
    "sigmoid": lambda b, x: b.Sigmoid(x),
    "tanh": lambda b, x: b.Tanh(x),
    "softmax": lambda b, x: b.Softmax(x, axis=-1),
    "log_softmax": lambda b, x: b.LogSoftmax(x, axis=-1),
    "elu": lambda b, x: b.Elu(x, alpha=1.0),
    "selu": lambda b, x: b.Selu(x),
    "softplus": lambda b, x: b.Softplus(x),
    "softsign": lambda b, x: b.Softsign(x),
    "gelu": _gelu,
    "swish": _swish,
    "silu": _swish,
    "leaky_relu": lambda b, x: b.LeakyRelu(x, alpha=0.2),
    "exponential": lambda b, x: b.Exp(x),
    "hard_sigmoid": lambda b, x: b.HardSigmoid(x, alpha=1.0 / 6.0, beta=0.5),
    "relu6": lambda b, x: b.Clip(x, min=0.0, max=6.0),
}


def get(identifier):
    """Resolve an activation name (or None, or a callable ``(builder, x) -> y``)."""
    if identifier is None:
        return "linear", ACTIVATIONS["linear"]
    if callable(identifier):
        return getattr(identifier, "__name__", "custom"), identifier
    if isinstance(identifier, str) and identifier.lower() in ACTIVATIONS:
        return identifier.lower(), ACTIVATIONS[identifier.lower()]
    raise ValueError(f"unknown activation '{identifier}'{near(str(identifier).lower(), ACTIVATIONS)}; "
                     f"expected one of {sorted(ACTIVATIONS)}")


def serialize(activation):
    """Keras writes a built-in activation by name; a registered custom one as its serialized function."""
    name, fn = get(activation)
    if name in ACTIVATIONS:
        return name
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(fn)


def deserialize(config, custom_objects=None):
    """The activation (its name, for a built-in one) that ``serialize`` wrote."""
    from fgc.saving.serialization import deserialize_keras_object

    found = deserialize_keras_object(config, custom_objects)
    get(found)   # unknown names fail here, naming the near match
    return found
