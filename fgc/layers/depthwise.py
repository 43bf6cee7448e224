"""DepthwiseConv1D / DepthwiseConv2D and SeparableConv1D (Keras 3), plus Conv3D and the 3-D pooling layers.

Depthwise: one kernel per input channel, ``depth_multiplier`` outputs each; Keras 3 weights ``kernel``
(k..., in, dm) and ``bias`` (in*dm,); output channel c*dm + m reads input channel c. Lowered as one ONNX
Conv with ``group = in`` and the kernel reshaped to (in*dm, 1, k...). SeparableConv1D is that followed by
a pointwise (1, in*dm, filters) conv, as SeparableConv2D (separable.py).
"""
from __future__ import annotations

from fgc import activations
from fgc.ir.types import ShapeError

from .conv import Spatial, _Conv, normalize_data_format, normalize_padding, normalize_tuple
from .pooling import _GlobalPool, _Pool
from .weight_options import take_weight_options


class _Depthwise(Spatial):
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        take_weight_options(self, depthwise_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
                            activity_regularizer=activity_regularizer, depthwise_constraint=depthwise_constraint,
                            bias_constraint=bias_constraint)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, f"{name} kernel_size")
        self.strides = normalize_tuple(strides, self.rank, f"{name} strides")
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, f"{name} dilation_rate")
        self.padding = normalize_padding(padding)   # Keras' depthwise layers take no "causal"
        self.data_format = normalize_data_format(data_format)
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(f"{name} depth_multiplier must be a positive int, got {depth_multiplier!r}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{name}: strides > 1 together with dilation_rate > 1 is not supported (as in Keras)")
        self.depth_multiplier = depth_multiplier
        self.activation, self._act = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer, self.bias_initializer = depthwise_initializer, bias_initializer

    option_weights = {"depthwise": "kernel"}   # Keras names the depthwise kernel "kernel" here

    def _depthwise_weight_name(self):
        return "kernel"

    def _out_channels(self):
        return self._in_channels * self.depth_multiplier

    def build(self, input_types):
        x, channels = self._known_channels(input_types)
        self._in_channels = channels
        self.add_weight(self._depthwise_weight_name(), (*self.kernel_size, channels, self.depth_multiplier),
                        self.depthwise_initializer)
        self._build_rest(channels)

    def _build_rest(self, channels):
        if self.use_bias:
            self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer)

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check_input(input_types)
        if self._channels(x) != self._in_channels:
            raise ShapeError(f"expected {self._in_channels} input channels (the size this layer was built for, "
                             f"{self.data_format}), got shape {x.keras_shape()}")
        spatial = self._out_spatial(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return [self._layout(x, self._out_channels(), spatial)]

    def _depthwise(self, b, x, params):
        r, channels, dm = self.rank, self._in_channels, self.depth_multiplier
        # (k..., in, dm) -> (in, dm, k...) -> (in*dm, 1, k...)
        kernel = b.Reshape(b.Transpose(params[self._depthwise_weight_name()], perm=(r, r + 1, *range(r))),
                           shape=(channels * dm, 1, *self.kernel_size))
        attrs = self._window_attrs(b.shape(x)[2:], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return b.Conv(x, kernel, kernel_shape=self.kernel_size, strides=self.strides, dilations=self.dilation_rate,
                      group=channels, **attrs)

    def lower(self, b, inputs, params, training=False, call_args=None):
        y = self._rest(b, self._depthwise(b, self._to_channels_first(b, inputs[0]), params), params)
        if self.use_bias:
            y = b.Add(y, b.Reshape(params["bias"], shape=(-1,) + (1,) * self.rank))
        return [self._act(b, self._to_layout(b, y))]

    def _rest(self, b, y, params):
        return y

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "depth_multiplier": self.depth_multiplier, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "activation": self.activation, "use_bias": self.use_bias,
                "depthwise_initializer": self.depthwise_initializer, "bias_initializer": self.bias_initializer}


class DepthwiseConv1D(_Depthwise):
    rank = 1


class DepthwiseConv2D(_Depthwise):
    rank = 2


class SeparableConv1D(_Depthwise):
    """Weights depthwise_kernel (k, in, dm), pointwise_kernel (1, in*dm, filters), bias (filters,)."""

    rank = 1
    option_weights = {"depthwise": "depthwise_kernel"}

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)
        take_weight_options(self, pointwise_regularizer=pointwise_regularizer,
                            pointwise_constraint=pointwise_constraint)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"SeparableConv1D filters must be a positive int, got {filters!r}")
        self.filters, self.pointwise_initializer = filters, pointwise_initializer

    def _depthwise_weight_name(self):
        return "depthwise_kernel"

    def _out_channels(self):
        return self.filters

    def _build_rest(self, channels):
        self.add_weight("pointwise_kernel", (1, channels * self.depth_multiplier, self.filters),
                        self.pointwise_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def _rest(self, b, y, params):
        pointwise = b.Transpose(params["pointwise_kernel"], perm=(2, 1, 0))   # (filters, in*dm, 1)
        return b.Conv(y, pointwise, kernel_shape=(1,), strides=(1,), dilations=(1,), group=1, pads=(0, 0))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "pointwise_initializer": self.pointwise_initializer}


class Conv3D(_Conv):
    """``Conv3D(filters, kernel_size, ...)`` on (batch, depth, rows, cols, channels); kernel (kd, kh, kw, in, out)."""

    rank = 3

    def get_config(self):
        return {**super().get_config(), "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}


class MaxPooling3D(_Pool):
    rank = 3


class AveragePooling3D(_Pool):
    rank = 3
    op = "AveragePool"


class GlobalMaxPooling3D(_GlobalPool):
    rank = 3


class GlobalAveragePooling3D(_GlobalPool):
    rank = 3
    op = "ReduceMean"


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2), [("N", 5, 5, 3)], ("N", 3, 3, 6), 9 * 3 * 2 + 6),
    (DepthwiseConv2D, dict(kernel_size=3, strides=2, padding="same", data_format="channels_first"),
     [("N", 2, 5, 4)], ("N", 2, 3, 2), 9 * 2 + 2),
    (DepthwiseConv1D, dict(kernel_size=3, padding="same"), [("N", None, 3)], ("N", None, 3), 3 * 3 + 3),
    (SeparableConv1D, dict(filters=4, kernel_size=3, depth_multiplier=2), [("N", 6, 3)], ("N", 4, 4),
     3 * 3 * 2 + 6 * 4 + 4),
    (Conv3D, dict(filters=2, kernel_size=2), [("N", 3, 4, 3, 2)], ("N", 2, 3, 2, 2), 8 * 2 * 2 + 2),
    (MaxPooling3D, dict(pool_size=2), [("N", 4, 4, 3, 2)], ("N", 2, 2, 1, 2), 0),
    (AveragePooling3D, dict(pool_size=(2, 1, 2), padding="same"), [("N", 3, 2, 3, 2)], ("N", 2, 2, 2, 2), 0),
    (GlobalMaxPooling3D, dict(), [("N", 2, 3, 2, 4)], ("N", 4), 0),
    (GlobalAveragePooling3D, dict(data_format="channels_first", keepdims=True), [("N", 4, 2, 3, 2)],
     ("N", 4, 1, 1, 1), 0),
]
