"""Common-subexpression elimination: two nodes with the same op, inputs and attributes compute
the same values, so the later one's users read the earlier one. Random ops are never merged."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value, attrs_key

from .manager import Pass

IMPURE = {"Dropout", "RandomUniformLike", "RandomNormalLike", "input", "param"}


@dataclass(frozen=True)
class CSE(Pass):
    name = "cse"

    def run(self, graph) -> bool:
        seen: dict = {}
        modified = False
        for name in graph.topo_order():
            d = graph.node(name)
            if d["op"] in IMPURE or d["op"] in ("layer", "model"):
                continue
            key = (d["op"], d["inputs"], attrs_key(d["attrs"]))
            if key in seen:
                for i in range(len(d["outputs"])):
                    graph.replace_uses(Value(name, i), Value(seen[key], i))
                graph.remove_node(name)
                modified = True
            else:
                seen[key] = name
        return modified
