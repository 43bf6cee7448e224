"""MaxPooling1D/2D, AveragePooling1D/2D, GlobalMax/GlobalAveragePooling1D/2D (Keras 3 names and
defaults, their short aliases, and the Keras 1 keywords border_mode / dim_ordering / pool_length / stride).

Windowed pooling lowers like a conv (Transpose -> MaxPool/AveragePool -> Transpose, the pairs
cancelled between layers). Keras 'same' pooling ignores the padding: MaxPool pads with -inf in
ONNX, and AveragePool uses count_include_pad=0 so border windows average only real elements.
Global pooling is a reduction over the spatial axes, with no layout change.
"""
from __future__ import annotations

from fgc.ir.types import ShapeError, is_float

from .masks import split_mask
from .conv import Spatial, normalize_data_format, normalize_padding, normalize_tuple, take_legacy

_POOL_LEGACY = ("border_mode", "dim_ordering", "pool_length", "stride")


class _Pool(Spatial):
    writes_build_config = False
    op = "MaxPool"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        legacy = take_legacy(f"{type(self).__name__}()", kwargs, _POOL_LEGACY)
        pool_size = legacy.get("pool_size", pool_size)
        strides = legacy.get("strides", strides)
        padding = legacy.get("padding", padding)
        data_format = legacy.get("data_format", data_format)
        super().__init__(**kwargs)
        name = type(self).__name__
        self.pool_size = normalize_tuple(pool_size, self.rank, f"{name} pool_size")
        self.strides = self.pool_size if strides is None else normalize_tuple(strides, self.rank, f"{name} strides")
        self.padding = normalize_padding(padding)
        self.data_format = normalize_data_format(data_format)

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check_input(input_types)
        spatial = self._out_spatial(x, self.pool_size, self.strides, (1,) * self.rank, self.padding)
        return [self._layout(x, self._channels(x), spatial)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = self._to_channels_first(b, inputs[0])
        attrs = self._window_attrs(b.shape(x)[2:], self.pool_size, self.strides, (1,) * self.rank, self.padding)
        if self.op == "AveragePool":
            attrs["count_include_pad"] = 0
        y = b.emit(self.op, x, kernel_shape=self.pool_size, strides=self.strides, **attrs)
        return [self._to_layout(b, y)]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pool):
    rank = 1


class MaxPooling2D(_Pool):
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pool):
    rank = 1
    op = "AveragePool"


class AveragePooling2D(_Pool):
    rank = 2
    op = "AveragePool"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPool(Spatial):
    writes_build_config = False
    op = "ReduceMax"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        legacy = take_legacy(f"{type(self).__name__}()", kwargs, ("dim_ordering",))
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(legacy.get("data_format", data_format))
        self.keepdims = bool(keepdims)

    def _axes(self):
        return tuple(range(1, self.rank + 1)) if self.data_format == "channels_last" else \
            tuple(range(2, self.rank + 2))

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check_input(input_types)
        if not is_float(x.dtype):
            raise ShapeError(f"expected a float input, got {x.dtype}")
        if self.keepdims:
            return [self._layout(x, self._channels(x), (1,) * self.rank)]
        return [x.with_shape((x.shape[0], self._channels(x)))]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.emit(self.op, inputs[0], axes=self._axes(), keepdims=int(self.keepdims))]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPool):
    rank = 1


class GlobalMaxPooling2D(_GlobalPool):
    rank = 2


class GlobalAveragePooling1D(_GlobalPool):
    """With a mask (Embedding(mask_zero=True), Masking) the mean is over the kept timesteps only,
    as in Keras 3: sum(x * mask) / sum(mask)."""

    rank = 1
    op = "ReduceMean"
    supports_masking = consumes_mask = True

    def compute_mask(self, inputs, mask=None):
        return None  # the steps are averaged away

    def _mask_shape(self, x):
        return (x.shape[0], x.shape[2]) if self.data_format == "channels_first" else x.shape[:2]

    def lower(self, b, inputs, params, training=False, call_args=None):
        (x,), keep = split_mask(b, inputs, call_args, b.type(inputs[0]).dtype)  # keep: (N, T)
        if keep is None:
            return super().lower(b, [x], params, training, call_args)
        time_axis = 2 if self.data_format == "channels_first" else 1
        weights = b.Unsqueeze(keep, axes=(1,) if time_axis == 2 else (2,))
        # Keras selects the kept values (a product with 0 would let NaN / inf padding through).
        kept = b.Where(b.Cast(weights, to="bool"), x, b.const(0.0, b.type(x).dtype))
        total = b.ReduceSum(kept, axes=(time_axis,), keepdims=int(self.keepdims))
        count = b.ReduceSum(weights, axes=(time_axis,), keepdims=int(self.keepdims))
        return [b.Div(total, count)]


class GlobalAveragePooling2D(_GlobalPool):
    rank = 2
    op = "ReduceMean"


# Keras 3 short aliases
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D

# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (MaxPooling2D, dict(), [("N", 6, 7, 3)], ("N", 3, 3, 3), 0),
    (MaxPooling2D, dict(pool_size=3, strides=2, padding="same"), [("N", 7, 6, 2)], ("N", 4, 3, 2), 0),
    (MaxPooling2D, dict(pool_size=(2, 2), data_format="channels_first"), [("N", 2, 6, 5)], ("N", 2, 3, 2), 0),
    (MaxPooling1D, dict(pool_size=5), [("N", None, 3)], ("N", None, 3), 0),
    (MaxPooling1D, dict(pool_size=3, strides=1, padding="same"), [("N", 7, 3)], ("N", 7, 3), 0),
    (AveragePooling2D, dict(pool_size=3, strides=2), [("N", 9, 9, 2)], ("N", 4, 4, 2), 0),
    (AveragePooling2D, dict(pool_size=3, strides=1, padding="same"), [("N", 5, 5, 2)], ("N", 5, 5, 2), 0),
    (AveragePooling1D, dict(pool_size=2, padding="same"), [("N", 7, 3)], ("N", 4, 3), 0),
    (GlobalMaxPooling1D, dict(), [("N", None, 4)], ("N", 4), 0),
    (GlobalMaxPooling2D, dict(keepdims=True), [("N", 3, 5, 4)], ("N", 1, 1, 4), 0),
    (GlobalAveragePooling1D, dict(data_format="channels_first"), [("N", 4, 6)], ("N", 4), 0),
    (GlobalAveragePooling2D, dict(), [("N", 3, 5, 4)], ("N", 4), 0),
]
