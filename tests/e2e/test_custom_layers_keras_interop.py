"""The same subclassed-layer and subclassed-model code run by Keras (JAX backend) and by fgc, with the same
weights, gives the same outputs and the same weight lists (skipped without Keras)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fgc

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")


def make_classes(api, ops):
    class Gate(api.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.proj = api.layers.Dense(units, name="proj")

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

        def call(self, x):
            gate = ops.sigmoid(ops.matmul(x, self.w) + self.b)
            return gate * ops.tanh(self.proj(x)) + ops.logsumexp(x, axis=-1, keepdims=True)

    class Net(api.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.gate = Gate(4)
            self.head = api.layers.Dense(2)

        def call(self, x):
            h = self.gate(x)
            return ops.softmax(self.head(h)) + ops.mean(h[:, 1:], axis=-1, keepdims=True)

    return Gate, Net


def test_same_code_same_numbers_as_keras(rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    _, KerasNet = make_classes(keras, keras.ops)
    _, FgcNet = make_classes(fgc, fgc.ops)
    k, f = KerasNet(), FgcNet()
    k(x), f(x)                                                   # both build on the data
    assert [w.shape for w in f.weights] == [tuple(w.shape) for w in k.weights]
    f.set_weights(k.get_weights())
    np.testing.assert_allclose(f.predict(x, verbose=0), np.asarray(k.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)
