"""MaxPool(f(x)) -> f(MaxPool(x)) and ReduceMax(f(x)) -> f(ReduceMax(x)) for a non-decreasing
elementwise f (Relu, Sigmoid, Tanh) whose result nothing else reads.

A max picks the same element before or after a non-decreasing f, so values and gradients agree: where
f is strictly increasing the argmax is the same, and where Relu is flat the gradient is 0 both ways
(a window whose max is <= 0). The activation and its gradient then run on the pooled tensor, 1/stride
of the size: in the seed three-head model's first Conv1D -> MaxPooling1D(5) the relu gradient shrinks
from 4M elements to 0.8M. Training only: in inference onnxruntime fuses Conv + Relu for free, and the
rewrite would split that fusion. Runs after CancelTransposes, so the NCW <-> NWC pair between a
channels-last Conv1D and its pooling no longer separates them."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value

from .manager import Pass

MONOTONE = {"Relu", "Sigmoid", "Tanh"}
MAX_OPS = {"MaxPool", "ReduceMax"}


@dataclass(frozen=True)
class SinkActivations(Pass):
    name = "sink_activations"

    def run(self, graph) -> bool:
        modified = False
        for pool in [n for n in graph.topo_order() if graph.op(n) in MAX_OPS]:
            d = graph.node(pool)
            src = d["inputs"][0]
            if len(d["outputs"]) != 1 or graph.op(src.node) not in MONOTONE:
                continue
            if graph.users(src.node) != [(pool, 0)] or graph.is_graph_output(src):
                continue
            act = graph.node(src.node)
            new_pool = graph.add_node(pool, d["op"], (act["inputs"][0], *d["inputs"][1:]), d["outputs"],
                                      d["attrs"], d["layer"])
            new_act = graph.add_node(src.node, act["op"], (Value(new_pool),), d["outputs"], act["attrs"],
                                     act["layer"])
            graph.replace_uses(Value(pool), Value(new_act))
            graph.remove_node(pool)
            graph.remove_node(src.node)
            modified = True
        return modified
