"""Dense, Activation, Dropout, Flatten, Reshape."""
from __future__ import annotations

import inspect

import numpy as np

from fgc import activations
from fgc.ir.types import ShapeError, is_float, product

from .base import Layer
from .config import activation_config, initializer_config
from .weight_options import take_weight_options


def _one_input(layer, types):
    if len(types) != 1:
        raise ShapeError(f"{type(layer).__name__} takes one input, got {len(types)}")
    return types[0]


class Dense(Layer):
    supports_masking = True
    keras_only_config = {"quantization_config": None}

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        take_weight_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        if not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense units must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation, self._act = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, input_types):
        x = _one_input(self, input_types)
        if x.rank < 2 or not isinstance(x.shape[-1], int):
            raise ShapeError(f"Dense needs an input whose last dim is known, got shape {x.keras_shape()}")
        self.kernel = self.add_weight("kernel", (x.shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer)
        if self.units == 1 and self.activation == "softmax":
            import warnings

            warnings.warn(f"Dense layer '{self.name}' has 1 unit and a softmax activation: its output is always 1.0 "
                          f"and nothing can be learned. For a binary output use activation='sigmoid'.", stacklevel=4)

    def compute_output_types(self, input_types, node_attrs=None):
        x = _one_input(self, input_types)
        if not is_float(x.dtype):
            raise ShapeError(f"Dense expects a float input, got {x.dtype}")
        if x.rank < 2 or x.shape[-1] != self.kernel.shape[0]:
            raise ShapeError(f"expected an input whose last dim is {self.kernel.shape[0]} (the size this layer was "
                             f"built for), got shape {x.keras_shape()}")
        return [x.with_shape(x.shape[:-1] + (self.units,))]

    def lower(self, b, inputs, params, training=False, call_args=None):
        y = b.MatMul(inputs[0], params["kernel"])
        if self.use_bias:
            y = b.Add(y, params["bias"])
        return [self._act(b, y)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activation_config(self.activation, self._act),
                "use_bias": self.use_bias, "kernel_initializer": initializer_config(self.kernel_initializer),
                "bias_initializer": initializer_config(self.bias_initializer)}


class Activation(Layer):
    writes_build_config = False
    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation, self._act = activations.get(activation)

    def compute_output_types(self, input_types, node_attrs=None):
        return [_one_input(self, input_types)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [self._act(b, inputs[0])]

    def get_config(self):
        return {**super().get_config(), "activation": activation_config(self.activation, self._act)}


class Dropout(Layer):
    """Identity at inference; in training, zeroes a fraction ``rate`` and scales the rest by 1/(1-rate).

    ``seed`` (or, without one, a seed drawn from ``set_random_seed``'s stream when the layer is made)
    makes the masks reproducible (fgc/primitives/random_ops.py). ``noise_shape`` shares one mask along the
    axes where it is 1 (None: the input's size)."""

    supports_masking = True
    writes_build_config = False

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None and (not isinstance(noise_shape, (list, tuple)) or not all(
                d is None or (isinstance(d, (int, np.integer)) and d > 0) for d in noise_shape)):
            raise ValueError(f"Dropout noise_shape must be a tuple of positive ints or None, got {noise_shape!r}")
        from fgc.initializers import layer_seed

        self.rate, self.seed = float(rate), seed
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self._seed = layer_seed(seed, f"Dropout '{self.name}'")

    def compute_output_types(self, input_types, node_attrs=None):
        x = _one_input(self, input_types)
        if self.noise_shape is not None:
            self._noise_dims(x)
        return [x]

    def _noise_dims(self, x):
        """(per-sample mask?, the mask's non-batch dims) for ``noise_shape`` on an input of type ``x``."""
        if len(self.noise_shape) != x.rank:
            raise ShapeError(f"Dropout '{self.name}': noise_shape {self.noise_shape} has {len(self.noise_shape)} "
                             f"dims, the input {x.keras_shape()} has {x.rank}")
        dims = []
        for axis, (want, have) in enumerate(zip(self.noise_shape[1:], x.shape[1:]), start=1):
            size = have if want is None else want
            if not isinstance(size, int) or (size != 1 and size != have):
                raise ShapeError(f"Dropout '{self.name}': noise_shape {self.noise_shape} at axis {axis} must be "
                                 f"1, None or the input's size {x.keras_shape()[axis]}"
                                 + (" (a known size, for None)" if not isinstance(have, int) else ""))
            dims.append(size)
        return self.noise_shape[0] != 1, tuple(dims)

    def lower(self, b, inputs, params, training=False, call_args=None):
        from fgc.primitives.random_ops import dropout, dropout_mask

        x = inputs[0]
        if not training or self.rate == 0:
            return [x]
        if self.noise_shape is None:
            return [dropout(b, x, self.rate, self._seed)]
        per_sample, dims = self._noise_dims(b.type(x))
        dtype = b.type(x).dtype
        ones = b.BatchFill(x, dims=dims, dtype=dtype, value=1.0) if per_sample \
            else b.const(np.ones((1, *dims)), dtype)
        return [b.Mul(x, dropout_mask(b, ones, self.rate, self._seed))]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"

    def compute_output_types(self, input_types, node_attrs=None):
        x = _one_input(self, input_types)
        return [x.with_shape((x.shape[0], product(x.shape[1:])))]

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}

    def lower(self, b, inputs, params, training=False, call_args=None):
        x = inputs[0]
        if self.data_format == "channels_first" and b.type(x).rank > 2:
            r = b.type(x).rank
            x = b.Transpose(x, perm=(0, *range(2, r), 1))
        return [b.Reshape(x, shape=(0, -1))]


class Reshape(Layer):
    writes_build_config = False
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if self.target_shape.count(-1) > 1 or any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(f"Reshape target_shape {self.target_shape}: dims must be positive, with at most one -1")

    def compute_output_types(self, input_types, node_attrs=None):
        from fgc.primitives import get

        x = _one_input(self, input_types)
        # The batch dim is symbolic, so the primitive's element count check cannot see a mismatch
        # in the per-sample dims; check them here, as Keras does.
        per_sample = x.with_shape(x.shape[1:]).numel()
        if per_sample is not None and -1 not in self.target_shape and per_sample != int(np.prod(self.target_shape)):
            raise ShapeError(f"total size of the new array must be unchanged: cannot reshape a sample of shape "
                             f"{x.keras_shape()[1:]} ({per_sample} values) into {self.target_shape}")
        return get("Reshape").infer([x], {"shape": (0, *self.target_shape)})

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.Reshape(inputs[0], shape=(0, *self.target_shape))]

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (Dense, dict(units=3), [("N", 5)], ("N", 3), 18),
    (Dense, dict(units=4, activation="relu", use_bias=False), [("N", 2, 5)], ("N", 2, 4), 20),
    (Activation, dict(activation="tanh"), [("N", 4)], ("N", 4), 0),
    (Dropout, dict(rate=0.5), [("N", 4)], ("N", 4), 0),
    (Flatten, dict(), [("N", 2, 3)], ("N", 6), 0),
    (Reshape, dict(target_shape=(3, 2)), [("N", 6)], ("N", 3, 2), 0),
]


