"""Broadcast operands in the forms onnxruntime's fast elementwise kernels take.

onnxruntime's CPU kernels for a broadcasting op (Add, Sub, Mul, Div, Where, the comparisons, ...) run a
broadcast span by span: one call per run of elements the operands share, ~10-15 ns each. Where the spans are
short the calls cost more than the arithmetic. Three such operands get another form here (columns and rows:
of the two-operand ops; scalars: of Where too); the values do not
change (each new form holds the same numbers the broadcast would have read):

    scalar    a one-element operand of lower rank, where the output has a dim of 1: onnxruntime then makes
              each element its own span. The operand takes the output's rank: a constant is reshaped (free),
              a computed scalar gets a Reshape.            Sub(1.0, y)  y: (N, 32, 32, 1)  ->  Sub(c, y)  c: (1, 1, 1, 1)
    column    (..., 1) against (..., C), C small: one span per row. The operand is made whole by a product
              with a row of ones (K = 1: y * 1.0, exact).  Sub(x, mean)  mean: (N, T, 1)  ->  Sub(x, mean @ ones(1, C))
    row       (C,) against (..., C), C small: one span per row again. The operand is expanded to the other
              operand's shape (Expand copies rows in blocks). Add(x, bias)  ->  Add(x, Expand(bias, shape(x)))

Measured (onnxruntime 1.31, 1 thread, fastest of 100-150 runs; the same op on whole operands for scale):

    scalar   Mul by a scalar      (16384, 1) 168 -> 6.0 us; (16, 32, 32, 1) 297 -> 9.9; (128, 1) 6.2 -> 4.7
    column   Sub (A, C) - (A, 1)  16384 elements: C 16 26.0 -> 14.6 us, C 32 18.5 -> 13.0, C 64 13.8 -> 13.7
    row      Add (A, C) + (C,)    16384 elements: C 16 28.1 -> 13.1 us, C 32 19.3 -> 11.9, C 64 14.0 -> 12.2
             (the same-shape op alone: 9.5 us; on 262144 elements with C = 2 the column broadcast takes 1.43 ms)

So columns and rows are rewritten for C <= SHORT_SPAN and at least MIN_SPANS rows, and a computed scalar for
outputs of at least MIN_ELEMENTS (the nodes they add cost 1-3 us each); a symbolic dim counts as a batch of 32.
The Transformer block's LayerNormalization and softmax gradients and its Dense biases on (N, 16, 32)
activations are such columns and rows; a segmentation loss over one-channel masks has such scalars. Runs last
among the optimizations, so no other pass meets the new forms. ``ENABLED`` switches it (the A/B and tests)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgc.ir import Value
from fgc.ir.types import estimated_size

from .manager import Pass

ENABLED = True
MIN_ELEMENTS = 1024   # output elements from which a scalar's Reshape pays for itself
SHORT_SPAN = 32       # spans up to this many elements are rewritten (64: about even)
MIN_SPANS = 512       # and only where there are at least this many of them
BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Equal", "Greater", "Less",
                          "GreaterOrEqual", "LessOrEqual", "And", "Or"})


@dataclass(frozen=True)
class BroadcastForms(Pass):
    name = "broadcast_forms"

    def run(self, graph) -> bool:
        if not ENABLED:
            return False
        made: dict = {}   # (rule, operand, target) -> the operand's new form, shared by every reader
        modified = False
        for name in graph.topo_order():
            d = graph.node(name)
            if d["op"] not in BROADCASTING:
                continue
            out = d["outputs"][0]
            inputs = list(d["inputs"])
            for i, v in enumerate(inputs):
                others = inputs[:i] + inputs[i + 1:]
                form = _scalar(graph, v, out, made) or (len(others) == 1 and
                                                      (_column(graph, v, others[0], out, made) or
                                                       _row(graph, v, others[0], out, made)))
                if form:
                    inputs[i] = form
            if inputs != list(d["inputs"]):
                graph.set_inputs_of(name, inputs)
                modified = True
        for _, v, _ in made:   # a constant every reader now reads in another form
            if v.node in graph and graph.op(v.node) == "constant" and not graph.users(v.node) and \
                    not graph.is_graph_output(v):
                graph.remove_node(v.node)
        return modified


def _scalar(graph, v: Value, out, made) -> Value | None:
    """A one-element operand of lower rank than an output with a dim of 1, at the output's rank."""
    t = graph.type_of(v)
    if out.rank < 2 or 1 not in out.shape or t.rank >= out.rank or any(dim != 1 for dim in t.shape):
        return None
    key = ("scalar", v, out.rank)
    if key not in made:
        ones = (1,) * out.rank
        d = graph.node(v.node)
        if d["op"] == "constant":
            made[key] = Value(graph.add_node(f"{v.node}/rank{out.rank}", "constant", (), (t.with_shape(ones),),
                                             {"value": np.asarray(d["attrs"]["value"]).reshape(ones)}))
        elif estimated_size(out.shape) >= MIN_ELEMENTS:
            made[key] = Value(graph.add_node(f"{v.node}/rank{out.rank}", "Reshape", (v,), (t.with_shape(ones),),
                                             {"shape": ones}, d["layer"]))
        else:
            made[key] = None
    return made[key]


def _short_spans(out) -> bool:
    width = out.shape[-1] if out.rank else None
    return (isinstance(width, int) and 1 < width <= SHORT_SPAN and
            estimated_size(out.shape) // width >= MIN_SPANS)


def _column(graph, v: Value, other: Value, out, made) -> Value | None:
    """(..., 1) against a whole (..., C) operand: the column times a row of ones."""
    t = graph.type_of(v)
    if not (_short_spans(out) and t.rank == out.rank and t.shape[-1] == 1 and t.shape[:-1] == out.shape[:-1]
            and graph.type_of(other).shape == out.shape and t.dtype in ("float32", "float64")):
        return None
    key = ("column", v, out.shape[-1])
    if key not in made:
        ones = np.ones((1, out.shape[-1]), np.dtype(t.dtype))
        row = Value(graph.add_node(f"{v.node}/ones_row", "constant", (), (t.with_shape(ones.shape),), {"value": ones}))
        made[key] = Value(graph.add_node(f"{v.node}/columns", "MatMul", (v, row), (t.with_shape(out.shape),), {},
                                         graph.node(v.node)["layer"]))
    return made[key]


def _row(graph, v: Value, other: Value, out, made) -> Value | None:
    """(C,) (or (1, .., 1, C)) against a whole (..., C) operand: the row expanded to the other's shape."""
    t = graph.type_of(v)
    if not (_short_spans(out) and t.rank >= 1 and t.shape[-1] == out.shape[-1] and
            all(dim == 1 for dim in t.shape[:-1]) and graph.type_of(other).shape == out.shape):
        return None
    key = ("row", v, other)
    if key not in made:
        made[key] = Value(graph.add_node(f"{v.node}/rows", "ExpandLike", (v, other), (t.with_shape(out.shape),), {},
                                         graph.node(v.node)["layer"]))
    return made[key]
