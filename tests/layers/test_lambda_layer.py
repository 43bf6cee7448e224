"""layers.Lambda: Keras' lambda_layer_test in fgc's words, plus training through a Lambda."""
import numpy as np
import pytest

import fgc
from fgc import layers, ops


def stacker(x):
    return ops.concatenate([x, x], axis=1)


def stacker_shape(s):
    return (s[0], s[1] * 2)


def _run(layer, x):
    inputs = fgc.Input(x.shape[1:])
    return fgc.Model(inputs, layer(inputs)).predict(x, verbose=0)


@pytest.mark.parametrize("kwargs, shape, expected", [
    ({"function": ops.square}, (2, 3), (2, 3)),
    ({"function": stacker, "output_shape": (6,)}, (2, 3), (2, 6)),
    ({"function": stacker, "output_shape": stacker_shape}, (2, 3), (2, 6)),
])
def test_basics_shapes_and_no_weights(kwargs, shape, expected, rng):
    layer = layers.Lambda(**kwargs)
    x = rng.standard_normal(shape).astype(np.float32)
    out = _run(layer, x)
    assert out.shape == expected
    np.testing.assert_allclose(out, kwargs["function"](x) if kwargs["function"] is not stacker else
                               np.concatenate([x, x], 1), rtol=1e-6)
    assert layer.weights == [] and layer.count_params() == 0


def test_correctness_and_config_roundtrip_of_a_python_lambda():
    layer = layers.Lambda(lambda x: x ** 2)
    x = 2 * np.ones((2, 3), np.float32)
    np.testing.assert_allclose(_run(layer, x), 4 * np.ones((2, 3)))
    restored = layers.Lambda.from_config(layer.get_config(), safe_mode=False)
    np.testing.assert_allclose(_run(restored, x), 4 * np.ones((2, 3)))


def test_python_lambda_is_refused_without_safe_mode_false():
    config = layers.Lambda(lambda x: x ** 2).get_config()
    assert config["function"]["class_name"] == "__lambda__"
    with pytest.raises(ValueError, match="Lambda"):
        layers.Lambda.from_config(config)


def test_named_function_is_stored_by_name_and_found_again():
    config = layers.Lambda(stacker, output_shape=stacker_shape).get_config()
    assert config["function"] == {"module": __name__, "class_name": "function", "config": "stacker",
                                  "registered_name": "stacker"}
    restored = layers.Lambda.from_config(config, custom_objects={"stacker": stacker, "stacker_shape": stacker_shape})
    assert restored.function is stacker and restored._output_shape is stacker_shape


def test_callable_output_shape_round_trips():
    layer = layers.Lambda(lambda x: x ** 2, output_shape=lambda s: s)
    restored = layers.Lambda.from_config(layer.get_config(), safe_mode=False)
    x = 3 * np.ones((2, 3), np.float32)
    np.testing.assert_allclose(_run(restored, x), 9 * np.ones((2, 3)))


def test_arguments_are_passed_as_keywords():
    layer = layers.Lambda(lambda x, scale, shift: x * scale + shift, arguments={"scale": 3.0, "shift": -1.0})
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(_run(layer, x), x * 3 - 1)
    assert layer.get_config()["arguments"] == {"scale": 3.0, "shift": -1.0}


def test_wrong_declared_output_shape_is_an_error():
    with pytest.raises(ValueError, match=r"declares \(5,\), but the function computes \(6,\)"):
        layers.Lambda(stacker, output_shape=(5,))(fgc.Input((3,)))


def test_bad_arguments():
    with pytest.raises(TypeError, match="callable"):
        layers.Lambda(3)
    with pytest.raises(TypeError, match="dict"):
        layers.Lambda(stacker, arguments=[1])


def test_training_flag_reaches_the_function(rng):
    # training=True scales by 2: the train step must see training=True, predict training=False
    layer = layers.Lambda(lambda x, training=None: x * (2.0 if training else 1.0))
    inputs = fgc.Input((1,))
    dense = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    model = fgc.Model(inputs, layer(dense(inputs)))
    x, y = np.ones((4, 1), np.float32), np.zeros((4, 1), np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), x)
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=0.1), loss="mse")
    model.train_on_batch(x, y)
    # loss = mean((2 w x)^2) -> dL/dw = 8 w x^2 = 8 at w = 1 (with training=False it would be 2)
    np.testing.assert_allclose(dense.get_weights()[0], [[1 - 0.1 * 8]], rtol=1e-6)


def test_lambda_trains_in_sequential(rng):
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = (x ** 2).sum(1, keepdims=True)
    model = fgc.Sequential([fgc.Input((3,)), layers.Lambda(ops.square), layers.Dense(1)])
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=0.05), loss="mse")
    history = model.fit(x, y, epochs=40, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
