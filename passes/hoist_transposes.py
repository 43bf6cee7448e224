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
Values are unchanged: only where the permutation happens moves."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value

from .manager import Pass

ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Exp", "Sqrt"}


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
        perms = {tuple(graph.node(u)["attrs"]["perm"]) if graph.op(u) == "Transpose" else None for u, _ in readers}
        if not readers or len(perms) != 1 or None in perms:
            return False
        q = perms.pop()
        inv = _inverse(q)
        saved, added = len({u for u, _ in readers}), 0
        for v in d["inputs"]:
            if graph.op(v.node) == "Transpose" and tuple(graph.node(v.node)["attrs"]["perm"]) == inv:
                saved += 1
            elif _existing_transpose(graph, v, q) is None:
                added += 1
        if added >= saved:
            return False
        new_inputs = []
        for v in d["inputs"]:
            existing = _existing_transpose(graph, v, q)
            if existing is None:
                existing = graph.add_node(f"{v.node}/hoisted", "Transpose", (v,),
                                          (graph.type_of(v).with_shape(tuple(graph.type_of(v).shape[p] for p in q)),),
                                          {"perm": q}, d["layer"])
            new_inputs.append(Value(existing))
        attrs = dict(d["attrs"])
        if d["op"] == "Concat":
            attrs["axis"] = inv[attrs["axis"] % rank]   # the concatenated axis, where q puts it
        out_type = graph.node(readers[0][0])["outputs"][0]
        moved = graph.add_node(name, d["op"], tuple(new_inputs), (out_type,), attrs, d["layer"])
        for reader in {u for u, _ in readers}:
            graph.replace_uses(Value(reader), Value(moved))
            graph.remove_node(reader)
        graph.remove_node(name)
        return True
