"""Shape inference: re-derive every node's output types from its inputs, in topological order.

After a rewrite, types downstream may sharpen (a symbol resolved to a number); this pass
makes every recorded type the derived one. Errors name the layer the op came from."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import ShapeError, infer_node

from .manager import Pass


@dataclass(frozen=True)
class ShapeInference(Pass):
    name = "shape_inference"

    def run(self, graph) -> bool:
        modified = False
        for name in graph.topo_order():
            d = graph.node(name)
            try:
                types = tuple(infer_node(graph, name))
            except ShapeError as e:
                layer = d["layer"]
                where = f"layer '{layer.name}' ({type(layer).__name__})" if layer is not None else f"op {name}"
                raise ShapeError(f"shape inference failed at {where}: {e}") from None
            if types != d["outputs"]:
                d["outputs"] = types
                modified = True
        return modified
