"""Keras autocasting under a mixed policy: what each layer computes in and returns, checked against
numpy written from Keras' rules (inputs and weights rounded to float16, float32 statistics for the
normalizations, float32 variables), and gradients through the Casts."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc import layers, mixed_precision, ops
from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType
from fgc.passes.autodiff import gradients
from fgc.primitives import Builder


@pytest.fixture(autouse=True)
def _mixed():
    mixed_precision.set_global_policy("mixed_float16")
    yield
    mixed_precision.set_global_policy("float32")


def f16(a):
    return np.asarray(a, np.float32).astype(np.float16)


def test_dense_computes_in_float16_and_the_float32_layer_casts_back(rng):
    x = fgc.Input(shape=(6,))
    h = layers.Dense(5, activation="relu")(x)
    y = layers.Activation("linear", dtype="float32")(layers.Dense(3)(h))
    assert (h.dtype, y.dtype) == ("float16", "float32")
    model = fgc.Model(x, y)
    k1, b1, k2, b2 = [rng.standard_normal(w.shape).astype(np.float32) for w in model.weights]
    model.set_weights([k1, b1, k2, b2])
    data = rng.standard_normal((7, 6)).astype(np.float32)
    out = model.predict(data, verbose=0)
    assert out.dtype == np.float32
    # numpy: every operand rounded to float16, products summed in float32, each result rounded to float16
    hid = f16(np.maximum(f16(f16(data).astype(np.float32) @ f16(k1).astype(np.float32)).astype(np.float32)
                         + f16(b1).astype(np.float32), 0))
    want = f16(hid.astype(np.float32) @ f16(k2).astype(np.float32)).astype(np.float32) + f16(b2).astype(np.float32)
    np.testing.assert_allclose(out, f16(want).astype(np.float32), rtol=2e-3, atol=2e-3)
    assert all(w.dtype == "float32" for w in model.weights)


def test_ir_reads_float32_weights_through_casts():
    x = fgc.Input(shape=(4,))
    model = fgc.Model(x, layers.Dense(2)(x))
    ir = model.ir()
    assert "Cast" in ir and "f32[4,2]" in ir and "f16[N,2]" in ir


def test_batch_norm_keeps_float32_statistics_and_returns_float16(rng):
    x = fgc.Input(shape=(3,))
    bn = layers.BatchNormalization(momentum=0.5)
    y = bn(x)
    assert y.dtype == "float16"
    model = fgc.Model(x, layers.Activation("linear", dtype="float32")(y))
    data = (rng.standard_normal((16, 3)) * 3 + 5).astype(np.float32)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(data, np.zeros((16, 3), np.float32))
    moving_mean, moving_var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    assert moving_mean.dtype == np.float32 and bn.moving_mean.dtype == "float32"
    # the statistics of the float32 input itself (BatchNormalization computes in float32 in Keras)
    np.testing.assert_allclose(moving_mean, 0.5 * data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(moving_var, 0.5 + 0.5 * data.var(0), rtol=1e-4)
    out = model.predict(data, verbose=0)
    gamma, beta = bn.gamma.numpy(), bn.beta.numpy()   # one SGD step moved them
    want = gamma * (data - moving_mean) / np.sqrt(moving_var + 1e-3) + beta
    np.testing.assert_allclose(out, f16(want).astype(np.float32), rtol=1e-3, atol=1e-3)


def test_layer_normalization_normalizes_in_float32(rng):
    x = fgc.Input(shape=(8,))
    h = layers.Dense(8)(x)
    y = layers.LayerNormalization()(h)
    assert y.dtype == "float16"
    model = fgc.Model(x, [h, y])
    data = rng.standard_normal((5, 8)).astype(np.float32) * 100
    hv, yv = model.predict(data, verbose=0)
    h32 = hv.astype(np.float32)   # the float16 activation, widened: LayerNormalization's float32 input
    want = (h32 - h32.mean(-1, keepdims=True)) / np.sqrt(h32.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(yv.astype(np.float32), f16(want).astype(np.float32), rtol=1e-3, atol=1e-3)


def test_embedding_gathers_float32_rows_and_casts_them():
    ids = fgc.Input(shape=(3,), dtype="int32")
    emb = layers.Embedding(5000, 4)
    y = emb(ids)
    assert y.dtype == "float16" and emb.embeddings.dtype == "float32"
    model = fgc.Model(ids, y)
    table = np.random.default_rng(2).standard_normal((5000, 4)).astype(np.float32)
    emb.set_weights([table])
    batch = np.array([[0, 4097, 4999], [3, 2, 1]], np.int32)   # ids above 2048 stay exact (never cast)
    np.testing.assert_array_equal(model.predict(batch, verbose=0), f16(table[batch]))


def test_float_ids_fed_to_embedding_are_not_rounded_to_float16():
    ids = fgc.Input(shape=(2,))
    model = fgc.Model(ids, layers.Embedding(5000, 2)(ids))
    table = np.arange(10000, dtype=np.float32).reshape(5000, 2)
    model.layers[1].set_weights([table])
    out = model.predict(np.array([[4097.0, 4099.0]], np.float32), verbose=0)
    np.testing.assert_array_equal(out[0, :, 0], f16([8194.0, 8198.0]))


def test_integer_inputs_are_never_cast(rng):
    x = fgc.Input(shape=(3,), dtype="int32")
    y = layers.Identity()(x)
    assert y.dtype == "int32"


def test_subclassed_layer_reads_its_weights_in_float16(rng):
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, x):
            return ops.multiply(x, self.w)

    x = fgc.Input(shape=(3,))
    layer = Scale()
    y = layer(x)
    assert y.dtype == "float16" and layer.w.dtype == "float32"
    model = fgc.Model(x, layers.Activation("linear", dtype="float32")(y))
    w = np.array([0.1, 3.0, -7.7], np.float32)
    layer.set_weights([w])
    data = rng.standard_normal((4, 3)).astype(np.float32)
    # onnxruntime's CPU provider may keep a float16 product in float32 (it computes float16 Mul through
    # casts and drops a float32->float16->float32 pair), so the product is compared within float16 rounding
    np.testing.assert_allclose(model.predict(data, verbose=0),
                               f16(data).astype(np.float32) * f16(w).astype(np.float32), rtol=1e-3)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data, np.zeros((4, 3)), verbose=0)
    assert layer.w.numpy().dtype == np.float32


def test_bfloat16_compute_is_refused_clearly():
    x = fgc.Input(shape=(3,))
    with pytest.raises(NotImplementedError, match="bfloat16.*mixed_float16"):
        layers.Dense(2, dtype="mixed_bfloat16")(x)


# ---------------------------------------------------------------------------------------- gradients
def _session(g):
    return ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])


def test_gradient_through_casts_matches_finite_differences():
    """float64 -> float32 -> ops -> float64: the Casts' vjps carry the cotangent across both ways."""
    rng = np.random.default_rng(5)
    r = rng.standard_normal((3, 4)).astype(np.float32)
    g = Graph("casts")
    b = Builder(g, "t")
    x = g.add_input("x", TensorType((3, 4), "float64"))
    w = g.add_input("w", TensorType((4, 4), "float64"))
    y = b.Tanh(b.MatMul(b.Cast(x, to="float32"), b.Cast(w, to="float32")))
    loss = b.ReduceSum(b.Mul(b.Cast(y, to="float64"), b.const(r, "float64")), keepdims=0)
    gx, gw = gradients(g, loss, [x, w])
    assert g.type_of(gx).dtype == "float64" and g.type_of(gw).dtype == "float64"
    g.outputs, g.output_names = [loss, gx, gw], ["loss", "gx", "gw"]
    sess = _session(g)
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)) * 0.5
    _, dx, dw = sess.run(None, {"x": xv, "w": wv})
    h = 1e-3
    for value, grad, name in ((xv, dx, "x"), (wv, dw, "w")):
        direction = rng.standard_normal(value.shape)
        feeds = {"x": xv, "w": wv}
        plus = sess.run(["loss"], {**feeds, name: value + h * direction})[0]
        minus = sess.run(["loss"], {**feeds, name: value - h * direction})[0]
        np.testing.assert_allclose((plus - minus) / (2 * h), np.sum(grad * direction), rtol=2e-3)


