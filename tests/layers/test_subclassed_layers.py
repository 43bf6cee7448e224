"""Subclassed layers: Keras' build/add_weight/call contract, weight tracking, tracing and errors."""
import numpy as np
import pytest

import fgc
from fgc import layers, ops


class Scale(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen_shapes = []

    def build(self, input_shape):
        self.seen_shapes.append(input_shape)
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w


def _predict(layer_fn, x):
    inputs = fgc.Input(x.shape[1:])
    return fgc.Model(inputs, layer_fn(inputs)).predict(x, verbose=0)


def test_build_receives_keras_shape_tuples():
    layer = Scale()
    layer(fgc.Input((None, 3)))
    assert layer.seen_shapes == [(None, None, 3)]

    class Pair(layers.Layer):
        def build(self, input_shape):
            self.shapes = input_shape

        def call(self, inputs):
            a, b = inputs
            return a + b

    pair = Pair()
    pair([fgc.Input((2,)), fgc.Input((2,))])
    assert pair.shapes == [(None, 2), (None, 2)]


def test_add_weight_keras_signature_and_defaults():
    class W(layers.Layer):
        def build(self, input_shape):
            self.a = self.add_weight(shape=(3, 2))                     # float: glorot_uniform
            self.b = self.add_weight((2,), "zeros", name="b", trainable=False)
            self.c = self.add_weight(dtype="int32")                    # scalar; ints start at zeros
            self.d = self.add_weight(shape=(2,), initializer=lambda shape, dtype=None: np.full(shape, 0.5), name="d")

        def call(self, x):
            return x

    layer = W()
    layer(fgc.Input((3,)))
    a, b, c, d = layer.weights
    assert (a.shape, b.shape, c.shape, c.dtype) == ((3, 2), (2,), (), "int32")
    limit = np.sqrt(6 / (3 + 2))
    assert np.all(np.abs(a.numpy()) <= limit) and np.any(a.numpy() != 0)
    assert b.name == "b" and not b.trainable and layer.non_trainable_weights == [b]
    np.testing.assert_array_equal(d.numpy(), [0.5, 0.5])
    assert a.name != c.name


def test_fgc_positional_add_weight_still_works():
    dense = layers.Dense(2)
    dense(fgc.Input((3,)))
    assert [w.name for w in dense.weights] == ["kernel", "bias"]
    assert dense.weights[0].shape == (3, 2)


@pytest.mark.parametrize("kwargs", [{"regularizer": "l7"}, {"constraint": "non_negative"}])
def test_unknown_regularizers_and_constraints_are_refused(kwargs):
    class R(layers.Layer):
        def build(self, input_shape):
            self.add_weight(shape=(1,), name="w", **kwargs)

        def call(self, x):
            return x

    with pytest.raises(ValueError, match="add_weight.*could not interpret"):
        R()(fgc.Input((1,)))


def test_sublayers_in_attributes_and_lists_are_tracked_in_order(rng):
    class Tower(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.blocks = [layers.Dense(4, activation="tanh"), layers.Dense(4)]
            self.scale = Scale()

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.scale(x)

    tower = Tower()
    x = rng.standard_normal((5, 3)).astype(np.float32)
    out = _predict(tower, x)
    k1, b1, k2, b2, w = tower.get_weights()
    np.testing.assert_allclose(out, (np.tanh(x @ k1 + b1) @ k2 + b2) * w, rtol=1e-5, atol=1e-6)
    assert [v.name for v in tower.weights] == ["kernel", "bias", "kernel", "bias", "w"]
    # the trace does not leave call events on the sublayers (Keras traces with backend tensors)
    assert all(not block._inbound_nodes for block in tower.blocks)


def test_shared_subclassed_layer_has_one_set_of_weights(rng):
    scale = Scale()
    a, b = fgc.Input((2,)), fgc.Input((2,))
    model = fgc.Model([a, b], ops.add(scale(a), scale(b)))
    assert len(model.weights) == 1
    scale.set_weights([np.array([2.0, 3.0], np.float32)])
    x, y = rng.standard_normal((4, 2)).astype(np.float32), rng.standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict([x, y], verbose=0), (x + y) * [2, 3], rtol=1e-6)
    # the gradient of a shared weight sums over both calls: d/dw mean(((x+y) w)^2)
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=0.01), loss="mse")
    model.train_on_batch([x, y], np.zeros((4, 2), np.float32))
    s, w = x + y, np.array([2.0, 3.0])
    grad = (2 * s * w * s).sum(0) / s.size
    np.testing.assert_allclose(scale.get_weights()[0], w - 0.01 * grad, rtol=1e-5)