class Lambda(Layer):
    """``Lambda(function, output_shape=None, mask=None, arguments=None)``: ``function(inputs, **arguments)``
    written with ``fgc.ops`` (or operators), traced like a subclassed layer's ``call``."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable, got {type(function).__name__}: {function!r}")
        if mask is not None:
            raise NotImplementedError("Lambda(mask=...) is not supported by fgc yet; leave mask=None")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda arguments must be a dict of keyword arguments, got {type(arguments).__name__}")
        self.function, self.arguments, self.mask = function, dict(arguments or {}), None
        self._output_shape = output_shape
        params = inspect.signature(function).parameters
        self._fn_takes_training = "training" in params

    def call(self, inputs, training=None):
        kwargs = dict(self.arguments)
        if self._fn_takes_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_types(self, input_types, node_attrs=None):
        types = super().compute_output_types(input_types, node_attrs)
        if callable(self._output_shape):  # Keras: a function of the full input shape, batch axis included
            shapes = [t.keras_shape() for t in input_types]
            declared = self._output_shape(shapes[0] if len(shapes) == 1 else shapes)
            _check_declared_shape(self._output_shape, tuple(declared), types[0].keras_shape())
        elif self._output_shape is not None:  # a tuple: the shape without the batch axis
            _check_declared_shape(self._output_shape, tuple(self._output_shape), types[0].keras_shape()[1:])
        return types

    def get_config(self):
        from .function_config import serialize_function

        config = {**super().get_config(), "function": serialize_function(self.function),
                  "arguments": dict(self.arguments)}
        if self._output_shape is not None:
            config["output_shape"] = serialize_function(self._output_shape) if callable(self._output_shape) \
                else self._output_shape
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """Keras' rule: a Python lambda is stored as bytecode and only loads with ``safe_mode=False``."""
        from .function_config import deserialize_function

        config = dict(config)
        config["function"] = deserialize_function(config["function"], custom_objects, safe_mode)
        if isinstance(config.get("output_shape"), dict):
            config["output_shape"] = deserialize_function(config["output_shape"], custom_objects, safe_mode)
        return cls(**config)


def _check_declared_shape(given, declared, got):
    if len(declared) != len(got) or any(d is not None and g is not None and d != g for d, g in zip(declared, got)):
        raise ShapeError(f"Lambda output_shape {given!r} declares {declared}, but the function computes {got}")
