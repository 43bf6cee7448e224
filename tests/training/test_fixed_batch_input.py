"""Input(batch_size=B) / Input(batch_shape=(B, ...)): the data is cut into batches of B (any
number of them); another batch size or a short last batch is an error raised before any step."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(5)
B, D, U = 4, 3, 2
X = rng.standard_normal((3 * B, D)).astype(np.float32)
Y = rng.standard_normal((3 * B, U)).astype(np.float32)
W0 = rng.standard_normal((D, U)).astype(np.float32)
LR = 0.1


def _dense(steps_per_execution=1, **input_kwargs):
    x = fgc.Input(name="x", **input_kwargs)
    model = fgc.Model(x, layers.Dense(U, name="d")(x))
    model.set_weights([W0, np.zeros(U, np.float32)])
    model.compile(fgc.optimizers.SGD(learning_rate=LR), "mse", steps_per_execution=steps_per_execution)
    return model


@pytest.mark.parametrize("steps_per_execution", [1, 2])
@pytest.mark.parametrize("input_kwargs", [dict(shape=(D,), batch_size=B), dict(batch_shape=(B, D))],
                         ids=["batch_size", "batch_shape"])
def test_fit_three_batches_of_the_fixed_size(input_kwargs, steps_per_execution):
    model = _dense(steps_per_execution, **input_kwargs)
    history = model.fit(X, Y, epochs=1, shuffle=False, verbose=0)        # batch_size defaults to B
    w, b, losses = W0.astype(np.float64), np.zeros(U), []
    for start in range(0, len(X), B):                                  # numpy: three SGD steps on MSE
        x, y = X[start:start + B], Y[start:start + B]
        err = x @ w + b - y
        losses.append((err ** 2).mean())
        grad = 2.0 * err / err.size
        w, b = w - LR * x.T @ grad, b - LR * grad.sum(0)
    assert history.history["loss"][0] == pytest.approx(np.mean(losses), rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ w + b, rtol=1e-5, atol=1e-5)
    expected = ((X @ w + b - Y) ** 2).mean()
    assert model.evaluate(X, Y, batch_size=B, verbose=0) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("layer", [fgc.layers.LSTM, fgc.layers.GRU, fgc.layers.SimpleRNN])
def test_recurrent_train_step_with_a_fixed_batch_matches_the_free_batch(layer):
    """The same recurrent model with and without a fixed batch trains to the same weights (the
    free-batch train step is checked against numpy in tests/layers)."""
    T = 5
    xs = rng.standard_normal((3 * B, T, D)).astype(np.float32)

    def build(**kw):
        fgc.utils.set_random_seed(1)
        x = fgc.Input(name="x", **kw)
        model = fgc.Model(x, layers.Dense(U)(layer(3)(x)))
        model.compile(fgc.optimizers.SGD(learning_rate=LR), "mse")
        return model

    fixed, free = build(batch_shape=(B, T, D)), build(shape=(T, D))
    for a, b in zip(fixed.get_weights(), free.get_weights()):
        np.testing.assert_array_equal(a, b)
    h_fixed = fixed.fit(xs, Y, epochs=2, shuffle=False, verbose=0)
    h_free = free.fit(xs, Y, batch_size=B, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_fixed.history["loss"], h_free.history["loss"], rtol=1e-5)
    for a, b in zip(fixed.get_weights(), free.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda m: m.fit(X[:10], Y[:10], verbose=0),
     r"fit \(training data\): 10 samples do not split into batches of 4.*hold 2"),
    (lambda m: m.fit(X, Y, batch_size=8, verbose=0), r"fit \(training data\): batch_size=8.*fixed batch size of 4"),
    (lambda m: m.fit(X, Y, validation_split=0.25, verbose=0),
     r"fit \(training data after validation_split=0.25\): 9 samples"),
    (lambda m: m.fit(X, Y, validation_data=(X[:4], Y[:4]), validation_batch_size=2, verbose=0),
     r"validation data\): batch_size=2"),
    (lambda m: m.evaluate(X[:6], Y[:6], verbose=0), r"evaluate: 6 samples"),
    (lambda m: m.train_on_batch(X[:8], Y[:8]), r"train_on_batch: batch_size=8"),
], ids=["short_last_batch", "other_batch_size", "validation_split", "validation_batch_size", "evaluate",
        "train_on_batch"])
def test_other_batch_sizes_are_refused_before_any_step(call, match):
    model = _dense(shape=(D,), batch_size=B)
    with pytest.raises(ValueError, match=match):
        call(model)
    np.testing.assert_array_equal(model.get_weights()[0], W0)
    assert model.optimizer.iterations == 0


def test_inputs_fixing_different_batch_sizes_are_refused():
    a, b = fgc.Input((D,), batch_size=4, name="a"), fgc.Input((D,), batch_size=2, name="b")
    model = fgc.Model([a, b], [layers.Dense(1)(a), layers.Dense(1)(b)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"different batch sizes \{'a': 4, 'b': 2\}"):
        model.fit([X, X], [Y[:, :1], Y[:, :1]], verbose=0)


def test_predict_on_batch_names_the_fixed_batch_size():
    from fgc import Input, Model, layers

    i = Input((3,), batch_size=4)
    model = Model(i, layers.Dense(1)(i))
    with pytest.raises(ValueError, match=r"predict_on_batch: .*fixed batch size of 4.*got a batch of 3"):
        model.predict_on_batch(np.ones((3, 3)))
    assert model.predict_on_batch(np.ones((4, 3))).shape == (4, 1)
