"""Regularizers and constraints in the train step.

* Weight penalties: ``variable.regularizer(weight)`` for every trainable weight that has one, once per
  weight however many times its layer is called (Keras sums ``model.losses`` over
  ``model.trainable_weights``). They are read from the weights as Keras lays them out.
* Added losses: the ``aux_loss/...`` outputs lowering left (layers/layer_losses.py).
* Constraints: ``variable.constraint`` applied to the optimizer's new value of the weight inside the
  step graph (Keras applies them right after ``apply_gradients``), on its slice when the weight lives
  in the flat ``params`` buffer, in Keras layout when the step stores the weight transposed.

A built-in regularizer or constraint emits its own primitives (``emit``); anything else (a
``Regularizer`` subclass overriding ``__call__``, a plain function) is traced with ``fgc.ops`` on a
placeholder of the weight's type and the recorded calls are lowered here.
"""
from __future__ import annotations

import numpy as np

from fgc.ir import Value
from fgc.layers.layer_losses import AUX_PREFIX


def emit_penalty(b, regularizer, x) -> Value:
    """The scalar float32 penalty ``regularizer(x)`` of Value ``x``."""
    from fgc.regularizers import Regularizer

    if isinstance(regularizer, Regularizer) and type(regularizer).__call__ is Regularizer.__call__:
        value = regularizer.emit(b, x)
    else:
        value = _traced(b, regularizer, x, "regularizer")
    if b.type(value).rank:
        value = b.ReduceSum(value, keepdims=0)
    return value if b.type(value).dtype == "float32" else b.Cast(value, to="float32")


def emit_projection(b, constraint, w) -> Value:
    """``constraint(w)`` for Value ``w``: a tensor of w's type."""
    from fgc.constraints import Constraint

    if isinstance(constraint, Constraint) and type(constraint).__call__ is Constraint.__call__:
        out = constraint.emit(b, w)
    else:
        out = _traced(b, constraint, w, "constraint")
    if b.type(out) != b.type(w):
        raise ValueError(f"constraint {constraint!r} returned a tensor of type {b.type(out)} for a weight of type "
                         f"{b.type(w)}; a constraint must return a tensor of the weight's shape and dtype")
    return out


class _Owner:
    name = "penalty"


def _traced(b, fn, x, what: str) -> Value:
    """Lower ``fn`` (written with fgc.ops) applied to Value ``x``, by recording it on a placeholder."""
    from fgc.layers.base import KerasTensor
    from fgc.layers.op_layer import _nodes_between, _Source
    from fgc.naming import unique_name
    from fgc.primitives import Builder

    source = _Source(unique_name(f"{what}_arg"), b.type(x))
    try:
        out = fn(source.tensor)
    except (TypeError, ValueError, AttributeError) as e:
        raise TypeError(f"{what} {fn!r} could not be traced on a symbolic tensor of type {b.type(x)} ({e}); write "
                        f"it with fgc.ops (ops.sum, ops.square, ...), which the train step records") from e
    if not isinstance(out, KerasTensor):   # a constant (e.g. the base class's 0.0)
        arr = np.asarray(out)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{what} {fn!r} returned {type(out).__name__}; expected a tensor computed with fgc.ops")
        return b.const(arr.astype(np.dtype(b.type(x).dtype)))
    env = {id(source.tensor): x}
    for node in _nodes_between([source.tensor], [out], _Owner()):
        sub = Builder(b.graph, f"{b.prefix}/{node.layer.name}", node.layer)
        outs = node.layer.lower(sub, [env[id(t)] for t in node.inputs], {}, False, node.call_args)
        for t, v in zip(node.outputs, outs):
            env[id(t)] = v
    return env[id(out)]


def weight_penalties(graph) -> list[Value]:
    """One penalty per regularized trainable weight the graph reads (in Keras layout: call this before
    weights are given stored layouts)."""
    from fgc.primitives import Builder

    reads = {graph.node(n)["attrs"]["name"]: n for n in graph.nodes_with_op("param")}
    out = []
    for name, spec in graph.params.items():
        regularizer = getattr(spec.variable, "regularizer", None)
        if regularizer is None or not spec.trainable or name not in reads:
            continue
        b = Builder(graph, f"regularizer/{name}", getattr(spec.variable, "layer", None))
        out.append(emit_penalty(b, regularizer, Value(reads[name])))
    return out


def take_added_losses(graph) -> list[Value]:
    """Remove the ``aux_loss/`` outputs lowering left and return their values."""
    keep = [i for i, n in enumerate(graph.output_names) if not n.startswith(AUX_PREFIX)]
    taken = [v for n, v in zip(graph.output_names, graph.outputs) if n.startswith(AUX_PREFIX)]
    graph.outputs, graph.output_names = [graph.outputs[i] for i in keep], [graph.output_names[i] for i in keep]
    return taken


def weight_constraints(graph, names) -> dict:
    """Weight name -> (constraint, stored layout or None) for the trainable weights that have one."""
    out = {}
    for name in names:
        spec = graph.params[name]
        constraint = getattr(spec.variable, "constraint", None)
        if constraint is not None:
            out[name] = (constraint, spec.layout)
    return out


def _constrain_one(b, constraint, layout, w) -> Value:
    if layout is None:
        return emit_projection(b, constraint, w)
    keras_layout = b.Transpose(w, perm=tuple(int(i) for i in np.argsort(layout)))
    return b.Transpose(emit_projection(b, constraint, keras_layout), perm=tuple(layout))


def constrain_updates(b, spec, new_params: list) -> list:
    """The optimizer's new values (one per ``spec.params`` key) with each weight's constraint applied."""
    if not spec.constraints:
        return new_params
    out = []
    for key, value in zip(spec.params, new_params):
        if key == "params" and spec.flat:
            out.append(_constrain_flat(b, spec, value))
        elif key in spec.constraints:
            out.append(_constrain_one(b, *spec.constraints[key], value))
        else:
            out.append(value)
    return out


def _constrain_flat(b, spec, flat) -> Value:
    """The flat buffer with each constrained weight's slice replaced by its projection; the runs of
    unconstrained weights between them are kept as whole slices."""
    names = [n for n in spec.slices if n in spec.constraints]
    if not names:
        return flat
    pieces, cursor = [], 0
    for name in sorted(names, key=lambda n: spec.slices[n][0]):
        offset, size, shape = spec.slices[name]
        if offset > cursor:
            pieces.append(b.Slice(flat, starts=(cursor,), ends=(offset,), axes=(0,)))
        w = b.Reshape(b.Slice(flat, starts=(offset,), ends=(offset + size,), axes=(0,)), shape=tuple(shape))
        pieces.append(b.Reshape(_constrain_one(b, *spec.constraints[name], w), shape=(-1,)))
        cursor = offset + size
    total = b.type(flat).shape[0]
    if cursor < total:
        pieces.append(b.Slice(flat, starts=(cursor,), ends=(total,), axes=(0,)))
    return pieces[0] if len(pieces) == 1 else b.Concat(*pieces, axis=0)
