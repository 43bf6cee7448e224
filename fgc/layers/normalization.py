"""BatchNormalization (Keras 3 weights [gamma, beta, moving_mean, moving_variance], epsilon 1e-3,
momentum 0.99).

Inference form, as primitives on the Keras layout (no layout change, channels on ``axis``):

    y = x * s + t,   s = gamma / sqrt(moving_variance + epsilon),   t = beta - moving_mean * s

A layer with ``trainable=False`` uses that form in training too, as Keras 3 does for a frozen
BatchNormalization. A trainable one trains with the batch's statistics (biased variance over every
axis but ``axis``) and updates the moving ones as Keras 3 does:

    moving = moving * momentum + batch_statistic * (1 - momentum)

With a mask (Masking, Embedding(mask_zero=True) or ``mask=``) the batch statistics weigh each
position by the mask, as Keras 3 does (w = the mask broadcast over the normalized axis):

    mean = sum(w * x) / (sum(w) + 1e-7),   variance = sum(w * (x - mean)^2) / (sum(w) + 1e-7)

and every position, masked or not, is normalized with them. The mask passes through to the output.

The new moving values are outputs of the train step (``new/<weight>``) that the runtime keeps
with the other weights, so they never leave the device between steps.
"""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, is_float, normalize_axis

from .base import Layer
from .masks import split_mask
from .weight_options import take_weight_options

_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), which Keras adds to the masked moments' denominators


class BatchNormalization(Layer):
    computes_in_float32 = True  # Keras: float32 statistics under a half-precision policy, output cast back
    supports_masking = consumes_mask = True
    keras_only_config = {"synchronized": False, "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99}

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        take_weight_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                            beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if not isinstance(axis, (int, np.integer)):
            raise ValueError(f"BatchNormalization axis must be one int, got {axis!r}")
        if epsilon <= 0:
            raise ValueError(f"BatchNormalization epsilon must be positive, got {epsilon}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self._inits = dict(gamma=gamma_initializer, beta=beta_initializer, moving_mean=moving_mean_initializer,
                           moving_variance=moving_variance_initializer)

    def _dim(self, x):
        if x.rank < 2:
            raise ShapeError(f"BatchNormalization needs an input of rank >= 2, got shape {x.keras_shape()}")
        try:
            axis = normalize_axis(self.axis, x.rank)
        except ShapeError as e:
            raise ShapeError(f"BatchNormalization axis: {e}") from None
        if axis == 0:
            raise ShapeError("BatchNormalization cannot normalize over the batch axis (axis=0)")
        return axis, x.shape[axis]

    def build(self, input_types):
        if len(input_types) != 1:
            raise ShapeError(f"BatchNormalization takes one input, got {len(input_types)}")
        _, dim = self._dim(input_types[0])
        if not isinstance(dim, int):
            raise ShapeError(f"the normalized axis {self.axis} must have a known size, got shape "
                             f"{input_types[0].keras_shape()}")
        if self.scale:
            self.gamma = self.add_weight("gamma", (dim,), self._inits["gamma"])
        if self.center:
            self.beta = self.add_weight("beta", (dim,), self._inits["beta"])
        self.moving_mean = self.add_weight("moving_mean", (dim,), self._inits["moving_mean"], trainable=False,
                                           autocast=False)
        self.moving_variance = self.add_weight("moving_variance", (dim,), self._inits["moving_variance"],
                                               trainable=False, autocast=False)

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != 1:
            raise ShapeError(f"BatchNormalization takes one input, got {len(input_types)}")
        x = input_types[0]
        if not is_float(x.dtype):
            raise ShapeError(f"BatchNormalization expects a float input, got {x.dtype}")
        _, dim = self._dim(x)
        if dim != self.moving_mean.shape[0]:
            raise ShapeError(f"expected axis {self.axis} of size {self.moving_mean.shape[0]} (the size this layer was "
                             f"built for), got shape {x.keras_shape()}")
        return [x]

    def lower(self, b, inputs, params, training=False, call_args=None):
        (x,), keep = split_mask(b, inputs, call_args, b.type(inputs[0]).dtype)
        if training and self.trainable:
            return [self._lower_training(b, x, params, keep)]
        axis, _ = self._dim(b.type(x))
        inv = b.Reciprocal(b.Sqrt(b.Add(params["moving_variance"], self.epsilon)))
        if self.scale:
            inv = b.Mul(inv, params["gamma"])
        shift = b.Neg(b.Mul(params["moving_mean"], inv))
        if self.center:
            shift = b.Add(shift, params["beta"])
        trailing = b.type(x).rank - 1 - axis
        if trailing:  # channels not last: (C,) -> (C, 1, ..., 1) to broadcast on axis
            shape = (-1,) + (1,) * trailing
            inv, shift = b.Reshape(inv, shape=shape), b.Reshape(shift, shape=shape)
        return [b.Add(b.Mul(x, inv), shift)]

    def _lower_training(self, b, x, params, keep=None):
        axis, dim = self._dim(b.type(x))
        axes = tuple(i for i in range(b.type(x).rank) if i != axis)
        if keep is None:
            mean = b.ReduceMean(x, axes=axes, keepdims=1)
            centered = b.Sub(x, mean)
            variance = b.ReduceMean(b.Mul(centered, centered), axes=axes, keepdims=1)
        else:
            mean, centered, variance = self._masked_moments(b, x, keep, axes)
        y = b.Mul(centered, b.Reciprocal(b.Sqrt(b.Add(variance, self.epsilon))))
        shape = (-1,) + (1,) * (b.type(x).rank - 1 - axis)
        if self.scale:
            y = b.Mul(y, b.Reshape(params["gamma"], shape=shape) if len(shape) > 1 else params["gamma"])
        if self.center:
            y = b.Add(y, b.Reshape(params["beta"], shape=shape) if len(shape) > 1 else params["beta"])
        for name, batch_value in (("moving_mean", mean), ("moving_variance", variance)):
            old = params[name]
            new = b.Add(b.Mul(old, self.momentum), b.Mul(b.Reshape(batch_value, shape=(dim,)), 1.0 - self.momentum))
            b.update_param(old, new)
        return y

    @staticmethod
    def _masked_moments(b, x, keep, axes):
        """Batch mean and variance over the kept positions (Keras 3's masked moments). Masked values are
        selected away, not multiplied by zero, so NaN / inf padding stays out of the statistics."""
        keep = b.Unsqueeze(keep, axes=(-1,))
        kept = b.Cast(keep, to="bool")
        zero = b.const(0.0, b.type(x).dtype)
        count = b.Add(b.ReduceSum(b.ExpandLike(keep, x), axes=axes, keepdims=1), _KERAS_EPSILON)
        mean = b.Div(b.ReduceSum(b.Where(kept, x, zero), axes=axes, keepdims=1), count)
        centered = b.Sub(x, mean)
        deviation = b.Where(kept, centered, zero)
        variance = b.Div(b.ReduceSum(b.Mul(deviation, deviation), axes=axes, keepdims=1), count)
        return mean, centered, variance

    def get_config(self):
        from .config import initializer_config

        inits = {f"{k}_initializer": initializer_config(self._inits[k])
                 for k in ("beta", "gamma", "moving_mean", "moving_variance")}
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **inits}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (BatchNormalization, dict(), [("N", 5)], ("N", 5), 20),
    (BatchNormalization, dict(axis=1, center=False), [("N", 3, 4, 4)], ("N", 3, 4, 4), 9),
    (BatchNormalization, dict(scale=False), [("N", None, 6)], ("N", None, 6), 18),
]
