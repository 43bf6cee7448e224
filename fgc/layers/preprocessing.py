"""Preprocessing layers that belong in a deployable graph (Keras 3): Rescaling, Normalization (with
``adapt``), CenterCrop and Resizing (bilinear / nearest, as Keras' JAX backend resizes). They output float32 whatever the input's dtype (Keras' compute dtype).

    Rescaling:      y = x * scale + offset
    Normalization:  y = (x - mean) / max(sqrt(variance), 1e-7)      (invert=True: x * max(...) + mean)
    CenterCrop:     the centred (height, width) window, starting at ((H - height) // 2, (W - width) // 2)

Normalization keeps one mean and variance per position of ``axis`` (default -1, the features), either
given (``mean=``, ``variance=``) or computed by ``adapt(data)`` over every other axis (population
variance; batches of an iterable are merged exactly as Keras merges them). Adapted statistics are the
layer's non-trainable weights [mean, variance, count], as in Keras.
"""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, is_float, normalize_axis

from .base import Layer
from .conv import normalize_data_format

_EPSILON = 1e-7   # keras.backend.epsilon()


def _as_float(b, x):
    return x if b.type(x).dtype == "float32" else b.Cast(x, to="float32")


def _number_or_array(value, what):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number or an array of numbers, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return arr


class Rescaling(Layer):
    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self._scale = _number_or_array(scale, "Rescaling scale")
        self._offset = _number_or_array(offset, "Rescaling offset")
        self.scale, self.offset = scale, offset

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != 1:
            raise ShapeError(f"Rescaling takes one input, got {len(input_types)}")
        x = input_types[0]
        for what, arr in (("scale", self._scale), ("offset", self._offset)):
            if arr.ndim > x.rank - 1 or any(isinstance(d, int) and a not in (1, d)
                                            for a, d in zip(arr.shape[::-1], x.shape[::-1])):
                raise ShapeError(f"Rescaling {what} of shape {arr.shape} does not broadcast to the input "
                                 f"{x.keras_shape()}")
        return [x.with_dtype("float32")]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = _as_float(b, inputs[0])
        return [b.Add(b.Mul(x, b.const(self._scale, "float32")), b.const(self._offset, "float32"))]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else tuple(axis)
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"Normalization axis must be an int, a tuple of ints or None, got {axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization: pass both mean and variance, or neither (then call adapt); got "
                             f"mean={mean!r}, variance={variance!r}")
        if mean is not None:
            mean, variance = _number_or_array(mean, "Normalization mean"), \
                _number_or_array(variance, "Normalization variance")
            if mean.shape != variance.shape:
                raise ValueError(f"Normalization mean and variance must have the same shape, got {mean.shape} and "
                                 f"{variance.shape}")
            if mean.ndim > len(axes):
                raise ValueError(f"Normalization mean has rank {mean.ndim}, more than the number of axes "
                                 f"{len(axes)} (axis={axis})")
            if np.any(variance < 0):
                raise ValueError("Normalization variance must be >= 0")
        self.axis, self.invert = axes, bool(invert)
        self.input_mean, self.input_variance = mean, variance

    # ------------------------------------------------------------------ statistics
    def _keep(self, shape):
        rank = len(shape)
        try:
            keep = tuple(sorted(normalize_axis(a, rank, "Normalization axis") for a in self.axis))
        except ShapeError as e:
            raise ShapeError(f"{e} (input shape {tuple(shape)})") from None
        for a in keep:
            if not isinstance(shape[a], int):
                raise ShapeError(f"Normalization keeps axis {a}, whose size must be known; got shape {tuple(shape)}")
        return keep

    def _build_shape(self, shape):
        keep = self._keep(shape)
        self._rank, self._kept = len(shape), keep
        self._stat_shape = tuple(shape[a] for a in keep)
        if self.input_mean is None:
            self.add_weight(name="mean", shape=self._stat_shape, initializer="zeros", trainable=False)
            self.add_weight(name="variance", shape=self._stat_shape, initializer="ones", trainable=False)
            self.add_weight(name="count", shape=(), initializer="zeros", trainable=False, dtype="int64")
        self.built = True

    def build(self, input_types):
        self._build_shape(input_types[0].shape)

    def adapt(self, data):
        """Set mean and variance from ``data``: an array (a batch of samples) or an iterable of batches."""
        if self.input_mean is not None:
            raise ValueError(f"Normalization '{self.name}' was given mean and variance; adapt() would overwrite "
                             f"them. Make the layer without mean= and variance= to adapt it")
        batches = [data] if isinstance(data, np.ndarray) else list(data)
        if not batches:
            raise ValueError("adapt() got an empty iterable; pass an array or a non-empty iterable of batches")
        batches = [np.asarray(batch, dtype=np.float64) for batch in batches]
        if not self.built:
            self._build_shape(batches[0].shape)
        reduce = tuple(a for a in range(self._rank) if a not in self._kept)
        mean, var, count = np.zeros(self._stat_shape), np.zeros(self._stat_shape), 0
        for batch in batches:
            if batch.ndim != self._rank or tuple(batch.shape[a] for a in self._kept) != self._stat_shape:
                raise ValueError(f"adapt() got a batch of shape {batch.shape}; the layer keeps axes {self._kept} "
                                 f"of sizes {self._stat_shape}")
            batch_count = int(np.prod([batch.shape[a] for a in reduce])) if reduce else 1
            batch_mean, batch_var = batch.mean(axis=reduce), batch.var(axis=reduce)
            count += batch_count
            weight = batch_count / count
            new_mean = mean * (1 - weight) + batch_mean * weight
            var = (var + (mean - new_mean) ** 2) * (1 - weight) + (batch_var + (batch_mean - new_mean) ** 2) * weight
            mean = new_mean
        weights = self.weights
        weights[0].assign(mean.astype(np.float32))
        weights[1].assign(var.astype(np.float32))

    def _statistics(self):
        """Mean and variance shaped to broadcast against the input."""
        if self.input_mean is None:
            return None
        mean, var = self.input_mean, self.input_variance
        if mean.ndim:       # align with the last kept axes, as Keras does
            shape = [1] * self._rank
            for i in range(1, mean.ndim + 1):
                shape[self._kept[-i]] = mean.shape[-i]
            mean, var = mean.reshape(shape), var.reshape(shape)
        return mean.astype(np.float32), var.astype(np.float32)

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != 1:
            raise ShapeError(f"Normalization takes one input, got {len(input_types)}")
        x = input_types[0]
        if x.rank != self._rank or tuple(x.shape[a] for a in self._keep(x.shape)) != self._stat_shape:
            raise ShapeError(f"expected an input of rank {self._rank} with sizes {self._stat_shape} on axes "
                             f"{self._kept} (the shape this layer was built or adapted for), got {x.keras_shape()}")
        return [x.with_dtype("float32")]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = _as_float(b, inputs[0])
        given = self._statistics()
        if given is not None:
            mean, var = b.const(given[0], "float32"), b.const(given[1], "float32")
        else:
            shape = self._broadcast_shape()
            mean, var = b.Reshape(params["mean"], shape=shape), b.Reshape(params["variance"], shape=shape)
            if training:
                # The train step feeds every non-trainable weight; ``count`` (kept for Keras' weight list)
                # is read by nothing, so it leaves the step as its own unchanged value, not pruned away.
                b.update_param(params["count"], b.Identity(params["count"]))
        std = b.Max(b.Sqrt(var), b.const(_EPSILON, "float32"))
        if self.invert:
            return [b.Add(b.Mul(x, std), mean)]
        return [b.Div(b.Sub(x, mean), std)]

    def _broadcast_shape(self):
        sizes = dict(zip(self._kept, self._stat_shape))
        return tuple(sizes.get(a, 1) for a in range(self._rank))

    def get_config(self):
        to_list = (lambda v: None if v is None else v.tolist())
        axis = self.axis[0] if len(self.axis) == 1 else self.axis
        return {**super().get_config(), "axis": axis, "invert": self.invert, "mean": to_list(self.input_mean),
                "variance": to_list(self.input_variance)}


