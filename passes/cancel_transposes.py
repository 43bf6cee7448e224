"""Transpose(Transpose(x, p), q) -> Transpose(x, p∘q), and an identity permutation -> x.

Spatial layers lower as Transpose -> op -> Transpose (NHWC <-> NCHW); between two such layers
the inverse pair meets and vanishes here, so a conv stack pays two transposes, not two per layer."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value

from .manager import Pass


@dataclass(frozen=True)
class CancelTransposes(Pass):
    name = "cancel_transposes"

    def run(self, graph) -> bool:
        modified = False
        for name in graph.nodes_with_op("Transpose"):
            if name not in graph:
                continue
            d = graph.node(name)
            src = d["inputs"][0]
            perm = tuple(d["attrs"]["perm"])
            if graph.op(src.node) == "Transpose":
                inner = graph.node(src.node)
                inner_perm = inner["attrs"]["perm"]
                perm = tuple(inner_perm[p] for p in perm)
                src = inner["inputs"][0]
            if perm == tuple(range(len(perm))):
                graph.replace_uses(Value(name), src)
            elif src == d["inputs"][0]:
                continue
            else:
                new = graph.add_node(name, "Transpose", (src,), d["outputs"], {"perm": perm}, d["layer"])
                graph.replace_uses(Value(name), Value(new))
            graph.remove_node(name)
            # The inner Transpose of a pair is dead now unless something else reads it: drop it here,
            # so the pair vanishes in this pass and not only after DCE.
            inner_node = d["inputs"][0].node
            if graph.op(inner_node) == "Transpose" and not graph.users(inner_node) \
                    and Value(inner_node) not in graph.outputs:
                graph.remove_node(inner_node)
            modified = True
        return modified
