"""RepeatVector, Permute and Masking."""
from __future__ import annotations

from fgc.ir.types import ShapeError

from .base import Layer
from .masks import lower_spec, value_mask


class RepeatVector(Layer):
    """(N, D) -> (N, n, D)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)

    def compute_output_types(self, input_types, node_attrs=None):
        (x,) = input_types
        if x.rank != 2:
            raise ShapeError(f"RepeatVector expects a 2-D input (batch, features), got shape {x.keras_shape()}")
        return [x.with_shape((x.shape[0], self.n, x.shape[1]))]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = b.Unsqueeze(inputs[0], axes=(1,))
        return [b.Mul(x, b.const([[[1.0]] * self.n], b.type(x).dtype))]

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` counts from 1 as in Keras."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute dims {self.dims} must be a permutation of 1..{len(self.dims)}")

    def compute_output_types(self, input_types, node_attrs=None):
        (x,) = input_types
        if x.rank != len(self.dims) + 1:
            raise ShapeError(f"Permute{self.dims} expects an input of rank {len(self.dims) + 1}, got {x.keras_shape()}")
        return [x.with_shape((x.shape[0],) + tuple(x.shape[d] for d in self.dims))]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.Transpose(inputs[0], perm=(0,) + self.dims)]

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class Masking(Layer):
    """Timesteps whose features all equal ``mask_value`` are skipped downstream (and zeroed here)."""
    writes_build_config = False

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}

    def compute_output_types(self, input_types, node_attrs=None):
        (x,) = input_types
        if x.rank < 3:
            raise ShapeError(f"Masking expects (batch, timesteps, features), got shape {x.keras_shape()}")
        return [x]

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras: a step is kept when any of its features differs from mask_value (the input mask is replaced)."""
        return value_mask(inputs, self.mask_value)

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        keep = lower_spec(b, [x], ("value", 0, self.mask_value), b.type(x).dtype)
        return [b.Mul(x, b.Unsqueeze(keep, axes=(-1,)))]


CASES = [
    (RepeatVector, dict(n=3), [("N", 4)], ("N", 3, 4), 0),
    (Permute, dict(dims=(2, 1)), [("N", 3, 4)], ("N", 4, 3), 0),
    (Masking, dict(mask_value=0.0), [("N", 3, 4)], ("N", 3, 4), 0),
]
