"""UpSampling1D/2D/3D (nearest; UpSampling2D also bilinear), ZeroPadding1D/2D/3D and Cropping1D/2D/3D (Keras 3), channels_last by
default and ``data_format='channels_first'`` where Keras takes it (not UpSampling1D, Cropping1D).

As primitives: UpSampling repeats each row ``size`` times along its axis (Unsqueeze -> Concat of
``size`` copies -> Reshape; bilinear: two MatMuls with Resizing's interpolation matrices), ZeroPadding is one Pad, Cropping one Slice; their gradients are the
primitives' (Concat -> slices summed, Pad <-> Slice).
"""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, fresh_symbol
from fgc.primitives.shape_ops import INT_MAX

from .base import Layer
from .conv import normalize_data_format


def _pairs(value, rank: int, what: str, default_symmetric=True):
    """An int, a tuple of ``rank`` ints, or ``rank`` pairs -> ((begin, end), ...) of non-negative ints."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0

    if is_int(value):
        return ((int(value), int(value)),) * rank
    if isinstance(value, (list, tuple)):
        if rank == 1 and len(value) == 2 and all(is_int(v) for v in value):
            return ((int(value[0]), int(value[1])),)
        if len(value) == rank and all(is_int(v) for v in value) and default_symmetric:
            return tuple((int(v), int(v)) for v in value)
        if len(value) == rank and all(isinstance(p, (list, tuple)) and len(p) == 2 and all(is_int(v) for v in p)
                                      for p in value):
            return tuple((int(p[0]), int(p[1])) for p in value)
    shape = "(begin, end)" if rank == 1 else f"{rank} ints or {rank} (begin, end) pairs"
    raise ValueError(f"{what} must be a non-negative int or {shape}, got {value!r}")


def _refuse(cls, kwargs, names):
    """Keras' 1-D (and 3-D UpSampling) layers lack some keywords their siblings take: refuse them as Keras does."""
    for name in names:
        if name in kwargs:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument '{name}' (Keras' {cls.__name__} "
                            f"has no {name})")


class _SpatialReshape(Layer):
    """What the three families share: which axes are spatial, the input check."""

    rank = 2
    supports_masking = False

    def _axes(self):
        first = 1 if getattr(self, "data_format", "channels_last") == "channels_last" else 2
        return tuple(range(first, first + self.rank))

    def _check(self, input_types):
        if len(input_types) != 1:
            raise ShapeError(f"{type(self).__name__} takes one input, got {len(input_types)}")
        x = input_types[0]
        if x.rank != self.rank + 2:
            raise ShapeError(f"expected an input of rank {self.rank + 2} (batch, {self.rank} spatial axes, channels; "
                             f"{getattr(self, 'data_format', 'channels_last')}), got shape {x.keras_shape()}")
        return x


# ---------------------------------------------------------------- UpSampling
class _UpSampling(_SpatialReshape):
    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        sizes = (size,) * self.rank if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sizes) != self.rank or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
            raise ValueError(f"{name} size must be a positive int or {self.rank} positive ints, got {size!r}")
        if interpolation not in ("nearest", "bilinear") or (interpolation == "bilinear" and self.rank != 2):
            raise ValueError(f"{name} interpolation={interpolation!r} is not supported by fgc; use 'nearest'"
                             + (" or 'bilinear'" if self.rank == 2 else ""))
        self.size = tuple(int(s) for s in sizes)
        self.data_format = normalize_data_format(data_format)
        self.interpolation = interpolation

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check(input_types)
        shape = list(x.shape)
        for axis, s in zip(self._axes(), self.size):
            shape[axis] = shape[axis] * s if isinstance(shape[axis], int) else fresh_symbol("S")
        return [x.with_shape(shape)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        if self.interpolation == "bilinear":
            return [self._bilinear(b, x)]
        for axis, s in zip(self._axes(), self.size):
            if s > 1:
                x = _repeat(b, x, axis, s)
        return [x]

    def _bilinear(self, b, x):
        """Keras resizes to (rows * s, cols * s) with jax.image.resize: Resizing's interpolation matrices."""
        from .preprocessing import interpolation_matrix

        rows_axis, cols_axis = self._axes()
        rows, cols = b.shape(x)[rows_axis], b.shape(x)[cols_axis]
        if not (isinstance(rows, int) and isinstance(cols, int)):
            raise ShapeError(f"UpSampling2D '{self.name}' (bilinear) needs known image sizes, got shape "
                             f"{b.type(x).keras_shape()}")
        if self.data_format == "channels_last":
            x = b.Transpose(x, perm=(0, 3, 1, 2))
        a_rows = b.const(interpolation_matrix(rows, rows * self.size[0], "bilinear"), b.type(x).dtype)
        a_cols_t = b.const(interpolation_matrix(cols, cols * self.size[1], "bilinear").T, b.type(x).dtype)
        y = b.MatMul(a_rows, b.MatMul(x, a_cols_t))
        return b.Transpose(y, perm=(0, 2, 3, 1)) if self.data_format == "channels_last" else y


def _repeat(b, x, axis: int, times: int):
    """Each entry of ``axis`` repeated ``times`` times in place (numpy's repeat): a new axis after it holds
    the copies, then the two merge. The Reshape copies the dims before ``axis`` (0) and needs the ones after
    it; when one of those is unknown, ``axis`` is first moved last so that nothing after it is needed."""
    shape = b.shape(x)
    if all(isinstance(d, int) for d in shape[axis + 1:]):
        copies = b.Concat(*[b.Unsqueeze(x, axes=(axis + 1,))] * times, axis=axis + 1)
        return b.Reshape(copies, shape=(0,) * axis + (-1,) + tuple(shape[axis + 1:]))
    rank = len(shape)
    perm = (*[a for a in range(rank) if a != axis], axis)
    moved = _repeat(b, b.Transpose(x, perm=perm), rank - 1, times)
    return b.Transpose(moved, perm=tuple(int(i) for i in np.argsort(perm)))


class UpSampling1D(_UpSampling):
    rank = 1

    def __init__(self, size=2, **kwargs):
        _refuse(type(self), kwargs, ("data_format", "interpolation"))
        super().__init__(size=size, **kwargs)

    def get_config(self):
        return {**Layer.get_config(self), "size": self.size[0]}


class UpSampling2D(_UpSampling):
    rank = 2

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling3D(_UpSampling):
    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        _refuse(type(self), kwargs, ("interpolation",))
        super().__init__(size=size, data_format=data_format, **kwargs)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}