def test_float16_gradient_reaches_a_float32_variable():
    """x32 -> Cast f16 -> Tanh -> Cast f32: the gradient comes back as float32, the float16 derivative."""
    g = Graph("half")
    b = Builder(g, "t")
    x = g.add_input("x", TensorType((5,), "float32"))
    y = b.Cast(b.Tanh(b.Cast(x, to="float16")), to="float32")
    loss = b.ReduceSum(b.Mul(y, b.const(np.arange(1, 6, dtype=np.float32))), keepdims=0)
    (gx,) = gradients(g, loss, [x])
    assert g.type_of(gx).dtype == "float32"
    g.outputs, g.output_names = [gx], ["gx"]
    xv = np.array([-1.5, -0.2, 0.0, 0.3, 2.0], np.float32)
    (grad,) = _session(g).run(None, {"x": xv})
    t = np.tanh(f16(xv).astype(np.float64))
    np.testing.assert_allclose(grad, np.arange(1, 6) * (1 - t * t), rtol=5e-3, atol=1e-3)


def _output_dtypes(lib, ids_input):
    x = lib.Input(shape=(4,))
    ids = lib.Input(shape=(3,), dtype="int32")
    L = lib.layers
    outs = [L.Dense(2)(x), L.Dense(2, autocast=False)(x), L.BatchNormalization()(x), L.LayerNormalization()(x),
            L.Embedding(10, 2)(ids), L.Activation("linear", dtype="float32")(L.Dense(2)(x)),
            L.Softmax()(L.Dense(2)(x)), L.LSTM(2)(L.Reshape((2, 2))(x))]
    return [str(t.dtype) for t in outs]


