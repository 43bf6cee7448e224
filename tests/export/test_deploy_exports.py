"""Deployment exports: minimal plain files, float16, int8 (dynamic and calibrated), onnxruntime's
offline optimization, the metadata a deployment reads, and int64 integer inputs.

References are numpy forward passes written from Keras' formulas (float64), not fgc's own output."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fgc
from fgc import Input, Model, layers


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(path, *arrays):
    sess = _session(path)
    feeds = {i.name: a for i, a in zip(sess.get_inputs(), arrays)}
    return sess.run(None, feeds)


def _dense_bn_model(rng, width=64):
    inputs = Input(shape=(32,), name="features")
    h = layers.Dense(width, activation="relu", name="hidden")(inputs)
    h = layers.Dense(width, name="mix")(h)
    h = layers.BatchNormalization(name="norm")(h)
    outputs = layers.Dense(10, activation="softmax", name="probs")(h)
    model = Model(inputs, outputs, name="classifier")
    for layer in model.layers[1:]:
        layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in v.name else
                           rng.normal(scale=0.2, size=w.shape) for w, v in zip(layer.get_weights(), layer.weights)])
    return model


def _numpy_dense_bn(model, x):
    hidden, mix, norm, probs = (model.get_layer(n).get_weights() for n in ("hidden", "mix", "norm", "probs"))
    h = np.maximum(x @ hidden[0] + hidden[1], 0) @ mix[0] + mix[1]
    gamma, beta, mean, var = norm
    h = gamma * (h - mean) / np.sqrt(var + 1e-3) + beta
    z = h @ probs[0] + probs[1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def dense_model():
    rng = np.random.default_rng(0)
    return _dense_bn_model(rng), rng.normal(size=(64, 32))


# ---------------------------------------------------------------------------- plain export
def test_plain_export_is_minimal_and_exact(tmp_path, dense_model):
    model, x = dense_model
    proto = model.export(tmp_path / "m.onnx")
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm", "Gemm", "Softmax"]
    (got,) = _run(tmp_path / "m.onnx", x.astype(np.float32))
    np.testing.assert_allclose(got, _numpy_dense_bn(model, x), rtol=1e-4, atol=1e-6)


def test_conv_batchnorm_export_folds_to_the_conv(tmp_path):
    rng = np.random.default_rng(1)
    inputs = Input(shape=(8, 8, 3))
    conv = layers.Conv2D(4, 3, padding="same")
    bn = layers.BatchNormalization()
    y = conv(inputs)
    model = Model(inputs, layers.Flatten()(layers.Activation("relu")(bn(y))))
    conv.set_weights([rng.normal(scale=0.3, size=w.shape) for w in conv.get_weights()])
    bn.set_weights([rng.uniform(0.5, 1.5, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.3, 2, 4)])
    proto = model.export(tmp_path / "cbn.onnx")
    assert [n.op_type for n in proto.graph.node] == ["Transpose", "Conv", "Transpose", "Relu", "Reshape"]
    x = rng.normal(size=(3, 8, 8, 3)).astype(np.float32)
    conv_out = Model(inputs, y).predict(x, verbose=0).astype(np.float64)   # no BatchNorm in this graph
    gamma, beta, mean, var = bn.get_weights()
    expected = np.maximum(gamma * (conv_out - mean) / np.sqrt(var + 1e-3) + beta, 0).reshape(3, -1)
    np.testing.assert_allclose(_run(tmp_path / "cbn.onnx", x)[0], expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- metadata
def test_producer_and_metadata_describe_the_file(tmp_path):
    ids = Input(shape=(None,), dtype="int32", name="ids")
    aux = Input(shape=(3,), name="aux")
    h = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4, name="embed")(ids))
    out = layers.Dense(2, name="head")(layers.concatenate([h, aux]))
    model = Model([ids, aux], out, name="two_inputs")
    proto = model.export(tmp_path / "m.onnx")
    assert (proto.producer_name, proto.producer_version) == ("fgc", fgc.__version__)
    meta = {p.key: p.value for p in onnx.load(tmp_path / "m.onnx").metadata_props}
    assert meta["fgc_version"] == fgc.__version__
    assert meta["keras_class"] == "Functional"
    assert ["embed", "Embedding"] in json.loads(meta["keras_layers"])
    assert json.loads(meta["inputs"]) == [
        {"name": "ids", "dtype": "int64", "shape": ["N", "T0"], "keras_dtype": "int32"},
        {"name": "aux", "dtype": "float32", "shape": ["N", 3], "keras_dtype": "float32"}]
    assert json.loads(meta["outputs"]) == [{"name": "head", "dtype": "float32", "shape": ["N", 2],
                                            "keras_dtype": "float32"}]
    assert (meta["precision"], meta["quantize"]) == ("float32", "none") and "optimized_for" not in meta


def test_integer_inputs_take_numpy_default_int64(tmp_path):
    ids = Input(shape=(5,), dtype="int32", name="ids")
    embedding = layers.Embedding(9, 3)
    model = Model(ids, embedding(ids))
    model.export(tmp_path / "e.onnx")
    x = np.random.default_rng(2).integers(0, 9, size=(4, 5))
    assert x.dtype == np.int64
    np.testing.assert_array_equal(_run(tmp_path / "e.onnx", x)[0], embedding.get_weights()[0][x])


def test_sequential_metadata_names_its_class(tmp_path):
    model = fgc.Sequential([Input(shape=(3,)), layers.Dense(2)])
    model.export(tmp_path / "s.onnx")
    meta = {p.key: p.value for p in onnx.load(tmp_path / "s.onnx").metadata_props}
    assert meta["keras_class"] == "Sequential"


# ---------------------------------------------------------------------------- float16
def test_float16_halves_the_weights_and_stays_close(tmp_path, dense_model):
    model, x = dense_model
    model.export(tmp_path / "f32.onnx")
    proto = model.export(tmp_path / "f16.onnx", precision="float16")
    weights = [i for i in proto.graph.initializer if np.prod(i.dims) > 1]
    assert {onnx.helper.tensor_dtype_to_np_dtype(i.data_type) for i in weights} == {np.dtype(np.float16)}
    assert (tmp_path / "f16.onnx").stat().st_size < 0.6 * (tmp_path / "f32.onnx").stat().st_size
    sess = _session(tmp_path / "f16.onnx")
    assert [i.type for i in sess.get_inputs() + sess.get_outputs()] == ["tensor(float)", "tensor(float)"]
    (got,) = sess.run(None, {"features": x.astype(np.float32)})
    expected = _numpy_dense_bn(model, x)
    deviation = np.abs(got - expected).max()
    assert 1e-6 < deviation < 5e-3    # float16 rounding shows, and stays at float16's ~1e-3 relative size
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["precision"] == "float16"


def test_float16_without_keep_io_types_takes_float16(tmp_path, dense_model):
    model, x = dense_model
    model.export(tmp_path / "h.onnx", precision="float16", keep_io_types=False)
    (got,) = _run(tmp_path / "h.onnx", x.astype(np.float16))
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float64), _numpy_dense_bn(model, x), atol=5e-3)


# ---------------------------------------------------------------------------- int8
def test_dynamic_int8_stores_int8_weights_and_stays_close(tmp_path):
    rng = np.random.default_rng(3)
    model = _dense_bn_model(rng, width=256)
    x = rng.normal(size=(64, 32))
    model.export(tmp_path / "f32.onnx")
    proto = model.export(tmp_path / "q.onnx", quantize="int8")
    ops = {n.op_type for n in proto.graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops
    assert any(i.data_type == onnx.TensorProto.INT8 and np.prod(i.dims) >= 256 * 10 for i in proto.graph.initializer)
    assert (tmp_path / "q.onnx").stat().st_size < 0.4 * (tmp_path / "f32.onnx").stat().st_size
    (got,) = _run(tmp_path / "q.onnx", x.astype(np.float32))
    expected = _numpy_dense_bn(model, x)
    assert np.abs(got - expected).max() < 0.05            # probabilities: int8 moves them by a few 1e-3
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9
    assert {p.key: p.value for p in proto.metadata_props}["quantize"] == "int8"


def test_static_int8_calibrates_on_the_data_given(tmp_path):
    rng = np.random.default_rng(4)
    model = _dense_bn_model(rng)
    x = rng.normal(size=(128, 32))
    proto = model.export(tmp_path / "s.onnx", quantize="int8", calibration_data=x)
    ops = [n.op_type for n in proto.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert {p.key: p.value for p in proto.metadata_props}["quantize"] == "int8-static"
    (got,) = _run(tmp_path / "s.onnx", x.astype(np.float32))
    # 0.008 with the 7-bit weights export uses; full-range ones overflow on CPUs without VNNI (0.050 on AVX2)
    assert np.abs(got - _numpy_dense_bn(model, x)).max() < 0.025


def _digits():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "digits.py"
    spec = importlib.util.spec_from_file_location("fgc_bench_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.digits(n_train=2000, n_test=600)


def test_accuracy_on_digits_survives_float16_and_int8(tmp_path):
    x_train, y_train, x_test, y_test = _digits()
    inputs = Input(shape=(8, 8, 1))
    h = layers.Dense(64, activation="relu")(layers.Flatten()(inputs))
    model = Model(inputs, layers.Dense(10, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train / 16, y_train, epochs=15, batch_size=64, verbose=0)
    accuracy = {}
    for name, options in {"float32": {}, "float16": {"precision": "float16"}, "int8": {"quantize": "int8"},
                          "int8-static": {"quantize": "int8", "calibration_data": x_train[:256] / 16}}.items():
        model.export(tmp_path / f"{name}.onnx", **options)
        (probs,) = _run(tmp_path / f"{name}.onnx", (x_test / 16).astype(np.float32))
        accuracy[name] = float((probs.argmax(1) == y_test).mean())
    assert accuracy["float32"] > 0.75, accuracy                 # the model learned the digits
    assert abs(accuracy["float16"] - accuracy["float32"]) <= 0.01, accuracy
    assert abs(accuracy["int8"] - accuracy["float32"]) <= 0.02, accuracy
    assert abs(accuracy["int8-static"] - accuracy["float32"]) <= 0.02, accuracy


# ---------------------------------------------------------------------------- optimize
def test_optimize_saves_onnxruntime_graph_and_names_its_version(tmp_path, dense_model):
    model, x = dense_model
    proto = model.export(tmp_path / "o.onnx", optimize=True)
    meta = {p.key: p.value for p in onnx.load(tmp_path / "o.onnx").metadata_props}
    assert meta["optimized_for"] == f"onnxruntime {ort.__version__} CPUExecutionProvider"
    assert json.loads(meta["inputs"])[0]["name"] == "features"
    assert len(proto.graph.node) <= 5
    (got,) = _run(tmp_path / "o.onnx", x.astype(np.float32))
    np.testing.assert_allclose(got, _numpy_dense_bn(model, x), rtol=1e-4, atol=1e-6)


def test_int8_and_optimize_combine(tmp_path, dense_model):
    model, x = dense_model
    model.export(tmp_path / "qo.onnx", quantize="int8", optimize=True)
    (got,) = _run(tmp_path / "qo.onnx", x.astype(np.float32))
    assert np.abs(got - _numpy_dense_bn(model, x)).max() < 0.05


# ---------------------------------------------------------------------------- refused options
@pytest.mark.parametrize("options, error, message", [
    ({"precision": "bfloat16"}, ValueError, r"precision=.*\('float32', 'float16'\).*'bfloat16'"),
    ({"quantize": "int4"}, ValueError, r"quantize=.*None or 'int8'.*'int4'"),
    ({"quantize": "int8", "precision": "float16"}, ValueError, r"quantizes the float32 graph"),
    ({"calibration_data": np.zeros((4, 32))}, ValueError, r"pass quantize='int8' too"),
    ({"keep_io_types": False}, ValueError, r"needs precision='float16'"),
    ({"optimize": "yes"}, TypeError, r"optimize=.*True or False"),
    ({"training": True, "precision": "float16"}, ValueError, r"inference exports only"),
    ({"quantize": "int8", "calibration_data": [np.zeros((4, 32)), np.zeros((4, 32))]}, ValueError,
     r"2 arrays; the model has 1 inputs \['features'\]"),
    ({"quantize": "int8", "calibration_data": {"x": np.zeros((4, 32))}}, ValueError,
     r"keys \['x'\] do not match the model's inputs \['features'\]"),
])
def test_bad_options_are_refused_and_the_previous_file_stays(tmp_path, dense_model, options, error, message):
    model, _ = dense_model
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(error, match=message):
        model.export(target, **options)
    assert target.read_bytes() == b"previous"


def test_lstm_weights_are_folded_to_initializers_and_quantized(tmp_path):
    rng = np.random.default_rng(5)
    inputs = Input(shape=(6, 4), name="seq")
    lstm = layers.LSTM(8, name="rnn")
    model = Model(inputs, lstm(inputs))
    lstm.set_weights([rng.normal(scale=0.4, size=w.shape) for w in lstm.get_weights()])
    plain = model.export(tmp_path / "f32.onnx")
    # the gate reordering (Split/Concat) and the ONNX layout (Unsqueeze) are done at export
    assert [n.op_type for n in plain.graph.node if n.op_type not in ("Transpose", "Squeeze")] == ["LSTM"]
    lstm_node = next(n for n in plain.graph.node if n.op_type == "LSTM")
    initializers = {i.name for i in plain.graph.initializer}
    assert all(name in initializers for name in lstm_node.input[1:4])
    quantized = model.export(tmp_path / "q.onnx", quantize="int8")
    assert "DynamicQuantizeLSTM" in [n.op_type for n in quantized.graph.node]
    x = rng.normal(size=(5, 6, 4)).astype(np.float32)
    (want,) = _run(tmp_path / "f32.onnx", x)
    np.testing.assert_allclose(want, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    (got,) = _run(tmp_path / "q.onnx", x)
    assert 0 < np.abs(got - want).max() < 0.05     # int8 weights: small, visible changes of the tanh outputs


def test_calibration_ids_must_be_whole_numbers(tmp_path):
    ids = Input(shape=(3,), dtype="int32", name="ids")
    model = Model(ids, layers.Dense(2)(layers.Flatten()(layers.Embedding(5, 2)(ids))))
    with pytest.raises(ValueError, match=r"input 'ids' must hold integer ids .*float64 values that are not whole"):
        model.export(tmp_path / "m.onnx", quantize="int8", calibration_data=np.full((4, 3), 1.5))
    model.export(tmp_path / "m.onnx", quantize="int8", calibration_data=np.ones((4, 3)))   # 1.0 is an id
    assert (tmp_path / "m.onnx").exists()
