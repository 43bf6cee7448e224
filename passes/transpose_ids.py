"""Transpose(Gather(table, ids, axis=0), p) -> Gather(table, Transpose(ids, p')) when p moves only the
ids' axes (p' is p without the table's trailing row axis).

A row lookup commutes with permuting the ids: row (i, j) of the result is table[ids[i, j]] either way.
An Embedding feeding a recurrent layer's time-major Scan pays a (N, T, D) -> (T, N, D) copy forwards
and the same copy of its gradient backwards; transposing the (N, T) int ids instead is 1/D of that, and
the embedding gradient scatters the time-major cotangent by the transposed ids directly (the QA
model: 3.3 MB + 1.6 MB each way per step). BatchFill readers of the lookup (zero initial states,
which take the batch size from dim 0) read the ids instead, whose dim 0 is the same batch.
"""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value
from fgc.primitives import Builder

from .manager import Pass


ENABLED = True   # tests switch it off to compare with the old graph


@dataclass(frozen=True)
class TransposeIds(Pass):
    name = "transpose_ids"

    def run(self, graph) -> bool:
        if not ENABLED:
            return False
        modified = False
        for name in graph.nodes_with_op("Gather"):
            if name in graph and _rewrite(graph, name):
                modified = True
        return modified


def _rewrite(graph, gather: str) -> bool:
    d = graph.node(gather)
    table, ids = d["inputs"]
    if d["attrs"].get("axis", 0) != 0 or graph.type_of(table).rank != 2 or graph.is_graph_output(Value(gather)):
        return False
    id_rank = graph.type_of(ids).rank
    users = graph.users(gather)
    transposes = [u for u, _ in users if graph.op(u) == "Transpose"]
    others = [u for u, _ in users if graph.op(u) != "Transpose"]
    perms = {tuple(graph.node(t)["attrs"]["perm"]) for t in transposes}
    if not transposes or len(perms) != 1 or any(graph.op(u) != "BatchFill" for u in others):
        return False
    perm = perms.pop()
    if perm[-1] != id_rank:   # the table's row axis must stay last
        return False
    b = Builder(graph, gather, d["layer"])
    lookup = b.Gather(table, b.Transpose(ids, perm=perm[:-1]), axis=0)
    for t in transposes:
        graph.replace_uses(Value(t), lookup)
        graph.remove_node(t)
    for u in others:   # BatchFill reads only dim 0, the batch, which the ids share
        graph.set_inputs_of(u, (ids,))
    graph.remove_node(gather)
    return True
