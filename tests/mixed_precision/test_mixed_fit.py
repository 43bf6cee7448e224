"""mixed_float16 training end to end (reduced sizes): an MLP, a small conv net and an LSTM train, their
variables stay float32, and each run follows the float32 run from the same weights within float16
tolerance. The float32 run is the reference: the same model, the same data, full precision."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fgc
from fgc import layers, mixed_precision
from fgc.optimizers import SGD, Adam, LossScaleOptimizer


def _mlp():
    x = fgc.Input(shape=(8,))
    h = layers.Dense(16, activation="relu")(x)
    return fgc.Model(x, layers.Activation("softmax", dtype="float32")(layers.Dense(3)(h)))


def _convnet():
    x = fgc.Input(shape=(8, 8, 1))
    h = layers.Conv2D(4, 3, activation="relu")(x)
    h = layers.BatchNormalization()(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    return fgc.Model(x, layers.Activation("softmax", dtype="float32")(layers.Dense(2)(h)))


def _lstm():
    x = fgc.Input(shape=(6, 3))
    h = layers.LSTM(8)(x)
    return fgc.Model(x, layers.Dense(1, dtype="float32")(h))


def _data(kind, rng):
    if kind == "mlp":
        x = rng.random((192, 8)).astype(np.float32)
        return x, np.eye(3, dtype=np.float32)[x[:, :3].argmax(1)], "categorical_crossentropy"
    if kind == "conv":
        x = rng.random((96, 8, 8, 1)).astype(np.float32)
        labels = (x[:, :4].mean((1, 2, 3)) > x[:, 4:].mean((1, 2, 3))).astype(int)
        return x, np.eye(2, dtype=np.float32)[labels], "categorical_crossentropy"
    x = rng.standard_normal((96, 6, 3)).astype(np.float32)
    return x, x[:, :, 0].mean(1, keepdims=True).astype(np.float32), "mse"


BUILDERS = {"mlp": _mlp, "conv": _convnet, "lstm": _lstm}


def _train(kind, policy, weights, x, y, loss, epochs):
    mixed_precision.set_global_policy(policy)
    try:
        model = BUILDERS[kind]()
    finally:
        mixed_precision.set_global_policy("float32")
    model.set_weights(weights)
    # a moderate fixed start scale: no step overflows, so both runs take the same steps
    optimizer = LossScaleOptimizer(SGD(0.1, momentum=0.5), initial_scale=256.0) if policy != "float32" \
        else SGD(0.1, momentum=0.5)
    model.compile(optimizer=optimizer, loss=loss)
    history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize("kind, epochs", [("mlp", 8), ("conv", 6), ("lstm", 6)])
def test_mixed_run_follows_the_float32_run(kind, epochs):
    rng = np.random.default_rng(7)
    x, y, loss = _data(kind, rng)
    fgc.utils.set_random_seed(1)
    start = BUILDERS[kind]().get_weights()
    reference, ref_losses = _train(kind, "float32", start, x, y, loss, epochs)
    mixed, losses = _train(kind, "mixed_float16", start, x, y, loss, epochs)
    assert losses[-1] < 0.8 * losses[0], f"mixed {kind} did not learn: {losses}"
    np.testing.assert_allclose(losses, ref_losses, rtol=3e-2, atol=3e-3)
    assert all(w.dtype == "float32" for w in mixed.weights)
    assert all(a.dtype == np.float32 for a in mixed.get_weights())
    state = mixed._trainer.optimizer_state()[2]
    assert int(state["inner_iteration"]) == mixed.optimizer.iterations   # no step was skipped
    np.testing.assert_allclose(mixed.predict(x[:16], verbose=0), reference.predict(x[:16], verbose=0),
                               rtol=5e-2, atol=2e-2)


def test_default_compile_scales_and_learns():
    """compile() wraps the optimizer in a LossScaleOptimizer (initial scale 2**15) and training converges."""
    rng = np.random.default_rng(0)
    x, y, loss = _data("mlp", rng)
    mixed_precision.set_global_policy("mixed_float16")
    model = _mlp()
    model.compile(optimizer=Adam(0.01), loss=loss, metrics=["accuracy"])
    assert isinstance(model.optimizer, LossScaleOptimizer)
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_inference_export_keeps_the_declared_float32_io(tmp_path):
    mixed_precision.set_global_policy("mixed_float16")
    model = _convnet()
    data = np.random.default_rng(3).random((5, 8, 8, 1)).astype(np.float32)
    expected = model.predict(data, verbose=0)
    model.export(tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.type for i in sess.get_inputs()] == ["tensor(float)"]
    assert [o.type for o in sess.get_outputs()] == ["tensor(float)"]
    got = sess.run(None, {sess.get_inputs()[0].name: data})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_float16_output_is_exported_as_declared(tmp_path):
    mixed_precision.set_global_policy("mixed_float16")
    x = fgc.Input(shape=(4,))
    model = fgc.Model(x, layers.Dense(2)(x))
    model.export(tmp_path / "h.onnx")
    sess = ort.InferenceSession(str(tmp_path / "h.onnx"), providers=["CPUExecutionProvider"])
    assert [o.type for o in sess.get_outputs()] == ["tensor(float16)"]
    assert model.predict(np.ones((2, 4), np.float32), verbose=0).dtype == np.float16


def test_matches_keras_mixed_precision_predictions():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("run with KERAS_BACKEND=jax")
    mixed_precision.set_global_policy("mixed_float16")
    model = _convnet()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        kx = keras.Input((8, 8, 1))
        kh = keras.layers.Conv2D(4, 3, activation="relu")(kx)
        kh = keras.layers.MaxPooling2D()(keras.layers.BatchNormalization()(kh))
        ky = keras.layers.Activation("softmax", dtype="float32")(keras.layers.Dense(2)(keras.layers.Flatten()(kh)))
        kmodel = keras.Model(kx, ky)
    finally:
        keras.config.set_dtype_policy("float32")
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in model.get_weights()]
    weights[5] = np.abs(weights[5]) + 0.5   # moving variance
    model.set_weights(weights)
    kmodel.set_weights(weights)
    data = rng.random((6, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(model.predict(data, verbose=0), np.asarray(kmodel.predict(data, verbose=0)),
                               atol=5e-3)
    assert [str(w.dtype) for w in kmodel.weights] == [w.dtype for w in model.weights]
