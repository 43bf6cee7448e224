"""Training through real layers: frozen weights, Dropout, Embedding with repeated ids, recurrent
layers; each checked with one SGD step (lr 1: the weight change is the gradient) against numpy."""
import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.optimizers import SGD

rng = np.random.default_rng(0)


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sgd_gradient(model, x, y):
    before = model.get_weights()
    model.train_on_batch(x, y)
    return [b - a for b, a in zip(before, model.get_weights())]


def test_frozen_layer_keeps_its_weights_and_the_rest_trains():
    x_in = fgc.Input((3,))
    frozen = layers.Dense(4, activation="tanh", name="frozen")
    model = fgc.Model(x_in, layers.Dense(2, name="head")(frozen(x_in)))
    frozen.trainable = False
    model.compile(SGD(0.1), "mse")
    before = model.get_weights()
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    after = model.get_weights()
    for a, b in zip(before[:2], after[:2]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(before[2], after[2])
    # the head's gradient is the one of a linear model on the frozen features
    fw, fb, hw, hb = [f32(w) for w in after]
    model.compile(SGD(1.0), "mse")
    got = sgd_gradient(model, x, y)
    feats = np.tanh(f32(x) @ fw + fb)
    d = 2 * (feats @ hw + hb - f32(y)) / y.size
    np.testing.assert_allclose(got[2], feats.T @ d, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(got[0], 0)


def test_dropout_is_active_in_training_only():
    x_in = fgc.Input((50,))
    model = fgc.Model(x_in, layers.Dropout(0.5)(x_in))
    model.compile(SGD(0.0), "mse")
    x = np.ones((40, 50))
    y = np.ones((40, 50))
    assert model.evaluate(x, y, verbose=0) == 0.0                       # identity at inference
    train_loss = model.train_on_batch(x, y)
    # each unit is 0 or 2 (scaled by 1/(1-rate)): squared error 1 either way
    assert train_loss == pytest.approx(1.0)


def test_embedding_gradient_accumulates_repeated_ids(fd_grads):
    ids_in = fgc.Input((3,), dtype="int32")
    emb = layers.Embedding(5, 2, name="emb")
    model = fgc.Model(ids_in, layers.Dense(1, name="head")(layers.Flatten()(emb(ids_in))))
    model.compile(SGD(1.0), "mse")
    ids = np.array([[0, 2, 2], [4, 0, 0], [2, 2, 2]])
    y = rng.standard_normal((3, 1))
    table, hw, hb = [f32(w) for w in model.get_weights()]
    got = sgd_gradient(model, ids, y)

    def loss(params):
        t, w, b = params
        return (((t[ids].reshape(3, -1) @ w + b) - f32(y)) ** 2).mean()

    for g, w in zip(got, fd_grads(loss, [table, hw, hb])):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(got[0][[1, 3]], 0)                    # rows never looked up


# ---------------------------------------------------------------- recurrent layers (Keras gate layouts)
def simple_rnn(params, x):
    w, u, b = params
    h = np.zeros((x.shape[0], u.shape[0]))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ w + h @ u + b)
    return h


def lstm(params, x):
    w, u, b = params
    n = u.shape[0]
    h = c = np.zeros((x.shape[0], n))
    for t in range(x.shape[1]):
        z = x[:, t] @ w + h @ u + b
        i, f, g, o = sigmoid(z[:, :n]), sigmoid(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), sigmoid(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
    return h


def gru(params, x):  # reset_after=True: bias (2, 3u) = input bias, recurrent bias; gates z, r, h
    w, u, b = params
    n = u.shape[0]
    h = np.zeros((x.shape[0], n))
    for t in range(x.shape[1]):
        xz = x[:, t] @ w + b[0]
        hz = h @ u + b[1]
        z = sigmoid(xz[:, :n] + hz[:, :n])
        r = sigmoid(xz[:, n:2 * n] + hz[:, n:2 * n])
        hh = np.tanh(xz[:, 2 * n:] + r * hz[:, 2 * n:])
        h = z * h + (1 - z) * hh
    return h


@pytest.mark.parametrize("layer, forward", [(layers.SimpleRNN, simple_rnn), (layers.LSTM, lstm), (layers.GRU, gru)],
                         ids=["simple_rnn", "lstm", "gru"])
def test_recurrent_layer_gradient_matches_finite_differences(fd_grads, layer, forward):
    fgc.utils.set_random_seed(0)
    x_in = fgc.Input((4, 3))
    model = fgc.Model(x_in, layer(2)(x_in))
    model.compile(SGD(1.0), "mse")
    params = [f32(w) for w in model.get_weights()]
    params[-1] = params[-1] + rng.uniform(-0.3, 0.3, params[-1].shape)   # non-zero biases
    model.set_weights(params)
    x, y = rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(model.predict(x, verbose=0), forward(params, f32(x)), rtol=1e-5, atol=1e-6)
    got = sgd_gradient(model, x, y)
    want = fd_grads(lambda p: ((forward(p, f32(x)) - f32(y)) ** 2).mean(), params)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=2e-6)
