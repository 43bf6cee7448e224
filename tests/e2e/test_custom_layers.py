"""Subclassed layers written only with fgc.ops: an RBF layer and a self-attention layer, trained (one SGD
step checked against a numpy gradient), exported and run in plain onnxruntime against numpy."""
import numpy as np
import onnxruntime as ort

import fgc
from fgc import layers, ops


class RBF(layers.Layer):
    """exp(-gamma * |x - mu_j|^2) for each centre mu_j (a column of ``mu``)."""

    def __init__(self, units, gamma=0.5, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gamma = units, gamma

    def build(self, input_shape):
        self.mu = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="mu")

    def call(self, inputs):
        diff = ops.expand_dims(inputs, -1) - self.mu          # (N, d, units)
        return ops.exp(-self.gamma * ops.sum(ops.square(diff), axis=1))


class SelfAttention(layers.Layer):
    """Single-head scaled dot-product self-attention with an output projection (sublayer)."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.out = layers.Dense(dim, use_bias=False)

    def build(self, input_shape):
        d = input_shape[-1]
        self.wq = self.add_weight(shape=(d, self.dim), name="wq")
        self.wk = self.add_weight(shape=(d, self.dim), name="wk")
        self.wv = self.add_weight(shape=(d, self.dim), name="wv")

    def call(self, x, training=None):
        q, k, v = x @ self.wq, x @ self.wk, x @ self.wv
        scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / np.sqrt(self.dim).astype("float32")
        return self.out(ops.matmul(ops.softmax(scores, axis=-1), v))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def rbf_numpy(x, mu, gamma):
    return np.exp(-gamma * ((x[:, :, None] - mu[None]) ** 2).sum(1))


def attention_numpy(x, wq, wk, wv, wo, dim):
    q, k, v = x @ wq, x @ wk, x @ wv
    return _softmax(q @ k.transpose(0, 2, 1) / np.sqrt(dim)) @ v @ wo


def _mse_grad_step(model, x, y, lr=0.1):
    """Weights before and after one SGD step on (x, y) with the mean squared error."""
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=lr), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    return before, [(b - a) / lr for b, a in zip(before, model.get_weights())]


def _numeric_grad(loss, weights, i, h=1e-6):
    w = [np.asarray(a, np.float64) for a in weights]
    grad = np.zeros_like(w[i])
    for idx in np.ndindex(w[i].shape):
        plus, minus = [a.copy() for a in w], [a.copy() for a in w]
        plus[i][idx] += h
        minus[i][idx] -= h
        grad[idx] = (loss(*plus) - loss(*minus)) / (2 * h)
    return grad


def test_rbf_layer_predicts_trains_and_exports(tmp_path, rng):
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y = rng.random((6, 4)).astype(np.float32)
    inputs = fgc.Input((3,))
    layer = RBF(4, gamma=0.5)
    model = fgc.Model(inputs, layer(inputs))
    assert [w.path for w in layer.weights] == [f"{layer.name}/mu"]
    mu = layer.get_weights()[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), rbf_numpy(x, mu, 0.5), rtol=1e-5, atol=1e-6)

    # analytic gradient of mean((rbf - y)^2): d/dmu_ij = sum_n 2 (o_nj - y_nj)/(N U) * 2 gamma o_nj (x_ni - mu_ij)
    out = rbf_numpy(x.astype(np.float64), mu.astype(np.float64), 0.5)
    dout = 2 * (out - y) / out.size
    expected = (dout * out * 2 * 0.5)[:, None, :] * (x[:, :, None] - mu[None])
    _, (grad,) = _mse_grad_step(model, x, y)
    np.testing.assert_allclose(grad, expected.sum(0), rtol=1e-3, atol=1e-5)

    path = tmp_path / "rbf.onnx"
    model.export(str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, rbf_numpy(x, layer.get_weights()[0], 0.5), rtol=1e-5, atol=1e-6)


def test_attention_layer_tracks_its_sublayer_trains_and_exports(tmp_path, rng):
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    y = rng.standard_normal((2, 5, 3)).astype(np.float32)
    inputs = fgc.Input((5, 4))
    att = SelfAttention(3)
    model = fgc.Model(inputs, att(inputs))
    assert [w.name for w in att.weights] == ["wq", "wk", "wv", "kernel"]   # own weights, then the sublayer's
    assert att.out.built and att.count_params() == 3 * 4 * 3 + 3 * 3
    weights = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), attention_numpy(x, *weights, 3), rtol=1e-4, atol=1e-5)

    def loss(*w):
        return float(np.mean((attention_numpy(x.astype(np.float64), *w, 3) - y) ** 2))

    before, grads = _mse_grad_step(model, x, y, lr=0.05)
    for i, grad in enumerate(grads):
        np.testing.assert_allclose(grad, _numeric_grad(loss, before, i), rtol=2e-3, atol=2e-5)

    path = tmp_path / "attention.onnx"
    model.export(str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, attention_numpy(x, *model.get_weights(), 3), rtol=1e-4, atol=1e-5)


def test_custom_layers_learn_a_task(rng):
    """fit lowers the loss of a model mixing custom and built-in layers (a smoke test of the train step)."""
    x = rng.standard_normal((64, 5, 4)).astype(np.float32)
    y = x.mean(axis=1, keepdims=True).repeat(5, axis=1)[..., :3]
    inputs = fgc.Input((5, 4))
    model = fgc.Model(inputs, SelfAttention(3)(inputs))
    model.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.02), loss="mse")
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_train_step_export_of_custom_layers_passes_the_checker(tmp_path, rng):
    import onnx

    inputs = fgc.Input((5, 4))
    x = SelfAttention(3)(inputs)
    model = fgc.Model(inputs, RBF(2)(ops.reshape(x, (-1, 15))))
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "step.onnx"
    model.export(str(path), training=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert any(o.name == "loss" for o in proto.graph.output)
