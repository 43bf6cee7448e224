"""RepeatVector, Permute and Masking: forward numbers against numpy, shapes, errors, and a gradient."""
import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers


@pytest.mark.parametrize("batch", [1, 7])
def test_repeat_vector(batch):
    rng = np.random.default_rng(0)
    inp = Input(shape=(4,))
    out = layers.RepeatVector(3)(inp)
    assert out.shape == (None, 3, 4)
    x = rng.normal(size=(batch, 4)).astype(np.float32)
    got = Model(inp, out).predict(x)
    np.testing.assert_array_equal(got, np.repeat(x[:, None, :], 3, axis=1))


def test_repeat_vector_rejects_sequences():
    with pytest.raises(ValueError, match=r"RepeatVector expects a 2-D input.*\(None, 3, 4\)"):
        layers.RepeatVector(2)(Input(shape=(3, 4)))


@pytest.mark.parametrize("dims, shape", [((2, 1), (3, 4)), ((1, 2), (3, 4)), ((3, 1, 2), (2, 3, 4)),
                                         ((2, 3, 1), (2, 3, 4))])
@pytest.mark.parametrize("batch", [1, 7])
def test_permute(dims, shape, batch):
    rng = np.random.default_rng(1)
    inp = Input(shape=shape)
    out = layers.Permute(dims)(inp)
    assert out.shape == (None,) + tuple(shape[d - 1] for d in dims)
    x = rng.normal(size=(batch,) + shape).astype(np.float32)
    np.testing.assert_array_equal(Model(inp, out).predict(x), np.transpose(x, (0,) + dims))


def test_permute_with_an_unknown_length():
    rng = np.random.default_rng(2)
    inp = Input(shape=(None, 3))
    model = Model(inp, layers.Permute((2, 1))(inp))
    for steps in (2, 5):
        x = rng.normal(size=(2, steps, 3)).astype(np.float32)
        np.testing.assert_array_equal(model.predict(x), x.transpose(0, 2, 1))


def test_permute_errors():
    with pytest.raises(ValueError, match="must be a permutation of 1..2"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match=r"expects an input of rank 3"):
        layers.Permute((2, 1))(Input(shape=(2, 3, 4)))


@pytest.mark.parametrize("mask_value", [0.0, -1.0, 2.5])
@pytest.mark.parametrize("batch", [1, 7])
def test_masking_zeroes_the_masked_steps(mask_value, batch):
    """Keras' Masking outputs inputs * mask: steps whose every feature equals mask_value become zeros."""
    rng = np.random.default_rng(3)
    inp = Input(shape=(None, 3))
    model = Model(inp, layers.Masking(mask_value=mask_value)(inp))
    x = rng.normal(size=(batch, 5, 3)).astype(np.float32)
    x[0, 1] = mask_value            # masked
    x[0, 3, 0] = mask_value         # one feature only: kept
    x[-1, 4] = mask_value
    keep = (x != mask_value).any(-1, keepdims=True)
    got = model.predict(x)
    np.testing.assert_array_equal(got, x * keep)
    np.testing.assert_array_equal(got[0, 3], x[0, 3])


def test_masking_rejects_a_2d_input():
    with pytest.raises(ValueError, match=r"Masking expects \(batch, timesteps, features\)"):
        layers.Masking()(Input(shape=(4,)))


def _check_gradients(model, xs, ys, rng, eps=1e-2):
    """SGD(lr=1) moves each weight by -grad: compare a few entries with central differences of evaluate."""
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=1.0), loss="mse")
    w0 = model.get_weights()
    model.train_on_batch(xs, ys)
    grads = [a.astype(np.float64) - b for a, b in zip(w0, model.get_weights())]
    for k in range(len(w0)):
        for _ in range(2):
            idx = tuple(int(rng.integers(0, s)) for s in w0[k].shape)
            losses = []
            for sign in (1, -1):
                ws = [w.copy() for w in w0]
                ws[k][idx] += sign * eps
                model.set_weights(ws)
                losses.append(model.evaluate(xs, ys, verbose=0))
            fd = (losses[0] - losses[1]) / (2 * eps)
            assert abs(fd - grads[k][idx]) <= 1e-2 * (abs(grads[k][idx]) + 1e-2), (k, idx, fd, grads[k][idx])


def test_gradient_through_repeat_vector_and_permute():
    """A seq2seq-style decoder: Dense -> RepeatVector -> SimpleRNN(return_sequences) -> Permute."""
    rng = np.random.default_rng(4)
    inp = Input(shape=(3,))
    x = layers.RepeatVector(4)(layers.Dense(2)(inp))
    x = layers.Permute((2, 1))(layers.SimpleRNN(2, return_sequences=True)(x))
    model = Model(inp, x)
    xs = rng.normal(size=(5, 3)).astype(np.float32)
    _check_gradients(model, xs, rng.normal(size=(5, 2, 4)).astype(np.float32), rng)


def test_gradient_through_masking_and_a_masked_lstm():
    rng = np.random.default_rng(5)
    inp = Input(shape=(None, 2))
    model = Model(inp, layers.LSTM(3, return_sequences=True)(layers.Dense(2)(layers.Masking(mask_value=0.0)(inp))))
    xs = rng.normal(size=(3, 4, 2)).astype(np.float32)
    xs[0, 1] = 0.0
    xs[2, 2:] = 0.0
    _check_gradients(model, xs, rng.normal(size=(3, 4, 3)).astype(np.float32), rng)
