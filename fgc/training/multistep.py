"""Several train steps per onnxruntime call (Keras' ``steps_per_execution``) through an ONNX Loop.

The compiled one-step model becomes the body of a Loop: each iteration gathers its batch from
inputs stacked (K, batch, ...), its learning rate from a (K,) vector, and carries the weights
and optimizer state to the next iteration; the report scalars of every step come out stacked.
For small models the per-call costs (Python, binding, onnxruntime's run setup) are a large part
of a step, and this pays them once per K steps. The step's arithmetic is unchanged.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper


def _typed(info, name: str, leading=None):
    t = info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
    if leading is not None:
        dims = [leading] + dims
    return helper.make_tensor_value_info(name, t.elem_type, dims)


def loop_proto(step: onnx.ModelProto, spec) -> onnx.ModelProto:
    """Wrap ``step`` (with its StepSpec) into a K-step model; K is the length of the stacked inputs."""
    g = step.graph
    inputs = {i.name: i for i in g.input}
    outputs = {o.name: o for o in g.output}
    stacked = [n for n in spec.data_inputs + spec.target_inputs if n in inputs]
    carried = list(spec.update_outputs)  # weights and optimizer state, each updated by the step

    body_nodes = [helper.make_node("Gather", [f"stack/{n}", "iter"], [n], axis=0) for n in stacked]
    body_nodes += [
        helper.make_node("Gather", ["stack/lr", "iter"], ["lr"], axis=0),
        helper.make_node("Cast", ["iter"], ["iter_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["step0", "iter_f"], ["step"]),
        helper.make_node("Identity", ["cond"], ["cond_out"]),
    ]
    body_nodes += list(g.node)
    body_inputs = [helper.make_tensor_value_info("iter", TensorProto.INT64, []),
                   helper.make_tensor_value_info("cond", TensorProto.BOOL, [])]
    body_inputs += [_typed(inputs[n], n) for n in carried]
    body_outputs = [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])]
    body_outputs += [_typed(outputs[spec.update_outputs[n]], spec.update_outputs[n]) for n in carried]
    body_outputs += [_typed(outputs[r], r) for r in spec.report_outputs]
    body = helper.make_graph(body_nodes, "train_step", body_inputs, body_outputs, list(g.initializer))

    outer_inputs = [helper.make_tensor_value_info("steps", TensorProto.INT64, [])]
    outer_inputs += [_typed(inputs[n], f"stack/{n}", "K") for n in stacked]
    outer_inputs += [helper.make_tensor_value_info("stack/lr", TensorProto.FLOAT, ["K"]),
                     helper.make_tensor_value_info("step0", TensorProto.FLOAT, [])]
    outer_inputs += [_typed(inputs[n], f"init/{n}") for n in carried]
    outer_inputs += [inputs[n] for n in spec.weight_inputs if n in inputs and n not in spec.update_outputs]
    loop_outputs = [f"final/{n}" for n in carried] + [f"reports/{r}" for r in spec.report_outputs]
    loop = helper.make_node("Loop", ["steps", ""] + [f"init/{n}" for n in carried], loop_outputs, body=body)
    outer_outputs = [_typed(inputs[n], f"final/{n}") for n in carried]
    outer_outputs += [_typed(outputs[r], f"reports/{r}", "K") for r in spec.report_outputs]
    graph = helper.make_graph([loop], f"{g.name}_loop", outer_inputs, outer_outputs)
    model = helper.make_model(graph, opset_imports=list(step.opset_import), producer_name=step.producer_name)
    model.ir_version = step.ir_version
    return model