class _ImageTarget(Layer):
    """A layer that maps a batch of images of known size to (height, width) images (CenterCrop, Resizing)."""

    def _axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def _target_shape(self, input_types, check=None):
        """The output shape for one rank-4 input of known size; ``check(size, target)`` may refuse a size."""
        what = type(self).__name__
        if len(input_types) != 1 or input_types[0].rank != 4:
            got = input_types[0].keras_shape() if len(input_types) == 1 else f"{len(input_types)} inputs"
            raise ShapeError(f"{what} takes one batch of images of rank 4, got {got}")
        x = input_types[0]
        shape = list(x.shape)
        for a, want in zip(self._axes(), (self.height, self.width)):
            if not isinstance(shape[a], int):
                raise ShapeError(f"{what} needs known image sizes in fgc, got shape {x.keras_shape()}")
            if check is not None:
                check(x, shape[a], want)
            shape[a] = want
        return x.with_shape(shape).with_dtype("float32")


class CenterCrop(_ImageTarget):
    """``CenterCrop(height, width)`` of (batch, rows, cols, channels) images (channels_first: (batch, channels,
    rows, cols)). fgc crops only: an input smaller than the target (Keras resizes it then) is an error."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        for what, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"CenterCrop {what} must be a positive int, got {v!r}")
        self.height, self.width = int(height), int(width)
        self.data_format = normalize_data_format(data_format)

    def compute_output_types(self, input_types, node_attrs=None):
        def at_least_the_crop(x, size, want):
            if size < want:
                raise ShapeError(f"the image ({x.keras_shape()}) is smaller than the crop ({self.height}, "
                                 f"{self.width}); Keras would resize it, fgc only crops: use Resizing first")

        return [self._target_shape(input_types, at_least_the_crop)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = _as_float(b, inputs[0])
        shape = b.shape(x)
        starts = tuple((shape[a] - want) // 2 for a, want in zip(self._axes(), (self.height, self.width)))
        ends = tuple(s + want for s, want in zip(starts, (self.height, self.width)))
        return [b.Slice(x, starts=starts, ends=ends, axes=self._axes())]

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}


def interpolation_matrix(in_size: int, out_size: int, method: str) -> np.ndarray:
    """(out_size, in_size) weights of jax.image.resize along one axis (Keras' JAX backend, no antialias):
    output i samples the input at c = (i + 0.5) * in / out - 0.5; 'bilinear' weighs input j by
    max(0, 1 - |c - j|), renormalized over the valid j (so the edges clamp); 'nearest' takes
    j = floor((i + 0.5) * in / out)."""
    centers = (np.arange(out_size) + 0.5) * in_size / out_size
    if method == "nearest":
        m = np.zeros((out_size, in_size))
        m[np.arange(out_size), np.minimum(np.floor(centers).astype(int), in_size - 1)] = 1.0
        return m
    weights = np.maximum(0.0, 1.0 - np.abs(centers[:, None] - 0.5 - np.arange(in_size)[None, :]))
    return weights / weights.sum(axis=1, keepdims=True)


class Resizing(_ImageTarget):
    """``Resizing(height, width, interpolation='bilinear'|'nearest')`` of (batch, rows, cols, channels) images
    (channels_first: (batch, channels, rows, cols)) of known size. As primitives: two MatMuls with constant
    interpolation matrices, ``A_rows @ image @ A_cols^T`` per channel, so it exports as plain MatMul and its
    gradient is the MatMuls'."""

    _METHODS = ("bilinear", "nearest")

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        for what, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Resizing {what} must be a positive int, got {v!r}")
        if interpolation not in self._METHODS:
            raise ValueError(f"Resizing interpolation={interpolation!r} is not supported by fgc; use one of "
                             f"{list(self._METHODS)}")
        if crop_to_aspect_ratio or pad_to_aspect_ratio or antialias:
            raise ValueError("Resizing: crop_to_aspect_ratio, pad_to_aspect_ratio and antialias are not supported "
                             "by fgc; leave them False")
        self.height, self.width, self.interpolation = int(height), int(width), interpolation
        self.crop_to_aspect_ratio = self.pad_to_aspect_ratio = self.antialias = False
        self.fill_mode, self.fill_value = fill_mode, fill_value
        self.data_format = normalize_data_format(data_format)

    def compute_output_types(self, input_types, node_attrs=None):
        return [self._target_shape(input_types)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = _as_float(b, inputs[0])
        rows, cols = (b.shape(x)[a] for a in self._axes())
        if self.data_format == "channels_last":
            x = b.Transpose(x, perm=(0, 3, 1, 2))
        a_rows = b.const(interpolation_matrix(rows, self.height, self.interpolation), "float32")
        a_cols_t = b.const(interpolation_matrix(cols, self.width, self.interpolation).T, "float32")
        y = b.MatMul(a_rows, b.MatMul(x, a_cols_t))                     # (B, C, height, width)
        if self.data_format == "channels_last":
            y = b.Transpose(y, perm=(0, 2, 3, 1))
        return [y]

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": False, "pad_to_aspect_ratio": False,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value, "antialias": False,
                "data_format": self.data_format}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (Rescaling, dict(scale=1 / 255.0), [("N", 4, 4, 3)], ("N", 4, 4, 3), 0),
    (Rescaling, dict(scale=[1.0, 2.0, 0.5], offset=-1.0), [("N", 2, 3, "uint8")], ("N", 2, 3), 0),
    (Normalization, dict(mean=[1.0, 2.0], variance=[4.0, 1.0]), [("N", 3, 2)], ("N", 3, 2), 0),
    (Normalization, dict(), [("N", 3)], ("N", 3), 7),
    (CenterCrop, dict(height=3, width=2), [("N", 5, 4, 3)], ("N", 3, 2, 3), 0),
    (Resizing, dict(height=6, width=3), [("N", 4, 5, 2)], ("N", 6, 3, 2), 0),
    (Resizing, dict(height=2, width=7, interpolation="nearest", data_format="channels_first"), [("N", 2, 5, 3)],
     ("N", 2, 2, 7), 0),
]
