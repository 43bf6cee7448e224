"""Dead-code elimination: drop every node no graph output depends on (graph inputs stay)."""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .manager import Pass


@dataclass(frozen=True)
class DCE(Pass):
    name = "dce"

    def run(self, graph) -> bool:
        live = set()
        for v in graph.outputs:
            live.add(v.node)
            live |= nx.ancestors(graph.nx, v.node)
        dead = [n for n in reversed(graph.topo_order()) if n not in live and graph.op(n) != "input"]
        for n in dead:
            graph.remove_node(n)
        return bool(dead)
