"""Random primitives (never merged by CSE).

Dropout is reproducible: each Dropout node carries an onnxruntime ``seed`` attribute, derived
from its layer's seed (``Dropout(seed=)``, or drawn from ``set_random_seed``'s stream when the
layer was made) and the count of Dropout nodes of that layer seed already in the graph (a layer
called twice, a recurrent layer's input and state masks). onnxruntime seeds a kernel's generator
once per session and draws the next seed at each run, so a fresh session repeats the sequence:
same seed, same data, same weights, in this process or another. The mixing uses no node names,
which change when a model is rebuilt in the same process.
"""
from __future__ import annotations

import numpy as np

from .registry import primitive


def _dropout_infer(types, attrs):
    return [types[0], types[0].with_dtype("bool")]


def _dropout_vjp(b, n, gs):
    # The mask output says which units were kept; kept units were scaled by 1/(1-ratio).
    keep = b.Cast(n.outputs[1], to=n.in_types[0].dtype)
    return [b.Mul(gs[0], b.Mul(keep, 1.0 / (1.0 - n.attrs["ratio"])))]


def _dropout_emit(e, n, ins, outs):
    dt = np.dtype(n.in_types[0].dtype)
    seed = {"seed": n.attrs["seed"]} if n.attrs.get("seed") is not None else {}
    e.node("Dropout", [ins[0], e.const(np.array(n.attrs["ratio"], dt)), e.const(np.array(True))], outs, **seed)


primitive("Dropout", _dropout_infer, _dropout_vjp, emit=_dropout_emit)


def op_seed(layer_seed: int, index: int) -> int:
    """A well-mixed 31-bit seed for the ``index``-th random op of a layer seeded ``layer_seed``."""
    return int(np.random.SeedSequence([int(layer_seed), int(index)]).generate_state(1)[0] >> 1)


def dropout_mask(b, like, ratio: float, layer_seed: int):
    """A mask shaped like ``like``: 1/(1 - ratio) where kept, 0 where dropped, reproducibly seeded.

    It is made from Dropout's boolean mask output, never its data output: onnxruntime's
    EliminateDropout rewrite deletes a Dropout whose mask output is unused (whatever its
    training_mode), which would silently turn dropout off."""
    return b.Where(_keep(b, like, ratio, layer_seed), b.const(1.0 / (1.0 - ratio), b.type(like).dtype), 0.0)


def dropout(b, x, ratio: float, layer_seed: int):
    """``x`` with a fraction ``ratio`` zeroed and the rest scaled by 1/(1 - ratio) (see dropout_mask)."""
    return b.Where(_keep(b, x, ratio, layer_seed), b.Mul(x, 1.0 / (1.0 - ratio)), 0.0)


def _keep(b, like, ratio: float, layer_seed: int):
    """Dropout's boolean mask output for a tensor shaped like ``like``."""
    graph = b.graph
    index = sum(1 for name in graph.nodes_with_op("Dropout")
                if graph.node(name)["attrs"].get("layer_seed") == layer_seed)
    return b.Dropout(like, ratio=ratio, layer_seed=layer_seed, seed=op_seed(layer_seed, index))[1]
