"""Structural checks on a graph, re-deriving every type; failures show the IR around the op."""
from __future__ import annotations

import networkx as nx

from .printer import print_node

SOURCES = ("input", "param", "constant")
LAYER_OPS = ("layer", "model")


class VerifyError(AssertionError):
    pass


def infer_node(graph, name: str):
    """Output types of ``name`` re-derived from its inputs (sources return what they hold)."""
    from fgc import primitives

    d = graph.node(name)
    if d["op"] in SOURCES:
        return d["outputs"]
    in_types = [graph.type_of(v) for v in d["inputs"]]
    if d["op"] in LAYER_OPS:
        return tuple(d["layer"].infer_node(in_types, d["attrs"].get("_call") or {}))
    return tuple(primitives.get(d["op"]).infer(in_types, d["attrs"]))


def _context(graph, name: str, radius: int = 3) -> str:
    order = graph.topo_order()
    i = order.index(name) if name in order else 0
    lines = []
    for n in order[max(0, i - radius): i + radius + 1]:
        mark = ">>" if n == name else "  "
        lines.append(f"{mark} {print_node(graph, n)}")
    return "\n".join(lines)


def verify(graph) -> None:
    from fgc import primitives

    def fail(name, msg):
        raise VerifyError(f"{msg}\n{_context(graph, name) if name in graph else ''}")

    if not nx.is_directed_acyclic_graph(graph.nx):
        raise VerifyError(f"graph has a cycle: {nx.find_cycle(graph.nx)}")
    for name in graph.topo_order():
        d = graph.node(name)
        op = d["op"]
        if op not in SOURCES + LAYER_OPS and op not in primitives.OPS:
            fail(name, f"op {op!r} of {name} is not registered")
        edges = sorted((k, src) for src, _, k in graph.nx.in_edges(name, keys=True))
        if edges != [(i, v.node) for i, v in enumerate(d["inputs"])]:
            fail(name, f"edges into {name} do not mirror its inputs")
        for v in d["inputs"]:
            if v.index >= len(graph.node(v.node)["outputs"]):
                fail(name, f"{name} reads output {v.index} of {v.node}, which has fewer outputs")
        if op == "param":
            spec = graph.params.get(d["attrs"]["name"])
            if spec is None or spec.type != d["outputs"][0]:
                fail(name, f"param node {name} does not match graph.params")
        for p in d["attrs"].get("_params", ()):
            if p not in graph.params:
                fail(name, f"{name} reads unknown param {p}")
        try:
            derived = tuple(infer_node(graph, name))
        except Exception as e:  # noqa: BLE001 - report any rule failure with context
            fail(name, f"re-inferring {name} failed: {e}")
        if _erase_fresh(derived) != _erase_fresh(d["outputs"]):
            fail(name, f"{name} records {', '.join(map(str, d['outputs']))} "
                       f"but its inputs give {', '.join(map(str, derived))}")
    for v in graph.outputs:
        if v.node not in graph:
            raise VerifyError(f"graph output {v} does not exist")
    if len(set(graph.output_names)) != len(graph.output_names):
        raise VerifyError(f"duplicate output names {graph.output_names}")


def _erase_fresh(types):
    """Symbols minted by shape rules (R*, S*, P*) get new numbers each time: compare their place only."""
    def erase(d):
        return "?" if isinstance(d, str) and d[:1] in "RSP" and d[1:].isdigit() else d

    return [(t.dtype, tuple(erase(d) for d in t.shape)) for t in types]
