"""Helpers of the Keras subclassing contract (``build`` / ``add_weight`` / ``call`` / ``compute_output_shape``)
that ``Layer`` uses; the tracing itself is in op_layer.py."""
from __future__ import annotations

import functools
import inspect

from fgc.ir.types import ShapeError


def keras_shapes(inputs):
    """What Keras' ``build`` receives: a shape tuple per tensor, in the structure the layer was called with."""
    if isinstance(inputs, dict):
        return {k: keras_shapes(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [keras_shapes(t) for t in inputs]
    return inputs.shape


def check_output_shape(layer, input_types, types) -> None:
    shapes = [t.keras_shape() for t in input_types]
    declared = layer.compute_output_shape(shapes[0] if len(shapes) == 1 else shapes)
    declared = [declared] if declared and not isinstance(declared[0], (tuple, list)) else list(declared)
    got = [t.keras_shape() for t in types]
    if len(declared) != len(got) or any(
            len(d) != len(g) or any(a is not None and b is not None and a != b for a, b in zip(d, g))
            for d, g in zip(declared, got)):
        raise ShapeError(f"compute_output_shape returned {declared[0] if len(declared) == 1 else declared}, but "
                         f"call() computes {got[0] if len(got) == 1 else got}")


def takes_kwargs(params) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_weight_args(layer, name, regularizer, constraint, overwrite_with_gradient):
    """The (regularizer, constraint) objects ``add_weight`` got, resolved (names, configs) and checked."""
    from fgc import constraints, regularizers

    where = f"layer '{layer.name}': add_weight({name!r})"
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{where}: name must be a string, got {type(name).__name__}")
    if overwrite_with_gradient:
        raise NotImplementedError(f"{where}: overwrite_with_gradient=True is not supported by fgc")
    try:
        return regularizers.get(regularizer), constraints.get(constraint)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{where}: {e}") from None


# ------------------------------------------------------------------ masks (Keras 3: layer.py's masking contract)
@functools.lru_cache(maxsize=None)
def overrides_compute_mask(cls) -> bool:
    """Whether a user class (not fgc's) defines ``compute_mask``: Keras 3 then defaults ``supports_masking`` to True."""
    return any("compute_mask" in vars(k) for k in cls.__mro__ if not k.__module__.startswith("fgc."))


def call_takes_mask(layer) -> bool:
    """Keras 3 passes the incoming mask to a ``call`` that has a ``mask`` parameter."""
    return "mask" in inspect.signature(layer.call).parameters


def output_masks(layer, inputs, previous):
    """The masks of a call's outputs: ``compute_mask(inputs, mask)``. A user's own compute_mask gets the
    mask as a boolean tensor (Keras hands it one) and may return a tensor, which then masks the outputs."""
    if not overrides_compute_mask(type(layer)):
        return layer.compute_mask(inputs, previous)
    given = _mask_tensors(previous)
    return _as_masks(layer.compute_mask(inputs, given), given, previous)


def _mask_tensors(mask):
    """A Mask as a boolean KerasTensor computed in the graph (a list of masks: a list of them)."""
    from .base import KerasTensor
    from .masks import encode, lower_spec
    from .op_layer import OpLayer

    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        return [_mask_tensors(m) for m in mask]
    if mask.kind == "tensor" and isinstance(mask.source, KerasTensor) and mask.source.dtype == "bool":
        return mask.source
    leaves, spec = encode(mask)

    def as_bool(b, *values):
        return b.Cast(lower_spec(b, list(values), spec, "float32"), to="bool")
    return OpLayer("mask", as_bool)(leaves)


def _as_masks(out, given, previous):
    from .base import KerasTensor
    from .masks import explicit_mask

    if out is None:
        return None
    if out is given:
        return previous
    if isinstance(out, (list, tuple)):
        givens = given if isinstance(given, (list, tuple)) else [given] * len(out)
        previouses = previous if isinstance(previous, (list, tuple)) else [previous] * len(out)
        return [_as_masks(o, g, p) for o, g, p in zip(out, givens, previouses)]
    if isinstance(out, KerasTensor):
        return explicit_mask(out)
    return out


# ------------------------------------------------------------------ Keras' automatic config (ops/operation.py)
_BASIC = (str, int, float, bool, type(None))


def auto_config(cls, args, kwargs):
    """The constructor arguments of a user's layer or model as Keras 3 records them for a class without its own
    get_config: every argument (defaults included, ``**kwargs`` spread, ``name`` left to get_config) when all are
    plain values (str, int, float, bool, None, and lists / tuples / dicts of them); else None."""
    if cls.__module__.startswith("fgc."):
        return None
    signature = inspect.signature(cls.__init__)
    params = list(signature.parameters.values())
    if any(p.kind is p.POSITIONAL_ONLY for p in params[1:]):
        return None
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    values = dict(bound.arguments)
    values.pop(params[0].name)
    for p in params[1:]:
        if p.kind is p.VAR_KEYWORD:
            values.update(values.pop(p.name, {}))
        elif p.kind is p.VAR_POSITIONAL and values.pop(p.name, ()):
            return None
    values.pop("name", None)
    return values if all(_is_basic(v) for v in values.values()) else None


def _is_basic(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_basic(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_basic(v) for k, v in value.items())
    return isinstance(value, _BASIC)


@functools.lru_cache(maxsize=None)
def own_get_config(cls) -> bool:
    """Whether a user class (not fgc's) defines get_config."""
    return any("get_config" in vars(k) for k in cls.__mro__ if not k.__module__.startswith("fgc."))
