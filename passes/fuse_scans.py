"""Batch fusion of Scans that run the same body with the same closures: one shared recurrent layer
called on several inputs (the siamese LSTM) becomes one Scan over the inputs concatenated along the
batch axis, its results split back after.

    Scan(s1, x1; W) , Scan(s2, x2; W)  ->  SplitEqual(Scan(Concat(s1, s2), Concat(x1, x2, axis=1); W))

Exact when every row of the batch is computed independently of the others: the body is checked to
be row-wise (elementwise ops, ``row @ closure`` MatMuls, Split/Concat along the last axis), so a
row of the fused loop does what it did in its own loop. The rewrite halves the node executions of
the loop (onnxruntime pays ~1 us per body node per step), and its gradient is one reverse Scan
whose hoisted weight gradient is one MatMul instead of two.

Conditions: the Scans are independent (no path from one to another), have equal batch dims (the
same symbol or size; the states' types are equal) and equally long scans. Lengths are equal when
they are the same size or symbol, or two symbols the graph's ``equal_dims`` groups declare equal:
a train step built under that assumption (fgc/training/runtime.py) records the groups it relied on in
``graph.assumed_dims`` and runs only on batches whose lengths agree.
Training only (before autodiff); inference lowers recurrences to native ONNX ops.
"""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Graph, Value
from fgc.ir.graph import attrs_key
from fgc.ir.verify import infer_node
from fgc.primitives import Builder
from fgc.primitives.scan_grad import inline

from .manager import Pass

# Ops that compute each row of a (batch, ...) value from the same row of their inputs
ROWWISE = {"Add", "Sub", "Mul", "Div", "Neg", "Sigmoid", "Tanh", "Relu", "Exp", "Log", "Abs", "Sqrt", "Softplus",
           "Softsign", "HardSigmoid", "Elu", "Selu", "LeakyRelu", "Erf", "Max", "Min", "Pow", "Clip", "Where",
           "Cast", "Identity", "Not", "And", "Or", "Equal", "Greater", "Less", "Reciprocal", "Sign", "constant"}


ENABLED = True   # benchmarks flip it to time the unfused step in the same process


@dataclass(frozen=True)
class FuseScans(Pass):
    name = "fuse_scans"

    def run(self, graph) -> bool:
        if not ENABLED:
            return False
        same_length = _length_classes(getattr(graph, "equal_dims", ()))
        groups: dict = {}
        for scan in graph.nodes_with_op("Scan"):
            key = _fusion_key(graph, scan, same_length)
            if key is not None:
                groups.setdefault(key, []).append(scan)
        modified = False
        for members in groups.values():
            for cluster in _independent_clusters(graph, members):
                _record_assumption(graph, [_length(graph, s) for s in cluster])
                _fuse(graph, cluster)
                modified = True
        return modified


def _length_classes(equal_dims) -> dict:
    """symbol -> the first symbol of its declared-equal group."""
    return {s: group[0] for group in equal_dims for s in group}


def _length(graph, scan):
    d = graph.node(scan)
    return graph.type_of(d["inputs"][d["attrs"]["num_states"]]).shape[0]


def _fusion_key(graph, scan, same_length):
    """What Scans must share to be fused, or None when this one cannot be (not row-wise, no batch axis)."""
    d = graph.node(scan)
    attrs, ins = d["attrs"], d["inputs"]
    ns, nx = attrs["num_states"], attrs["num_scan"]
    if ns == 0 or nx == 0 or attrs.get("saved_values"):
        return None
    states, scanned, closures = ins[:ns], ins[ns:ns + nx], ins[ns + nx:]
    batch = graph.type_of(states[0]).shape[0]
    if any(graph.type_of(s).rank < 1 or graph.type_of(s).shape[0] != batch for s in states) \
            or any(graph.type_of(x).rank < 2 or graph.type_of(x).shape[1] != batch for x in scanned) \
            or any(batch in graph.type_of(c).shape for c in closures) or not _rowwise(attrs["body"], len(closures)):
        return None
    length = _length(graph, scan)
    length = same_length.get(length, length)
    return (length, batch, tuple(closures), tuple(graph.type_of(v) for v in states),
            tuple(graph.type_of(x).shape[1:] for x in scanned), _body_key(attrs["body"]),
            attrs_key({k: v for k, v in attrs.items() if k != "body"}))


