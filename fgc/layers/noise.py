"""Noise layers (Keras 3), identities at inference; in training:

    GaussianNoise(stddev):   y = x + N(0, stddev^2)
    GaussianDropout(rate):   y = x * N(1, rate / (1 - rate))
    AlphaDropout(rate):      y = a * (x * keep + alpha_p * (1 - keep)) + b, keep ~ Bernoulli(1 - rate),
                             alpha_p = -1.6732632423543772 * 1.0507009873554805,
                             a = ((1 - rate) * (1 + rate * alpha_p^2)) ** -0.5, b = -a * alpha_p * rate
    SpatialDropout1D/2D/3D:  Dropout with one mask value per (sample, channel), shared over the spatial axes

Every layer's noise is seeded from ``seed`` (or set_random_seed's stream), as Dropout's masks are.
"""
from __future__ import annotations

import math

import numpy as np

from fgc.ir.types import ShapeError, is_float

from .base import Layer
from .conv import normalize_data_format
from .core import Dropout

_ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def _rate(value, what, upper_inclusive=False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and \
        0 <= value and (value <= 1 if upper_inclusive else value < 1)
    if not ok:
        raise ValueError(f"{what} must be a number in [0, 1{']' if upper_inclusive else ')'}, got {value!r}")
    return float(value)


class _Noise(Layer):
    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        from fgc.initializers import layer_seed

        self.seed = seed
        self._seed = layer_seed(seed, f"{type(self).__name__} '{self.name}'")

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != 1:
            raise ShapeError(f"{type(self).__name__} takes one input, got {len(input_types)}")
        if not is_float(input_types[0].dtype):
            raise ShapeError(f"{type(self).__name__} expects a float input, got {input_types[0].dtype}")
        return [input_types[0]]


class GaussianNoise(_Noise):
    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float, np.integer, np.floating)) or stddev < 0:
            raise ValueError(f"GaussianNoise stddev must be a number >= 0, got {stddev!r}")
        self.stddev = float(stddev)

    def lower(self, b, inputs, params, training=False, call_args=None):
        from fgc.primitives.noise_ops import normal_like

        x = inputs[0]
        if not training or self.stddev == 0:
            return [x]
        return [b.Add(x, normal_like(b, x, 0.0, self.stddev, self._seed))]

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate, "GaussianDropout rate")

    def lower(self, b, inputs, params, training=False, call_args=None):
        from fgc.primitives.noise_ops import normal_like

        x = inputs[0]
        if not training or self.rate == 0:
            return [x]
        return [b.Mul(x, normal_like(b, x, 1.0, math.sqrt(self.rate / (1.0 - self.rate)), self._seed))]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(_Noise):
    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _rate(rate, "AlphaDropout rate")
        if noise_shape is not None:
            raise ValueError("AlphaDropout noise_shape is not supported by fgc; pass None (one draw per value)")
        self.noise_shape = None

    def lower(self, b, inputs, params, training=False, call_args=None):
        from fgc.primitives.random_ops import _keep

        x = inputs[0]
        if not training or self.rate == 0:
            return [x]
        a = ((1 - self.rate) * (1 + self.rate * _ALPHA_P ** 2)) ** -0.5
        shift = -a * _ALPHA_P * self.rate
        dtype = b.type(x).dtype
        dropped = b.Where(_keep(b, x, self.rate, self._seed), x, b.const(_ALPHA_P, dtype))
        return [b.Add(b.Mul(dropped, a), shift)]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class _SpatialDropout(Dropout):
    rank = 1

    def __init__(self, rate, seed=None, data_format=None, **kwargs):
        self.data_format = normalize_data_format(data_format)
        spatial = (1,) * self.rank
        noise_shape = (None, *spatial, None) if self.data_format == "channels_last" else (None, None, *spatial)
        super().__init__(rate, noise_shape=noise_shape, seed=seed, **kwargs)

    def compute_output_types(self, input_types, node_attrs=None):
        x = input_types[0] if input_types else None
        if x is not None and x.rank != self.rank + 2:
            raise ShapeError(f"{type(self).__name__} expects an input of rank {self.rank + 2}, got shape "
                             f"{x.keras_shape()}")
        if x is not None and not isinstance(x.shape[-1 if self.data_format == "channels_last" else 1], int):
            raise ShapeError(f"{type(self).__name__} needs a known channel size, got shape {x.keras_shape()}")
        return super().compute_output_types(input_types, node_attrs)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "rate": self.rate, "seed": self.seed,
                **({"data_format": self.data_format} if self.rank > 1 else {})}


class SpatialDropout1D(_SpatialDropout):
    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    @classmethod
    def _allowed_kwargs(cls):
        return super()._allowed_kwargs() - {"data_format", "noise_shape"}


class SpatialDropout2D(_SpatialDropout):
    rank = 2

    @classmethod
    def _allowed_kwargs(cls):
        return super()._allowed_kwargs() - {"noise_shape"}


class SpatialDropout3D(_SpatialDropout):
    rank = 3

    @classmethod
    def _allowed_kwargs(cls):
        return super()._allowed_kwargs() - {"noise_shape"}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (GaussianNoise, dict(stddev=0.1), [("N", 4)], ("N", 4), 0),
    (GaussianDropout, dict(rate=0.2), [("N", 3, 4)], ("N", 3, 4), 0),
    (AlphaDropout, dict(rate=0.2), [("N", 4)], ("N", 4), 0),
    (SpatialDropout1D, dict(rate=0.5), [("N", None, 4)], ("N", None, 4), 0),
    (SpatialDropout2D, dict(rate=0.5, data_format="channels_first"), [("N", 3, 4, 4)], ("N", 3, 4, 4), 0),
    (SpatialDropout3D, dict(rate=0.5), [("N", 2, 2, 2, 3)], ("N", 2, 2, 2, 3), 0),
]
