"""Compile-time evaluation of one node on constant inputs (constant folding, weight folding at export)."""
from __future__ import annotations

import numpy as np


def evaluate_node(graph, name: str, inputs: list[np.ndarray]) -> list[np.ndarray] | None:
    """Every output of ``name`` computed from ``inputs`` by onnx's reference evaluator running the op's own
    ONNX emission, so folding can never disagree with what onnxruntime would compute; None when the
    evaluator cannot run the op (it then simply stays in the graph)."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    from fgc import primitives
    from fgc.export.onnx import Emitter, _onnx_attrs, value_info

    d = graph.node(name)
    opdef = primitives.get(d["op"])
    e = Emitter("fold")
    ins = [e.const(np.asarray(v)) for v in inputs]
    outs = [f"fold_out{i}" for i in range(len(d["outputs"]))]
    try:
        if opdef.emit is not None:
            opdef.emit(e, primitives.view(graph, name), ins, outs)
        else:
            extra = [e.const(np.array(d["attrs"][k], np.int64)) for k in opdef.attr_inputs if k in d["attrs"]]
            e.node(d["op"], ins + extra, outs, **_onnx_attrs(opdef, d["attrs"]))
        g = helper.make_graph(e.nodes, "fold", [], [value_info(o, t) for o, t in zip(outs, d["outputs"])],
                              e.initializers)
        values = ReferenceEvaluator(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])).run(None, {})
    except Exception:  # noqa: BLE001 - an op the reference evaluator cannot run stays unfolded
        return None
    return [np.asarray(v).reshape(t.shape) for v, t in zip(values, d["outputs"])]
