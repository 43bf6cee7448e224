"""Keras 1/2 spellings keep working, with a DeprecationWarning that names the new spelling."""
import numpy as np
import pytest

from fgc import Input, Model, Sequential, layers


def test_model_input_output_keywords():
    i = Input(shape=(3,))
    out = layers.Dense(2)(i)
    with pytest.warns(DeprecationWarning, match=r"Model\(input=..., output=...\) is the Keras 1 spelling; use "
                                                r"Model\(inputs=..., outputs=...\)"):
        model = Model(input=i, output=out)
    assert model.inputs == [i] and model.outputs == [out]
    x = np.ones((2, 3))
    k, b = model.get_weights()
    np.testing.assert_allclose(model.predict(x), x @ k + b, rtol=1e-6, atol=1e-6)


def test_model_legacy_keywords_with_lists():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    with pytest.warns(DeprecationWarning):
        model = Model(input=[a, b], output=[layers.add([a, b]), layers.subtract([a, b])])
    s, d = model.predict([np.ones((1, 3)), np.full((1, 3), 2.0)])
    np.testing.assert_array_equal(s, [[3, 3, 3]])
    np.testing.assert_array_equal(d, [[-1, -1, -1]])


def test_keras2_layer_keywords():
    model = Sequential([layers.Dense(3, input_dim=4), layers.Dense(2, batch_input_shape=(None, 3))])
    assert model.inputs[0].shape == (None, 4)
    seq = Sequential([layers.Dense(2, batch_input_shape=(None, 5))])
    assert seq.inputs[0].shape == (None, 5)


def test_model_dict_inputs_and_outputs():
    a, b = Input(shape=(2,), name="a"), Input(shape=(2,), name="b")
    model = Model({"left": a, "right": b}, {"sum": layers.add([a, b]), "prod": layers.multiply([a, b])})
    assert model.input_names == ["left", "right"] and model.output_names == ["sum", "prod"]
    out = model.predict({"left": np.array([[1.0, 2.0]]), "right": np.array([[3.0, 4.0]])})
    assert set(out) == {"sum", "prod"}
    np.testing.assert_array_equal(out["sum"], [[4, 6]])
    np.testing.assert_array_equal(out["prod"], [[3, 8]])
