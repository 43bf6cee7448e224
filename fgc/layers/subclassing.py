"""Helpers of the Keras subclassing contract (``build`` / ``add_weight`` / ``call`` / ``compute_output_shape``)
that ``Layer`` uses; the tracing itself is in op_layer.py."""
from __future__ import annotations

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
