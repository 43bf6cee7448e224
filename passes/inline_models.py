"""Inline nested models: a 'model' node becomes the layer nodes of its model, reading the same
params (the weights are shared, not copied), until no 'model' node is left."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value

from .manager import Pass


@dataclass(frozen=True)
class InlineModels(Pass):
    name = "inline_models"

    def run(self, graph) -> bool:
        modified = False
        while models := graph.nodes_with_op("model"):
            for name in models:
                d = graph.node(name)
                outs = d["layer"].inline_into(graph, d["inputs"], prefix=f"{name}/", call_args=d["attrs"].get("_call"))
                for i, v in enumerate(outs):
                    graph.replace_uses(Value(name, i), v)
                graph.remove_node(name)
                modified = True
        return modified
