"""Shared-weight deduplication: a layer called k times reads its weights through k 'param'
nodes after lowering; merge them into one per param, so every call site reads the same value
and autodiff sums the gradients of all uses. Identical constants are merged the same way
(the precedent is onnx/ir-py's initializer deduplication)."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value, attrs_key

from .manager import Pass


def merge_sources(graph, op: str, key) -> bool:
    first: dict = {}
    modified = False
    for name in graph.nodes_with_op(op):
        k = key(graph.node(name))
        if k in first:
            graph.replace_uses(Value(name), Value(first[k]))
            graph.remove_node(name)
            modified = True
        else:
            first[k] = name
    return modified


@dataclass(frozen=True)
class DedupSharedWeights(Pass):
    name = "dedup_shared_weights"

    def run(self, graph) -> bool:
        params = merge_sources(graph, "param", lambda d: d["attrs"]["name"])
        consts = merge_sources(graph, "constant", lambda d: attrs_key(d["attrs"]))
        return params or consts