# ---------------------------------------------------------------- ZeroPadding
class _ZeroPadding(_SpatialReshape):
    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.rank, f"{type(self).__name__} padding")
        self.data_format = normalize_data_format(data_format)

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check(input_types)
        shape = list(x.shape)
        for axis, (lo, hi) in zip(self._axes(), self.padding):
            shape[axis] = shape[axis] + lo + hi if isinstance(shape[axis], int) else \
                (shape[axis] if lo + hi == 0 else fresh_symbol("P"))
        return [x.with_shape(shape)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        r = b.type(inputs[0]).rank
        pads = [0] * (2 * r)
        for axis, (lo, hi) in zip(self._axes(), self.padding):
            pads[axis], pads[r + axis] = lo, hi
        return [b.Pad(inputs[0], pads=tuple(pads))]

    def get_config(self):
        padding = self.padding[0] if self.rank == 1 else self.padding
        return {**super().get_config(), "padding": padding, "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    rank = 1


class ZeroPadding2D(_ZeroPadding):
    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding=padding, data_format=data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding=padding, data_format=data_format, **kwargs)


# ---------------------------------------------------------------- Cropping
class _Cropping(_SpatialReshape):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, self.rank, f"{type(self).__name__} cropping")
        self.data_format = normalize_data_format(data_format)

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check(input_types)
        shape = list(x.shape)
        for axis, (lo, hi) in zip(self._axes(), self.cropping):
            if isinstance(shape[axis], int):
                if lo + hi >= shape[axis]:
                    raise ShapeError(f"cropping {(lo, hi)} removes all of axis {axis} of the input "
                                     f"{x.keras_shape()}: crop less than {shape[axis]} in total")
                shape[axis] -= lo + hi
            elif lo + hi:
                shape[axis] = fresh_symbol("C")
        return [x.with_shape(shape)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        axes, starts, ends = [], [], []
        for axis, (lo, hi) in zip(self._axes(), self.cropping):
            if lo or hi:
                axes.append(axis)
                starts.append(lo)
                ends.append(-hi if hi else INT_MAX)
        if not axes:
            return [inputs[0]]
        return [b.Slice(inputs[0], starts=tuple(starts), ends=tuple(ends), axes=tuple(axes))]


class Cropping1D(_Cropping):
    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        _refuse(type(self), kwargs, ("data_format",))
        super().__init__(cropping=cropping, **kwargs)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping[0]}


class Cropping2D(_Cropping):
    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class Cropping3D(_Cropping):
    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (UpSampling1D, dict(size=3), [("N", 4, 2)], ("N", 12, 2), 0),
    (UpSampling2D, dict(), [("N", 3, 4, 2)], ("N", 6, 8, 2), 0),
    (UpSampling2D, dict(size=(1, 3), data_format="channels_first"), [("N", 2, 3, 4)], ("N", 2, 3, 12), 0),
    (UpSampling3D, dict(), [("N", 2, 1, 3, 2)], ("N", 4, 2, 6, 2), 0),
    (UpSampling2D, dict(size=(3, 2)), [("N", None, None, 2)], ("N", None, None, 2), 0),
    (UpSampling2D, dict(interpolation="bilinear", data_format="channels_first"), [("N", 2, 3, 4)], ("N", 2, 6, 8), 0),
    (ZeroPadding1D, dict(padding=(1, 2)), [("N", 4, 2)], ("N", 7, 2), 0),
    (ZeroPadding2D, dict(padding=((1, 0), (2, 3))), [("N", 3, 4, 2)], ("N", 4, 9, 2), 0),
    (ZeroPadding2D, dict(data_format="channels_first"), [("N", 2, None, 4)], ("N", 2, None, 6), 0),
    (ZeroPadding3D, dict(padding=1), [("N", 2, 2, 2, 1)], ("N", 4, 4, 4, 1), 0),
    (Cropping1D, dict(cropping=(1, 2)), [("N", 6, 2)], ("N", 3, 2), 0),
    (Cropping2D, dict(cropping=((1, 0), (2, 1))), [("N", 4, 5, 2)], ("N", 3, 2, 2), 0),
    (Cropping2D, dict(cropping=1, data_format="channels_first"), [("N", 2, 4, 5)], ("N", 2, 2, 3), 0),
    (Cropping3D, dict(), [("N", 3, 4, 5, 1)], ("N", 1, 2, 3, 1), 0),
]
