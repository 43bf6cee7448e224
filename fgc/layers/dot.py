"""Dot (Keras 3 merge layer): the batch dot product of two tensors along ``axes``, optionally of their
L2-normalized forms (``x * rsqrt(max(sum(x^2), 1e-14))``, Keras' ``normalize`` with epsilon 1e-7).

Output (Keras' ``batch_dot``): x's dims without the batch and the summed axis, then y's likewise;
two vectors give shape (batch, 1). As primitives: move the summed axis of x last and of y first (after
the batch), flatten the rest, one batched MatMul, reshape to the output.
"""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, dims_compatible, is_float, normalize_axis
from fgc.primitives import Builder  # noqa: F401

from .base import Layer

_NORMALIZE_EPSILON = 1e-7  # keras.backend.epsilon(); Keras clamps the squared norm at its square


class Dot(Layer):
    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
            axes = int(axes)
        elif isinstance(axes, (list, tuple)) and len(axes) == 2 and all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
            axes = [int(a) for a in axes]
        else:
            raise ValueError(f"Dot axes must be an int or a pair of ints (one per input), got {axes!r}")
        self.axes, self.normalize = axes, bool(normalize)

    def _resolved(self, x, y):
        pair = [self.axes, self.axes] if isinstance(self.axes, int) else list(self.axes)
        try:
            pair = [normalize_axis(a, t.rank, f"Dot axis for input {i}") for i, (a, t) in enumerate(zip(pair, (x, y)))]
        except ShapeError as e:
            raise ShapeError(f"{e} (inputs {x.keras_shape()} and {y.keras_shape()})") from None
        if 0 in pair:
            raise ShapeError(f"Dot cannot sum over the batch axis, got axes={self.axes}")
        return pair

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != 2:
            raise ShapeError(f"a Dot layer takes exactly 2 inputs, got {len(input_types)}")
        x, y = input_types
        if not (is_float(x.dtype) and x.dtype == y.dtype):
            raise ShapeError(f"Dot expects two float inputs of one dtype, got {x.dtype} and {y.dtype}")
        if x.rank < 2 or y.rank < 2:
            raise ShapeError(f"Dot inputs need a batch axis and at least one more, got {x.keras_shape()} and "
                             f"{y.keras_shape()}")
        ax, ay = self._resolved(x, y)
        if not dims_compatible(x.shape[ax], y.shape[ay]):
            raise ShapeError(f"incompatible input shapes: axis {ax} of {x.keras_shape()} has {x.keras_shape()[ax]} "
                             f"values, axis {ay} of {y.keras_shape()} has {y.keras_shape()[ay]}")
        rest = [d for i, d in enumerate(x.shape) if i not in (0, ax)] + \
               [d for i, d in enumerate(y.shape) if i not in (0, ay)]
        return [x.with_shape((x.shape[0], *(rest or [1])))]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x, y = inputs
        ax, ay = self._resolved(b.type(x), b.type(y))
        if self.normalize:
            x, y = _l2_normalize(b, x, ax), _l2_normalize(b, y, ay)
        rx, ry = b.type(x).rank, b.type(y).rank
        x = b.Transpose(x, perm=(0, *[i for i in range(1, rx) if i != ax], ax)) if ax != rx - 1 else x
        y = b.Transpose(y, perm=(0, ay, *[i for i in range(1, ry) if i != ay])) if ay != 1 else y
        k = b.shape(x)[-1] if isinstance(b.shape(x)[-1], int) else b.shape(y)[1]
        x3 = b.Reshape(x, shape=(0, -1, k)) if rx != 3 else x
        y3 = b.Reshape(y, shape=(0, k, -1)) if ry != 3 else y
        out = b.MatMul(x3, y3)
        want = self.infer_node([b.type(v) for v in inputs], call_args)[0].shape
        if len(want) != 3 or rx != 3 or ry != 3:
            rest = want[1:]
            if sum(not isinstance(d, int) for d in rest) > 1:
                raise ShapeError(f"Dot '{self.name}': an output with several unknown dims {want} is not supported")
            out = b.Reshape(out, shape=(0, *[d if isinstance(d, int) else -1 for d in rest]))
        return [out]

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _l2_normalize(b, x, axis):
    square_sum = b.ReduceSum(b.Mul(x, x), axes=(axis,), keepdims=1)
    floor = b.const(_NORMALIZE_EPSILON ** 2, b.type(x).dtype)
    return b.Mul(x, b.Reciprocal(b.Sqrt(b.Max(square_sum, floor))))


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (Dot, dict(axes=1), [("N", 4), ("N", 4)], ("N", 1), 0),
    (Dot, dict(axes=(2, 2), normalize=True), [("N", 3, 4), ("N", 5, 4)], ("N", 3, 5), 0),
    (Dot, dict(axes=(1, 2)), [("N", 4, 3), ("N", 2, 4)], ("N", 3, 2), 0),
    (Dot, dict(axes=-1), [("N", 2, 3, 4), ("N", 4)], ("N", 2, 3), 0),
]
