"""Batch fusion of Scans that run the same body with the same closures: one shared recurrent layer
called on several inputs (the siamese LSTM) becomes one Scan over the rows of all of them, its
results split back after.

    Scan(s1, x1; W), Scan(s2, x2; W)  ->  SplitEqual(Scan(Concat(s1, s2), x1, x2; W'))
    W' = W's body after joining its step inputs: body(s, ConcatEqual(x1_t, x2_t); W)

Each member's sequence stays a scanned input of its own and the body joins one step of them (a
(N, F) copy in cache), rather than a Concat of the whole (T, N, F) sequences before the loop, which
copies them through memory forwards and again backwards (measured: that ate the gain).

Exact when every row of the batch is computed independently of the others: the body is checked to
be row-wise (elementwise ops, ``row @ closure`` MatMuls, Split/Concat along the last axis, outputs
with the batch first), so a row of the fused loop does what it did in its own loop. The rewrite
halves the node executions of the loop (onnxruntime pays ~1 us per body node per step); its
gradient is one reverse Scan, and the recurrent weight's gradient still leaves the loop
(scan_grad.py: one outer-product MatMul per member).

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
from .shape_inference import ShapeInference

# Ops that compute each row of a (batch, ...) value from the same row of their inputs
ROWWISE = {"Add", "Sub", "Mul", "Div", "Neg", "Sigmoid", "Tanh", "Relu", "Exp", "Log", "Abs", "Sqrt", "Softplus",
           "Softsign", "HardSigmoid", "Elu", "Selu", "LeakyRelu", "Erf", "Max", "Min", "Pow", "Clip", "Where",
           "Cast", "Identity", "Not", "And", "Or", "Equal", "Greater", "Less", "Reciprocal", "Sign", "constant"}


ENABLED = True   # tests switch it off to compare with the unfused step


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
            while len(members) > 1:
                # one cluster at a time: fusing one joins the paths of its members, so independence is
                # judged again on the rewritten graph (two calls independent before may not be after)
                cluster = _independent_cluster(graph, members)
                members = [m for m in members if m not in cluster]
                if len(cluster) > 1:
                    _record_assumption(graph, [_length(graph, s) for s in cluster])
                    _fuse(graph, cluster)
                    modified = True
        if modified:   # a member's results now carry the first member's length symbol (equal by assumption)
            ShapeInference().run(graph)
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
    # the batch axis: first in the states and the body's outputs, second in the scanned sequences;
    # closures hold no symbolic dim (weights), so none of them can depend on the batch
    if any(graph.type_of(s).rank < 1 or graph.type_of(s).shape[0] != batch for s in states) \
            or any(graph.type_of(x).rank < 2 or graph.type_of(x).shape[1] != batch for x in scanned) \
            or any(isinstance(dim, str) for c in closures for dim in graph.type_of(c).shape) \
            or not _rowwise(attrs["body"], len(closures)):
        return None
    length = _length(graph, scan)
    length = same_length.get(length, length)
    return (length, batch, tuple(closures), tuple(graph.type_of(v) for v in states),
            tuple(graph.type_of(x).shape[1:] for x in scanned), _body_key(attrs["body"]),
            attrs_key({k: v for k, v in attrs.items() if k != "body"}))


def _rowwise(body: Graph, n_closures: int) -> bool:
    """Every value of the body is computed row by row (batch rows never mix), and every output carries
    the batch: it is computed from a state or a step input, not from the closures alone."""
    n_rows = len(body.inputs) - n_closures
    closure_values, carrying = set(body.inputs[n_rows:]), set(body.inputs[:n_rows])
    for name in body.topo_order():
        d = body.node(name)
        op = d["op"]
        if op == "input":
            continue
        ok = op in ROWWISE \
            or op == "MatMul" and d["inputs"][1] in closure_values and body.type_of(d["inputs"][0]).rank == 2 \
            or op in ("Split", "Concat") and d["attrs"]["axis"] in (-1, d["outputs"][0].rank - 1)
        if not ok:
            return False
        if any(v in carrying for v in d["inputs"]):
            carrying.update(Value(name, i) for i in range(len(d["outputs"])))
    return all(v in carrying for v in body.outputs)


def _body_key(body: Graph) -> tuple:
    """The body's structure, independent of node names: ops, wiring, attrs and types."""
    order = [v.node for v in body.inputs] + [n for n in body.topo_order() if body.op(n) != "input"]
    index = {n: i for i, n in enumerate(order)}
    nodes = tuple((body.op(n), tuple((index[v.node], v.index) for v in body.node(n)["inputs"]),
                   attrs_key(body.node(n)["attrs"]) if body.op(n) != "input" else (), body.node(n)["outputs"])
                  for n in order)
    return nodes, tuple((index[v.node], v.index) for v in body.outputs), tuple(body.output_names)


def _independent_cluster(graph, members: list[str]) -> list[str]:
    """The first Scan and, greedily, every later one that neither depends on nor feeds those taken."""
    import networkx as nx

    cluster = members[:1]
    for scan in members[1:]:
        if not any(nx.has_path(graph.nx, other, scan) or nx.has_path(graph.nx, scan, other) for other in cluster):
            cluster.append(scan)
    return cluster


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
