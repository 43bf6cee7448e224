"""Keras 3 weight initializers, drawn from fgc's seedable generator."""
from __future__ import annotations

import math

import numpy as np

from .naming import near

_rng = np.random.default_rng()
# Layer seeds (Dropout, recurrent dropout) come from their own stream, so adding a Dropout layer
# does not shift the weights drawn for the layers after it.
_seed_rng = np.random.default_rng()
_SEED_STREAM = 0x5EED


def set_random_seed(seed: int) -> None:
    """Seed every weight initializer, every layer's dropout seed (drawn when the layer is created)
    and shuffling in fit, for reproducible runs."""
    global _rng, _seed_rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed needs a non-negative int, got {seed!r}")
    _rng = np.random.default_rng(seed)
    _seed_rng = np.random.default_rng([int(seed), _SEED_STREAM])
    np.random.seed(seed)


def layer_seed(seed, where: str) -> int:
    """The seed a layer's random ops start from: ``seed`` itself (Keras' ``seed=`` argument), or
    one drawn from the stream ``set_random_seed`` seeds (as Keras' SeedGenerator draws from its
    global seed when a layer is created)."""
    if seed is None:
        return int(_seed_rng.integers(1, 2 ** 31 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"{where}: seed must be a non-negative int or None, got {seed!r}")
    return int(seed)


def rng() -> np.random.Generator:
    return _rng


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _generator(seed):
    """Keras: an initializer with a seed draws the same values on every call; without one it draws
    from the global stream ``set_random_seed`` seeds."""
    return _rng if seed is None else np.random.default_rng(seed)


def _truncated_normal(shape, stddev, mean=0.0, gen=None):
    gen = gen or _rng
    out = gen.normal(0.0, stddev, size=shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = gen.normal(0.0, stddev, size=int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out + mean


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"an initializer seed must be a non-negative int or None, got {seed!r}")
    return None if seed is None else int(seed)


class Initializer:
    """Base of Keras' initializer classes: ``init(shape) -> float64 array``, with a Keras config."""

    def __call__(self, shape):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(type(self).__name__)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class Zeros(Initializer):
    def __call__(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    def __call__(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = float(minval), float(maxval), _check_seed(seed)

    def __call__(self, shape):
        return _generator(self.seed).uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), _check_seed(seed)

    def __call__(self, shape):
        return _generator(self.seed).normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal values, redrawn beyond two standard deviations from the mean."""

    def __call__(self, shape):
        return _truncated_normal(shape, self.stddev, self.mean, _generator(self.seed))


class VarianceScaling(Initializer):
    """Keras' fan-scaled initializer: variance ``scale / fan`` (fan_in, fan_out or their mean)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        _check_default_fans(type(self).__name__, input_axes, output_axes)
        if scale <= 0:
            raise ValueError(f"VarianceScaling scale must be positive, got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"VarianceScaling distribution must be 'truncated_normal', 'untruncated_normal' or "
                             f"'uniform', got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.seed = _check_seed(seed)

    def __call__(self, shape):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, n)
        gen = _generator(self.seed)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return gen.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return gen.normal(0.0, math.sqrt(var), size=shape)
        # Keras divides by the stddev of a unit normal truncated at 2 sigma.
        return _truncated_normal(shape, math.sqrt(var) / 0.87962566103423978, gen=gen)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": None, "output_axes": None}


def _check_default_fans(class_name, input_axes, output_axes):
    if input_axes is not None or output_axes is not None:
        raise ValueError(f"{class_name}: input_axes/output_axes are not supported by fgc (only None, the "
                         f"default fan computation), got {input_axes!r}, {output_axes!r}")


def _fan_preset(class_name, scale, mode, distribution):
    """GlorotUniform and its siblings: a VarianceScaling whose config is only the seed (Keras 3.15 also
    writes input_axes/output_axes, the axes fans are counted over; fgc uses Keras' default, None)."""
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        _check_default_fans(class_name, input_axes, output_axes)
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed, "input_axes": None, "output_axes": None}

    return type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                                  "__module__": __name__})


GlorotUniform = _fan_preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _fan_preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _fan_preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _fan_preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _fan_preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _fan_preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = float(gain), _check_seed(seed)

    def __call__(self, shape):
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        a = _generator(self.seed).normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q[:rows, :cols].reshape(shape)

    def get_config(self):
        return {"seed": self.seed, "gain": self.gain}


class Identity(Initializer):
    """``gain * eye(rows, cols)`` for a rank-2 weight."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape):
        if len(shape) != 2:
            raise ValueError(f"the Identity initializer makes 2D matrices only; got shape {tuple(shape)} of rank "
                             f"{len(shape)}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        # Keras 3 writes no key for its default; a gain other than 1 is written so that it is not lost
        return {} if self.gain == 1.0 else {"gain": self.gain}


# Keras' short names -> the class each stands for (an instance with the default config).
ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "random_uniform": RandomUniform, "uniform": RandomUniform, "random_normal": RandomNormal,
    "normal": RandomNormal, "truncated_normal": TruncatedNormal, "orthogonal": Orthogonal,
    "variance_scaling": VarianceScaling, "identity": Identity, "one": Ones, "zero": Zeros,
}
INITIALIZERS = {name: cls() for name, cls in ALIASES.items()}
_CLASSES = {**{cls.__name__: cls for cls in set(ALIASES.values())},
            "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal}   # Keras' compatibility names
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal


def get(identifier):
    """A callable ``shape -> float64 array`` from a name, a Keras config dict or a callable."""
    if identifier is None:
        return None
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in INITIALIZERS:
            return INITIALIZERS[key]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"unknown initializer '{identifier}'{near(key, INITIALIZERS)}; "
                         f"expected one of {sorted(INITIALIZERS)}")
    raise TypeError(f"an initializer must be a name, a config dict or a callable, got {identifier!r}")


def serialize(initializer):
    """Keras' config dict of an initializer (a name is first resolved to its class)."""
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(get(initializer))


def deserialize(config, custom_objects=None):
    from fgc.saving.serialization import deserialize_keras_object

    return get(deserialize_keras_object(config, custom_objects))


__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
           "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
           "LecunNormal", "Orthogonal", "Identity", "get", "serialize", "deserialize", "set_random_seed"]
