"""ConvertFloat16: float16 compute with float32 islands and Casts only at the boundaries."""
import numpy as np
import onnxruntime as ort

from fgc import Input, Model, layers
from fgc.compiler import inference_graph
from fgc.export.onnx import to_onnx
from fgc.ir import verify
from fgc.passes import ConvertFloat16, FoldParams, PassManager


def _mlp(rng):
    inputs = Input(shape=(8,))
    h = layers.Dense(16, activation="relu")(inputs)
    h = layers.BatchNormalization()(h)
    outputs = layers.Dense(5, activation="softmax")(h)
    model = Model(inputs, outputs)
    for layer in model.layers[1:]:
        layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if "variance" in v.name else rng.normal(size=w.shape)
                           for w, v in zip(layer.get_weights(), layer.weights)])
    return model


def _converted(model, keep_io_types=True):
    graph = inference_graph(model)
    PassManager([ConvertFloat16(keep_io_types=keep_io_types), FoldParams()], verify_each=True).run(graph)
    verify(graph)
    return graph


def _numpy_forward(model, x):
    """The MLP by Keras' formulas in float64."""
    d1, bn, d2 = (layer.get_weights() for layer in model.layers[1:])
    h = np.maximum(x @ d1[0] + d1[1], 0)
    gamma, beta, mean, var = bn
    h = gamma * (h - mean) / np.sqrt(var + 1e-3) + beta
    z = h @ d2[0] + d2[1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_dense_compute_is_float16_softmax_float32_io_float32():
    graph = _converted(_mlp(np.random.default_rng(0)))
    dtypes = {graph.op(n): graph.node(n)["outputs"][0].dtype for n in graph.topo_order()}
    assert dtypes["Gemm"] == "float16" and dtypes["Relu"] == "float16"
    assert dtypes["Softmax"] == "float32"
    assert [graph.type_of(v).dtype for v in graph.inputs + graph.outputs] == ["float32", "float32"]
    # weights are float16 constants, folded (BatchNorm included) in float32 and rounded once
    weights = [graph.node(n)["attrs"]["value"] for n in graph.topo_order() if graph.op(n) == "constant"]
    assert weights and all(w.dtype == np.float16 for w in weights if w.size > 1)
    casts = [graph.node(n) for n in graph.topo_order() if graph.op(n) == "Cast"]
    assert [c["attrs"]["to"] for c in casts] == ["float16", "float32"]   # after the input, before softmax


def test_float16_numbers_stay_close_to_the_float64_reference():
    rng = np.random.default_rng(1)
    model = _mlp(rng)
    x = rng.normal(size=(32, 8))
    sess = ort.InferenceSession(to_onnx(_converted(model)).SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input_layer": x.astype(np.float32)})
    assert got.dtype == np.float32
    expected = _numpy_forward(model, x)
    # float16 keeps 11 significant bits: about 1e-3 relative on each of a few roundings
    np.testing.assert_allclose(got, expected, atol=5e-3)
    assert np.abs(got - expected).max() > 1e-6                    # it really computed in float16
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)    # softmax in float32: rows sum to 1


def test_without_keep_io_types_inputs_and_outputs_are_float16():
    graph = _converted(_mlp(np.random.default_rng(2)), keep_io_types=False)
    assert [graph.type_of(v).dtype for v in graph.inputs + graph.outputs] == ["float16", "float16"]
    sess = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input_layer": np.ones((2, 8), np.float16)})
    assert got.dtype == np.float16


def test_integer_inputs_and_recurrences_keep_their_dtypes():
    ids = Input(shape=(5,), dtype="int32")
    h = layers.Embedding(11, 4)(ids)
    h = layers.LSTM(3)(h)
    model = Model(ids, layers.Dense(2)(h))
    graph = _converted(model)
    ops = {graph.op(n): graph.node(n) for n in graph.topo_order()}
    assert graph.type_of(graph.inputs[0]).dtype == "int32"
    assert ops["Gather"]["outputs"][0].dtype == "float16"          # the table is stored in float16
    recurrent = next(d for op, d in ops.items() if op in ("Scan", "LSTM"))
    assert all(t.dtype == "float32" for t in recurrent["outputs"])
    x = np.random.default_rng(3).integers(0, 11, size=(3, 5))
    sess = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input_layer": x.astype(np.int32)})
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=2e-3)
