"""Conv1DTranspose, Conv2DTranspose, Conv3DTranspose (Keras 3): kernels (k..., filters, in_channels),
channels_last by default, ``data_format='channels_first'`` too.

Output length per spatial axis (Keras' ``deconv_output_length``, k = (kernel - 1) * dilation + 1):

    output_padding None:  valid -> in * s + max(k - s, 0),   same -> in * s
    output_padding p:     (in - 1) * s + k - 2 * pad + p,    pad = 0 (valid) or k // 2 (same)

Keras (JAX backend) runs a transposed conv whose dilated input is padded by (L, R) as
``compute_conv_transpose_padding_args_for_jax`` says; ONNX's ConvTranspose is the same operation
(the adjoint of a conv) with pads_begin = k - 1 - L and pads_end = k - 1 - R, a negative end pad
becoming ONNX's ``output_padding``. The kernel is transposed to ONNX's (in, filters, k...) in the graph.
"""
from __future__ import annotations

from fgc import activations
from fgc.ir.types import ShapeError, fresh_symbol
from fgc.primitives import Builder  # noqa: F401

from .conv import Spatial, normalize_data_format, normalize_padding, normalize_tuple
from .weight_options import take_weight_options


def jax_padding(kernel: int, stride: int, dilation: int, padding: str, output_padding):
    """(left, right) padding of the stride-dilated input in Keras' JAX conv_transpose."""
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, k - 1)
    return left, total - left


class _ConvTranspose(Spatial):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{name} filters must be a positive int, got {filters!r}")
        take_weight_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                            bias_constraint=bias_constraint)
        self.filters = filters
        self.kernel_size = normalize_tuple(kernel_size, self.rank, f"{name} kernel_size")
        self.strides = normalize_tuple(strides, self.rank, f"{name} strides")
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, f"{name} dilation_rate")
        self.padding = normalize_padding(padding)
        self.output_padding = None if output_padding is None else \
            normalize_tuple(output_padding, self.rank, f"{name} output_padding", allow_zero=True)
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{name}: each output_padding must be smaller than its stride, got "
                             f"output_padding={self.output_padding}, strides={self.strides}")
        self.data_format = normalize_data_format(data_format)
        self.activation, self._act = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def _onnx_pads(self):
        """(pads, output_padding) of the ONNX ConvTranspose equal to Keras' transposed conv."""
        begins, ends, extra = [], [], []
        for i in range(self.rank):
            k = (self.kernel_size[i] - 1) * self.dilation_rate[i] + 1
            op = None if self.output_padding is None else self.output_padding[i]
            left, right = jax_padding(self.kernel_size[i], self.strides[i], self.dilation_rate[i], self.padding, op)
            begin, end = k - 1 - left, k - 1 - right
            begins.append(begin)
            ends.append(max(end, 0))
            extra.append(max(-end, 0))
        return tuple(begins + ends), tuple(extra)

    def build(self, input_types):
        x, channels = self._known_channels(input_types)
        self.kernel = self.add_weight("kernel", (*self.kernel_size, self.filters, channels), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check_input(input_types)
        if self._channels(x) != self.kernel.shape[-1]:
            raise ShapeError(f"expected {self.kernel.shape[-1]} input channels (the size this layer was built for, "
                             f"{self.data_format}), got shape {x.keras_shape()}")
        pads, extra = self._onnx_pads()
        spatial = []
        for i, h in enumerate(self._spatial(x)):
            k = (self.kernel_size[i] - 1) * self.dilation_rate[i] + 1
            spatial.append((h - 1) * self.strides[i] + k - pads[i] - pads[self.rank + i] + extra[i]
                           if isinstance(h, int) else fresh_symbol("S"))
        return [self._layout(x, self.filters, spatial)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        r = self.rank
        x = self._to_channels_first(b, inputs[0])
        w = b.Transpose(params["kernel"], perm=(r + 1, r, *range(r)))   # (k..., out, in) -> (in, out, k...)
        pads, extra = self._onnx_pads()
        attrs = {"output_padding": extra} if any(extra) else {}
        y = b.ConvTranspose(x, w, kernel_shape=self.kernel_size, strides=self.strides, dilations=self.dilation_rate,
                            pads=pads, **attrs)
        return self._finish(b, y, params)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "output_padding": self.output_padding,
                "data_format": self.data_format, "dilation_rate": self.dilation_rate, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}


class Conv1DTranspose(_ConvTranspose):
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    rank = 3


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (Conv2DTranspose, dict(filters=4, kernel_size=3, strides=2, padding="same"), [("N", 5, 6, 3)], ("N", 10, 12, 4),
     3 * 3 * 4 * 3 + 4),
    (Conv2DTranspose, dict(filters=2, kernel_size=(2, 3), strides=(2, 1)), [("N", 4, 4, 3)], ("N", 8, 6, 2),
     2 * 3 * 2 * 3 + 2),
    (Conv2DTranspose, dict(filters=2, kernel_size=3, strides=2, data_format="channels_first"), [("N", 3, 4, 4)],
     ("N", 2, 9, 9), 3 * 3 * 2 * 3 + 2),
    (Conv1DTranspose, dict(filters=3, kernel_size=4, strides=3, padding="same", output_padding=1), [("N", 5, 2)],
     ("N", 13, 3), 4 * 3 * 2 + 3),
    (Conv1DTranspose, dict(filters=3, kernel_size=1, strides=2), [("N", 5, 2)], ("N", 10, 3), 1 * 3 * 2 + 3),
    (Conv3DTranspose, dict(filters=2, kernel_size=2, strides=2), [("N", 2, 3, 2, 1)], ("N", 4, 6, 4, 2), 8 * 2 + 2),
]
