"""IR -> onnx.ModelProto. The opset and IR-version constants live here only.

Value names: a node's single output is named after the node, output i of a multi-output node
``node:i``; graph inputs keep the Keras input names and graph outputs the output names.
Params become initializers (a deployable file) or graph inputs (sessions that keep weights on
the device and swap them without rebuilding).
"""
from __future__ import annotations

import itertools

import numpy as np
import onnx
from onnx import helper, numpy_helper

from fgc import ops
from fgc.ir import Graph, TensorType, Value
from fgc.ir.types import onnx_dtype

OPSET = 18
IR_VERSION = 8  # newer IR versions break older onnxruntime builds
PRODUCER = "fgc"


def value_info(name: str, t: TensorType):
    dims = [d if isinstance(d, int) else str(d) for d in t.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(t.dtype), dims)


class Emitter:
    """Collects ONNX nodes and initializers while walking the graph."""

    def __init__(self):
        self.nodes: list = []
        self.initializers: list = []
        self._const_names: dict = {}
        self._fresh = itertools.count()

    def fresh(self, hint: str) -> str:
        return f"_{hint}_{next(self._fresh)}"

    def node(self, op: str, inputs, outputs, **attrs) -> list[str]:
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), name=outputs[0] if outputs else op,
                                           **attrs))
        return list(outputs)

    def const(self, value: np.ndarray, name: str | None = None) -> str:
        key = (value.dtype.str, value.shape, value.tobytes())
        if key not in self._const_names or name is not None:
            cname = name or self.fresh("const")
            self.initializers.append(numpy_helper.from_array(np.array(value, order="C"), cname))
            self._const_names.setdefault(key, cname)
            return cname
        return self._const_names[key]


def _onnx_attrs(opdef, attrs: dict) -> dict:
    if opdef.onnx_attrs is not None:
        return opdef.onnx_attrs(attrs)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in attrs.items()
            if k not in opdef.attr_inputs and not k.startswith("_")}


def to_onnx(graph: Graph, params_as_inputs: bool = False, param_values: dict | None = None,
            doc: str = "") -> onnx.ModelProto:
    """Emit ``graph`` (primitives only). ``param_values`` maps param name -> array for initializers."""
    e = Emitter()
    names: dict[Value, str] = {}
    out_name = {v: n for v, n in zip(graph.outputs, graph.output_names)}
    graph_inputs, graph_outputs = [], []

    def name_of(node: str, d: dict, i: int) -> str:
        v = Value(node, i)
        if v in out_name and d["op"] not in ("input",) and list(graph.outputs).count(v) == 1:
            return out_name[v]
        return node if len(d["outputs"]) == 1 else f"{node}:{i}"

    for node in graph.topo_order():
        d = graph.node(node)
        outs = [name_of(node, d, i) for i in range(len(d["outputs"]))]
        for i, n in enumerate(outs):
            names[Value(node, i)] = n
        op = d["op"]
        if op == "input":
            graph_inputs.append(value_info(outs[0], d["outputs"][0]))
        elif op == "param":
            pname = d["attrs"]["name"]
            names[Value(node)] = pname
            if params_as_inputs:
                graph_inputs.append(value_info(pname, d["outputs"][0]))
            else:
                value = (param_values or {}).get(pname)
                if value is None:
                    value = graph.params[pname].variable._value
                e.const(np.asarray(value), name=pname)
        elif op == "constant":
            e.const(d["attrs"]["value"], name=outs[0])
        elif op in ("layer", "model"):
            raise ValueError(f"internal: {node} is still a layer-level op at export; run the lowering passes first")
        else:
            opdef = ops.get(op)
            ins = [names[v] for v in d["inputs"]]
            view = ops.view(graph, node)
            if opdef.emit is not None:
                opdef.emit(e, view, ins, outs)
            else:
                extra = [e.const(np.array(d["attrs"][k], np.int64)) for k in opdef.attr_inputs if k in d["attrs"]]
                e.node(op, ins + extra, outs, **_onnx_attrs(opdef, d["attrs"]))
    for v, oname in zip(graph.outputs, graph.output_names):
        src = names[v]
        if src != oname:  # an input or a value returned twice: give the output its own name
            e.node("Identity", [src], [oname])
        graph_outputs.append(value_info(oname, graph.type_of(v)))
    proto = helper.make_graph(e.nodes, graph.name, graph_inputs, graph_outputs, e.initializers)
    model = helper.make_model(proto, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER,
                              doc_string=doc)
    model.ir_version = IR_VERSION
    return model
