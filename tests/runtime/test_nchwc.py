"""fgc/runtime/nchwc.py: Convs with computed filters rewritten to onnxruntime's blocked kernels, in the session's
copy only; values checked against numpy convolutions written from the definition."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from fgc.runtime import nchwc

BLOCK = nchwc.block_size()
pytestmark = pytest.mark.skipif(not BLOCK, reason="this onnxruntime build has no NCHWc kernels")
OUTS = 32   # a multiple of every block size (8 with AVX2, 16 with AVX-512)


def conv_ref(x, w, b=None, stride=1, pad=0, dilation=1):
    """y[n, o, i, j] = b[o] + sum_{c, p, q} xpad[n, c, i*s + p*d, j*s + q*d] w[o, c, p, q]"""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).astype(np.float64)
    ho = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
    wo = (wd + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for p in range(kh):
        for q in range(kw):
            window = xp[:, :, p * dilation:p * dilation + stride * (ho - 1) + 1:stride,
                        q * dilation:q * dilation + stride * (wo - 1) + 1:stride]
            y += np.einsum("nchw,oc->nohw", window, w[:, :, p, q])
    return y + (0 if b is None else b[None, :, None, None])


def conv_model(c, o, k=3, stride=1, pad=1, dilation=1, bias=True, readers=("Relu",), const_w=None, group=1):
    """x (N, c, 10, 10), w (o, c/group, k, k) [, b] -> Conv -> each of ``readers`` (op types) as a graph output."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, 10, 10])]
    inits = []
    if const_w is None:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [o, c // group, k, k]))
    else:
        inits.append(onnx.numpy_helper.from_array(const_w, "w"))
    if bias:
        inputs.append(helper.make_tensor_value_info("b", TensorProto.FLOAT, [o]))
    nodes = [helper.make_node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"], name="conv", strides=[stride] * 2,
                              pads=[pad] * 4, dilations=[dilation] * 2, group=group)]
    outputs = []
    for i, op in enumerate(readers):
        nodes.append(helper.make_node(op, ["y"], [f"out{i}"]))
        outputs.append(helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, None))
    if not readers:
        outputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, None))
    return _model(helper.make_graph(nodes, "g", inputs, outputs, inits))


def _model(graph):
    from fgc.export.onnx import IR_VERSION, OPSET

    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    m.ir_version = IR_VERSION
    return m


def run(model_or_bytes, feeds):
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString()
    s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return s.run(None, {k: v for k, v in feeds.items() if k in {i.name for i in s.get_inputs()}})


def lowered(model):
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy, nchwc.lower_convs(copy, BLOCK)


def ops(model):
    return [(n.domain, n.op_type) for n in model.graph.node]


