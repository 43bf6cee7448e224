"""Conv1D, Conv2D (Keras 3 names, weight layouts and defaults) and the Keras 1 spellings
Convolution1D / Convolution2D.

Keras is channels-last (NWC / NHWC, kernels (k, in, out) / (kh, kw, in, out)); ONNX Conv is NCHW
with OIHW kernels. A layer lowers as Transpose -> Conv -> Add(bias) -> activation -> Transpose,
with the kernel transposed to OIHW in the graph (get_weights keeps the Keras layout); between two
spatial layers the inverse Transpose pair meets and passes/cancel_transposes.py removes it, and
passes/fuse_conv_bias.py folds the bias Add into the Conv. ``data_format='channels_first'``
lowers with no Transpose at all.

Legacy spellings: ``Convolution2D(64, 3, 3, border_mode='same', subsample=(2, 2), dim_ordering='th',
init=..., bias=...)`` and ``Convolution1D(nb_filter, filter_length, subsample_length=...)`` are
accepted with a DeprecationWarning and mapped as Keras 2's legacy converter mapped them. The
default data format stays channels_last for them too: Keras 1's default ``dim_ordering`` came from
the user's keras.json ('th' in early 1.x, 'tf' from 1.2 on), Keras 2 read the legacy spelling as
channels_last, and a default that depends on how a layer's name is spelled would silently disagree
with the Keras 3 pooling layers that the same programs use (seed 003's ``MaxPooling2D((2, 2))``).
The seed programs written for 'th' (inputs like (3, 256, 256)) pass ``dim_ordering='th'`` in
examples/; a channels-first-looking input that does not fit a channels_last conv gets that hint.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

from fgc import activations
from fgc.ir.types import ShapeError, TensorType, fresh_symbol, is_float
from fgc.primitives.conv import out_dim, same_pads

from .base import InputLayer, Layer, flatten
from .weight_options import take_weight_options

DIM_ORDERING = {"th": "channels_first", "tf": "channels_last", "default": None}
# Keras 1 keyword -> (Keras 3 keyword, value converter)
LEGACY_KEYWORDS = {
    "nb_filter": ("filters", None),
    "filter_length": ("kernel_size", None),
    "border_mode": ("padding", None),
    "subsample": ("strides", None),
    "subsample_length": ("strides", None),
    "atrous_rate": ("dilation_rate", None),
    "dim_ordering": ("data_format", lambda v: DIM_ORDERING[v] if v in DIM_ORDERING else v),
    "init": ("kernel_initializer", None),
    "bias": ("use_bias", None),
    "pool_length": ("pool_size", None),
    "stride": ("strides", None),
}


def take_legacy(where: str, kwargs: dict, allowed) -> dict:
    """Pop the Keras 1 keywords ``allowed`` from kwargs; return them under their Keras 3 names (with a warning)."""
    found = {}
    for old in [k for k in kwargs if k in allowed]:
        new, convert = LEGACY_KEYWORDS[old]
        value = kwargs.pop(old)
        found[new] = convert(value) if convert else value
        warnings.warn(f"{where}: '{old}' is the Keras 1 spelling; use {new}= (Keras 3)", DeprecationWarning,
                      stacklevel=user_stacklevel())
    return found


def user_stacklevel() -> int:
    """The warnings stacklevel of the first frame outside fgc.layers (the user's layer construction)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("fgc.layers"):
        frame, level = frame.f_back, level + 1
    return level - 1


def normalize_tuple(value, n: int, what: str, allow_zero=False) -> tuple:
    if isinstance(value, (int, np.integer)):
        value = (int(value),) * n
    value = tuple(value) if isinstance(value, (tuple, list)) else value
    if not isinstance(value, tuple) or len(value) != n or not all(
            isinstance(v, (int, np.integer)) and (v > 0 or (allow_zero and v == 0)) for v in value):
        raise ValueError(f"{what} must be a positive int or a tuple of {n} positive ints, got {value!r}")
    return tuple(int(v) for v in value)


def normalize_data_format(value) -> str:
    value = DIM_ORDERING.get(value, value) if isinstance(value, str) else value
    if value is None:
        return "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {value!r}")
    return value


def normalize_padding(value, allowed=("valid", "same")) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"padding must be one of {list(allowed)}, got {value!r}")
    return value.lower()


