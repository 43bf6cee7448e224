"""Regularizers, add_loss, activity penalties and constraints inside the train step, against numpy."""
import numpy as np
import pytest

import fgc
from fgc import constraints, layers, ops, optimizers, regularizers


def _data(rng, n=4, d=3, units=2):
    return rng.random((n, d)).astype(np.float32), rng.random((n, units)).astype(np.float32)


def _dense_model(**kwargs):
    x = fgc.Input((3,))
    dense = layers.Dense(2, **kwargs)
    model = fgc.Model(x, dense(x))
    return model, dense


def test_one_sgd_step_includes_every_penalty_and_its_gradient(rng):
    model, _ = _dense_model(kernel_regularizer=regularizers.L2(0.1), bias_regularizer="l1",
                            activity_regularizer=regularizers.L1(0.02))
    model.compile(optimizers.SGD(0.1), "mse")
    X, Y = _data(rng)
    W, B = model.get_weights()
    B = B + 0.3   # a non-zero bias, so the L1 term has a gradient
    model.set_weights([W, B])
    out = X @ W + B
    n = len(X)
    expected_loss = ((out - Y) ** 2).mean() + 0.1 * (W ** 2).sum() + 0.01 * np.abs(B).sum() \
        + 0.02 * np.abs(out).sum() / n
    loss = model.train_on_batch(X, Y)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
    d_out = 2 * (out - Y) / out.size + 0.02 * np.sign(out) / n
    W_new = W - 0.1 * (X.T @ d_out + 0.2 * W)
    B_new = B - 0.1 * (d_out.sum(0) + 0.01 * np.sign(B))
    np.testing.assert_allclose(model.get_weights()[0], W_new, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.get_weights()[1], B_new, rtol=1e-5, atol=1e-7)


def test_evaluate_and_fit_report_the_penalty_too(rng):
    model, _ = _dense_model(kernel_regularizer=regularizers.L2(0.5))
    model.compile(optimizers.SGD(0.0), "mse")   # lr 0: the weights stay, every batch sees the same penalty
    X, Y = _data(rng, n=6)
    W, B = model.get_weights()
    expected = ((X @ W + B - Y) ** 2).mean() + 0.5 * (W ** 2).sum()
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0), expected, rtol=1e-5)
    history = model.fit(X, Y, batch_size=6, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    np.testing.assert_allclose(model.losses[0], 0.5 * (W ** 2).sum(), rtol=1e-5)


def test_shared_layer_weight_penalty_once_activity_penalty_per_call(rng):
    a, b = fgc.Input((3,)), fgc.Input((3,))
    dense = layers.Dense(3, kernel_regularizer=regularizers.L1(0.1), activity_regularizer=regularizers.L2(0.05),
                         use_bias=False)
    model = fgc.Model([a, b], layers.Add()([dense(a), dense(b)]))
    model.compile(optimizers.SGD(0.0), "mse")
    Xa, Xb, Y = rng.random((5, 3)), rng.random((5, 3)), rng.random((5, 3))
    (W,) = model.get_weights()
    ya, yb = Xa @ W, Xb @ W
    expected = ((ya + yb - Y) ** 2).mean() + 0.1 * np.abs(W).sum() + 0.05 * ((ya ** 2).sum() + (yb ** 2).sum()) / 5
    np.testing.assert_allclose(model.evaluate([Xa, Xb], Y, verbose=0), expected, rtol=1e-5)


def test_frozen_layer_pays_no_weight_penalty(rng):
    model, dense = _dense_model(kernel_regularizer=regularizers.L2(10.0))
    dense.trainable = False
    model.compile(optimizers.SGD(0.1), "mse")
    X, Y = _data(rng)
    W, B = model.get_weights()
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0), ((X @ W + B - Y) ** 2).mean(), rtol=1e-5)
    assert model.losses == []


