"""Lower layers to primitives: each 'layer' node is replaced by what its ``lower`` emits, its
weights read through 'param' nodes. ``training`` selects the training form (e.g. Dropout)."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value
from fgc.primitives import Builder

from .manager import Pass


@dataclass(frozen=True)
class LowerLayers(Pass):
    training: bool = False
    name = "lower_layers"

    def run(self, graph) -> bool:
        layer_nodes = graph.nodes_with_op("layer")
        for name in layer_nodes:
            d = graph.node(name)
            layer = d["layer"]
            b = Builder(graph, name, layer)
            params = {}
            for w, p in zip(layer.weights, d["attrs"]["_params"]):
                params[w] = params[w.name] = b.param(p)  # by name for the layer, by variable for wrappers
            outs = layer.lower_call(b, list(d["inputs"]), params, self.training, d["attrs"].get("_call") or {})
            if len(outs) != len(d["outputs"]):
                raise RuntimeError(f"layer '{layer.name}' lowered to {len(outs)} outputs, expected {len(d['outputs'])}")
            for i, v in enumerate(outs):
                graph.replace_uses(Value(name, i), v)
            graph.remove_node(name)
        return bool(layer_nodes)
