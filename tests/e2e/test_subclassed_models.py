"""Subclassed models: layers in __init__, a call, traced on first use; compile/fit/evaluate/predict/export."""
import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc import layers, ops


class ResidualMLP(fgc.Model):
    def __init__(self, hidden=8, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(hidden, activation="tanh")
        self.head = layers.Dense(1)

    def call(self, x, training=None):
        return self.head(self.hidden(x)) + ops.mean(x, axis=-1, keepdims=True)


def residual_numpy(x, k1, b1, k2, b2):
    return np.tanh(x @ k1 + b1) @ k2 + b2 + x.mean(-1, keepdims=True)


def test_fit_predict_evaluate_export(tmp_path, rng):
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = (np.sin(x).sum(1, keepdims=True)).astype(np.float32)
    model = ResidualMLP()
    assert not model.built
    model.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.02), loss="mse")   # before any shape is known
    history = model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert model.built and history.history["loss"][-1] < history.history["loss"][0]
    assert model.layers == [model.hidden, model.head]
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 8), (8,), (8, 1), (1,)]
    np.testing.assert_allclose(model.predict(x, verbose=0), residual_numpy(x, *weights), rtol=1e-5, atol=1e-5)
    expected_mse = float(np.mean((residual_numpy(x, *weights) - y) ** 2))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected_mse, rel=1e-4)

    path = tmp_path / "residual.onnx"
    model.export(str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, residual_numpy(x, *weights), rtol=1e-5, atol=1e-5)


def test_one_sgd_step_matches_numpy_gradients(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.standard_normal((4, 1)).astype(np.float32)
    model = ResidualMLP(hidden=2)
    model.build((None, 3))
    k1, b1, k2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=0.1), loss="mse")
    model.train_on_batch(x, y)
    h = np.tanh(x @ k1 + b1)
    dout = 2 * (h @ k2 + b2 + x.mean(-1, keepdims=True) - y) / len(x)
    dh = dout @ k2.T * (1 - h ** 2)
    expected = [x.T @ dh, dh.sum(0), h.T @ dout, dout.sum(0)]
    for before, after, grad in zip([k1, b1, k2, b2], model.get_weights(), expected):
        np.testing.assert_allclose((before - after) / 0.1, grad, rtol=1e-3, atol=1e-5)


def test_called_on_arrays_and_inside_a_functional_model(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    model = ResidualMLP()
    direct = model(x)                        # builds from the data
    np.testing.assert_allclose(direct, residual_numpy(x, *model.get_weights()), rtol=1e-5, atol=1e-5)
    inputs = fgc.Input((3,))
    outer = fgc.Model(inputs, layers.Dense(2)(model(inputs)))
    assert len(outer.weights) == 6


def test_several_inputs_as_a_list(rng):
    class Pair(fgc.Model):
        def __init__(self):
            super().__init__()
            self.proj = layers.Dense(2, use_bias=False)

        def call(self, inputs):
            a, b = inputs
            return self.proj(a) - self.proj(b)

    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    model = Pair()
    out = model.predict([a, b], verbose=0)
    (kernel,) = model.get_weights()
    np.testing.assert_allclose(out, (a - b) @ kernel, rtol=1e-5, atol=1e-6)


def test_train_step_override_is_refused():
    class Custom(fgc.Model):
        def call(self, x):
            return x

        def train_step(self, data):
            return {}

    with pytest.raises(NotImplementedError, match="train_step"):
        Custom()


def test_build_needs_the_batch_axis():
    with pytest.raises(ValueError, match="batch axis first"):
        ResidualMLP().build((3,))
