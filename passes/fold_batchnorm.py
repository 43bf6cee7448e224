"""Inference BatchNormalization folded into the Dense or Conv before it.

An inference BatchNormalization lowers to ``Add(Mul(y, s), t)`` with ``s`` and ``t`` per-channel
vectors computed from weights only. When ``y`` is a Dense or Conv result read by nothing else:

    (x @ W + b) * s + t                 ==  x @ (W * s) + (b * s + t)          Gemm / MatMul, s: (C,)
    T(Conv(x, K, b)) * s + t            ==  T(Conv(x, K * s[:, None, ...], b * s + t))
                                            T moves channels (axis 1) last: s: (C,)
    Conv(x, K, b) * s + t               ==  Conv(x, K * s, b * s + t)           s: (C, 1, ..., 1)

so two elementwise ops over the activations become work on the weights alone, which onnxruntime
(at session creation) or FoldParams (at export) computes once. ``b`` is taken as 0 when the layer
has no bias. The fold refuses when the Dense/Conv result or the Mul has another user or is a graph
output, or when ``s``/``t`` depend on anything but weights.
"""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value
from fgc.primitives import Builder

from .manager import Pass

_SOURCES = ("param", "constant")
_RANDOM = ("Dropout",)   # no deterministic value to fold


def weight_only(graph, v: Value, memo: dict | None = None) -> bool:
    """True when ``v`` is computed from params and constants alone (no graph input reaches it, nothing random).

    Iterative (an explicit stack), so a deep model cannot exhaust Python's recursion limit."""
    memo = {} if memo is None else memo
    stack = [v.node]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        d = graph.node(node)
        if d["op"] in _SOURCES or (not d["inputs"] and d["op"] not in _RANDOM + ("input",)):
            memo[node] = True                  # weights, constants, and fills such as Zeros
        elif d["op"] in _RANDOM or d["op"] == "input" or "body" in d["attrs"]:
            memo[node] = False
        else:
            pending = [i.node for i in d["inputs"] if i.node not in memo]
            if pending:
                stack.extend(pending)
                continue
            memo[node] = all(memo[i.node] for i in d["inputs"])
        stack.pop()
    return memo[v.node]


def _sole_user(graph, v: Value):
    """(user, position) when ``v`` has exactly one reader and is no graph output, else None."""
    users = graph.value_users(v)
    if len(users) != 1 or len(graph.users(v.node)) != 1 or graph.is_graph_output(v):
        return None
    return users[0]


@dataclass(frozen=True)
class FoldBatchNorm(Pass):
    name = "fold_batchnorm"

    def run(self, graph) -> bool:
        modified = False
        memo: dict = {}
        for mul in graph.nodes_with_op("Mul"):
            if mul in graph and self._fold(graph, mul, memo):
                modified = True
        return modified

    def _fold(self, graph, mul: str, memo: dict) -> bool:
        found = self._match(graph, mul, memo)
        if found is None:
            return False
        producer, y, s, add, t = found
        d = graph.node(producer)
        b = Builder(graph, producer.rsplit("/", 1)[0] + "/bn_fold", d["layer"])
        op, ins = d["op"], d["inputs"]
        if op in ("Gemm", "MatMul"):
            kernel = b.Mul(ins[1], s)                      # (in, C) * (C,): scales each output column
        else:
            o = graph.type_of(ins[1]).shape[0]
            spatial = graph.type_of(ins[1]).rank - 1
            kernel = b.Mul(ins[1], b.Reshape(s, shape=(o,) + (1,) * spatial))
        flat_s = s if graph.type_of(s).rank == 1 else b.Reshape(s, shape=(-1,))
        flat_t = t if graph.type_of(t).rank == 1 else b.Reshape(t, shape=(-1,))
        bias = b.Add(b.Mul(ins[2], flat_s), flat_t) if len(ins) == 3 else flat_t
        new_inputs = (ins[0], kernel, bias)
        graph.set_inputs_of(producer, new_inputs)
        if op == "MatMul":
            d["op"] = "Gemm"                              # MatMul + bias: rank 2 checked in _match
        graph.replace_uses(Value(add), y)
        graph.remove_node(add)
        graph.remove_node(mul)
        return True

    def _match(self, graph, mul: str, memo: dict):
        """(producer, y, s, add, t) for ``Add(Mul(y, s), t)`` over a Dense/Conv result, else None."""
        ins = graph.node(mul)["inputs"]
        for pos in (0, 1):
            y, s = ins[pos], ins[1 - pos]
            if not weight_only(graph, s, memo) or weight_only(graph, y, memo):
                continue
            use = _sole_user(graph, Value(mul))
            if use is None or graph.op(use[0]) != "Add" or _sole_user(graph, y) is None:
                return None
            add = use[0]
            t = graph.node(add)["inputs"][1 - use[1]]
            if not weight_only(graph, t, memo) or graph.node(add)["outputs"][0] != graph.type_of(y) \
                    or graph.node(mul)["outputs"][0] != graph.type_of(y):
                return None
            producer = self._producer(graph, y, s, t)
            if producer is None or not weight_only(graph, graph.node(producer)["inputs"][1], memo) \
                    or not all(weight_only(graph, v, memo) for v in graph.node(producer)["inputs"][2:]):
                return None
            return producer, y, s, add, t
        return None

    @staticmethod
    def _producer(graph, y: Value, s: Value, t: Value):
        """The Gemm/MatMul/Conv whose per-channel output ``y`` is (possibly through a channels-last
        Transpose), when ``s`` and ``t`` hold one value per channel in the layout of ``y``."""
        ytype = graph.type_of(y)
        src = graph.node(y.node)
        channels_last = (ytype.shape[-1],)
        per_channel = {graph.type_of(s).shape, graph.type_of(t).shape}
        if src["op"] == "Gemm" and not src["attrs"] and per_channel <= {channels_last}:
            return y.node
        if src["op"] == "MatMul" and ytype.rank == 2 and graph.type_of(src["inputs"][1]).rank == 2 \
                and per_channel <= {channels_last}:
            return y.node
        if src["op"] == "Transpose" and per_channel <= {channels_last}:
            perm = list(src["attrs"]["perm"])
            inner = src["inputs"][0]
            if perm == [0] + list(range(2, ytype.rank)) + [1] and graph.op(inner.node) == "Conv" \
                    and _sole_user(graph, inner) is not None:
                return inner.node
            return None
        if src["op"] == "Conv" and ytype.rank >= 3:
            first = (ytype.shape[1],) + (1,) * (ytype.rank - 2)
            if per_channel <= {first}:
                return y.node
        return None
