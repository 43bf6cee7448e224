"""fgc/runtime/schedule.py: the train step's node order is a topological order of the same nodes,
computes the same values, and walks a Concat's inputs last-first."""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

import fgc
from fgc.export.onnx import to_onnx
from fgc.runtime.schedule import memory_schedule


def _is_topological(proto) -> bool:
    known = {i.name for i in proto.graph.input} | {i.name for i in proto.graph.initializer} | {""}
    for node in proto.graph.node:
        if any(name not in known for name in node.input):
            return False
        known.update(node.output)
    return True


def _model(nodes, inputs, outputs):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in outputs])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 8
    return proto


def test_side_branches_run_next_to_their_consumer_and_concat_inputs_last_first():
    nodes = [helper.make_node("Neg", ["x"], ["early_side"], name="early_side"),   # ready first, needed last
             helper.make_node("Relu", ["x"], ["a"], name="a"),
             helper.make_node("Exp", ["a"], ["b"], name="b"),
             helper.make_node("Add", ["b", "early_side"], ["c"], name="c"),
             helper.make_node("Abs", ["x"], ["first_grad"], name="first_grad"),
             helper.make_node("Concat", ["first_grad", "c"], ["flat"], axis=0, name="flat")]
    proto = _model(nodes, ["x"], ["flat"])
    memory_schedule(proto)
    onnx.checker.check_model(proto)
    names = [n.name for n in proto.graph.node]
    assert _is_topological(proto)
    assert names == ["a", "b", "early_side", "c", "first_grad", "flat"]


def test_unread_nodes_are_kept():
    nodes = [helper.make_node("Neg", ["x"], ["dead"], name="dead"), helper.make_node("Relu", ["x"], ["y"], name="y")]
    proto = _model(nodes, ["x"], ["y"])
    memory_schedule(proto)
    assert sorted(n.name for n in proto.graph.node) == ["dead", "y"] and _is_topological(proto)


def test_a_conv_train_step_computes_the_same_values_in_its_new_order():
    x_in = fgc.Input((8, 8, 3))
    y = fgc.layers.Conv2D(4, 3, padding="same", activation="relu")(x_in)
    y = fgc.layers.add([fgc.layers.Conv2D(4, 3, padding="same")(y), y])
    y = fgc.layers.GlobalAveragePooling2D()(y)
    model = fgc.Model(x_in, fgc.layers.Dense(2, activation="softmax")(y))
    model.compile("rmsprop", "categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(3, 8, 8, 3)), np.eye(2)[[0, 1, 1]]
    model.train_on_batch(x, t)
    compiled = model._trainer.step(True)
    original = to_onnx(compiled.graph, params_as_inputs=True)
    scheduled = compiled.proto
    assert _is_topological(scheduled)
    assert sorted(n.name for n in scheduled.graph.node) == sorted(n.name for n in original.graph.node)
    assert [n.name for n in scheduled.graph.node] != [n.name for n in original.graph.node]
    feeds = {}
    for i in original.graph.input:
        shape = [3 if d.dim_param else d.dim_value for d in i.type.tensor_type.shape.dim]
        feeds[i.name] = rng.normal(size=shape).astype(np.float32)
    feeds["step"] = np.array(1, np.float32)
    feeds["lr"] = np.array(1e-3, np.float32)
    runs = [ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
            for p in (original, scheduled)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_a_subgraph_reading_an_outer_value_runs_after_its_producer():
    """A Scan/Loop/If body may read a value of the outer graph without listing it as an input: that value
    is a dependency of the node all the same (a recurrent layer's weights inside its Scan)."""
    then_branch = helper.make_graph([helper.make_node("Identity", ["w"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_branch = helper.make_graph([helper.make_node("Neg", ["w"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    nodes = [helper.make_node("Abs", ["x"], ["w"]),
             helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
             helper.make_node("Add", ["w", "x"], ["z"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
                              [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 8
    memory_schedule(proto)
    order = [n.op_type for n in proto.graph.node]
    assert order.index("Abs") < order.index("If")
    onnx.checker.check_model(proto)
    x = np.array([1.0, -3.0], np.float32)
    y, z = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(y, -np.abs(x))
    np.testing.assert_array_equal(z, np.abs(x) + x)
