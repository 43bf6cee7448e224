"""Keras-layout weights: set_weights/get_weights order, layout and errors."""
import numpy as np
import pytest

from fgc import Input, Model, layers


def _mlp():
    inp = Input(shape=(4,))
    h = layers.Dense(3, activation="relu", name="hidden")(inp)
    out = layers.Dense(2, activation="softmax", name="probs")(h)
    return Model(inp, out)


def _keras_weights():
    k1 = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [1.0, -1.1, 1.2]])
    b1 = np.array([0.05, -0.05, 0.1])
    k2 = np.array([[0.3, -0.3], [-0.5, 0.2], [0.7, 0.1]])
    b2 = np.array([0.2, -0.1])
    return [k1, b1, k2, b2]


def test_keras_layout_weights_give_the_numpy_formula():
    model = _mlp()
    k1, b1, k2, b2 = _keras_weights()
    model.set_weights([k1, b1, k2, b2])
    x = np.random.default_rng(0).normal(size=(7, 4))
    z = np.maximum(x @ k1 + b1, 0) @ k2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(model.predict(x), e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_get_weights_order_and_layout():
    model = _mlp()
    ws = model.get_weights()
    assert [w.shape for w in ws] == [(4, 3), (3,), (3, 2), (2,)]
    assert all(w.dtype == np.float32 for w in ws)
    assert [v.path for v in model.weights] == ["hidden/kernel", "hidden/bias", "probs/kernel", "probs/bias"]
    new = _keras_weights()
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_allclose(got, want.astype(np.float32))


def test_get_weights_follows_layer_creation_order():
    inp = Input(shape=(2,))
    first, second, third = layers.Dense(5), layers.Dense(4), layers.Dense(3)
    model = Model(inp, third(second(first(inp))))
    assert [w.shape for w in model.get_weights()] == [(2, 5), (5,), (5, 4), (4,), (4, 3), (3,)]
    assert [l.name for l in model.layers] == ["input_layer", "dense", "dense_1", "dense_2"]


def test_get_weights_returns_copies():
    model = _mlp()
    ws = model.get_weights()
    ws[0][:] = 123.0
    assert not np.any(model.get_weights()[0] == 123.0)


def test_set_weights_after_predict_takes_effect():
    model = _mlp()
    x = np.ones((2, 4))
    before = model.predict(x)
    k1, b1, k2, b2 = _keras_weights()
    model.set_weights([k1, b1, k2, np.array([5.0, -5.0])])
    after = model.predict(x)
    assert not np.allclose(before, after)
    assert np.all(after[:, 0] > 0.99)


def test_layer_set_weights_changes_the_model():
    model = _mlp()
    x = np.ones((1, 4))
    model.get_layer("probs").set_weights([np.zeros((3, 2)), np.array([0.0, np.log(3.0)])])
    np.testing.assert_allclose(model.predict(x), [[0.25, 0.75]], rtol=1e-6, atol=1e-6)


def test_set_weights_wrong_count_names_the_expected_weights():
    model = _mlp()
    with pytest.raises(ValueError, match=r"4 weight arrays, got 3.*hidden/kernel \(4, 3\).*probs/bias \(2,\)"):
        model.set_weights(_keras_weights()[:3])


def test_set_weights_wrong_shape_names_the_weight():
    model = _mlp()
    ws = _keras_weights()
    ws[2] = ws[2].T  # (2, 3) instead of (3, 2): a PyTorch-layout kernel
    with pytest.raises(ValueError, match=r"weight 'probs/kernel' has shape \(3, 2\), got an array of shape \(2, 3\)"):
        model.set_weights(ws)
    # nothing was half-assigned
    assert not np.allclose(model.get_weights()[0], _keras_weights()[0])


def test_layer_set_weights_errors_name_the_weight():
    model = _mlp()
    hidden = model.get_layer("hidden")
    with pytest.raises(ValueError, match=r"layer 'hidden' expects 2 weight arrays \(hidden/kernel \(4, 3\), "
                                         r"hidden/bias \(3,\)\), got 1"):
        hidden.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"weight 'hidden/bias' has shape \(3,\); cannot assign an array of shape "
                                         r"\(4,\)"):
        hidden.set_weights([np.zeros((4, 3)), np.zeros(4)])


def test_weights_constructor_argument_sets_initial_values():
    inp = Input(shape=(2,))
    kernel, bias = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5])
    model = Model(inp, layers.Dense(2, weights=[kernel, bias])(inp))
    np.testing.assert_allclose(model.predict(np.array([[1.0, 1.0]])), [[4.5, 5.5]])


def test_count_params_and_trainable_split():
    model = _mlp()
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    model.get_layer("hidden").trainable = False
    assert [v.path for v in model.trainable_weights] == ["probs/kernel", "probs/bias"]
    assert [v.path for v in model.non_trainable_weights] == ["hidden/kernel", "hidden/bias"]
