"""Keras 3 activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax (with a mask) and Identity.

Formulas (Keras 3 ``activations.relu`` / the layers' ``call``):

    ReLU:      y = x * [x > threshold], clipped to [0, max_value], minus negative_slope * relu(threshold - x)
    LeakyReLU: y = x if x > 0 else negative_slope * x         (negative_slope defaults to 0.3, not 0.2)
    PReLU:     y = relu(x) - alpha * relu(-x)                  (alpha: one weight per non-shared input position)
    ELU:       y = x if x > 0 else alpha * (exp(x) - 1)
    Softmax:   masked positions get -1e9 before the softmax and 0 after it (a fully masked row is all 0)
"""
from __future__ import annotations

import warnings

import numpy as np

from fgc.ir.types import ShapeError, broadcast_shapes, is_float, normalize_axis

from .base import Layer
from .weight_options import take_weight_options

_LARGE_NEGATIVE = -1e9  # Keras' _large_negative_number for float32


def large_negative(dtype: str) -> float:
    """The score a masked position gets before a softmax (Keras' _large_negative_number): -1e9 would be
    -inf in float16, and a row masked everywhere would then be NaN."""
    return -3e4 if dtype == "float16" else _LARGE_NEGATIVE


def _one_float_input(layer, types):
    if len(types) != 1:
        raise ShapeError(f"{type(layer).__name__} takes one input, got {len(types)}")
    if not is_float(types[0].dtype):
        raise ShapeError(f"{type(layer).__name__} expects a float input, got {types[0].dtype}")
    return types[0]


def _number(value, what: str, allow_none=False, minimum=None):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{what} must be a number{bound}{' or None' if allow_none else ''}, got {value!r}")
    return float(value)


class _Elementwise(Layer):
    supports_masking = True

    def compute_output_types(self, input_types, node_attrs=None):
        return [_one_float_input(self, input_types)]


class ReLU(_Elementwise):
    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _number(max_value, "ReLU max_value", allow_none=True, minimum=0.0)
        self.negative_slope = _number(negative_slope, "ReLU negative_slope", minimum=0.0)
        self.threshold = _number(threshold, "ReLU threshold", minimum=0.0)

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        if self.threshold == 0 and self.max_value is None:
            return [b.LeakyRelu(x, alpha=self.negative_slope) if self.negative_slope else b.Relu(x)]
        y = b.Where(b.Greater(x, self.threshold), x, 0.0) if self.threshold else b.Relu(x)
        if self.max_value is not None:
            y = b.Clip(y, min=0.0, max=self.max_value)
        if self.negative_slope:
            y = b.Sub(y, b.Mul(b.Relu(b.Sub(self.threshold, x)), self.negative_slope))
        return [y]

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # the Keras 2 name, still accepted by Keras 3 with a warning
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU(alpha=...) is deprecated; use negative_slope=", DeprecationWarning,
                          stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _number(negative_slope, "LeakyReLU negative_slope", minimum=0.0)

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.LeakyRelu(inputs[0], alpha=self.negative_slope)]

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number(alpha, "ELU alpha")

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.Elu(inputs[0], alpha=self.alpha)]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Identity(Layer):
    supports_masking = True

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != 1:
            raise ShapeError(f"Identity takes one input, got {len(input_types)}")
        return [input_types[0]]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [inputs[0]]


class PReLU(Layer):
    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        take_weight_options(self, alpha_regularizer=alpha_regularizer, alpha_constraint=alpha_constraint)
        if shared_axes is not None and not isinstance(shared_axes, (list, tuple)):
            shared_axes = [shared_axes]
        if shared_axes is not None and not all(isinstance(a, (int, np.integer)) and a >= 1 for a in shared_axes):
            raise ValueError(f"PReLU shared_axes must be axes >= 1 (0 is the batch), got {shared_axes!r}")
        self.alpha_initializer = alpha_initializer
        self.shared_axes = None if shared_axes is None else [int(a) for a in shared_axes]

    def build(self, input_types):
        x = _one_float_input(self, input_types)
        shape = list(x.shape[1:])
        for axis in self.shared_axes or ():
            if axis >= x.rank:
                raise ShapeError(f"PReLU shared axis {axis} is out of range for an input of shape {x.keras_shape()}")
            shape[axis - 1] = 1
        if not all(isinstance(d, int) for d in shape):
            raise ShapeError(f"PReLU needs every non-shared axis of the input to have a known size, got shape "
                             f"{x.keras_shape()}; share the unknown axes with shared_axes=")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer)

    def compute_output_types(self, input_types, node_attrs=None):
        x = _one_float_input(self, input_types)
        if x.rank != len(self.alpha.shape) + 1 or broadcast_shapes(x.shape[1:], self.alpha.shape) != x.shape[1:]:
            raise ShapeError(f"expected an input whose sample shape fits {self.alpha.shape} (the shape this layer "
                             f"was built for), got shape {x.keras_shape()}")
        return [x]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        return [b.Sub(b.Relu(x), b.Mul(params["alpha"], b.Relu(b.Neg(x))))]

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer, "shared_axes": self.shared_axes}


