"""Shared layers and multi-input / multi-output models in training, against hand computations."""
import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.optimizers import SGD

rng = np.random.default_rng(0)
W = rng.standard_normal((3, 2))
B = np.array([0.2, -0.1])
XA = rng.standard_normal((6, 3))
XC = rng.standard_normal((6, 3))
Y = rng.standard_normal((6, 2))


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


# ---------------------------------------------------------------- 4. a shared Dense sums its gradients
def test_shared_dense_gets_the_sum_of_both_calls_gradients():
    a, c = fgc.Input((3,), name="a"), fgc.Input((3,), name="c")
    dense = layers.Dense(2, name="shared")
    model = fgc.Model([a, c], layers.Add()([dense(a), dense(c)]))
    model.set_weights([W, B])
    model.compile(SGD(0.1), "mse")
    model.train_on_batch([XA, XC], Y)

    # by hand: P = (xa W + b) + (xc W + b); dL/dP = 2 (P - Y) / size; each call contributes x^T dL/dP
    xa, xc, w, b = f32(XA), f32(XC), f32(W), f32(B)
    d = 2 * (xa @ w + b + xc @ w + b - f32(Y)) / Y.size
    gw, gb = xa.T @ d + xc.T @ d, 2 * d.sum(0)
    got_w, got_b = model.get_weights()
    np.testing.assert_allclose(got_w, w - 0.1 * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b - 0.1 * gb, rtol=1e-5, atol=1e-6)

    # and the same as an unshared twin whose two layers' updates are added by hand
    a2, c2 = fgc.Input((3,), name="a"), fgc.Input((3,), name="c")
    d1, d2 = layers.Dense(2, name="left"), layers.Dense(2, name="right")
    twin = fgc.Model([a2, c2], layers.Add()([d1(a2), d2(c2)]))
    twin.set_weights([W, B, W, B])
    twin.compile(SGD(0.1), "mse")
    twin.train_on_batch([XA, XC], Y)
    w1, b1, w2, b2 = twin.get_weights()
    np.testing.assert_allclose(got_w - f32(W), (w1 - f32(W)) + (w2 - f32(W)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b - f32(B), (b1 - f32(B)) + (b2 - f32(B)), rtol=1e-5, atol=1e-6)


def test_shared_layer_in_a_nested_model_called_twice_trains_one_set_of_weights():
    inner_in = fgc.Input((3,))
    inner = fgc.Model(inner_in, layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    a, c = fgc.Input((3,), name="a"), fgc.Input((3,), name="c")
    model = fgc.Model([a, c], layers.Add()([inner(a), inner(c)]))
    model.set_weights([W, B])
    model.compile(SGD(0.1), "mse")
    model.train_on_batch([XA, XC], Y)
    xa, xc, w, b = f32(XA), f32(XC), f32(W), f32(B)
    d = 2 * (xa @ w + b + xc @ w + b - f32(Y)) / Y.size
    np.testing.assert_allclose(model.get_weights()[0], w - 0.1 * (xa.T @ d + xc.T @ d), rtol=1e-5, atol=1e-6)
    assert len(model.get_weights()) == 2


# ---------------------------------------------------------------- 5. multi-input / multi-output
N = 20
X1 = rng.standard_normal((N, 4))
X2 = rng.standard_normal((N, 3))
IDS = rng.integers(0, 3, N)
Y_CLS = np.eye(3)[IDS]
Y_REG = rng.standard_normal((N, 1))


def _two_headed():
    a, c = fgc.Input((4,), name="a"), fgc.Input((3,), name="c")
    h = layers.Dense(5, activation="tanh", name="hidden")(layers.Concatenate()([a, c]))
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    return fgc.Model([a, c], [cls, reg])


@pytest.fixture
def twins():
    """Two identical two-headed models (same initial weights)."""
    fgc.utils.set_random_seed(1)
    first = _two_headed()
    second = _two_headed()
    second.set_weights(first.get_weights())
    return first, second


def test_loss_and_loss_weights_as_list_or_dict_give_identical_histories(twins):
    as_list, as_dict = twins
    as_list.compile(fgc.optimizers.Adam(0.01), ["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                    metrics={"cls": ["acc"]})
    as_dict.compile(fgc.optimizers.Adam(0.01), {"reg": "mse", "cls": "categorical_crossentropy"},
                    loss_weights={"reg": 0.5, "cls": 1.0}, metrics={"cls": ["acc"]})
    h1 = as_list.fit([X1, X2], [Y_CLS, Y_REG], epochs=3, batch_size=8, shuffle=False, verbose=0).history
    h2 = as_dict.fit({"c": X2, "a": X1}, {"reg": Y_REG, "cls": Y_CLS}, epochs=3, batch_size=8, shuffle=False,
                     verbose=0).history
    assert set(h1) == {"loss", "cls_loss", "reg_loss", "cls_acc"}
    assert set(h2) == set(h1)
    for k in h1:
        np.testing.assert_allclose(h1[k], h2[k], rtol=1e-6, err_msg=k)
    for w1, w2 in zip(as_list.get_weights(), as_dict.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-6)
    # the total is the weighted sum of the per-output losses (per batch, so also as epoch means)
    np.testing.assert_allclose(h1["loss"], np.add(h1["cls_loss"], 0.5 * np.array(h1["reg_loss"])), rtol=1e-5)


def test_multi_output_evaluate_matches_numpy_on_predictions(twins):
    model, _ = twins
    model.compile("sgd", ["categorical_crossentropy", "mse"], loss_weights=[2.0, 0.25], metrics={"cls": "acc"})
    logs = model.evaluate([X1, X2], [Y_CLS, Y_REG], batch_size=7, verbose=0, return_dict=True)
    p_cls, p_reg = model.predict([X1, X2], verbose=0)
    p_cls = p_cls.astype(np.float64)
    cce = -(Y_CLS * np.log(np.clip(p_cls / p_cls.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))).sum(-1).mean()
    mse = ((p_reg - Y_REG) ** 2).mean()
    acc = (p_cls.argmax(-1) == IDS).mean()
    assert logs["cls_loss"] == pytest.approx(cce, rel=1e-5)
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["cls_acc"] == pytest.approx(acc)
    assert logs["loss"] == pytest.approx(2.0 * cce + 0.25 * mse, rel=1e-5)
    as_list = model.evaluate([X1, X2], [Y_CLS, Y_REG], batch_size=7, verbose=0)
    assert as_list[0] == pytest.approx(logs["loss"]) and sorted(as_list) == pytest.approx(sorted(logs.values()))


def test_mismatched_loss_dict_or_list_is_an_error_listing_expected_and_received(twins):
    model, _ = twins
    with pytest.raises(ValueError) as e:
        model.compile("sgd", {"cls": "categorical_crossentropy", "regression": "mse"})
    assert "['cls', 'reg']" in str(e.value) and "regression" in str(e.value)
    with pytest.raises(ValueError) as e:
        model.compile("sgd", ["categorical_crossentropy", "mse", "mae"])
    assert "3" in str(e.value) and "['cls', 'reg']" in str(e.value)
    with pytest.raises(ValueError) as e:
        model.compile("sgd", ["categorical_crossentropy", "mse"], loss_weights={"cls": 1.0, "regg": 2.0})
    assert "['cls', 'reg']" in str(e.value)
    model.compile("sgd", ["categorical_crossentropy", "mse"])
    with pytest.raises(ValueError) as e:
        model.fit([X1, X2], {"cls": Y_CLS, "regr": Y_REG}, verbose=0)
    assert "regr" in str(e.value) and "reg" in str(e.value)
    with pytest.raises(ValueError, match="2"):
        model.fit([X1, X2], [Y_CLS], verbose=0)
