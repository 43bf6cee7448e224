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


def _truncated_normal(shape, stddev):
    out = _rng.normal(0.0, stddev, size=shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = _rng.normal(0.0, stddev, size=int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


def _variance_scaling(scale, mode, distribution):
    def init(shape):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        var = scale / max(1.0, n)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return _rng.uniform(-limit, limit, size=shape)
        # Keras divides by the stddev of a unit normal truncated at 2 sigma.
        return _truncated_normal(shape, math.sqrt(var) / 0.87962566103423978)
    return init


def _orthogonal(shape, gain=1.0):
    rows = int(np.prod(shape[:-1]))
    cols = shape[-1]
    a = _rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q[:rows, :cols].reshape(shape)


INITIALIZERS = {
    "zeros": lambda shape: np.zeros(shape),
    "ones": lambda shape: np.ones(shape),
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    "random_uniform": lambda shape: _rng.uniform(-0.05, 0.05, size=shape),
    "uniform": lambda shape: _rng.uniform(-0.05, 0.05, size=shape),
    "random_normal": lambda shape: _rng.normal(0.0, 0.05, size=shape),
    "normal": lambda shape: _rng.normal(0.0, 0.05, size=shape),
    "orthogonal": _orthogonal,
}


def get(identifier):
    """A callable ``shape -> float64 array`` from a name or a callable."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in INITIALIZERS:
            return INITIALIZERS[key]
        raise ValueError(f"unknown initializer '{identifier}'{near(key, INITIALIZERS)}; "
                         f"expected one of {sorted(INITIALIZERS)}")
    raise TypeError(f"an initializer must be a name or a callable, got {identifier!r}")
