"""Keras 3 weight constraints: projections applied to a weight right after each optimizer update.

As for regularizers, each built-in constraint is written once as ``emit(b, w)`` with a primitives
Builder: the train step applies it to the updated weight inside the step graph
(fgc/training/penalties.py), and calling it on an array runs the same emission eagerly.
"""
from __future__ import annotations

import numpy as np


_EPSILON = 1e-7  # Keras' backend.epsilon(), added to the norm it divides by


def _project_op(b, w, constraint):
    return constraint.emit(b, w)


class Constraint:
    """Base class: the identity projection."""

    def __call__(self, w):
        from fgc.ops.core import apply

        return apply(type(self).__name__.lower(), _project_op, w, constraint=self)

    def emit(self, b, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _axes(axis, rank: int, where: str) -> tuple:
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -rank <= a < rank:
            raise ValueError(f"{where}: axis {axis!r} does not fit a weight of rank {rank}; give axes in "
                             f"[{-rank}, {rank - 1}]")
    return tuple(int(a) % rank for a in axes)


def _norms(b, w, axis, where):
    return b.Sqrt(b.ReduceSum(b.Mul(w, w), axes=_axes(axis, b.type(w).rank, where), keepdims=1))


class MaxNorm(Constraint):
    """Rescale each slice along ``axis`` whose L2 norm exceeds ``max_value``: ``w * clip(n, 0, max) / (eps + n)``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def emit(self, b, w):
        norms = _norms(b, w, self.axis, "MaxNorm")
        desired = b.Clip(norms, min=0.0, max=float(self.max_value))
        return b.Mul(w, b.Div(desired, b.Add(norms, _EPSILON)))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """``max(w, 0)``."""

    def emit(self, b, w):
        return b.Max(w, 0.0)


class UnitNorm(Constraint):
    """``w / (eps + norm)`` with the L2 norm taken along ``axis``."""

    def __init__(self, axis=0):
        self.axis = axis

    def emit(self, b, w):
        return b.Div(w, b.Add(_norms(b, w, self.axis, "UnitNorm"), _EPSILON))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each norm towards [min_value, max_value]: ``desired = rate * clip(n, min, max) + (1 - rate) * n``,
    ``w * desired / (eps + n)``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def emit(self, b, w):
        norms = _norms(b, w, self.axis, "MinMaxNorm")
        clipped = b.Clip(norms, min=float(self.min_value), max=float(self.max_value))
        desired = b.Add(b.Mul(clipped, float(self.rate)), b.Mul(norms, 1.0 - float(self.rate)))
        return b.Mul(w, b.Div(desired, b.Add(norms, _EPSILON)))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


# Keras' function-style aliases (the classes themselves)
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES = (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
_NAMES = {**{cls.__name__: cls for cls in _CLASSES},
          "constraint": Constraint, "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
          "min_max_norm": MinMaxNorm}


def serialize(constraint):
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(constraint)


def deserialize(config, custom_objects=None):
    from fgc.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects)


def get(identifier):
    """A constraint from None, a name, a Keras config dict, a class, an instance or a function."""
    from fgc.saving.serialization import get_callable

    return get_callable(identifier, _NAMES, "constraint", "Constraint")


__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg", "unit_norm",
           "min_max_norm", "get", "serialize", "deserialize"]