class _Penalized(layers.Layer):
    """x @ w, adding 0.5 * sum(y^2) with add_loss; w has its own regularizer and constraint."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones", regularizer=regularizers.L2(0.01),
                                 constraint="non_neg", name="w")

    def call(self, x):
        y = ops.matmul(x, self.w)
        self.add_loss(0.5 * ops.sum(ops.square(y)))
        return y


def test_add_loss_and_add_weight_options_in_a_subclassed_layer(rng):
    x = fgc.Input((3,))
    model = fgc.Model(x, _Penalized()(x))
    model.compile(optimizers.SGD(1.0), "mse")
    X, Y = _data(rng)
    (W,) = model.get_weights()
    out = X @ W
    expected = ((out - Y) ** 2).mean() + 0.5 * (out ** 2).sum() + 0.01 * (W ** 2).sum()
    np.testing.assert_allclose(model.train_on_batch(X, Y), expected, rtol=1e-5)
    d_out = 2 * (out - Y) / out.size + out
    W_new = np.maximum(W - 1.0 * (X.T @ d_out + 0.02 * W), 0)
    np.testing.assert_allclose(model.get_weights()[0], W_new, rtol=1e-5, atol=1e-7)
    assert (W_new == 0).any()   # the constraint really clipped something


def test_add_loss_outside_call_is_refused():
    layer = layers.Dense(2)
    with pytest.raises(ValueError, match="add_loss\\(\\) can only be called from inside call\\(\\)"):
        layer.add_loss(np.float32(1.0))


def test_custom_regularizer_and_constraint_written_with_ops(rng):
    class Quartic(regularizers.Regularizer):
        def __call__(self, x):
            return 0.1 * ops.sum(ops.square(ops.square(x)))

    def halve(w):
        return w * 0.5

    model, _ = _dense_model(kernel_regularizer=Quartic(), kernel_constraint=halve, use_bias=False)
    model.compile(optimizers.SGD(0.1), "mse")
    X, Y = _data(rng)
    (W,) = model.get_weights()
    out = X @ W
    np.testing.assert_allclose(model.train_on_batch(X, Y), ((out - Y) ** 2).mean() + 0.1 * (W ** 4).sum(), rtol=1e-5)
    W_new = 0.5 * (W - 0.1 * (X.T @ (2 * (out - Y) / out.size) + 0.4 * W ** 3))
    np.testing.assert_allclose(model.get_weights()[0], W_new, rtol=1e-5, atol=1e-7)


def _max_norm(w, max_value, axis):
    norms = np.sqrt((w.astype(np.float64) ** 2).sum(axis=axis, keepdims=True))
    return w * np.clip(norms, 0, max_value) / (1e-7 + norms)


@pytest.mark.parametrize("optimizer", [lambda: optimizers.SGD(0.5),                       # flat params buffer
                                       lambda: optimizers.SGD(0.5, clipnorm=1e6)],        # one input per weight
                         ids=["flat", "per-weight"])
def test_constraints_after_each_step(rng, optimizer):
    x = fgc.Input((3,))
    h = layers.Dense(4, kernel_constraint=constraints.MaxNorm(0.4), bias_constraint="non_neg")(x)
    out = layers.Dense(2, kernel_constraint=constraints.UnitNorm(axis=1))(h)
    model = fgc.Model(x, out)
    model.compile(optimizer(), "mse")
    X, Y = _data(rng, n=8)
    for _ in range(3):
        W1, B1, W2, B2 = model.get_weights()
        h_ = X @ W1 + B1
        o = h_ @ W2 + B2
        d_o = 2 * (o - Y) / o.size
        d_h = d_o @ W2.T
        expected = [_max_norm(W1 - 0.5 * X.T @ d_h, 0.4, 0), np.maximum(B1 - 0.5 * d_h.sum(0), 0)]
        W2_free = W2 - 0.5 * h_.T @ d_o
        expected += [W2_free / (1e-7 + np.sqrt((W2_free ** 2).sum(1, keepdims=True))), B2 - 0.5 * d_o.sum(0)]
        model.train_on_batch(X, Y)
        for got, want in zip(model.get_weights(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_constraint_on_a_weight_the_step_stores_transposed(rng):
    """Conv1D kernels are stored in ONNX layout inside the step; the constraint must see Keras' layout."""
    def model_with(constraint):
        fgc.utils.clear_session()
        fgc.initializers.set_random_seed(3)
        x = fgc.Input((6, 2))
        y = layers.Flatten()(layers.Conv1D(3, 2, kernel_constraint=constraint)(x))
        model = fgc.Model(x, y)
        model.compile(optimizers.SGD(0.5), "mse")
        return model

    X, Y = rng.random((4, 6, 2)).astype(np.float32), rng.random((4, 15)).astype(np.float32)
    free, constrained = model_with(None), model_with(constraints.MaxNorm(0.3, axis=[0, 1]))
    np.testing.assert_array_equal(free.get_weights()[0], constrained.get_weights()[0])
    free.train_on_batch(X, Y)
    constrained.train_on_batch(X, Y)
    np.testing.assert_allclose(constrained.get_weights()[0], _max_norm(free.get_weights()[0], 0.3, (0, 1)),
                               rtol=1e-5, atol=1e-7)


def test_activity_regularization_layer(rng):
    x = fgc.Input((3,))
    reg = layers.ActivityRegularization(l1=0.1, l2=0.2)
    model = fgc.Model(x, reg(layers.Dense(2)(x)))
    model.compile(optimizers.SGD(0.0), "mse")
    X, Y = _data(rng)
    W, B = model.get_weights()
    out = X @ W + B
    expected = ((out - Y) ** 2).mean() + (0.1 * np.abs(out).sum() + 0.2 * (out ** 2).sum()) / len(X)
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(model.predict(X, verbose=0), out, rtol=1e-5)   # inference: the identity
    assert reg.get_config()["l1"] == 0.1 and "activity_regularizer" not in reg.get_config()


def test_regularizer_not_written_with_ops_is_refused_before_any_step(rng):
    model, _ = _dense_model(kernel_regularizer=lambda w: np.linalg.norm(w))
    model.compile(optimizers.SGD(0.1), "mse")
    X, Y = _data(rng)
    before = model.get_weights()
    with pytest.raises(TypeError, match="could not be traced.*write it with fgc.ops"):
        model.train_on_batch(X, Y)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
