"""A layer called on arrays computes at once (Keras' eager call): built on first use, no call event
recorded, current weights used, numpy arrays returned."""
import numpy as np
import pytest

import fgc
from fgc import layers, ops


def test_dense_on_an_array(rng):
    dense = layers.Dense(3)
    x = rng.standard_normal((4, 5))                   # float64, cast to the layer's float32 as in Keras
    out = dense(x)
    kernel, bias = dense.get_weights()
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_allclose(out, x.astype(np.float32) @ kernel + bias, rtol=1e-5, atol=1e-6)
    assert dense.built and dense._inbound_nodes == []
    assert layers.Dense(1).name == "dense_1"          # the call used up no automatic names


def test_later_calls_see_new_weights(rng):
    dense = layers.Dense(2, use_bias=False)
    x = rng.standard_normal((3, 2)).astype(np.float32)
    dense(x)
    dense.set_weights([np.eye(2, dtype=np.float32) * 3])
    np.testing.assert_allclose(dense(x), 3 * x, rtol=1e-6)
    np.testing.assert_allclose(dense(x[:1]), 3 * x[:1], rtol=1e-6)   # another batch size, same session


def test_the_layer_still_works_symbolically_afterwards(rng):
    dense = layers.Dense(2)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    eager = dense(x)
    inputs = fgc.Input((4,))
    model = fgc.Model(inputs, dense(inputs))
    assert len(dense._inbound_nodes) == 1
    np.testing.assert_allclose(model.predict(x, verbose=0), eager, rtol=1e-6)


def test_lambda_on_arrays_as_in_keras():
    layer = layers.Lambda(lambda x: x ** 2)
    np.testing.assert_allclose(layer(2 * np.ones((2, 3))), 4 * np.ones((2, 3)))


def test_subclassed_layer_on_arrays(rng):
    class Norm(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def call(self, x):
            return x / ops.norm(x, axis=-1, keepdims=True) * self.scale

    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(Norm()(x), x / np.linalg.norm(x, axis=-1, keepdims=True), rtol=1e-5)


def test_several_inputs_and_integer_ids(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(layers.Concatenate()([a, b]), np.concatenate([a, b], 1), rtol=1e-6)
    emb = layers.Embedding(5, 2)
    ids = np.array([[1, 4], [0, 0]])
    np.testing.assert_array_equal(emb(ids), emb.get_weights()[0][ids])


def test_recurrent_layer_matches_its_symbolic_use(rng):
    lstm = layers.LSTM(3)
    x = rng.standard_normal((2, 5, 4)).astype(np.float32)
    eager = lstm(x)
    inputs = fgc.Input((5, 4))
    np.testing.assert_allclose(fgc.Model(inputs, lstm(inputs)).predict(x, verbose=0), eager, rtol=1e-5, atol=1e-6)


def test_masks_are_refused():
    with pytest.raises(NotImplementedError, match="mask="):
        layers.Dense(2)(np.ones((2, 2)), mask=np.ones((2,), bool))


def test_dropout_is_inactive_by_default():
    np.testing.assert_array_equal(layers.Dropout(0.5)(np.ones((2, 3))), np.ones((2, 3)))


def test_a_scalar_is_not_a_batch():
    with pytest.raises(ValueError, match="on a scalar"):
        layers.Dense(2)(np.float32(1.0))
