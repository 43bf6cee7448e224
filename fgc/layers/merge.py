"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate), their function
forms, and the Keras 1 ``merge(mode=...)`` spelling."""
from __future__ import annotations

import warnings

from fgc.ir.types import ShapeError, broadcast_shapes
from fgc.naming import check_kwargs

from .base import Layer


class _Merge(Layer):
    min_inputs = 2
    max_inputs = None

    def compute_output_types(self, input_types, node_attrs=None):
        n = len(input_types)
        if n < self.min_inputs or (self.max_inputs and n > self.max_inputs):
            want = f"exactly {self.max_inputs}" if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}"
            raise ShapeError(f"{type(self).__name__} takes {want} inputs (a list of tensors), got {n}")
        dtypes = {t.dtype for t in input_types}
        if len(dtypes) > 1:
            raise ShapeError(f"inputs have different dtypes {sorted(dtypes)}")
        try:
            shape = broadcast_shapes(*(t.shape for t in input_types))
        except ShapeError:
            raise ShapeError("inputs must have the same shape (or broadcast), got "
                             + ", ".join(str(t.keras_shape()) for t in input_types)) from None
        return [input_types[0].with_shape(shape)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        out = inputs[0]
        for x in inputs[1:]:
            out = self._combine(b, out, x)
        return [self._finish(b, out, len(inputs))]

    def _finish(self, b, out, n):
        return out


class Add(_Merge):
    def _combine(self, b, x, y):
        return b.Add(x, y)


class Subtract(_Merge):
    max_inputs = 2

    def _combine(self, b, x, y):
        return b.Sub(x, y)


class Multiply(_Merge):
    def _combine(self, b, x, y):
        return b.Mul(x, y)


class Average(Add):
    def _finish(self, b, out, n):
        return b.Mul(out, 1.0 / n)


class Maximum(_Merge):
    def _combine(self, b, x, y):
        return b.Max(x, y)


class Minimum(_Merge):
    def _combine(self, b, x, y):
        return b.Min(x, y)


class Concatenate(Layer):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_types(self, input_types, node_attrs=None):
        from fgc.ops import get

        if len(input_types) < 2:
            raise ShapeError(f"Concatenate takes a list of at least 2 tensors, got {len(input_types)}")
        rank = input_types[0].rank
        if not -rank <= self.axis < rank:
            raise ShapeError(f"axis {self.axis} is out of range for inputs of rank {rank}")
        try:
            return get("Concat").infer(input_types, {"axis": self.axis})
        except ShapeError:
            raise ShapeError(f"inputs must match in every dim except the concat axis {self.axis}; got "
                             + ", ".join(str(t.keras_shape()) for t in input_types)) from None

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.Concat(*inputs, axis=self.axis)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _functional(cls):
    def fn(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    fn.__name__ = cls.__name__.lower()
    fn.__doc__ = f"Functional form of {cls.__name__}: ``{fn.__name__}([a, b], **kwargs)``."
    return fn


add, subtract, multiply = _functional(Add), _functional(Subtract), _functional(Multiply)
average, maximum, minimum = _functional(Average), _functional(Maximum), _functional(Minimum)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of Concatenate: ``concatenate([a, b], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


_LEGACY_MODES = {"concat": None, "sum": Add, "mul": Multiply, "ave": Average, "max": Maximum}


def merge(inputs, mode="sum", concat_axis=-1, name=None, **kwargs):
    """Keras 1 ``merge([a, b], mode=...)``; use ``concatenate`` / ``add`` / ... instead."""
    check_kwargs("merge()", kwargs, ())
    if mode not in _LEGACY_MODES:
        raise ValueError(f"merge mode '{mode}' is not supported; expected one of {sorted(_LEGACY_MODES)}")
    replacement = "concatenate(inputs, axis=...)" if mode == "concat" else f"{_LEGACY_MODES[mode].__name__.lower()}(inputs)"
    warnings.warn(f"merge(mode='{mode}') is the Keras 1 spelling; use fgc.layers.{replacement}",
                  DeprecationWarning, stacklevel=2)
    if mode == "concat":
        return Concatenate(axis=concat_axis, name=name)(inputs)
    return _LEGACY_MODES[mode](name=name)(inputs)


CASES = [
    (Add, dict(), [("N", 4), ("N", 4)], ("N", 4), 0),
    (Subtract, dict(), [("N", 4), ("N", 4)], ("N", 4), 0),
    (Multiply, dict(), [("N", 3), ("N", 3), ("N", 3)], ("N", 3), 0),
    (Average, dict(), [("N", 4), ("N", 4)], ("N", 4), 0),
    (Maximum, dict(), [("N", 4), ("N", 4)], ("N", 4), 0),
    (Minimum, dict(), [("N", 4), ("N", 4)], ("N", 4), 0),
    (Concatenate, dict(axis=-1), [("N", 2), ("N", 3)], ("N", 5), 0),
    (Concatenate, dict(axis=1), [("N", 2, 3), ("N", 4, 3)], ("N", 6, 3), 0),
]
