"""Transpose(f(a, b, ...), q) -> f(Transpose(a, q), Transpose(b, q), ...) for an elementwise f (and
Concat, whose axis moves with the permutation) when every reader of f's result transposes it by the
same q, and the move removes more Transposes than it adds.

Why: Keras layers are channels-last and ONNX Conv is channels-first, so a residual ``add([conv(x), x])``
between two convs sits between Transpose(conv, to NHWC) and Transpose(add, to NCHW). Moving the reader's
Transpose above the add meets the conv's inverse Transpose (CancelTransposes removes the pair) and the
input's own Transpose to NCHW, which the first conv already made (reused here, not duplicated): the add
then runs in NCHW and two full-size copies disappear, with their gradients. The same holds for the
Concat of an Inception module's branches. Counting: a Transpose is saved per reader, and per input
that is an inverse Transpose; one is added per input that has no Transpose by q yet. f must be
elementwise over inputs of its own rank (broadcasting stays correct when every input is permuted alike).
Values are unchanged: only where the permutation happens moves.

A reduction that drops its axes (keepdims=0) and keeps the others in the same order either way reads
f's result in either layout, so it takes q on instead of a Transpose: the global average pooling after
an Inception module's Concat or a residual add (channels-last axes (1, 2) of NHWC are axes (2, 3) of
NCHW, both leave (N, C)). Then q comes from f's inputs (the inverse of their common Transpose), and the
branches' Transposes back to channels-last all go (inception's exported file: 5 -> 1 Transpose)."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value

from .manager import Pass

ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Exp", "Sqrt"}
REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"}


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _existing_transpose(graph, v: Value, perm):
    """A Transpose node that already permutes ``v`` by ``perm``, or None."""
    for user, _ in graph.value_users(v):
        if graph.op(user) == "Transpose" and tuple(graph.node(user)["attrs"]["perm"]) == perm:
            return user
    return None


def _perm_of(graph, node):
    return tuple(graph.node(node)["attrs"]["perm"]) if graph.op(node) == "Transpose" else None


def _absorbed_axes(graph, reader, rank, q):
    """The axes ``reader`` reduces once its input is Transpose(x, q) instead of x, when it gives the same
    result then (keepdims=0 and the kept axes in the same order); None otherwise."""
    d = graph.node(reader)
    if d["op"] not in REDUCTIONS or d["attrs"].get("keepdims", 1) or len(d["inputs"]) != 1:
        return None
    axes = d["attrs"].get("axes")
    axes = set(range(rank)) if axes is None else {a % rank for a in axes}
    moved = tuple(i for i in range(rank) if q[i] in axes)   # Transpose: output axis i is input axis q[i]
    kept = [q[i] for i in range(rank) if i not in moved]
    return moved if kept == sorted(kept) else None


def _target_perm(graph, d, readers):
    """q: the permutation every Transpose reader applies, or, where no reader is a Transpose, the inverse
    of the one permutation f's transposed inputs share; None when there is no single one."""
    perms = {_perm_of(graph, u) for u, _ in readers} - {None}
    if not perms:
        perms = {_inverse(p) for v in d["inputs"] if (p := _perm_of(graph, v.node)) is not None}
    return perms.pop() if len(perms) == 1 else None


@dataclass(frozen=True)
class HoistTransposes(Pass):
    name = "hoist_transposes"

    def run(self, graph) -> bool:
        modified, changed = False, True
        while changed:   # a hoisted op's inputs may now qualify in turn (a relu below a residual add)
            changed = False
            for name in [n for n in graph.topo_order() if graph.op(n) in ELEMENTWISE | {"Concat"}]:
                if name in graph and self._hoist(graph, name):
                    changed = modified = True
        return modified

    def _hoist(self, graph, name) -> bool:
        d = graph.node(name)
        out = Value(name)
        rank = d["outputs"][0].rank
        if len(d["outputs"]) != 1 or graph.is_graph_output(out) or rank < 2:
            return False
        if any(graph.type_of(v).rank != rank for v in d["inputs"]):
            return False
        readers = graph.users(name)
        q = _target_perm(graph, d, readers) if readers else None
        if q is None:
            return False
        absorbed = {}   # reduction reader -> the axes it reduces in the permuted layout
        for u, _ in readers:
            if _perm_of(graph, u) == q:
                continue
            axes = _absorbed_axes(graph, u, rank, q)
            if axes is None:
                return False
            absorbed[u] = axes
        inv = _inverse(q)
        saved, added = len({u for u, _ in readers} - set(absorbed)), 0
        for v in d["inputs"]:
            if _perm_of(graph, v.node) == inv:
                saved += 1
            elif _existing_transpose(graph, v, q) is None:
                added += 1
        if added >= saved:
            return False
        new_inputs, undone = [], []
        for v in d["inputs"]:
            if _perm_of(graph, v.node) == inv:   # Transpose(x, inv) permuted by q is x
                new_inputs.append(graph.node(v.node)["inputs"][0])
                undone.append(v.node)
                continue
            existing = _existing_transpose(graph, v, q)
            if existing is None:
                existing = graph.add_node(f"{v.node}/hoisted", "Transpose", (v,),
                                          (graph.type_of(v).with_shape(tuple(graph.type_of(v).shape[p] for p in q)),),
                                          {"perm": q}, d["layer"])
            new_inputs.append(Value(existing))
        attrs = dict(d["attrs"])
        if d["op"] == "Concat":
            attrs["axis"] = inv[attrs["axis"] % rank]   # the concatenated axis, where q puts it
        out_type = d["outputs"][0].with_shape(tuple(d["outputs"][0].shape[p] for p in q))
        moved = graph.add_node(name, d["op"], tuple(new_inputs), (out_type,), attrs, d["layer"])
        for reader in {u for u, _ in readers}:
            r = graph.node(reader)
            if reader in absorbed:
                new = graph.add_node(reader, r["op"], (Value(moved),), r["outputs"],
                                     {**r["attrs"], "axes": absorbed[reader]}, r["layer"])
                graph.replace_uses(Value(reader), Value(new))
            else:
                graph.replace_uses(Value(reader), Value(moved))
            graph.remove_node(reader)
        graph.remove_node(name)
        for t in set(undone):   # dropped now, so that the next candidate counts the Transposes really left
            if t in graph and not graph.users(t) and not graph.is_graph_output(Value(t)):
                graph.remove_node(t)
        return True
