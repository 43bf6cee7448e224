"""Trace a Python function of tensors, written with ``fgc.ops`` and tensor operators, into builder values.

``trace_into(b, fn, values)`` calls ``fn`` on placeholder tensors typed like ``values`` (so the ops
record instead of computing), then emits the recorded calls with builder ``b`` on ``values``
themselves. It is how a custom loss function or a ``Loss.call`` enters the train step: the
primitives it is made of carry the shape rules and vjps, so autodiff needs nothing more. The same
mechanism serves subclassed layers (``fgc.layers.op_layer.Trace``); a traced function has no
weights, so reading a layer's weight inside it is an error.
"""
from __future__ import annotations

from fgc import naming
from fgc.ir import Graph, TensorType, Value


class _Owner:
    """What a Trace needs of the thing it traces for: a name for its placeholders and errors."""

    def __init__(self, name: str):
        self.name = name


def _what(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def trace_into(b, fn, values: list, kwargs: dict | None = None, what: str | None = None) -> Value:
    """``fn(*tensors, **kwargs)`` emitted with builder ``b`` on ``values``; it must return one tensor.

    ``what`` names the function in errors (default: its qualified name)."""
    from fgc.layers.base import KerasTensor
    from fgc.layers.op_layer import ReadVariable, Trace

    what = what or _what(fn)
    owner = _Owner(what)
    types = [b.type(v) for v in values]
    saved_names = dict(naming._counts)   # the recorded ops must not shift the names of later user layers

    def call(args):
        result = fn(*args, **(kwargs or {}))
        if not isinstance(result, KerasTensor):
            raise TypeError(f"{what} returned {type(result).__name__}; a loss must return a tensor computed from "
                            f"y_true and y_pred with fgc.ops and tensor operators (one value per sample, or per "
                            f"element)")
        return result

    try:
        trace = Trace(owner, types)
        trace.run(call, [None] * len(values))
    finally:
        naming._counts.clear()
        naming._counts.update(saved_names)
    weights = [node.layer.variable.path for node in trace.nodes if isinstance(node.layer, ReadVariable)]
    if weights:
        raise ValueError(f"{what} reads the weight {weights[0]!r}; a loss function has no weights of its own (a "
                         f"weight would be frozen into the loss as a constant). Compute the term in a layer and "
                         f"add it with add_loss(), or pass it in as a model output")
    return trace.lower(b, list(values), {})[0]


def traced_shape(emit, input_types: list[TensorType]) -> tuple:
    """The shape of ``emit(b, *inputs)`` for inputs of ``input_types``, from a scratch graph."""
    from fgc.primitives import Builder

    g = Graph("shape_of")
    b = Builder(g, "shape_of")
    inputs = [g.add_input(f"x{i}", t) for i, t in enumerate(input_types)]
    return tuple(g.type_of(emit(b, *inputs)).shape)