class Softmax(Layer):
    """``Softmax(axis=-1)``; ``Softmax()(x, mask=m)`` with ``m`` broadcastable to ``x`` (bool, or numbers:
    kept where > 0.5), as Keras 3."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, (int, np.integer)) for a in axes):
            raise ValueError(f"Softmax axis must be an int or a list of ints, got {axis!r}")
        self.axis = axis if not isinstance(axis, (list, tuple)) else list(axis)

    def __call__(self, inputs, mask=None, **kwargs):
        # The mask is a tensor the softmax reads, not a Keras sequence mask: it travels as a second input.
        if mask is not None:
            if not hasattr(mask, "_keras_history"):
                raise TypeError(f"layer '{self.name}' got mask={type(mask).__name__}; pass a symbolic tensor "
                                f"broadcastable to the input (e.g. from fgc.Input(..., dtype='bool'))")
            return super().__call__([inputs, mask], **kwargs)
        return super().__call__(inputs, **kwargs)

    def _axes(self, rank):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return tuple(sorted({normalize_axis(a, rank, "Softmax axis") for a in axes}))

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) not in (1, 2):
            raise ShapeError(f"Softmax takes one input (and a mask), got {len(input_types)}")
        x = input_types[0]
        if not is_float(x.dtype):
            raise ShapeError(f"Softmax expects a float input, got {x.dtype}")
        self._axes(x.rank)
        if len(input_types) == 2:
            m = input_types[1]
            ok = m.rank <= x.rank and all(not (isinstance(a, int) and isinstance(c, int)) or a in (1, c)
                                          for a, c in zip(m.shape[::-1], x.shape[::-1]))
            if not ok:
                raise ShapeError(f"the mask of shape {m.keras_shape()} must be broadcastable to the input "
                                 f"{x.keras_shape()}: each mask dim 1 or the input's, no more dims than the input")
        return [x]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        keep = None
        if len(inputs) == 2:
            m = inputs[1]
            keep = m if b.type(m).dtype == "bool" else b.Greater(b.Cast(m, to=b.type(x).dtype), 0.5)
            x = b.Where(keep, x, b.const(large_negative(b.type(x).dtype), b.type(x).dtype))
        y = softmax(b, x, self._axes(b.type(x).rank))
        if keep is not None:  # a fully masked row gives zeros, not a uniform distribution
            y = b.Where(keep, y, b.const(0.0, b.type(x).dtype))
        return [y]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def softmax(b, x, axes: tuple):
    """Softmax over one axis (the primitive) or several (exp(x - logsumexp(x)))."""
    if len(axes) == 1:
        return b.Softmax(x, axis=axes[0])
    shifted = b.Sub(x, b.ReduceMax(x, axes=axes, keepdims=1))
    e = b.Exp(shifted)
    return b.Div(e, b.ReduceSum(e, axes=axes, keepdims=1))


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (ReLU, dict(), [("N", 5)], ("N", 5), 0),
    (ReLU, dict(max_value=1.0, negative_slope=0.1, threshold=0.5), [("N", 3, 4)], ("N", 3, 4), 0),
    (LeakyReLU, dict(), [("N", 5)], ("N", 5), 0),
    (PReLU, dict(), [("N", 3, 4)], ("N", 3, 4), 12),
    (PReLU, dict(shared_axes=[1, 2]), [("N", None, None, 3)], ("N", None, None, 3), 3),
    (ELU, dict(alpha=0.5), [("N", 4)], ("N", 4), 0),
    (Softmax, dict(), [("N", 3, 4)], ("N", 3, 4), 0),
    (Softmax, dict(axis=[1, 2]), [("N", 3, 4)], ("N", 3, 4), 0),
    (Identity, dict(), [("N", 2, 3)], ("N", 2, 3), 0),
]
