"""Models are layers: calling a model reuses its weights; nesting inlines to the same numbers."""
import numpy as np

from fgc import Input, Model, Sequential, layers


def _inner():
    i = Input(shape=(4,), name="inner_in")
    h = layers.Dense(5, activation="relu", name="inner_hidden")(i)
    return Model(i, layers.Dense(3, activation="tanh", name="inner_out")(h), name="inner")


def _data(seed, batch=7):
    return np.random.default_rng(seed).normal(size=(batch, 4))


def test_model_called_on_two_inputs_matches_inner_predict():
    inner = _inner()
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    outer = Model([a, b], [inner(a), inner(b)], name="outer")
    xa, xb = _data(0), _data(1)
    ya, yb = outer.predict([xa, xb])
    np.testing.assert_array_equal(ya, inner.predict(xa))
    np.testing.assert_array_equal(yb, inner.predict(xb))
    assert outer.output_names == ["inner", "inner_1"]


def test_nested_model_shares_weights():
    inner = _inner()
    a, b = Input(shape=(4,)), Input(shape=(4,))
    outer = Model([a, b], layers.add([inner(a), inner(b)]))
    assert outer.count_params() == inner.count_params() == 4 * 5 + 5 + 5 * 3 + 3
    assert len(outer.get_weights()) == 4
    xa, xb = _data(0), _data(1)
    before = outer.predict([xa, xb])
    inner.set_weights([w * 0.5 for w in inner.get_weights()])
    after = outer.predict([xa, xb])
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, inner.predict(xa) + inner.predict(xb), rtol=1e-5, atol=1e-6)
    # and the other way: weights set through the outer model reach the inner one
    doubled = [w * 2.0 for w in outer.get_weights()]
    outer.set_weights(doubled)
    np.testing.assert_array_equal(inner.get_weights()[0], doubled[0])
    np.testing.assert_allclose(outer.predict([xa, xb]), inner.predict(xa) + inner.predict(xb), rtol=1e-5, atol=1e-6)


def test_nested_model_ir_has_one_param_per_weight():
    inner = _inner()
    a, b = Input(shape=(4,)), Input(shape=(4,))
    text = Model([a, b], [inner(a), inner(b)]).ir()
    assert text.count("= param()") == 4
    assert "model." not in text and "layer." not in text


def test_sequential_inside_functional():
    seq = Sequential([layers.Dense(3, input_shape=(4,), name="s1"), layers.Activation("relu", name="s2")],
                     name="block")
    inp = Input(shape=(4,))
    top = layers.Dense(2, name="top")
    model = Model(inp, top(seq(inp)))
    x = _data(2)
    k1, b1 = seq.get_weights()
    k2, b2 = top.get_weights()
    np.testing.assert_allclose(model.predict(x), np.maximum(x @ k1 + b1, 0) @ k2 + b2, rtol=1e-5, atol=1e-6)
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Sequential", "Dense"]
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2


def test_model_in_model_in_model():
    x0 = Input(shape=(4,))
    m1 = Model(x0, layers.Dense(2, name="d1")(x0), name="m1")
    x1 = Input(shape=(4,))
    m2 = Model(x1, layers.Dense(3, name="d2")(m1(x1)), name="m2")
    x2 = Input(shape=(4,))
    m3 = Model(x2, layers.Activation("relu", name="act")(m2(x2)), name="m3")
    x = _data(3)
    k1, b1, k2, b2 = m3.get_weights()
    assert (k1.shape, k2.shape) == ((4, 2), (2, 3))
    np.testing.assert_allclose(m3.predict(x), np.maximum((x @ k1 + b1) @ k2 + b2, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m3.predict(x), np.maximum(m2.predict(x), 0), rtol=1e-6, atol=1e-6)
    text = m3.ir()
    assert "%m2/m1/d1/" in text and "%m2/d2/" in text
    # weights set on the innermost model reach the outermost
    m1.set_weights([np.zeros((4, 2)), np.ones(2)])
    np.testing.assert_allclose(m3.predict(x), np.maximum(np.ones((7, 2)) @ k2 + b2, 0), rtol=1e-5, atol=1e-6)


def test_nested_model_called_twice_in_a_nested_model():
    k = Input(shape=(4,))
    inner = Model(k, layers.Dense(4, activation="tanh", name="square")(k), name="inner")
    i = Input(shape=(4,))
    middle = Model(i, inner(inner(layers.Dense(4, name="proj")(i))), name="middle")
    j = Input(shape=(4,))
    outer = Model(j, middle(j))
    assert outer.count_params() == inner.count_params() + 4 * 4 + 4
    x = _data(4)
    kp, bp = middle.get_layer("proj").get_weights()
    np.testing.assert_allclose(outer.predict(x), inner.predict(inner.predict(x @ kp + bp)), rtol=1e-5, atol=1e-5)


def test_model_called_on_arrays_is_predict():
    inner = _inner()
    x = _data(5)
    np.testing.assert_array_equal(inner(x), inner.predict(x))
