"""SeparableConv2D: a depthwise conv (one kernel per input channel, ``depth_multiplier`` outputs
each) followed by a 1x1 pointwise conv. Keras 3 weights: depthwise_kernel (kh, kw, in, dm),
pointwise_kernel (1, 1, in*dm, filters), bias (filters,). Lowered as two ONNX Convs, the first
with ``group = in``."""
from __future__ import annotations

from fgc.ir.types import ShapeError

from .conv import _Conv
from .weight_options import take_weight_options


class SeparableConv2D(_Conv):
    rank = 2
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, **kwargs)
        self._weight_options = {}   # Keras' SeparableConv2D has no kernel_* options (the _Conv base took them)
        take_weight_options(self, depthwise_regularizer=depthwise_regularizer,
                            pointwise_regularizer=pointwise_regularizer, bias_regularizer=bias_regularizer,
                            activity_regularizer=activity_regularizer, depthwise_constraint=depthwise_constraint,
                            pointwise_constraint=pointwise_constraint, bias_constraint=bias_constraint)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer, self.pointwise_initializer = depthwise_initializer, pointwise_initializer

    def build(self, input_types):
        x, channels = self._known_channels(input_types)
        dm = self.depth_multiplier
        self.depthwise_kernel = self.add_weight("depthwise_kernel", (*self.kernel_size, channels, dm),
                                                self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1, 1, channels * dm, self.filters),
                                                self.pointwise_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check_input(input_types)
        if self._channels(x) != self.depthwise_kernel.shape[2]:
            raise ShapeError(f"expected {self.depthwise_kernel.shape[2]} input channels (the size this layer was "
                             f"built for), got shape {x.keras_shape()}{self._layout_hint(x)}")
        spatial = self._out_spatial(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return [self._layout(x, self.filters, spatial)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = self._to_channels_first(b, inputs[0])
        channels, dm = self.depthwise_kernel.shape[2], self.depth_multiplier
        # (kh, kw, in, dm) -> (in*dm, 1, kh, kw): output channel c*dm + m reads input channel c
        depthwise = b.Reshape(b.Transpose(params["depthwise_kernel"], perm=(2, 3, 0, 1)),
                              shape=(channels * dm, 1, *self.kernel_size))
        attrs = self._window_attrs(b.shape(x)[2:], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        y = b.Conv(x, depthwise, kernel_shape=self.kernel_size, strides=self.strides, dilations=self.dilation_rate,
                   group=channels, **attrs)
        pointwise = b.Transpose(params["pointwise_kernel"], perm=(3, 2, 0, 1))  # (filters, in*dm, 1, 1)
        y = b.Conv(y, pointwise, kernel_shape=(1, 1), strides=(1, 1), dilations=(1, 1), group=1, pads=(0, 0, 0, 0))
        if self.use_bias:
            y = b.Add(y, b.Reshape(params["bias"], shape=(self.filters, 1, 1)))
        return [self._act(b, self._to_layout(b, y))]

    def get_config(self):
        from .config import initializer_config

        config = super().get_config()
        for key in ("groups", "kernel_initializer", *_Conv.keras_only_config):   # _Conv's keys Keras does not write here
            config.pop(key, None)
        return {**config, "depth_multiplier": self.depth_multiplier, **self.keras_only_config,
                "depthwise_initializer": initializer_config(self.depthwise_initializer),
                "pointwise_initializer": initializer_config(self.pointwise_initializer)}


CASES = [
    (SeparableConv2D, dict(filters=4, kernel_size=3), [("N", 6, 6, 3)], ("N", 4, 4, 4), 3 * 9 + 3 * 4 + 4),
    (SeparableConv2D, dict(filters=5, kernel_size=3, padding="same", depth_multiplier=2, use_bias=False),
     [("N", 5, 5, 2)], ("N", 5, 5, 5), 2 * 9 * 2 + 4 * 5),
]
