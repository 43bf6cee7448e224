"""The autodiff pass: append ``grad/<param>`` outputs, the gradients of the output named ``loss``
with respect to every trainable param. The algorithm (reverse mode over primitives, one
vjp per op, accumulation at shared values, unbroadcast once) is ``fgc.primitives.autodiff``; it
lives with the ops because control-flow primitives (Scan) differentiate their bodies with it."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value
from fgc.primitives import Builder
from fgc.primitives.autodiff import NoGradientError, backprop, gradients

from .manager import Pass

__all__ = ["Autodiff", "NoGradientError", "backprop", "gradients"]


@dataclass(frozen=True)
class Autodiff(Pass):
    loss: str = "loss"
    name = "autodiff"

    def run(self, graph) -> bool:
        loss = graph.outputs[graph.output_names.index(self.loss)]
        params = [n for n in graph.nodes_with_op("param") if graph.params[graph.node(n)["attrs"]["name"]].trainable]
        grads = gradients(graph, loss, [Value(n) for n in params])
        for n, g in zip(params, grads):
            if g is None:
                t = graph.type_of(Value(n))
                g = Builder(graph, "grad").Zeros(shape=tuple(t.shape), dtype=t.dtype)
            graph.outputs.append(g)
            graph.output_names.append(f"grad/{graph.node(n)['attrs']['name']}")
        return bool(params)
