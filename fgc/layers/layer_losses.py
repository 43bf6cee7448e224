"""Losses a layer adds while it runs: ``add_loss`` in a subclassed layer's ``call`` and the
``activity_regularizer`` penalty on a layer's outputs (Keras 3's ``Layer.__call__``).

Both become graph outputs named ``aux_loss/<layer>`` while a step graph is lowered (the graph's
``collect_losses`` flag, set by fgc/training/step.py only); the step adds them to the total loss.
Inference and export graphs never carry them. A layer called k times adds its losses k times,
since each call event is lowered on its own.
"""
from __future__ import annotations

AUX_PREFIX = "aux_loss/"


def add_graph_loss(b, value) -> None:
    """Record ``value`` (any shape; summed, as Keras sums each added loss) as a term of the step's loss."""
    graph = b.graph
    if not getattr(graph, "collect_losses", False):
        return
    rank = b.type(value).rank
    total = b.ReduceSum(value, keepdims=0) if rank else value
    if b.type(total).dtype != "float32":   # Keras casts added losses to floatx
        total = b.Cast(total, to="float32")
    owner = b.layer.name if b.layer is not None else "loss"
    name, k = f"{AUX_PREFIX}{owner}", 1
    while name in graph.output_names:
        name, k = f"{AUX_PREFIX}{owner}#{k}", k + 1
    graph.outputs.append(total)
    graph.output_names.append(name)


def lower_call(layer, b, inputs, params, training, call_args):
    """``layer.lower`` under the layer's dtype policy (autocast), plus the activity-regularization loss of
    its outputs (one call event), computed in float32 as Keras computes losses."""
    from .autocast import lower

    outs = lower(layer, b, inputs, params, training, call_args)
    regularizer = getattr(layer, "activity_regularizer", None)
    if regularizer is not None and getattr(b.graph, "collect_losses", False):
        for out in outs:
            if b.type(out).dtype in ("float16", "bfloat16"):
                out = b.Cast(out, to="float32")
            add_graph_loss(b, activity_penalty(b, regularizer, out))
    return outs


def activity_penalty(b, regularizer, out):
    """``regularizer(out) / batch size`` (Keras divides so the strength does not depend on the batch size;
    ``divide_no_nan``: an empty batch gives 0)."""
    from fgc.training.penalties import emit_penalty

    penalty = emit_penalty(b, regularizer, out)
    if b.type(out).rank == 0:
        return penalty
    batch = b.Cast(b.SizeOf(out, axes=(0,)), to=b.type(penalty).dtype)
    return b.Div(penalty, b.Max(batch, 1.0))   # the penalty of an empty batch is 0 already


def record_add_loss(layer, value) -> None:
    """``layer.add_loss(value)``: inside a traced ``call`` the symbolic value joins the trace's losses."""
    from .base import KerasTensor, flatten
    from .op_layer import active_trace

    values = flatten(value)
    trace = active_trace()
    for v in values:
        if not isinstance(v, KerasTensor) or trace is None:
            raise ValueError(f"layer '{layer.name}': add_loss() can only be called from inside call() of a subclassed "
                             f"layer, on a tensor computed there with fgc.ops (received {type(v).__name__}). For a "
                             f"weight penalty pass a regularizer; for a loss on a model's output use compile(loss=...)")
    trace.losses.extend(values)


def record_eager_activity(layer, outputs) -> None:
    """After ``layer(arrays)``: its activity penalties for ``layer.losses`` (Keras keeps the last call's)."""
    import numpy as np

    from .base import flatten

    regularizer = getattr(layer, "activity_regularizer", None)
    losses = []
    if regularizer is not None:
        for out in flatten(outputs):
            penalty = np.asarray(regularizer(out), dtype=np.float32)
            losses.append(penalty / np.float32(max(out.shape[0], 1)) if out.ndim else penalty)
    layer._call_losses = losses


def weight_losses(weights) -> list:
    """The current penalty of each weight that has a regularizer (eager, as float32 scalars)."""
    import numpy as np

    out = []
    for w in weights:
        regularizer = getattr(w, "regularizer", None)
        if regularizer is not None:
            out.append(np.asarray(regularizer(w.numpy()), dtype=np.float32))
    return out