class Spatial(Layer):
    """What conv and pooling layers share: layout handling, window arithmetic, the lowering frame."""

    rank = 2

    def __call__(self, inputs, **kwargs):
        # A channels-first image reaching a channels_last layer often builds a model of the wrong
        # shape without any error (seed 003's Inception): say so once, at the first such layer, and
        # leave the advice on the input so every later shape error that follows from it repeats it.
        for t in flatten(inputs):
            hint = self._channels_first_input(t)
            if hint:
                warnings.warn(hint, UserWarning, stacklevel=user_stacklevel())
                t._layout_hint = hint
        return super().__call__(inputs, **kwargs)

    def _channels_first_input(self, t) -> str:
        """The advice for a model Input that looks channels-first, fed to this channels_last 2-D layer ('' if not)."""
        history = getattr(t, "_keras_history", None)
        if self.rank != 2 or self.data_format != "channels_last" or getattr(t, "_layout_hint", "") \
                or history is None or not isinstance(history[0], InputLayer):
            return ""
        shape = t.type.keras_shape()
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
            return ""
        channels, rows, cols = shape[1:]
        if channels not in (1, 3, 4) or min(rows, cols) < max(8, 4 * channels):
            return ""
        return (f"The image input '{history[0].name}' of shape {shape} looks channels-first ({channels} "
                f"channel{'s' if channels > 1 else ''} of {rows}x{cols} pixels), but {type(self).__name__} '{self.name}' reads it as channels_last "
                f"({rows} channels); pass data_format='channels_first' to the conv and pooling layers (Keras 1: "
                f"dim_ordering='th'), or feed channels-last images: Input(shape=({rows}, {cols}, {channels})) and "
                f"np.transpose(x, (0, 2, 3, 1))")

    def _check_input(self, input_types) -> TensorType:
        if len(input_types) != 1:
            raise ShapeError(f"{type(self).__name__} takes one input, got {len(input_types)}")
        x = input_types[0]
        if x.rank != self.rank + 2:
            layout = "(batch, " + ("steps" if self.rank == 1 else "rows, cols") + ", channels)"
            if self.data_format == "channels_first":
                layout = "(batch, channels, " + ("steps" if self.rank == 1 else "rows, cols") + ")"
            raise ShapeError(f"expected an input of rank {self.rank + 2} {layout}, got shape {x.keras_shape()}")
        if not is_float(x.dtype):
            raise ShapeError(f"expected a float input, got {x.dtype}")
        return x

    def _channels(self, x: TensorType):
        return x.shape[-1] if self.data_format == "channels_last" else x.shape[1]

    def _known_channels(self, input_types) -> tuple[TensorType, int]:
        """(the checked input, its channel count), which building a kernel needs known."""
        x = self._check_input(input_types)
        channels = self._channels(x)
        if not isinstance(channels, int):
            raise ShapeError(f"the channel dim of the input must be known, got shape {x.keras_shape()} "
                             f"({self.data_format})")
        return x, channels

    def _spatial(self, x: TensorType) -> tuple:
        return x.shape[1:-1] if self.data_format == "channels_last" else x.shape[2:]

    def _layout(self, x: TensorType, channels, spatial) -> TensorType:
        if self.data_format == "channels_last":
            return x.with_shape((x.shape[0], *spatial, channels))
        return x.with_shape((x.shape[0], channels, *spatial))

    def _out_spatial(self, x: TensorType, k, s, d, padding) -> list:
        out = []
        for i, h in enumerate(self._spatial(x)):
            try:
                if padding == "same":  # ceil(h / s), whatever the kernel
                    out.append(-(-h // s[i]) if isinstance(h, int) else h if s[i] == 1 else fresh_symbol("S"))
                elif padding == "causal":
                    out.append(out_dim(h, k[i], s[i], d[i], (k[i] - 1) * d[i], 0))
                else:
                    out.append(out_dim(h, k[i], s[i], d[i]))
            except ShapeError as e:
                raise ShapeError(f"spatial dim {i} of the input {x.keras_shape()}: {e}{self._layout_hint(x)}") from None
        return out

    def _layout_hint(self, x: TensorType) -> str:
        if self.data_format == "channels_last" and x.rank == 4 and isinstance(x.shape[1], int) and x.shape[1] <= 4 \
                and isinstance(x.shape[-1], int) and x.shape[-1] > x.shape[1]:
            return (f". The input {x.keras_shape()} looks channels-first: pass data_format='channels_first' "
                    f"(Keras 1: dim_ordering='th')")
        return ""

    @staticmethod
    def _window_attrs(dims, k, s, d, padding) -> dict:
        """ONNX pads for Keras padding (TF 'same': the extra pad goes at the end = SAME_UPPER)."""
        nd = len(dims)
        if padding == "valid":
            return {"pads": (0,) * (2 * nd)}
        if padding == "causal":
            return {"pads": tuple((k[i] - 1) * d[i] for i in range(nd)) + (0,) * nd}
        pairs = [same_pads(h, k[i], s[i], d[i]) for i, h in enumerate(dims)]
        if any(p is None for p in pairs):
            return {"auto_pad": "SAME_UPPER"}  # an unknown size with stride > 1: onnxruntime pads at run time
        return {"pads": tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)}

    def _to_channels_first(self, b, x):
        if self.data_format == "channels_first":
            return x
        return b.Transpose(x, perm=(0, self.rank + 1, *range(1, self.rank + 1)))

    def _to_layout(self, b, y):
        if self.data_format == "channels_first":
            return y
        return b.Transpose(y, perm=(0, *range(2, self.rank + 2), 1))

    def _finish(self, b, y, params):
        """Bias, activation and the layout Transpose after a channels-first conv result ``y``.

        Elementwise activations commute with the layout Transpose: apply them before it, so that the
        Transpose pair between two conv layers is adjacent and cancels; axis-bound ones after it."""
        if self.use_bias:
            y = b.Add(y, b.Reshape(params["bias"], shape=(self.filters,) + (1,) * self.rank))
        elementwise = self.activation not in ("softmax", "log_softmax") and isinstance(self.activation, str) \
            and self.activation in activations.ACTIVATIONS
        if elementwise:
            y = self._act(b, y)
        y = self._to_layout(b, y)
        return [y if elementwise else self._act(b, y)]


class _Conv(Spatial):
    paddings = ("valid", "same")

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        legacy = take_legacy(f"{type(self).__name__}()", kwargs, LEGACY_KEYWORDS)
        filters = legacy.pop("filters", filters)
        kernel_size = legacy.pop("kernel_size", kernel_size)
        strides = legacy.pop("strides", strides)
        padding = legacy.pop("padding", padding)
        data_format = legacy.pop("data_format", data_format)
        dilation_rate = legacy.pop("dilation_rate", dilation_rate)
        kernel_initializer = legacy.pop("kernel_initializer", kernel_initializer)
        use_bias = legacy.pop("use_bias", use_bias)
        if legacy:
            raise TypeError(f"{type(self).__name__}() got unexpected Keras 1 keyword(s) for {sorted(legacy)}")
        super().__init__(**kwargs)
        take_weight_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                            bias_constraint=bias_constraint)
        name = type(self).__name__
        if not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{name} filters must be a positive int, got {filters!r}")
        if kernel_size is None:
            example = "3" if self.rank == 1 else "(3, 3)"
            raise TypeError(f"{name}() needs kernel_size, e.g. {name}({filters}, {example})")
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, f"{name} kernel_size")
        self.strides = normalize_tuple(strides, self.rank, f"{name} strides")
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, f"{name} dilation_rate")
        self.padding = normalize_padding(padding, self.paddings)
        self.data_format = normalize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{name}: strides > 1 together with dilation_rate > 1 is not supported (as in Keras), "
                             f"got strides={self.strides}, dilation_rate={self.dilation_rate}")
        if not isinstance(groups, (int, np.integer)) or groups <= 0 or self.filters % groups:
            raise ValueError(f"{name}: groups must be a positive int dividing filters={self.filters}, got {groups!r}")
        self.groups = int(groups)
        self.activation, self._act = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_types):
        x, channels = self._known_channels(input_types)
        if channels % self.groups:
            raise ShapeError(f"the input has {channels} channels, which groups={self.groups} does not divide")
        self.kernel = self.add_weight("kernel", (*self.kernel_size, channels // self.groups, self.filters),
                                      self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_types(self, input_types, node_attrs=None):
        x = self._check_input(input_types)
        channels = self._channels(x)
        if channels != self.kernel.shape[-2] * self.groups:
            raise ShapeError(f"expected {self.kernel.shape[-2] * self.groups} input channels (the size this layer "
                             f"was built for, {self.data_format}), got shape {x.keras_shape()}"
                             f"{self._layout_hint(x)}")
        spatial = self._out_spatial(x, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return [self._layout(x, self.filters, spatial)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        r = self.rank
        x = self._to_channels_first(b, inputs[0])
        w = b.Transpose(params["kernel"], perm=(r + 1, r, *range(r)))   # (k..., in, out) -> (out, in, k...)
        attrs = self._window_attrs(b.shape(x)[2:], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        y = b.Conv(x, w, kernel_shape=self.kernel_size, strides=self.strides, dilations=self.dilation_rate,
                   group=self.groups, **attrs)
        return self._finish(b, y, params)

    def get_config(self):
        from .config import activation_config, initializer_config

        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": activation_config(self.activation, self._act), "use_bias": self.use_bias,
                "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer)}


class Conv1D(_Conv):
    """``Conv1D(filters, kernel_size, strides=1, padding='valid'|'same'|'causal', ...)`` on (batch, steps, channels)."""

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """``Conv2D(filters, kernel_size, strides=(1, 1), padding='valid'|'same', ...)`` on (batch, rows, cols, chans)."""

    rank = 2


class Convolution1D(Conv1D):
    """Keras 3 alias of Conv1D that also takes the Keras 1 keywords (nb_filter, filter_length, border_mode, ...)."""

    keras_class_name = "Conv1D"  # the Keras 1 spelling of the same layer


class Convolution2D(Conv2D):
    """Keras 3 alias of Conv2D that also takes the Keras 1 form ``Convolution2D(nb_filter, nb_row, nb_col, ...)``."""

    keras_class_name = "Conv2D"  # the Keras 1 spelling of the same layer

    def __init__(self, filters=None, kernel_size=None, *args, nb_row=None, nb_col=None, **kwargs):
        if args or nb_row is not None or nb_col is not None:
            if len(args) > 1:
                raise TypeError("Convolution2D() takes (nb_filter, nb_row, nb_col) positionally; pass the other "
                                "arguments by keyword")
            rows = nb_row if nb_row is not None else kernel_size
            cols = nb_col if nb_col is not None else (args[0] if args else None)
            if rows is None or cols is None:
                raise TypeError("Convolution2D(nb_filter, nb_row, nb_col): both nb_row and nb_col are needed")
            warnings.warn(f"Convolution2D({filters}, {rows}, {cols}) is the Keras 1 spelling; use "
                          f"Conv2D({filters}, ({rows}, {cols}))", DeprecationWarning, stacklevel=user_stacklevel())
            kernel_size = (rows, cols)
        super().__init__(filters, kernel_size, **kwargs)


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (Conv2D, dict(filters=4, kernel_size=3), [("N", 8, 8, 3)], ("N", 6, 6, 4), 3 * 3 * 3 * 4 + 4),
    (Conv2D, dict(filters=4, kernel_size=(3, 2), strides=2, padding="same", activation="relu"), [("N", 7, 6, 2)],
     ("N", 4, 3, 4), 3 * 2 * 2 * 4 + 4),
    (Conv2D, dict(filters=6, kernel_size=3, dilation_rate=2, groups=2, use_bias=False), [("N", 9, 9, 4)],
     ("N", 5, 5, 6), 3 * 3 * 2 * 6),
    (Conv2D, dict(filters=5, kernel_size=3, padding="same", data_format="channels_first"), [("N", 2, 6, 5)],
     ("N", 5, 6, 5), 3 * 3 * 2 * 5 + 5),
    (Conv2D, dict(filters=3, kernel_size=1, activation="softmax"), [("N", None, None, 2)], ("N", None, None, 3), 9),
    (Conv1D, dict(filters=4, kernel_size=5), [("N", 12, 3)], ("N", 8, 4), 5 * 3 * 4 + 4),
    (Conv1D, dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2), [("N", None, 3)], ("N", None, 4),
     3 * 3 * 4 + 4),
    (Conv1D, dict(filters=2, kernel_size=3, strides=2, padding="same"), [("N", 9, 3)], ("N", 5, 2), 3 * 3 * 2 + 2),
    (Convolution1D, dict(filters=2, kernel_size=3, padding="same"), [("N", 6, 4)], ("N", 6, 2), 3 * 4 * 2 + 2),
]
