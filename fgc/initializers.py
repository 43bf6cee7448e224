"""Keras 3 weight initializers, drawn from fgc's seedable generator."""
from __future__ import annotations

import math

import numpy as np

from .naming import near

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed every weight initializer (and shuffling in fit) for reproducible runs."""
    global _rng
    _rng = np.random.default_rng(seed)
    np.random.seed(seed)


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
