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

from fgc import primitives
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

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.nodes: list = []
        self.initializers: list = []
        self._const_names: dict = {}
        self._fresh = itertools.count()

    def fresh(self, hint: str) -> str:
        return f"{self.prefix}_{hint}_{next(self._fresh)}"

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


def emit_nodes(graph: Graph, e: Emitter, params_as_inputs: bool, param_values: dict | None = None,
               bound: dict | None = None, prefix: str = ""):
    """Emit every node of ``graph``; returns (value names, graph-input value infos).

    ``bound`` names graph inputs that are not ONNX inputs (a Scan body's closures read the
    outer scope); ``prefix`` keeps a body's names apart from the outer graph's."""
    names: dict[Value, str] = {}
    out_name: dict[Value, str] = {}
    for v, n in zip(graph.outputs, graph.output_names):
        out_name.setdefault(v, prefix + n if bound is not None else n)  # later repeats get an Identity
    graph_inputs = []
    for node in graph.topo_order():
        d = graph.node(node)
        op = d["op"]
        outs = []
        for i in range(len(d["outputs"])):
            v = Value(node, i)
            own = prefix + (node if len(d["outputs"]) == 1 else f"{node}:{i}")
            outs.append(out_name[v] if v in out_name and op != "input" else own)
        for i, n in enumerate(outs):
            names[Value(node, i)] = n
        if op == "input":
            if bound and Value(node) in bound:
                names[Value(node)] = bound[Value(node)]
            else:
                graph_inputs.append(value_info(outs[0], d["outputs"][0]))
        elif op == "param":
            pname = d["attrs"]["name"]
            names[Value(node)] = pname
            if params_as_inputs:
                graph_inputs.append(value_info(pname, d["outputs"][0]))
            else:
                value = (param_values or {}).get(pname)
                if value is None:
                    value = graph.params[pname].variable.read()
                e.const(np.asarray(value), name=pname)
        elif op == "constant":
            e.const(d["attrs"]["value"], name=outs[0])
        elif op in ("layer", "model"):
            raise ValueError(f"internal: {node} is still a layer-level op at export; run the lowering passes first")
        else:
            opdef = primitives.get(op)
            ins = [names[v] for v in d["inputs"]]
            if opdef.emit is not None:
                opdef.emit(e, primitives.view(graph, node), ins, outs)
            else:
                extra = [e.const(np.array(d["attrs"][k], np.int64)) for k in opdef.attr_inputs if k in d["attrs"]]
                e.node(op, ins + extra, outs, **_onnx_attrs(opdef, d["attrs"]))
    return names, graph_inputs


def _graph_outputs(graph: Graph, e: Emitter, names: dict, prefix: str = "") -> list:
    outputs = []
    for v, oname in zip(graph.outputs, graph.output_names):
        oname = prefix + oname
        if names[v] != oname:  # an input or a value returned twice: give the output its own name
            e.node("Identity", [names[v]], [oname])
        outputs.append(value_info(oname, graph.type_of(v)))
    return outputs


def subgraph(graph: Graph, bound: dict, prefix: str, input_names: list[str]):
    """A loop body as a GraphProto: inputs named ``input_names``, closures read from the outer scope."""
    e = Emitter(prefix)
    body_inputs = {v: n for v, n in zip(graph.inputs[:len(input_names)], input_names)}
    names, _ = emit_nodes(graph, e, params_as_inputs=True, bound={**bound, **body_inputs}, prefix=prefix)
    outputs = _graph_outputs(graph, e, names, prefix)
    inputs = [value_info(n, graph.type_of(v)) for v, n in body_inputs.items()]
    return helper.make_graph(e.nodes, prefix.rstrip("/") or "body", inputs, outputs, e.initializers)


def to_onnx(graph: Graph, params_as_inputs: bool = False, param_values: dict | None = None,
            doc: str = "") -> onnx.ModelProto:
    """Emit ``graph`` (primitives only). ``param_values`` maps param name -> array for initializers."""
    e = Emitter()
    names, graph_inputs = emit_nodes(graph, e, params_as_inputs, param_values)
    graph_outputs = _graph_outputs(graph, e, names)
    proto = helper.make_graph(e.nodes, graph.name, graph_inputs, graph_outputs, e.initializers)
    from fgc import __version__

    model = helper.make_model(proto, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER,
                              producer_version=__version__, doc_string=doc)
    model.ir_version = IR_VERSION
    return model
