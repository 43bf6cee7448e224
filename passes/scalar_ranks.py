"""One-element operands of broadcasting ops given the output's rank.

    Sub(1.0, y)       y: (N, 32, 32, 1)   ->   Sub(c, y)         c: 1.0 as (1, 1, 1, 1)
    Where(m, g, 0.0)  g: (N, 1)           ->   Where(m, g, c)    c: 0.0 as (1, 1)

onnxruntime's CPU kernels for a broadcasting op (Add, Sub, Mul, Div, Where, the comparisons, ...) take a
slow path, one call per element, when one operand is a single element of a lower rank than the output and
the output has a dim of 1: a segmentation loss over one-channel masks, a Rescaling of grayscale images, a
binary classifier's (N, 1) scores. The same op with that operand shaped (1, ..., 1) at the output's rank
runs the fast path (onnxruntime 1.31, 1 thread, fastest of 150 runs, Mul by a scalar):

    output              scalar or (1,)     (1,)*rank
    (128, 1)            6.2 us             4.7 us
    (1024, 1)           14.9 us            4.9 us
    (16384, 1)          168 us             6.0 us
    (16, 32, 32, 1)     297 us             9.9 us
    (16, 32, 1, 32)     20.6 us            9.7 us
    (16, 32, 32, 2)     13.6 us            10.6 us   (no dim of 1: about even)

A lower-rank operand of more than one element, (32, 1) against (512, 32, 1), runs the same either way.
The values are the same: an operand of ones-shape at the output's rank broadcasts to the same output as
the scalar does. A constant is given the new shape (free); a computed scalar gets a Reshape, a node that
costs 2-3 us, so only where the output holds at least MIN_ELEMENTS (a symbolic dim counted as a batch of
32). Runs last among the optimizations, so no other pass meets the reshaped constants.
``ENABLED`` switches it (the A/B and the tests)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgc.ir import Value
from fgc.ir.types import estimated_size

from .manager import Pass

ENABLED = True
MIN_ELEMENTS = 1024   # output elements from which a Reshape node pays for itself (~10 ns per element saved)
BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Equal", "Greater", "Less",
                          "GreaterOrEqual", "LessOrEqual", "And", "Or"})


@dataclass(frozen=True)
class ScalarRanks(Pass):
    name = "scalar_ranks"

    def run(self, graph) -> bool:
        if not ENABLED:
            return False
        made: dict = {}   # (operand, rank) -> the operand at that rank, shared by every reader
        modified = False
        for name in graph.topo_order():
            d = graph.node(name)
            if d["op"] not in BROADCASTING:
                continue
            out = d["outputs"][0]
            if out.rank < 2 or 1 not in out.shape:
                continue
            inputs = list(d["inputs"])
            for i, v in enumerate(inputs):
                t = graph.type_of(v)
                if t.rank < out.rank and all(dim == 1 for dim in t.shape):
                    key = (v, out.rank)
                    if key not in made:
                        made[key] = _at_rank(graph, v, out)
                    if made[key] is not None:
                        inputs[i] = made[key]
            if inputs != list(d["inputs"]):
                graph.set_inputs_of(name, inputs)
                modified = True
        for v, _ in made:   # a constant every reader now reads at a higher rank
            if v.node in graph and graph.op(v.node) == "constant" and not graph.users(v.node) and \
                    not graph.is_graph_output(v):
                graph.remove_node(v.node)
        return modified


def _at_rank(graph, v: Value, out) -> Value | None:
    """``v`` shaped (1,)*out.rank: a new constant for a constant, a Reshape for a computed value on an output
    big enough to pay for the node, else None (left as it is)."""
    t = graph.type_of(v)
    ones = (1,) * out.rank
    d = graph.node(v.node)
    if d["op"] == "constant":
        value = np.asarray(d["attrs"]["value"]).reshape(ones)
        return Value(graph.add_node(f"{v.node}/rank{out.rank}", "constant", (), (t.with_shape(ones),),
                                    {"value": value}))
    if estimated_size(out.shape) < MIN_ELEMENTS:
        return None
    return Value(graph.add_node(f"{v.node}/rank{out.rank}", "Reshape", (v,), (t.with_shape(ones),),
                                {"shape": ones}, d["layer"]))
