"""Algebraic simplification and constant folding: the small rewrites that autodiff and the
loss fragments leave room for, each one removing a node (and its onnxruntime call).

    x * 1, 1 * x, x + 0, x - 0, x / 1          -> x
    Reshape/ReshapeLike/Transpose/Squeeze/Unsqueeze/Cast/Identity with out type == in type -> x
    Reshape(Reshape(x)), the inner read only there -> Reshape(x), or x when the shapes round-trip
    ExpandLike(a, like) read only by elementwise ops whose other operand already has like's
    shape                                        -> a   (broadcasting expands it anyway)
    an op whose inputs are all constants         -> a constant (evaluated with onnx's reference
                                                    evaluator on the op's own emission)
    ArgMax(Softmax(x)) over the softmax's axis   -> ArgMax(x)   (softmax keeps the order; accuracy reads it)
    ReduceSum(Mul(a, b)) of two vectors, the Mul read only there
                                                 -> Dot(a, b)   (ONNX MatMul: the weighted loss sum; the
                                                    sum's order may differ, so float32 rounding may too)
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from fgc.ir import Value

from .evaluate import evaluate_node
from .manager import Pass

_NEUTRAL = {"Mul": 1.0, "Div": 1.0, "Add": 0.0, "Sub": 0.0}
_RESHAPES = {"Reshape", "ReshapeLike"}
_SHAPE_ONLY = {"Reshape", "ReshapeLike", "Transpose", "Squeeze", "Unsqueeze", "Cast", "Identity", "ExpandLike"}
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Where"}
_FOLD_LIMIT = 1 << 16
# readers of a value's type only (op, input position)
_SHAPE_READS = {("ExpandLike", 1), ("ReshapeLike", 1), ("ZerosLike", 0)}
DOT_RULE = True
FLAT_SUMS = True   # False: keep a bias gradient's ReduceSum over the leading axes (the A/B and tests switch it)   # False: keep ReduceSum(Mul(a, b)) (the A/B and exactness tests switch it)  # elements: folding bigger constants would only bloat the model


def _const(graph, v: Value):
    return graph.node(v.node)["attrs"]["value"] if graph.op(v.node) == "constant" else None


def _static(t) -> bool:
    return all(isinstance(d, int) for d in t.shape)


@dataclass(frozen=True)
class Simplify(Pass):
    name = "simplify"

    def run(self, graph) -> bool:
        modified = self._sweep(graph, graph.topo_order())
        # merging a gradient's reshapes late in the graph can leave a weight's view with one reader: one more
        # sweep over the reshapes catches those. Readers DCE will drop (a model input's gradient) do not count.
        dead = _dead_nodes(graph)
        return self._sweep(graph, [n for n in graph.topo_order() if graph.op(n) in _RESHAPES], dead) or modified

    def _sweep(self, graph, names, dead=frozenset()) -> bool:
        modified = False
        for name in names:
            if name not in graph:
                continue
            replacement = self._rewrite(graph, name, dead)
            if replacement is not None:
                inputs = graph.node(name)["inputs"]
                for i, v in enumerate(replacement):
                    graph.replace_uses(Value(name, i), v)
                if not graph.users(name):
                    graph.remove_node(name)
                    _drop_dead_reshapes(graph, inputs)
                modified = True
        return modified

    def _rewrite(self, graph, name, dead=frozenset()):
        d = graph.node(name)
        op, ins, out = d["op"], d["inputs"], d["outputs"]
        if op in ("input", "param", "constant", "layer", "model") or graph.is_graph_output(Value(name)):
            return None
        if op in _NEUTRAL:
            c = _const(graph, ins[1])
            if c is not None and np.all(c == _NEUTRAL[op]) and graph.type_of(ins[0]) == out[0]:
                return [ins[0]]
            c = _const(graph, ins[0])
            if op in ("Mul", "Add") and c is not None and np.all(c == _NEUTRAL[op]) and graph.type_of(ins[1]) == out[0]:
                return [ins[1]]
        if op in _SHAPE_ONLY and _static(out[0]) and graph.type_of(ins[0]) == out[0] and (
                op != "Transpose" or list(d["attrs"]["perm"]) == sorted(d["attrs"]["perm"])):
            return [ins[0]]
        if op in _RESHAPES and graph.op(ins[0].node) in _RESHAPES and \
                len([u for u, _ in graph.users(ins[0].node) if u not in dead]) == 1:
            merged = self._merged_reshapes(graph, name)
            if merged is not None:
                return [merged]
        if op == "ExpandLike" and self._broadcast_suffices(graph, name):
            return [ins[0]]
        if op == "ArgMax" and graph.op(ins[0].node) == "Softmax" and _same_axis(graph, name, ins[0].node):
            return [Value(graph.add_node(f"{name}/logits", "ArgMax", graph.node(ins[0].node)["inputs"], out,
                                         d["attrs"], d["layer"]))]
        if op == "ReduceSum" and FLAT_SUMS:
            flat = self._sum_of_flattened(graph, name)
            if flat is not None:
                return [flat]
        if op == "ReduceSum" and DOT_RULE:
            dot = self._dot(graph, name)
            if dot is not None:
                return [dot]
        if all(graph.op(v.node) == "constant" for v in ins) and ins and len(out) == 1 and _static(out[0]) \
                and int(np.prod(out[0].shape)) <= _FOLD_LIMIT and op != "Dropout":
            value = _evaluate(graph, name)
            if value is not None:
                node = graph.add_node(f"{name}/folded", "constant", outputs=out, attrs={"value": value})
                return [Value(node)]
        return None

    @staticmethod
    def _merged_reshapes(graph, name):
        """Reshape(Reshape(x)) read through the inner one only: x itself when the shapes round-trip, else one
        Reshape of x (a static target, or the outer ReshapeLike's). A flat-buffer weight viewed as (H, dim)
        and read as (H * dim,), and its gradient flattened back, then cost no node at all."""
        d = graph.node(name)
        src, out = graph.node(d["inputs"][0].node)["inputs"][0], d["outputs"][0]
        if _static(out) and graph.type_of(src) == out:
            return src
        if _static(out):
            node = graph.add_node(name, "Reshape", (src,), (out,), {"shape": tuple(out.shape)}, d["layer"])
        elif d["op"] == "ReshapeLike":
            node = graph.add_node(name, "ReshapeLike", (src, d["inputs"][1]), (out,), {}, d["layer"])
        elif d["op"] == "Reshape" and 0 not in d["attrs"]["shape"]:   # (-1, C): any source of its size
            node = graph.add_node(name, "Reshape", (src,), (out,), {"shape": tuple(d["attrs"]["shape"])},
                                  d["layer"])
        else:
            return None
        return Value(node)

    @staticmethod
    def _sum_of_flattened(graph, name):
        """ReduceSum(x) over x's k >= 2 leading axes, when x is also read by a Reshape folding exactly those axes
        into one (a Dense-on-3D weight gradient's rows): the ReduceSum over that Reshape's first axis, the same
        elements summed in the same order. x may then have the Reshape as its only reader, and a Reshape that
        produced x merges with it."""
        d = graph.node(name)
        x, out = d["inputs"][0], d["outputs"][0]
        rank = graph.type_of(x).rank
        axes = tuple(sorted(a % rank for a in d["attrs"].get("axes") or range(rank)))
        k = len(axes)
        if d["attrs"].get("keepdims", 1) or k < 2 or axes != tuple(range(k)) or \
                graph.op(x.node) not in _RESHAPES:
            return None
        trailing = graph.type_of(x).shape[k:]
        for user, pos in graph.users(x.node):
            ut = graph.node(user)["outputs"][0]
            if user != name and pos == 0 and graph.op(user) in _RESHAPES and ut.rank == rank - k + 1 and \
                    tuple(ut.shape[1:]) == tuple(trailing) and all(isinstance(t, int) for t in trailing):
                return Value(graph.add_node(f"{name}/flat", "ReduceSum", (Value(user),), (out,),
                                            {"axes": (0,), "keepdims": 0}, d["layer"]))
        return None

    @staticmethod
    def _dot(graph, name):
        """ReduceSum(Mul(a, b), keepdims=0) of two float vectors of one length, the Mul read only by the sum:
        one MatMul of the vectors (the weighted loss total ``sum(loss_i * sw_i)``)."""
        d = graph.node(name)
        x, out = d["inputs"][0], d["outputs"][0]
        if graph.type_of(x).rank != 1 or d["attrs"].get("keepdims", 1) or graph.op(x.node) != "Mul" or \
                graph.is_graph_output(x):
            return None
        a, b = graph.node(x.node)["inputs"]
        ta, tb = graph.type_of(a), graph.type_of(b)
        if ta != tb or ta.rank != 1 or ta.dtype not in ("float32", "float64"):
            return None
        others = [(user, pos) for user, pos in graph.users(x.node) if user != name]
        if not all((graph.op(user), pos) in _SHAPE_READS for user, pos in others):
            return None
        for user, pos in others:   # a gradient's ExpandLike reads the product's shape only: a's is the same
            graph.set_inputs_of(user, tuple(a if i == pos else v for i, v in enumerate(graph.node(user)["inputs"])))
        return Value(graph.add_node(f"{name}/dot", "Dot", (a, b), (out,), {}, d["layer"]))

    @staticmethod
    def _broadcast_suffices(graph, name) -> bool:
        full = graph.node(name)["outputs"][0]
        users = graph.users(name)
        if not users:
            return False
        for user, pos in users:
            ud = graph.node(user)
            if ud["op"] not in _ELEMENTWISE or ud["outputs"][0].shape != full.shape:
                return False
            others = [v for i, v in enumerate(ud["inputs"]) if i != pos and (ud["op"] != "Where" or i > 0)]
            if not any(graph.type_of(v).shape == full.shape for v in others):
                return False
        return True


def _dead_nodes(graph) -> set:
    """The nodes no graph output depends on (DCE removes them later)."""
    live = set()
    for v in graph.outputs:
        live.add(v.node)
        live |= nx.ancestors(graph.nx, v.node)
    return {n for n in graph.nx.nodes if n not in live and graph.op(n) != "input"}


def _drop_dead_reshapes(graph, values) -> None:
    """Remove the Reshapes among ``values``' producers that nothing reads any more (a merged pair's inner
    one), so that what they read counts one reader fewer."""
    for v in values:
        if v.node in graph and graph.op(v.node) in _RESHAPES and not graph.users(v.node) \
                and not graph.is_graph_output(v):
            graph.remove_node(v.node)


def _same_axis(graph, argmax: str, softmax: str) -> bool:
    rank = graph.type_of(Value(softmax)).rank
    a = graph.node(argmax)["attrs"].get("axis", 0)
    b = graph.node(softmax)["attrs"].get("axis", -1)
    return a % rank == b % rank and not graph.node(argmax)["attrs"].get("select_last_index", 0)


def _evaluate(graph, name):
    """The first output of one node run on its constant inputs (compile time only), or None."""
    values = evaluate_node(graph, name, [_const(graph, v) for v in graph.node(name)["inputs"]])
    return None if values is None else values[0]
