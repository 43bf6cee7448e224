"""Keras 3 weight regularizers: penalties summed into the training loss.

Each built-in regularizer defines its penalty once, as ``emit(b, x)`` with a primitives Builder.
The train step emits it on the weight (fgc/training/penalties.py), and calling the regularizer on an
array runs the same emission eagerly through ``fgc.ops`` (on a symbolic tensor it is recorded), so
the number a user computes by hand and the one added to the loss come from one definition. A
user's own regularizer (a subclass overriding ``__call__`` with ``fgc.ops``, or any function) is
traced on a placeholder when the step is built.
"""
from __future__ import annotations

import math

import numpy as np


def _penalty_op(b, x, regularizer):
    return regularizer.emit(b, x)


class Regularizer:
    """Base class: ``regularizer(x)`` is a scalar penalty (0 for the base class, as in Keras)."""

    def __call__(self, x):
        from fgc.ops.core import apply

        return apply(type(self).__name__.lower(), _penalty_op, x, regularizer=self)

    def emit(self, b, x):
        """The penalty of Value ``x`` as a scalar Value (builder ``b``)."""
        return b.const(np.asarray(0.0, dtype=np.dtype(b.type(x).dtype)))

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


def _factor(value, name: str, where: str) -> float:
    """Keras' check: a finite non-negative number (bools are refused: True is not a factor)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"{where}: invalid value for argument {name}: expected a non-negative float, "
                         f"received {name}={value!r}")
    return float(value)


def _l1_term(b, x, factor):
    return b.Mul(b.ReduceSum(b.Abs(x), keepdims=0), factor)


def _l2_term(b, x, factor):
    return b.Mul(b.ReduceSum(b.Mul(x, x), keepdims=0), factor)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x^2)``; a zero factor contributes no term at all (as Keras skips it)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def emit(self, b, x):
        terms = ([_l1_term(b, x, self.l1)] if self.l1 != 0.0 else []) + \
                ([_l2_term(b, x, self.l2)] if self.l2 != 0.0 else [])
        if not terms:
            return super().emit(b, x)
        return terms[0] if len(terms) == 1 else b.Add(*terms)

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``; Keras' default factor 0.01 (also for ``'l1'``)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1", "L1")

    def emit(self, b, x):
        return _l1_term(b, x, self.l1)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x^2)``; Keras' default factor 0.01 (also for ``'l2'``)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2", "L2")

    def emit(self, b, x):
        return _l2_term(b, x, self.l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


_NORM_FLOOR = 1e-7  # Keras' epsilon: ops.normalize divides by max(norm, epsilon)


class OrthogonalRegularizer(Regularizer):
    """``factor * 0.5 * sum(|off-diagonal of V V^T|) / (n (n - 1) / 2)`` where V holds the L2-normalized
    rows (``mode='rows'``, n rows) or columns (``mode='columns'``) of a rank-2 weight."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: invalid value for argument mode: expected one of "
                             f"{{'rows', 'columns'}}, received mode={mode!r}")
        self.mode = mode

    def emit(self, b, x):
        shape = b.type(x).shape
        if len(shape) != 2:
            raise ValueError(f"OrthogonalRegularizer: inputs must have rank 2, received a tensor of shape {shape}")
        vectors = x if self.mode == "rows" else b.Transpose(x, perm=(1, 0))
        size = shape[0] if self.mode == "rows" else shape[1]
        # ops.normalize(x) = x * rsqrt(max(sum(x^2), eps^2)) along the vector axis
        square_sum = b.ReduceSum(b.Mul(vectors, vectors), axes=(1,), keepdims=1)
        unit = b.Div(vectors, b.Sqrt(b.Max(square_sum, _NORM_FLOOR * _NORM_FLOOR)))
        product = b.MatMul(unit, b.Transpose(unit, perm=(1, 0)))
        off_diagonal = b.Mul(product, (1.0 - np.eye(size)).astype(np.dtype(b.type(x).dtype)))
        pairs = size * (size - 1.0) / 2.0
        return b.Mul(b.ReduceSum(b.Abs(off_diagonal), keepdims=0), self.factor * 0.5 / pairs)

    def get_config(self) -> dict:
        return {"factor": self.factor, "mode": self.mode}


# Keras' function-style aliases (the classes themselves)
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
# The strings Keras' get() understands: class names and their snake_case ('l1l2', not 'l1_l2');
# 'l1_l2' is accepted too, as Keras' documentation spells it.
_NAMES = {**{cls.__name__: cls for cls in _CLASSES},
          **{name: cls for name, cls in (("regularizer", Regularizer), ("l1", L1), ("l2", L2), ("l1l2", L1L2),
                                         ("l1_l2", L1L2), ("orthogonal_regularizer", OrthogonalRegularizer))}}


def serialize(regularizer):
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(regularizer)


def deserialize(config, custom_objects=None):
    from fgc.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects)


def get(identifier):
    """A regularizer from None, a name, a Keras config dict, a class, an instance or a function."""
    from fgc.saving.serialization import get_callable

    return get_callable(identifier, _NAMES, "regularizer", "Regularizer")


__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2", "orthogonal_regularizer",
           "get", "serialize", "deserialize"]