def test_several_outputs_come_back_as_a_list(rng):
    class Split(layers.Layer):
        def call(self, x):
            return x[:, :1], x[:, 1:] * 2.0

    first, second = Split()(fgc.Input((3,)))
    assert first.shape == (None, 1) and second.shape == (None, 2)


def test_training_argument_follows_the_phase():
    class Noisy(layers.Layer):
        def call(self, x, training=None):
            return x + 1.0 if training else x

    inputs = fgc.Input((1,))
    dense = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    model = fgc.Model(inputs, Noisy()(dense(inputs)))
    x = np.ones((2, 1), np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x)
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=0.1), loss="mse")
    loss = model.train_on_batch(x, np.zeros((2, 1), np.float32))
    assert loss == pytest.approx(4.0)  # (1 * 1 + 1)^2: the train step ran call(training=True)


def test_frozen_subclassed_layer_gets_no_update(rng):
    scale = Scale()
    inputs = fgc.Input((2,))
    model = fgc.Model(inputs, layers.Dense(1)(scale(inputs)))
    scale.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = scale.get_weights()[0].copy()
    model.train_on_batch(rng.standard_normal((4, 2)), rng.standard_normal((4, 1)))
    np.testing.assert_array_equal(scale.get_weights()[0], before)


def test_call_must_return_tensors():
    class Bad(layers.Layer):
        def call(self, x):
            return 3

    with pytest.raises(TypeError, match=r"call\(\) returned int"):
        Bad()(fgc.Input((2,)))


def test_call_must_not_read_outside_tensors():
    outside = fgc.Input((2,))

    class Leaky(layers.Layer):
        def call(self, x):
            return x + outside

    with pytest.raises(ValueError, match="does not come from its inputs or weights"):
        Leaky()(fgc.Input((2,)))


def test_shape_errors_inside_call_name_the_layer():
    class Mismatch(layers.Layer):
        def call(self, x):
            return ops.matmul(x, np.ones((3, 2), np.float32))

    with pytest.raises(ValueError, match="MatMul"):
        Mismatch(name="mismatch")(fgc.Input((4,)))


def test_get_config_of_a_subclass(rng):
    class Configured(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, x):
            return x

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    layer = Configured(3, name="c")
    clone = Configured(**layer.get_config())
    assert (clone.units, clone.name) == (3, "c")


def test_compute_output_shape_is_checked_against_call():
    class Declared(layers.Layer):
        def __init__(self, claim, **kwargs):
            super().__init__(**kwargs)
            self.claim = claim

        def call(self, x):
            return ops.concatenate([x, x], axis=-1)

        def compute_output_shape(self, input_shape):
            return self.claim(input_shape)

    assert Declared(lambda s: (s[0], 2 * s[1]))(fgc.Input((3,))).shape == (None, 6)
    with pytest.raises(ValueError, match=r"compute_output_shape returned \(None, 3\), but call\(\) computes"):
        Declared(lambda s: s)(fgc.Input((3,)))


def test_call_gets_the_structure_it_was_called_with(rng):
    class First(layers.Layer):
        def call(self, inputs):
            assert isinstance(inputs, list) and len(inputs) == 1
            return inputs[0] * 2.0

    class Keyed(layers.Layer):
        def call(self, inputs):
            return inputs["a"] - inputs["b"]

    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(_predict(lambda t: First()([t]), x), 2 * x)
    a, b = fgc.Input((3,)), fgc.Input((3,))
    model = fgc.Model([a, b], Keyed()({"a": a, "b": b}))
    np.testing.assert_allclose(model.predict([x, 2 * x], verbose=0), -x, rtol=1e-6)


def test_overriding_call_of_a_built_in_layer_says_what_to_do_instead():
    class MyDense(layers.Dense):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclass fgc.layers.Layer instead and use layers.Dense"):
        MyDense(2)(fgc.Input((3,)))