def test_output_dtypes_match_keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("run with KERAS_BACKEND=jax")
    keras.config.set_dtype_policy("mixed_float16")
    try:
        expected = _output_dtypes(keras, True)
    finally:
        keras.config.set_dtype_policy("float32")
    assert _output_dtypes(fgc, True) == expected


def test_autocast_false_computes_on_the_uncast_input():
    """Nothing is cast in (the float32 input and weights meet as they are); the output still has the
    compute dtype, as Keras' symbolic output does."""
    x = fgc.Input(shape=(4,))
    dense = layers.Dense(2, autocast=False)
    y = dense(x)
    assert y.dtype == "float16"
    model = fgc.Model(x, y)
    data = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32) * 300
    kernel, bias = dense.get_weights()
    np.testing.assert_array_equal(model.predict(data, verbose=0), f16(data @ kernel + bias))


def test_models_cast_inputs_as_keras_does():
    """Keras: a functional model passes its inputs on as they are (its layers autocast), a subclassed model
    casts its float inputs to its compute dtype and returns what its call returns."""
    class Passthrough(fgc.Model):
        def __init__(self):
            super().__init__()
            self.out = layers.Activation("linear", dtype="float32")

        def call(self, x):
            return self.out(x)

    value = np.array([[1.0001]], np.float32)   # not a float16 number: rounds to 1.0 in float16
    subclassed = Passthrough()
    out = subclassed.predict(value, verbose=0)
    assert out.dtype == np.float32 and out[0, 0] == 1.0
    inner_in = fgc.Input(shape=(1,))
    inner = fgc.Model(inner_in, layers.Activation("linear", dtype="float32")(inner_in))
    outer_in = fgc.Input(shape=(1,))
    np.testing.assert_array_equal(fgc.Model(outer_in, inner(outer_in)).predict(value, verbose=0), value)
