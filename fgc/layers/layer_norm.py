"""LayerNormalization (Keras 3: axis=-1, epsilon=1e-3, center, scale; weights [gamma, beta] of the
normalized axes' shape):

    y = (x - mean) / sqrt(var + epsilon) * gamma + beta     (moments over ``axis``, biased variance)

It lowers to the ``LayerNormalization`` primitive (ONNX's own op in an export). Axes that are not the
trailing ones are moved to the end around it by a Transpose pair. The deprecated ``rms_scaling=True``
keeps Keras' formula ``y = x / sqrt(var + epsilon) * gamma`` (no centering, no beta).
"""
from __future__ import annotations

import warnings

import numpy as np

from fgc.ir.types import ShapeError, is_float, normalize_axis
from fgc.primitives import Builder  # noqa: F401

from .base import Layer
from .weight_options import take_weight_options

# False recomputes the moments in the backward instead (kept for A/B measurements of the train step)
SAVED_STATS = True


class LayerNormalization(Layer):
    computes_in_float32 = True  # Keras: float32 statistics under a half-precision policy, output cast back
    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis or not all(isinstance(a, (int, np.integer)) for a in axis):
                raise TypeError(f"LayerNormalization axis must be an int or a list of ints, got {axis!r}")
            axis = [int(a) for a in axis]
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axis = int(axis)
        else:
            raise TypeError(f"LayerNormalization axis must be an int or a list of ints, got {axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.floating)) or epsilon <= 0:
            raise ValueError(f"LayerNormalization epsilon must be a positive number, got {epsilon!r}")
        take_weight_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                            beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if rms_scaling:
            warnings.warn("LayerNormalization(rms_scaling=True) is deprecated in Keras 3: it scales by the "
                          "variance, not the root mean square", DeprecationWarning, stacklevel=2)
        self.axis, self.epsilon = axis, float(epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer

    def _axes(self, x):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        try:
            norm = [normalize_axis(a, x.rank, "LayerNormalization axis") for a in axes]
        except ShapeError as e:
            raise ShapeError(f"{e} (input shape {x.keras_shape()})") from None
        if len(set(norm)) != len(norm):
            raise ShapeError(f"duplicate axes are not allowed, got axis={self.axis}")
        if 0 in norm:
            raise ShapeError("LayerNormalization cannot normalize over the batch axis (axis 0)")
        return sorted(norm)

    def build(self, input_types):
        x = self._check(input_types)
        shape = tuple(x.shape[a] for a in self._axes(x))
        if not all(isinstance(d, int) for d in shape):
            raise ShapeError(f"the normalized axes {self.axis} must have known sizes, got shape {x.keras_shape()}")
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer)
        self._param_shape = shape

    def _check(self, input_types):
        if len(input_types) != 1:
            raise ShapeError(f"LayerNormalization takes one input, got {len(input_types)}")
        x = input_types[0]
        if not is_float(x.dtype):
            raise ShapeError(f"LayerNormalization expects a float input, got {x.dtype}")
        return x

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check(input_types)
        shape = tuple(x.shape[a] for a in self._axes(x))
        if shape != self._param_shape:
            raise ShapeError(f"expected the normalized axes {self.axis} to have sizes {self._param_shape} (the "
                             f"sizes this layer was built for), got shape {x.keras_shape()}")
        return [x]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        rank, axes = b.type(x).rank, self._axes(b.type(x))
        rest = [a for a in range(rank) if a not in axes]
        moved = rest + axes != list(range(rank))
        if moved:
            perm = tuple(rest + axes)
            x = b.Transpose(x, perm=perm)
        dtype = b.type(x).dtype
        gamma = params.get("gamma", b.const(np.ones(self._param_shape), dtype))
        if self.rms_scaling:
            y = self._rms_scaled(b, x, gamma, len(axes))
        else:
            beta = params.get("beta", b.const(np.zeros(self._param_shape), dtype))
            # a training graph keeps the moments for the backward (ONNX's Mean and InvStdDev outputs)
            stats = {"_stats": 1} if training and SAVED_STATS and dtype == "float32" else {}
            y = b.LayerNormalization(x, gamma, beta, axis=rank - len(axes), epsilon=self.epsilon, **stats)
            y = y[0] if stats else y
        if moved:
            y = b.Transpose(y, perm=tuple(int(i) for i in np.argsort(perm)))
        return [y]

    def _rms_scaled(self, b, x, gamma, n_axes):
        rank = b.type(x).rank
        axes = tuple(range(rank - n_axes, rank))
        centered = b.Sub(x, b.ReduceMean(x, axes=axes, keepdims=1))
        variance = b.ReduceMean(b.Mul(centered, centered), axes=axes, keepdims=1)
        return b.Mul(b.Mul(x, b.Reciprocal(b.Sqrt(b.Add(variance, self.epsilon)))), gamma)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling, "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (LayerNormalization, dict(), [("N", 6)], ("N", 6), 12),
    (LayerNormalization, dict(), [("N", None, 5)], ("N", None, 5), 10),
    (LayerNormalization, dict(axis=[1, 2], center=False), [("N", 3, 4)], ("N", 3, 4), 12),
    (LayerNormalization, dict(axis=1), [("N", 3, 4)], ("N", 3, 4), 6),
]