def feeds_for(c, o, k=3, group=1, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((2, c, 10, 10)).astype(np.float32),
            "w": (rng.standard_normal((o, c // group, k, k)) * 0.2).astype(np.float32),
            "b": rng.standard_normal(o).astype(np.float32)}


@pytest.mark.parametrize("c", [OUTS, 3, 1], ids=["blocked-input", "nchw-input-3", "nchw-input-1"])
@pytest.mark.parametrize("stride,pad,dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2)])
def test_rewritten_conv_matches_the_definition(c, stride, pad, dilation):
    model = conv_model(c, OUTS, stride=stride, pad=pad, dilation=dilation)
    new, count = lowered(model)
    assert count == 1
    assert ("com.microsoft.nchwc", "Conv") in ops(new) and ("", "Conv") not in ops(new)
    assert ("", "Relu") not in ops(new)   # the only reader, fused into the blocked conv
    assert (("com.microsoft.nchwc", "ReorderInput") in ops(new)) == (c % BLOCK == 0)
    f = feeds_for(c, OUTS)
    want = np.maximum(conv_ref(f["x"], f["w"], f["b"], stride, pad, dilation), 0)
    np.testing.assert_allclose(run(new, f)[0], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(run(model, f)[0], run(new, f)[0], rtol=1e-5, atol=1e-5)


def test_relu_is_not_fused_where_the_conv_output_has_other_readers():
    model = conv_model(OUTS, OUTS, readers=("Relu", "Sigmoid"), bias=False)
    new, count = lowered(model)
    assert count == 1 and ("", "Relu") in ops(new)
    f = feeds_for(OUTS, OUTS)
    y = conv_ref(f["x"], f["w"], pad=1)
    relu, sigmoid = run(new, f)
    np.testing.assert_allclose(relu, np.maximum(y, 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-y)), rtol=1e-4, atol=1e-4)


def test_a_conv_output_that_is_a_graph_output_keeps_its_name():
    new, count = lowered(conv_model(OUTS, OUTS, readers=()))
    assert count == 1 and new.graph.output[0].name == "y"
    f = feeds_for(OUTS, OUTS)
    np.testing.assert_allclose(run(new, f)[0], conv_ref(f["x"], f["w"], f["b"], pad=1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("why,kwargs", [
    ("1x1 kernel: its reorders cost more than its arithmetic", dict(c=OUTS, o=OUTS, k=1, pad=0)),
    ("input channels above the block and not a multiple of it", dict(c=BLOCK + 4, o=OUTS)),
    ("output channels padded to the block would more than double the work", dict(c=OUTS, o=BLOCK // 2 - 1)),
    ("grouped", dict(c=OUTS, o=OUTS, group=2)),
])
def test_convs_the_kernels_do_not_take_stay_standard(why, kwargs):
    model = conv_model(**kwargs)
    new, count = lowered(model)
    assert count == 0, why
    assert ops(new) == ops(model)


@pytest.mark.parametrize("c,o,bias", [(OUTS, OUTS + BLOCK // 2, True), (3, BLOCK // 2, True), (OUTS, BLOCK // 2, False)])
def test_output_channels_short_of_a_block_are_padded_and_cropped(c, o, bias):
    new, count = lowered(conv_model(c, o, bias=bias))
    assert count == 1
    reorder = next(n for n in new.graph.node if n.op_type == "ReorderOutput")
    assert helper.get_attribute_value(next(a for a in reorder.attribute if a.name == "channels")) == o
    f = feeds_for(c, o)
    if not bias:
        f.pop("b")
    (y,) = run(new, f)
    assert y.shape == (2, o, 10, 10)
    np.testing.assert_allclose(y, np.maximum(conv_ref(f["x"], f["w"], f.get("b"), pad=1), 0), rtol=1e-4, atol=1e-4)


def test_a_constant_filter_is_left_to_onnxruntime():
    w = np.ones((OUTS, OUTS, 3, 3), np.float32)
    assert lowered(conv_model(OUTS, OUTS, const_w=w))[1] == 0


def test_a_conv_reading_a_blocked_conv_reads_its_blocked_output():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", OUTS, 10, 10])
    ws = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [OUTS, OUTS, 3, 3]) for n in ("w1", "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1] * 4), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1] * 4),
             helper.make_node("Relu", ["c2"], ["out"]), helper.make_node("Neg", ["r1"], ["neg"])]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("out", "neg")]
    new, count = lowered(_model(helper.make_graph(nodes, "chain", [x] + ws, outs)))
    assert count == 2
    assert ops(new).count(("com.microsoft.nchwc", "ReorderInput")) == 1
    f = feeds_for(OUTS, OUTS)
    w2 = feeds_for(OUTS, OUTS, seed=1)["w"]
    r1 = np.maximum(conv_ref(f["x"], f["w"], pad=1), 0)
    out, neg = run(new, {"x": f["x"], "w1": f["w"], "w2": w2})
    np.testing.assert_allclose(out, np.maximum(conv_ref(r1, w2, pad=1), 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(neg, -r1, rtol=1e-5, atol=1e-5)


def test_convs_inside_a_loop_body_are_rewritten():
    """steps_per_execution runs the step inside a Loop: its convs are in the body."""
    f = feeds_for(OUTS, OUTS)
    body = helper.make_graph(
        [helper.make_node("Conv", ["xb", "w"], ["c"], pads=[1] * 4), helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Identity", ["cond"], ["cond_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("xb", TensorProto.FLOAT, [2, OUTS, 10, 10])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, OUTS, 10, 10])])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "", "x"], ["y"], body=body)], "loop",
        [helper.make_tensor_value_info("trips", TensorProto.INT64, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, OUTS, 10, 10]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [OUTS, OUTS, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    new, count = lowered(_model(graph))
    assert count == 1
    want = f["x"]
    for _ in range(2):
        want = np.maximum(conv_ref(want, f["w"], pad=1), 0)
    got = run(new, {"trips": np.array(2, np.int64), "x": f["x"], "w": f["w"]})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_session_bytes_leave_the_proto_and_other_devices_alone():
    model = conv_model(OUTS, OUTS)
    before = model.SerializeToString()
    assert nchwc.session_bytes(model, "cuda") == before
    assert nchwc.session_bytes(model, "cpu") != before
    assert model.SerializeToString() == before


def test_fit_trains_the_same_with_and_without_blocked_kernels_and_exports_standard_onnx(tmp_path, monkeypatch):
    import fgc

    def train(enabled):
        monkeypatch.setattr(nchwc, "ENABLED", enabled)
        fgc.utils.set_random_seed(3)
        inputs = fgc.Input((12, 12, 3))
        x = fgc.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
        x = fgc.layers.Conv2D(OUTS, 3, padding="same", activation="relu")(x)
        x = fgc.layers.Conv2D(OUTS, 3, strides=2, activation="relu")(x)
        outputs = fgc.layers.Dense(4, activation="softmax")(fgc.layers.GlobalAveragePooling2D()(x))
        model = fgc.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        rng = np.random.default_rng(0)
        xs, ys = rng.random((24, 12, 12, 3)), np.eye(4)[rng.integers(0, 4, 24)]
        history = model.fit(xs, ys, batch_size=8, epochs=2, verbose=0)
        return model, history.history["loss"]

    plain, plain_loss = train(False)
    blocked, blocked_loss = train(True)
    step = blocked._trainer.step(True)
    assert nchwc.lower_convs(onnx.ModelProto.FromString(step.proto.SerializeToString()), BLOCK) > 0
    np.testing.assert_allclose(blocked_loss, plain_loss, rtol=1e-5)
    for a, b in zip(plain.get_weights(), blocked.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    path = tmp_path / "step.onnx"
    blocked.export(str(path), training=True)
    assert all(op.domain in ("", "ai.onnx") for op in onnx.load(str(path)).opset_import)
