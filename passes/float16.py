"""Float32 -> float16 conversion of an inference graph, with float32 islands.

Every float32 op computes in float16, except:

- numerically sensitive ops (KEEP_FLOAT32: softmax, sums and means, exp/log, and ops that carry a
  subgraph, whose long recurrences would accumulate float16 rounding), which read float32 and
  give float32;
- weight-only work (BatchNormalization's ``1/sqrt(var + eps)``, kernel transposes): it stays
  float32, and a Cast to float16 sits where its result meets the float16 activations, so the
  folded weights (FoldParams) are rounded once rather than at every step.

Casts go in at every boundary between a float32 and a float16 consumer (one per value and
dtype). With ``keep_io_types`` the graph's inputs and outputs stay float32 (a Cast after each
input and before each output); without it, float32 inputs and outputs become float16.

    y = f(x)  with x: f32, f computing in f16   ->   y = f(Cast(x, float16))
"""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import TensorType, Value, infer_node

from .fold_batchnorm import weight_only
from .manager import Pass

KEEP_FLOAT32 = frozenset({"Softmax", "LogSoftmax", "ReduceSum", "ReduceMean", "Exp", "Log", "Pow",
                          "Scan", "If", "LSTM", "GRU", "RNN"})
_FLOATS = ("float32", "float16")
_DTYPE_ATTRS = ("to", "dtype")


@dataclass(frozen=True)
class ConvertFloat16(Pass):
    keep_io_types: bool = True
    name = "float16"

    def run(self, graph) -> bool:
        memo: dict = {}
        casts: dict = {}
        if not self.keep_io_types:
            self._retype_inputs(graph)
        for name in graph.topo_order():
            d = graph.node(name)
            if d["op"] in ("input", "param", "constant") or weight_only(graph, Value(name), memo):
                continue
            target = self._compute_dtype(d)
            if d["op"] != "Cast":  # a Cast reads any dtype: only where it goes changes
                ins = tuple(_as(graph, v, target, casts) if graph.type_of(v).dtype in _FLOATS else v
                            for v in d["inputs"])
                if ins != d["inputs"]:
                    graph.set_inputs_of(name, ins)
            if target == "float16":
                for key in _DTYPE_ATTRS:
                    if d["attrs"].get(key) == "float32":
                        d["attrs"][key] = "float16"
            d["outputs"] = tuple(infer_node(graph, name))
        io_dtype = "float32" if self.keep_io_types else "float16"
        graph.outputs = [_as(graph, v, io_dtype, casts) if graph.type_of(v).dtype in _FLOATS else v
                         for v in graph.outputs]
        return True

    @staticmethod
    def _compute_dtype(d) -> str:
        if d["op"] in KEEP_FLOAT32 or "body" in d["attrs"]:
            return "float32"
        return "float16"

    @staticmethod
    def _retype_inputs(graph) -> None:
        for v in graph.inputs:
            d = graph.node(v.node)
            t = d["outputs"][0]
            if t.dtype == "float32":
                d["outputs"] = (TensorType(t.shape, "float16"),)


def _as(graph, v: Value, dtype: str, casts: dict) -> Value:
    """``v`` in ``dtype``: itself, or a (shared) Cast of it."""
    t = graph.type_of(v)
    if t.dtype == dtype:
        return v
    if (v, dtype) not in casts:
        short = "f16" if dtype == "float16" else "f32"
        node = graph.add_node(f"{v.node}/to_{short}", "Cast", (v,), (t.with_dtype(dtype),), {"to": dtype},
                              layer=graph.node(v.node)["layer"])
        casts[(v, dtype)] = Value(node)
    return casts[(v, dtype)]
