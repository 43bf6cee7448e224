"""Sums over leading axes as one MatMul with a ones vector.

    ReduceSum(x, axes=(0, .., k-1))   ->   MatMul(ones(R), x viewed as (R, C))    R, C: rows, columns

A bias gradient is such a sum: the cotangent of a bias added to (N, C) or (N, T, C) activations summed over
its leading axes (autodiff's unbroadcast, or Simplify's FLAT_SUMS form over the (N*T, C) rows). onnxruntime's
CPU ReduceSum over axis 0 runs slower than its MatMul kernel on the same rows (onnxruntime 1.31, one sum, ones
made at run time, medians of interleaved runs, MatMul's time / ReduceSum's at 1 thread: (128, 32) 0.81,
(128, 64) 0.59, (128, 256) 0.26, (512, 64) 0.71, (12800, 64) 0.75, (12800, 128) 0.84, (16384, 8) 0.39,
(1024, 512) 0.77; at 2 threads (128, 500) 0.32, (512, 64) 0.13: ReduceSum over rows barely uses the second
thread). Small sums are about even or lose: (128, 10) 0.94 with constant ones but 1.15 with ones made at run
time, (1024, 1) 1.01, (128, 1) 1.32. So only sums of at least MIN_ELEMENTS are rewritten, a symbolic dim
counted as SYMBOL_ROWS (a batch of 32).

The ones vector is made once per row count and dtype (RowOnes: ConstantOfShape of the rows, read from a
value's shape when symbolic) and shared by every sum over those rows (_ones says from which value). The
MatMul adds the rows in another order: float32 rounding only.

Runs last in the train step's passes (fgc/training/step.py), so no other pass meets VecMat or RowOnes.
ENABLED switches it (the A/B and the rewrite-agreement tests)."""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from fgc.ir import TensorType, Value
from fgc.ir.types import estimated_size, product

from .manager import Pass

ENABLED = True
MIN_ELEMENTS = 1024   # estimated elements of a sum below which ReduceSum stays (about even there)
SYMBOL_ROWS = 32      # what a symbolic dim counts as in that estimate
_FLOATS = ("float32", "float64")


@dataclass(frozen=True)
class RowSumsAsProducts(Pass):
    name = "row_sums"

    def run(self, graph) -> bool:
        if not ENABLED:
            return False
        topo = graph.topo_order()
        position = {n: i for i, n in enumerate(topo)}
        groups: dict = {}   # (rows, dtype) -> [(sum node, its (rows, columns) matrix)]
        for name in topo:
            if _row_sum(graph, name):
                matrix = _matrix(graph, name)
                t = graph.type_of(matrix)
                groups.setdefault((t.shape[0], t.dtype), []).append((name, matrix))
        for (rows, dtype), members in groups.items():
            for (name, matrix), ones in zip(members, _ones(graph, rows, dtype, members, position)):
                _replace(graph, name, ones, matrix)
        return bool(groups)


def _row_sum(graph, name) -> bool:
    """A ReduceSum over x's k >= 1 leading axes, with static trailing dims, big enough to pay."""
    d = graph.node(name)
    if d["op"] != "ReduceSum" or len(d["inputs"]) != 1:
        return False
    t = graph.type_of(d["inputs"][0])
    if t.dtype not in _FLOATS or t.rank < 2 or d["attrs"].get("axes") is None:
        return False
    k = len(d["attrs"]["axes"])
    trailing = t.shape[k:]
    if tuple(sorted(a % t.rank for a in d["attrs"]["axes"])) != tuple(range(k)) or not trailing or \
            not all(isinstance(c, int) for c in trailing):
        return False
    return estimated_size(t.shape, SYMBOL_ROWS) >= MIN_ELEMENTS


def _matrix(graph, name) -> Value:
    """The summed x as (rows, columns): x itself (2-D, summed over axis 0), an existing reader that reshapes it
    so (a Dense-on-3D or LSTM weight gradient's rows), else a new Reshape. onnxruntime's Reshape shares x's
    buffer even while x has other readers (a cotangent the conv or matmul backward reads too): ~11 us for 8 MB,
    profiled, against ~0.5 ms for a copy."""
    d = graph.node(name)
    x = d["inputs"][0]
    t = graph.type_of(x)
    k = len(d["attrs"]["axes"])
    if k == 1 and t.rank == 2:
        return x
    columns = product(t.shape[k:])
    for user, pos in graph.users(x.node):
        out = graph.node(user)["outputs"][0]
        if user != name and pos == 0 and graph.node(user)["inputs"][0] == x and graph.op(user) == "Reshape" and \
                out.rank == 2 and out.shape[1] == columns:
            return Value(user)
    return Value(graph.add_node(f"{name}/rows", "Reshape", (x,), (t.with_shape((product(t.shape[:k]), columns)),),
                                {"shape": (-1, columns)}, d["layer"]))


def _ones(graph, rows, dtype, members, position) -> list[Value]:
    """The ones vectors for a group's sums, one per sum: a graph input with these rows sizes one shared by
    all; else the topologically first matrix of the group that depends on none of the group's sums (reading
    its shape then makes no cycle; a new Reshape sits where its input is in the order); else each matrix sizes
    its own (x or a Reshape of x: it cannot depend on its own sum)."""
    def ones_of(source):
        return Value(graph.add_node(f"{source.node}/ones", "RowOnes", (source,), (TensorType((rows,), dtype),),
                                    {"dtype": dtype}))

    source = None if isinstance(rows, int) else \
        next((v for v in graph.inputs if graph.type_of(v).rank and graph.type_of(v).shape[0] == rows), None)
    if source is None:
        after = set().union(*(nx.descendants(graph.nx, name) for name, _ in members))
        free = [matrix for _, matrix in members if matrix.node not in after]
        if not free:
            return [ones_of(matrix) for _, matrix in members]
        source = min(free, key=lambda m: position.get(m.node, position[graph.node(m.node)["inputs"][0].node]))
    return [ones_of(source)] * len(members)


def _replace(graph, name, ones, matrix) -> None:
    d = graph.node(name)
    out = d["outputs"][0]
    columns = graph.type_of(matrix).shape[1]
    summed = Value(graph.add_node(f"{name}/ones_mm", "VecMat", (ones, matrix), (out.with_shape((columns,)),), {},
                                  d["layer"]))
    if tuple(out.shape) != (columns,):   # keepdims, or several trailing axes
        summed = Value(graph.add_node(f"{name}/shape", "Reshape", (summed,), (out,), {"shape": tuple(out.shape)},
                                      d["layer"]))
    graph.replace_uses(Value(name), summed)
    graph.remove_node(name)