def _rowwise(body: Graph, n_closures: int) -> bool:
    """Every value of the body is computed row by row: batch rows never mix."""
    closure_values = set(body.inputs[len(body.inputs) - n_closures:])
    for name in body.topo_order():
        d = body.node(name)
        op = d["op"]
        if op == "input" or op in ROWWISE:
            continue
        if op == "MatMul" and d["inputs"][1] in closure_values and body.type_of(d["inputs"][0]).rank == 2:
            continue
        if op in ("Split", "Concat") and d["attrs"]["axis"] in (-1, d["outputs"][0].rank - 1):
            continue
        return False
    return True


def _body_key(body: Graph) -> tuple:
    """The body's structure, independent of node names: ops, wiring, attrs and types."""
    order = [v.node for v in body.inputs] + [n for n in body.topo_order() if body.op(n) != "input"]
    index = {n: i for i, n in enumerate(order)}
    nodes = tuple((body.op(n), tuple((index[v.node], v.index) for v in body.node(n)["inputs"]),
                   attrs_key(body.node(n)["attrs"]) if body.op(n) != "input" else (), body.node(n)["outputs"])
                  for n in order)
    return nodes, tuple((index[v.node], v.index) for v in body.outputs), tuple(body.output_names)


def _independent_clusters(graph, members: list[str]) -> list[list[str]]:
    """Greedy: each Scan joins the first cluster none of whose members it depends on or feeds."""
    import networkx as nx

    clusters: list[list[str]] = []
    for scan in members:
        for cluster in clusters:
            if not any(nx.has_path(graph.nx, other, scan) or nx.has_path(graph.nx, scan, other) for other in cluster):
                cluster.append(scan)
                break
        else:
            clusters.append([scan])
    return [c for c in clusters if len(c) > 1]


def _fuse(graph, cluster: list[str]) -> None:
    first = graph.node(cluster[0])
    attrs, ns, nx = first["attrs"], first["attrs"]["num_states"], first["attrs"]["num_scan"]
    b = Builder(graph, f"{cluster[0]}/fused", first["layer"])
    ins = [graph.node(s)["inputs"] for s in cluster]
    states = [b.ConcatEqual(*[i[k] for i in ins], axis=0) for k in range(ns)]
    # Each member's scanned inputs stay separate and are joined one step at a time inside the body: a join
    # of the whole (T, N, F) sequences would copy them through memory once forwards and once backwards.
    scanned = [x for i in ins for x in i[ns:ns + nx]]
    closures = list(ins[0][ns + nx:])
    body = _fused_body(attrs["body"], ns, nx, len(cluster), [b.type(v) for v in states])
    fused_attrs = {k: v for k, v in attrs.items() if k != "body"}
    fused_attrs.update(num_scan=nx * len(cluster),
                       directions=tuple(attrs.get("directions") or (0,) * nx) * len(cluster))
    fused = b.Scan(*states, *scanned, *closures, body=body, **fused_attrs)
    fused = [fused] if isinstance(fused, Value) else list(fused)
    for k, out in enumerate(fused):
        olds = [Value(s, k) for s in cluster]
        if not any(graph.value_users(v) or graph.is_graph_output(v) for v in olds):
            continue
        parts = b.SplitEqual(out, axis=0 if k < ns else 1, parts=len(cluster))
        for old, part in zip(olds, parts):
            graph.replace_uses(old, part)
    for s in cluster:
        graph.remove_node(s)


def _fused_body(body: Graph, ns: int, nx: int, members: int, state_types) -> Graph:
    """``body`` over the joined rows: states of the fused batch, each member's step inputs joined first."""
    g = Graph(body.name)
    names, types = body.input_names, [body.type_of(v) for v in body.inputs]
    states = [g.add_input(names[k], state_types[k]) for k in range(ns)]
    steps = [[g.add_input(f"{names[ns + j]}{m}", types[ns + j]) for j in range(nx)] for m in range(members)]
    closures = [g.add_input(n, t) for n, t in zip(names[ns + nx:], types[ns + nx:])]
    b = Builder(g, "join")
    joined = [b.ConcatEqual(*[steps[m][j] for m in range(members)], axis=0) for j in range(nx)]
    g.outputs = inline(g, body, states + joined + closures, "")
    g.output_names = list(body.output_names)
    for name in g.topo_order():   # every value now has the fused batch
        if g.op(name) not in ("input", "constant"):
            g.node(name)["outputs"] = tuple(infer_node(g, name))
    return g


def _record_assumption(graph, lengths: list) -> None:
    """Lengths that differ as symbols were fused on the ``equal_dims`` promise: say which ones."""
    symbols = sorted({d for d in lengths if isinstance(d, str)})
    if len(symbols) > 1:
        graph.assumed_dims = tuple(getattr(graph, "assumed_dims", ())) + (tuple(symbols),)
