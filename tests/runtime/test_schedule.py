"""fgc/runtime/schedule.py: the train step's node order is a topological order of the same nodes,
computes the same values, and makes onnxruntime walk inputs last-first (a Concat of gradients last layer first)."""
import json

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


def _onnxruntime_run_order(proto, feeds, tmp_path) -> list[str]:
    """The node names in the order onnxruntime's CPU executor ran them (its profiler's kernel events)."""
    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = str(tmp_path / "order")
    session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    session.run(None, feeds)
    with open(session.end_profiling()) as f:
        events = [e for e in json.load(f) if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    return [e["name"][:-len("_kernel_time")] for e in sorted(events, key=lambda e: e["ts"])]


def test_onnxruntime_walks_inputs_last_first(tmp_path):
    nodes = [helper.make_node("Neg", ["x"], ["early_side"], name="early_side"),   # ready first, needed last
             helper.make_node("Relu", ["x"], ["a"], name="a"),
             helper.make_node("Exp", ["a"], ["b"], name="b"),
             helper.make_node("Add", ["b", "early_side"], ["c"], name="c"),
             helper.make_node("Abs", ["x"], ["first_grad"], name="first_grad"),
             helper.make_node("Concat", ["first_grad", "c"], ["flat"], axis=0, name="flat")]
    proto = _model(nodes, ["x"], ["flat"])
    memory_schedule(proto)
    onnx.checker.check_model(proto)
    assert _is_topological(proto)
    ran = _onnxruntime_run_order(proto, {"x": np.array([1.0, -2.0], np.float32)}, tmp_path)
    assert ran == ["early_side", "a", "b", "c", "first_grad", "flat"]


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


def test_onnxruntime_computes_weight_gradients_last_layer_first_in_a_conv_train_step(tmp_path):
    """Each layer's weight gradient right after its output gradient, before the backward goes on to the
    layer below: the output gradients of all layers are never alive at once."""
    x_in = fgc.Input((8, 8, 3))
    y = x_in
    for name in ("conv_a", "conv_b", "conv_c"):
        y = fgc.layers.Conv2D(4, 3, padding="same", activation="relu", name=name)(y)
    y = fgc.layers.GlobalAveragePooling2D()(y)
    model = fgc.Model(x_in, fgc.layers.Dense(2, activation="softmax")(y))
    model.compile("rmsprop", "categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(3, 8, 8, 3)).astype(np.float32), np.eye(2, dtype=np.float32)[[0, 1, 1]]
    model.train_on_batch(x, t)
    proto = model._trainer.step(True).proto
    feeds = {}
    for i in proto.graph.input:
        shape = [3 if d.dim_param else d.dim_value for d in i.type.tensor_type.shape.dim]
        feeds[i.name] = rng.normal(size=shape).astype(np.float32)
    feeds.update(step=np.array(1, np.float32), lr=np.array(1e-3, np.float32))
    ran = _onnxruntime_run_order(proto, feeds, tmp_path)
    first_product = [min(i for i, name in enumerate(ran) if name.startswith(f"grad/{layer}/") and "MatMul" in name)
                     for layer in ("conv_c", "conv_b", "conv_a")]
    assert first_product == sorted(first_product)
    # and conv_c's weight gradient is done before the backward reaches conv_a at all
    assert max(i for i, name in enumerate(ran) if name.startswith("grad/conv_c/") and "MatMul" in name) \
        < min(i for i, name in enumerate(ran) if name.startswith("grad/conv_a/"))
