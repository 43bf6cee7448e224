"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate), their function
forms, and the Keras 1 ``merge(mode=...)`` spelling.

Masks follow Keras 3: the element-wise merges' output mask is the OR of their inputs' masks (none
when any input has none); Concatenate's broadcasts each mask over its input (all True where
missing), concatenates on the axis and keeps a step where any value is kept. Multiply, Maximum and
Minimum also let masked values drop out of the result, as Keras 3 does (see their ``_merge``)."""
from __future__ import annotations

import warnings

from fgc.ir.types import ShapeError, broadcast_shapes
from fgc.naming import check_kwargs

from .base import Layer
from .masks import any_mask, concat_mask, split_mask


def _check_masks(layer, inputs, mask):
    """Keras' compute_mask checks: one mask (or None) per input, given as lists."""
    if not isinstance(mask, (list, tuple)):
        raise ValueError(f"{type(layer).__name__}.compute_mask: mask should be a list with one mask (or None) per "
                         f"input, got {type(mask).__name__}")
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(f"{type(layer).__name__}.compute_mask: inputs should be a list, got {type(inputs).__name__}")
    if len(mask) != len(inputs):
        raise ValueError(f"{type(layer).__name__}.compute_mask: got {len(inputs)} inputs and {len(mask)} masks; "
                         f"give one mask (or None) per input")


class _Merge(Layer):
    min_inputs = 2
    max_inputs = None
    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        _check_masks(self, inputs, mask)
        if any(m is None for m in mask):
            return None
        return any_mask(list(mask))

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
        inputs, keeps = split_mask(b, inputs, call_args, b.type(inputs[0]).dtype)
        if keeps is not None:
            return [self._merge_masked(b, inputs, keeps)]
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


def _kept(b, keep):
    """A float (N, T) keep-mask as a boolean (N, T, 1) condition that broadcasts over features."""
    return b.Greater(b.Unsqueeze(keep, axes=(-1,)), b.const(0.0, b.type(keep).dtype))


class Multiply(_Merge):
    consumes_input_masks = True

    def _combine(self, b, x, y):
        return b.Mul(x, y)

    def _merge_masked(self, b, inputs, keeps):
        """Keras 3: masked values count as 1 in the product; when every input has a mask, positions
        masked in all of them output 0."""
        one = b.const(1.0, b.type(inputs[0]).dtype)
        out, any_kept = None, None
        for x, keep in zip(inputs, keeps):
            if keep is not None:
                x = b.Where(_kept(b, keep), x, one)
            out = x if out is None else b.Mul(out, x)
        if all(k is not None for k in keeps):
            any_kept = keeps[0]
            for keep in keeps[1:]:
                any_kept = b.Max(any_kept, keep)
            out = b.Where(_kept(b, any_kept), out, b.const(0.0, b.type(out).dtype))
        return out


class Average(Add):
    def _finish(self, b, out, n):
        return b.Mul(out, 1.0 / n)


class _MaskedExtremum(_Merge):
    """Maximum / Minimum under masks, as Keras 3 computes them: where one side is masked the other
    side's value is taken, so a masked value never wins (both masked: the op of the raw values)."""

    consumes_input_masks = True

    def _merge_masked(self, b, inputs, keeps):
        out, out_kept = inputs[0], keeps[0]
        for x, keep in zip(inputs[1:], keeps[1:]):
            if keep is not None:
                x = b.Where(_kept(b, keep), x, out)
            if out_kept is not None:
                out = b.Where(_kept(b, out_kept), out, x)
            out_kept = b.Max(out_kept, keep) if keep is not None and out_kept is not None else None
            out = self._combine(b, out, x)
        return out


class Maximum(_MaskedExtremum):
    def _combine(self, b, x, y):
        return b.Max(x, y)


class Minimum(_MaskedExtremum):
    def _combine(self, b, x, y):
        return b.Min(x, y)


class Concatenate(Layer):
    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        _check_masks(self, inputs, mask)
        if all(m is None for m in mask):
            return None
        return concat_mask(list(inputs), list(mask), self.axis)

    def compute_output_types(self, input_types, node_attrs=None):
        from fgc.primitives import get

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
