"""MatMul + Add -> Gemm.

    Add(MatMul(x, W), b)  ==  Gemm(x, W, b)      for x: [M, K], W: [K, N], b: [N] or [M, N]

Gemm is 2-D only, so rank-3 Dense stays MatMul + Add. The fusion refuses (and records why in
the MatMul's meta) when the MatMul result has another user: Gemm would not produce it."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value

from .manager import Pass


@dataclass(frozen=True)
class FuseGemm(Pass):
    name = "fuse_gemm"

    def run(self, graph) -> bool:
        modified = False
        for mm in graph.nodes_with_op("MatMul"):
            x, w = graph.node(mm)["inputs"]
            if graph.type_of(x).rank != 2 or graph.type_of(w).rank != 2:
                continue
            users = graph.users(mm)
            if len(users) != 1 or graph.op(users[0][0]) != "Add" or graph.is_graph_output(Value(mm)):
                if users and any(graph.op(u) == "Add" for u, _ in users):
                    graph.node(mm)["meta"]["fuse_gemm"] = "refused: the MatMul result has other users"
                continue
            add, pos = users[0]
            bias = graph.node(add)["inputs"][1 - pos]
            out_type = graph.node(add)["outputs"][0]
            if graph.type_of(bias).rank > 2 or out_type != graph.node(mm)["outputs"][0]:
                continue  # the bias would broadcast the product to a bigger shape
            gemm = graph.add_node(mm.rsplit("/", 1)[0] + "/Gemm", "Gemm", (x, w, bias), (out_type,),
                                  layer=graph.node(mm)["layer"])
            graph.replace_uses(Value(add), Value(gemm))
            graph.remove_node(add)
            graph.remove_node(mm)
            modified = True
        return modified
