"""GroupNormalization and UnitNormalization (Keras 3).

GroupNormalization(groups=32, axis=-1, epsilon=1e-3): the channels on ``axis`` split into ``groups``
consecutive groups; each sample's group is normalized over its channels and every non-batch axis:

    y = (x - mean_g) / sqrt(var_g + epsilon) * gamma + beta        (gamma, beta: one per channel)

UnitNormalization(axis=-1): ``y = x * min(1 / sqrt(sum(x^2)), 1e12)`` (Keras' L2 ``normalize`` with
epsilon 1e-12), over one or several axes.
"""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, is_float, normalize_axis, numpy_dtype

from .base import Layer
from .weight_options import take_weight_options


def _float_input(layer, types):
    if len(types) != 1:
        raise ShapeError(f"{type(layer).__name__} takes one input, got {len(types)}")
    if not is_float(types[0].dtype):
        raise ShapeError(f"{type(layer).__name__} expects a float input, got {types[0].dtype}")
    return types[0]


class GroupNormalization(Layer):
    computes_in_float32 = True  # Keras: float32 statistics under a half-precision policy, output cast back
    supports_masking = True

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"GroupNormalization groups must be a positive int, got {groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"GroupNormalization axis must be an int, got {axis!r}")
        take_weight_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                            beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer

    def _channels(self, x):
        axis = normalize_axis(self.axis, x.rank, "GroupNormalization axis")
        if axis == 0:
            raise ShapeError("GroupNormalization cannot normalize over the batch axis")
        channels = x.shape[axis]
        if not isinstance(channels, int):
            raise ShapeError(f"axis {self.axis} of the input should have a known size, got shape {x.keras_shape()}")
        if channels < self.groups:
            raise ShapeError(f"the number of groups ({self.groups}) cannot be more than the number of channels "
                             f"({channels}) on axis {self.axis}")
        if channels % self.groups:
            raise ShapeError(f"the number of groups ({self.groups}) must divide the number of channels ({channels})")
        return axis, channels

    def build(self, input_types):
        _, channels = self._channels(_float_input(self, input_types))
        if self.scale:
            self.add_weight("gamma", (channels,), self.gamma_initializer)
        if self.center:
            self.add_weight("beta", (channels,), self.beta_initializer)
        self._built_channels = channels

    def compute_output_types(self, input_types, node_attrs=None):
        x = _float_input(self, input_types)
        _, channels = self._channels(x)
        if channels != self._built_channels:
            raise ShapeError(f"expected {self._built_channels} channels on axis {self.axis} (the size this layer was "
                             f"built for), got shape {x.keras_shape()}")
        return [x]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        rank = b.type(x).rank
        axis, channels = self._channels(b.type(x))
        moved = axis != rank - 1
        if moved:   # channels last for the grouping reshape
            perm = (*[a for a in range(rank) if a != axis], axis)
            x = b.Transpose(x, perm=perm)
        per_group = channels // self.groups
        grouped = b.Reshape(x, shape=(0,) * (rank - 1) + (self.groups, per_group))     # (B, ..., G, C/G)
        axes = (*range(1, rank - 1), rank)
        mean = b.ReduceMean(grouped, axes=axes, keepdims=1)
        centered = b.Sub(grouped, mean)
        variance = b.ReduceMean(b.Mul(centered, centered), axes=axes, keepdims=1)
        y = b.Mul(centered, b.Reciprocal(b.Sqrt(b.Add(variance, self.epsilon))))
        if self.scale:
            y = b.Mul(y, b.Reshape(params["gamma"], shape=(self.groups, per_group)))
        if self.center:
            y = b.Add(y, b.Reshape(params["beta"], shape=(self.groups, per_group)))
        y = b.Reshape(y, shape=(0,) * (rank - 1) + (channels,))
        if moved:
            y = b.Transpose(y, perm=tuple(int(i) for i in np.argsort(perm)))
        return [y]

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer}


class UnitNormalization(Layer):
    supports_masking = True
    _INV_EPSILON = 1e12   # 1 / 1e-12, Keras' cap on 1 / norm

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
            raise TypeError(f"UnitNormalization axis must be an int or a list of ints, got {axis!r}")
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)

    def _axes(self, x):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return tuple(sorted({normalize_axis(a, x.rank, "UnitNormalization axis") for a in axes}))

    def compute_output_types(self, input_types, node_attrs=None):
        x = _float_input(self, input_types)
        self._axes(x)
        return [x]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        square_sum = b.ReduceSum(b.Mul(x, x), axes=self._axes(b.type(x)), keepdims=1)
        dtype = b.type(x).dtype
        cap = min(self._INV_EPSILON, float(np.finfo(numpy_dtype(dtype)).max))   # 1e12 is inf in float16
        inv_norm = b.Min(b.Reciprocal(b.Sqrt(square_sum)), b.const(cap, dtype))
        return [b.Mul(x, inv_norm)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (GroupNormalization, dict(groups=2), [("N", 5, 4)], ("N", 5, 4), 8),
    (GroupNormalization, dict(groups=3, axis=1, scale=False), [("N", 6, None, 2)], ("N", 6, None, 2), 6),
    (UnitNormalization, dict(), [("N", 4)], ("N", 4), 0),
    (UnitNormalization, dict(axis=[1, 2]), [("N", 3, 4)], ("N", 3, 4), 0),
]
