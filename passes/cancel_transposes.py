"""Transpose(Transpose(x, p), q) -> Transpose(x, p∘q), and an identity permutation -> x.

Spatial layers lower as Transpose -> op -> Transpose (NHWC <-> NCHW); between two such layers
the inverse pair meets and vanishes here, so a conv stack pays two transposes, not two per layer. Also Swap(MatMul(a, b)) -> MatMul(swap(b), swap(a))
when a swap of a or b cancels (``_transposed_product``)."""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value

from .manager import Pass


def _is_swap(perm) -> bool:
    """Whether ``perm`` exchanges the last two axes only."""
    r = len(perm)
    return r >= 2 and tuple(perm) == tuple(range(r - 2)) + (r - 1, r - 2)


def _swap_of(graph, v: Value):
    """x when ``v`` is Transpose(x, swap of the last two axes), else None."""
    return graph.node(v.node)["inputs"][0] if graph.op(v.node) == "Transpose" and \
        _is_swap(graph.node(v.node)["attrs"]["perm"]) else None


def _swapped(graph, v: Value, name, layer) -> Value:
    """``v`` with its last two axes exchanged: the source of a swap Transpose, else a new Transpose."""
    inner = _swap_of(graph, v)
    if inner is not None:
        return inner
    t = graph.type_of(v)
    perm = tuple(range(t.rank - 2)) + (t.rank - 1, t.rank - 2)
    return Value(graph.add_node(f"{name}/swap", "Transpose", (v,), (t.with_shape(tuple(t.shape[p] for p in perm)),),
                                {"perm": perm}, layer))


def _transposed_product(graph, name) -> bool:
    """Swap(MatMul(a, b)) -> MatMul(swap(b), swap(a)) when a or b is itself a swap, whose Transpose then
    cancels: the MatMul vjp's d(K^T) = swap(Q) @ dS, read back as dK, becomes dS^T @ Q."""
    d = graph.node(name)
    src = d["inputs"][0]
    if not _is_swap(d["attrs"]["perm"]) or graph.op(src.node) != "MatMul" or len(graph.users(src.node)) != 1 \
            or graph.is_graph_output(src):
        return False
    a, b = graph.node(src.node)["inputs"]
    if _swap_of(graph, a) is None and _swap_of(graph, b) is None:
        return False
    operands = (_swapped(graph, b, name, d["layer"]), _swapped(graph, a, name, d["layer"]))
    new = graph.add_node(src.node, "MatMul", operands, d["outputs"], {}, d["layer"])
    graph.replace_uses(Value(name), Value(new))
    graph.remove_node(name)
    graph.remove_node(src.node)
    for v in (a, b):
        if v.node in graph and graph.op(v.node) == "Transpose" and not graph.users(v.node) \
                and not graph.is_graph_output(v):
            graph.remove_node(v.node)
    return True


@dataclass(frozen=True)
class CancelTransposes(Pass):
    name = "cancel_transposes"

    def run(self, graph) -> bool:
        modified = False
        for name in graph.nodes_with_op("Transpose"):
            if name not in graph:
                continue
            if _transposed_product(graph, name):
                modified = True
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
