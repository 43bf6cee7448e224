"""``layer(array, training=True)`` and ``model(array, training=True)`` run in training form, as Keras 3:
Dropout and GaussianNoise draw noise (checked by its moments), BatchNormalization normalizes with the
batch's statistics and updates its moving ones (numpy references from Keras' formulas; Keras itself where
installed)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fgc
from fgc import layers

MOMENTUM, EPSILON = 0.99, 1e-3   # BatchNormalization's Keras 3 defaults


def _batch(seed=0, shape=(64, 4)):
    return np.random.default_rng(seed).normal(3.0, 2.0, size=shape).astype("float32")


def test_dropout_drops_at_its_rate_and_scales_the_rest():
    rate, n = 0.3, 40000
    x = np.ones((n // 10, 10), "float32")
    dropout = layers.Dropout(rate, seed=3)
    first = dropout(x, training=True)
    dropped = (first == 0).mean()
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(first[first != 0], 1 / (1 - rate), rtol=1e-6)
    second = dropout(x, training=True)
    assert (first != second).mean() > 0.2   # a fresh mask per call
    np.testing.assert_array_equal(dropout(x), x)
    np.testing.assert_array_equal(dropout(x, training=False), x)


def test_gaussian_noise_has_its_standard_deviation():
    x = np.zeros((200, 100), "float32")
    noise = layers.GaussianNoise(0.5, seed=1)(x, training=True) - x
    n = noise.size
    assert abs(noise.mean()) < 4 * 0.5 / np.sqrt(n)
    assert abs(noise.std() - 0.5) < 0.02


def _numpy_batchnorm(x, moving_mean, moving_variance):
    mean, variance = x.mean(0), x.var(0)
    out = (x - mean) / np.sqrt(variance + EPSILON)
    return (out, MOMENTUM * moving_mean + (1 - MOMENTUM) * mean,
            MOMENTUM * moving_variance + (1 - MOMENTUM) * variance)


def test_batchnorm_uses_batch_statistics_and_updates_the_moving_ones():
    bn = layers.BatchNormalization()
    mean, variance = np.zeros(4, "float32"), np.ones(4, "float32")
    for seed in (0, 1):
        x = _batch(seed)
        want, mean, variance = _numpy_batchnorm(x, mean, variance)
        np.testing.assert_allclose(bn(x, training=True), want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5)
        np.testing.assert_allclose(bn.moving_variance.numpy(), variance, rtol=1e-5)
    x = _batch(2)
    np.testing.assert_allclose(bn(x), (x - mean) / np.sqrt(variance + EPSILON), rtol=1e-4, atol=1e-4)


def test_frozen_batchnorm_stays_in_inference_form():
    bn = layers.BatchNormalization()
    bn.build([fgc.Input((4,)).type])
    bn.trainable = False
    x = _batch()
    np.testing.assert_allclose(bn(x, training=True), x / np.sqrt(1 + EPSILON), rtol=1e-5)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(4))


def test_model_call_in_training_mode_updates_weights_every_user_sees():
    inputs = fgc.Input((4,))
    bn = layers.BatchNormalization()
    model = fgc.Model(inputs, layers.Dropout(0.5, seed=2)(bn(inputs)))
    other = fgc.Model(inputs, bn(inputs))   # shares the BatchNormalization's weights
    other.predict(_batch(5), verbose=0)      # its session holds the initial moving statistics
    x = _batch()
    out = model(x, training=True)
    want, mean, variance = _numpy_batchnorm(x, np.zeros(4), np.ones(4))
    kept = out != 0
    assert 0.35 < 1 - kept.mean() < 0.65
    np.testing.assert_allclose(out[kept], 2 * want[kept], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.get_weights()[2], mean, rtol=1e-5)
    z = _batch(7)
    np.testing.assert_allclose(other.predict(z, verbose=0), (z - mean) / np.sqrt(variance + EPSILON),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model(z), (z - mean) / np.sqrt(variance + EPSILON), rtol=1e-4, atol=1e-4)


def test_subclassed_layer_runs_its_dropout_in_training_mode():
    class Noisy(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.drop = layers.Dropout(0.5, seed=4)

        def call(self, x, training=None):
            return self.drop(x, training=training) + 1.0

    x = np.ones((100, 10), "float32")
    layer = Noisy()
    np.testing.assert_array_equal(layer(x), x + 1)
    out = layer(x, training=True)
    assert set(np.unique(out)) == {1.0, 3.0}


def test_batchnorm_training_call_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    x = _batch(3, shape=(16, 3, 5))
    theirs = keras.layers.BatchNormalization(axis=1)
    ours = layers.BatchNormalization(axis=1)
    want = np.asarray(theirs(x, training=True))
    got = ours(x, training=True)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, np.asarray(keras_weight), rtol=1e-5, atol=1e-6)


def test_a_sequential_builds_from_its_first_training_call():
    model = fgc.Sequential([layers.BatchNormalization(), layers.Dense(2)])
    x = _batch()
    assert model(x, training=True).shape == (64, 2)
    np.testing.assert_allclose(model.layers[0].moving_mean.numpy(), (1 - MOMENTUM) * x.mean(0), rtol=1e-5)


def test_training_calls_and_fit_see_each_others_updates():
    inputs = fgc.Input((4,))
    bn = layers.BatchNormalization()
    model = fgc.Model(inputs, layers.Dense(1)(bn(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    first, second = _batch(1), _batch(2)
    model.fit(first, np.zeros((64, 1)), batch_size=64, epochs=1, shuffle=False, verbose=0)
    after_fit = bn.moving_mean.numpy()
    np.testing.assert_allclose(after_fit, (1 - MOMENTUM) * first.mean(0), rtol=1e-5)
    model(second, training=True)
    after_call = MOMENTUM * after_fit + (1 - MOMENTUM) * second.mean(0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), after_call, rtol=1e-5)
    model.fit(first, np.zeros((64, 1)), batch_size=64, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), MOMENTUM * after_call + (1 - MOMENTUM) * first.mean(0),
                               rtol=1e-5)
