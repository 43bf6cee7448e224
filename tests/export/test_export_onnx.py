"""model.export(): a clean, standard ONNX file that plain onnxruntime runs without fgc."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest

from fgc import Input, Model, layers
from fgc.compiler import inference_graph
from fgc.export.onnx import IR_VERSION, OPSET


def _two_io_model():
    text = Input(shape=(6,), name="text")
    question = Input(shape=(2, 4), name="question")
    h = layers.Dense(5, activation="relu", name="encoder")(text)
    h = layers.Dropout(0.3, name="drop")(h)
    q = layers.Flatten(name="flat")(layers.Dense(3, activation="tanh", name="qproj")(question))
    merged = layers.concatenate([h, q], name="merged")
    answer = layers.Dense(4, activation="softmax", name="answer")(merged)
    score = layers.Dense(1, activation="sigmoid", name="score")(merged)
    return Model([text, question], [answer, score], name="qa")


def _data(batch=5):
    rng = np.random.default_rng(0)
    return [rng.normal(size=(batch, 6)), rng.normal(size=(batch, 2, 4))]


@pytest.fixture
def exported(tmp_path):
    model = _two_io_model()
    path = tmp_path / "qa.onnx"
    model.export(path)
    return model, path, onnx.load(path)


def test_export_passes_the_full_checker(exported):
    _, _, proto = exported
    onnx.checker.check_model(proto, full_check=True)


def test_opset_and_ir_version(exported):
    _, _, proto = exported
    assert OPSET == 18 and IR_VERSION == 8
    assert proto.ir_version == 8
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 18)]
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)


def _dims(value_info):
    return [d.dim_param if d.HasField("dim_param") else d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def test_strict_shape_inference_agrees_with_fgc(exported):
    model, _, proto = exported
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True, check_type=True)
    graph = inference_graph(model)
    declared = {o.name: _dims(o) for o in inferred.graph.output}
    assert declared == {"answer": ["N", 4], "score": ["N", 1]}
    # every intermediate value onnx infers has the rank and static dims fgc recorded
    fgc_types = {n: graph.node(n)["outputs"][0] for n in graph.topo_order() if len(graph.node(n)["outputs"]) == 1}
    checked = 0
    for vi in inferred.graph.value_info:
        if vi.name in fgc_types:
            want = fgc_types[vi.name]
            got = _dims(vi)
            assert len(got) == want.rank, vi.name
            assert all(not isinstance(d, int) or d == g for d, g in zip(want.shape, got)), (vi.name, got, want)
            checked += 1
    assert checked >= 5


def test_io_names_and_types_are_the_keras_ones(exported):
    _, _, proto = exported
    g = proto.graph
    initializers = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in initializers]
    assert [i.name for i in inputs] == ["text", "question"]
    assert [_dims(i) for i in inputs] == [["N", 6], ["N", 2, 4]]
    assert [o.name for o in g.output] == ["answer", "score"]
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for i in list(inputs) + list(g.output))
    assert {"encoder/kernel", "encoder/bias", "answer/kernel", "score/bias"} <= initializers


def test_dropout_is_absent(exported):
    _, _, proto = exported
    ops = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in ops
    assert ops.count("Gemm") == 3 and "MatMul" in ops   # the rank-3 Dense stays MatMul + Add


def test_initializers_hold_the_current_weights(exported, tmp_path):
    model, _, proto = exported
    init = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    np.testing.assert_array_equal(init["encoder/kernel"], model.get_layer("encoder").get_weights()[0])
    # new weights, new export
    model.get_layer("score").set_weights([np.ones((11, 1)), np.array([-2.0])])
    model.export(tmp_path / "again.onnx")
    proto2 = onnx.load(tmp_path / "again.onnx")
    init2 = {i.name: onnx.numpy_helper.to_array(i) for i in proto2.graph.initializer}
    np.testing.assert_array_equal(init2["score/kernel"], np.ones((11, 1), np.float32))
    np.testing.assert_array_equal(init2["score/bias"], np.array([-2.0], np.float32))


def test_export_is_byte_stable(tmp_path):
    model = _two_io_model()
    model.export(tmp_path / "a.onnx")
    model.export(tmp_path / "b.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_export_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"export format 'tflite' is not supported"):
        _two_io_model().export(tmp_path / "m.tflite", format="tflite")


_STANDALONE = textwrap.dedent("""
    import sys
    sys.modules["fgc"] = None          # any attempt to import fgc now fails
    import json
    import numpy as np
    import onnxruntime as ort
    try:
        import fgc  # noqa: F401
        raise SystemExit("fgc was importable")
    except ImportError:
        pass
    path, data = sys.argv[1], np.load(sys.argv[2])
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {i.name: data[i.name].astype(np.float32) for i in sess.get_inputs()}
    outs = sess.run(None, feeds)
    np.savez(sys.argv[3], **{o.name: v for o, v in zip(sess.get_outputs(), outs)})
    print(json.dumps([i.name for i in sess.get_inputs()]))
""")


def test_exported_file_runs_without_fgc_and_matches_predict(exported, tmp_path):
    model, path, _ = exported
    x = _data(batch=7)
    expected = model.predict(x)
    np.savez(tmp_path / "in.npz", text=x[0], question=x[1])
    script = tmp_path / "standalone.py"
    script.write_text(_STANDALONE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FGC_"))}
    env["PYTHONPATH"] = ""
    proc = subprocess.run([sys.executable, "-I", str(script), str(path), str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["text", "question"]
    got = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(got["answer"], expected[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got["score"], expected[1], rtol=1e-6, atol=1e-7)


def test_export_of_an_output_that_is_an_input_and_a_value_returned_twice(tmp_path):
    i = Input(shape=(3,), name="x")
    r = layers.Activation("relu", name="r")(i)
    model = Model(i, [r, i, r])
    path = tmp_path / "m.onnx"
    proto = model.export(path)
    onnx.checker.check_model(proto, full_check=True)
    assert model.output_names == ["r", "x", "r_1"]
    assert [o.name for o in proto.graph.output] == ["r", "x", "r_1"]
    import onnxruntime as ort

    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    outs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(outs[0], np.maximum(x, 0))
    np.testing.assert_array_equal(outs[1], x)
    np.testing.assert_array_equal(outs[2], np.maximum(x, 0))
    for a, b in zip(outs, model.predict(x)):
        np.testing.assert_array_equal(a, b)
