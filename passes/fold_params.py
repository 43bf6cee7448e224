"""Weight-only subgraphs folded into constants, for files that carry their weights.

In an exported file the weights are initializers, so every op whose inputs are all weights or
constants (BatchNormalization's ``1/sqrt(var + eps)``, a kernel's layout Transpose, the products
FoldBatchNorm leaves, float16 Casts of weights) computes the same value on every run:

    f(w1, ..., wk)  ->  constant  (evaluated once, here, on the weights' current values)

The file then holds the folded tensors instead of the raw weights and the ops that derive them.
Ops with several outputs (a Split of a kernel) fold into one constant per output. Only for
export: predict's session re-reads changed weights into the same compiled graph, and
onnxruntime folds these ops itself when it loads a session. Random ops, ops with a subgraph, and ops
whose result would be much bigger than what they read (an Expand of a scalar) stay as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgc.ir import Value

from .dce import DCE
from .evaluate import evaluate_node
from .fold_batchnorm import weight_only
from .manager import Pass

_MIN_LIMIT = 1 << 16  # elements a folded constant may always have


def _numel(t) -> int:
    return int(np.prod(t.shape)) if all(isinstance(d, int) for d in t.shape) else -1


def _param_value(graph, name: str) -> np.ndarray:
    spec = graph.params[graph.node(name)["attrs"]["name"]]
    value = np.asarray(spec.variable.read())
    return np.transpose(value, spec.layout) if spec.layout is not None else value


def _evaluate(graph, name: str):
    """Every output of ``name`` on its constant inputs, or None (see passes/evaluate.py)."""
    return evaluate_node(graph, name, [graph.node(v.node)["attrs"]["value"] for v in graph.node(name)["inputs"]])


@dataclass(frozen=True)
class FoldParams(Pass):
    name = "fold_params"

    def run(self, graph) -> bool:
        modified = False
        memo: dict = {}
        as_constant: dict = {}
        for name in graph.topo_order():
            if self._foldable(graph, name, memo):
                self._constant_inputs(graph, name, as_constant)
                values = _evaluate(graph, name)
                if values is None:
                    continue
                outs = graph.node(name)["outputs"]
                for i, (value, out) in enumerate(zip(values, outs)):
                    hint = f"{name}/folded" if len(outs) == 1 else f"{name}/folded{i}"
                    node = graph.add_node(hint, "constant", outputs=(out,), attrs={"value": value})
                    graph.replace_uses(Value(name, i), Value(node))
                modified = True
        if modified:
            DCE().run(graph)
        return modified

    @staticmethod
    def _foldable(graph, name: str, memo: dict) -> bool:
        d = graph.node(name)
        if d["op"] in ("input", "param", "constant"):
            return False
        sizes = [_numel(t) for t in d["outputs"]]
        # in topological order every foldable input is a constant by now
        if min(sizes) < 0 or not all(graph.op(v.node) in ("param", "constant") for v in d["inputs"]) \
                or not weight_only(graph, Value(name), memo):
            return False
        read = sum(max(_numel(graph.type_of(v)), 0) for v in d["inputs"])
        return sum(sizes) <= max(_MIN_LIMIT, read)

    @staticmethod
    def _constant_inputs(graph, name: str, as_constant: dict) -> None:
        """Read the params ``name`` takes as constants (one constant per param, shared by its readers)."""
        ins = list(graph.node(name)["inputs"])
        for i, v in enumerate(ins):
            if graph.op(v.node) != "param":
                continue
            if v.node not in as_constant:
                value = _param_value(graph, v.node)
                as_constant[v.node] = Value(graph.add_node(f"{v.node}/value", "constant",
                                                           outputs=(graph.type_of(v),), attrs={"value": value}))
            ins[i] = as_constant[v.node]
        graph.set_inputs_of(name, ins)
