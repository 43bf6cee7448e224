"""fit / evaluate data checks, legacy spellings, return values, and weight sync between host and device."""
import warnings

import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.optimizers import SGD

rng = np.random.default_rng(0)
W = rng.standard_normal((3, 2))
B = np.array([0.1, -0.3])
X = rng.standard_normal((8, 3))
Y = rng.standard_normal((8, 2))


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


@pytest.fixture
def mse_model(dense_model):
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse", metrics=["mae"])
    return model


@pytest.fixture
def softmax_model(dense_model):
    model = dense_model(3, 3, "softmax", weights=[rng.standard_normal((3, 3)), np.zeros(3)])
    model.compile(SGD(0.1), "categorical_crossentropy", metrics=["acc"])
    return model


def test_nan_in_inputs_or_targets_is_an_error_naming_the_place(mse_model):
    x = X.copy()
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"input 'x'.*nan.*\(2, 1\)"):
        mse_model.fit(x, Y, verbose=0)
    y = Y.copy()
    y[5, 0] = np.inf
    with pytest.raises(ValueError, match=r"inf.*\(5, 0\)"):
        mse_model.fit(X, y, verbose=0)


def test_wrong_target_shape_names_both_shapes(mse_model):
    with pytest.raises(ValueError, match=r"\(8, 3\).*\(None, 2\)"):
        mse_model.fit(X, np.zeros((8, 3)), verbose=0)
    with pytest.raises(ValueError, match="8.*5|5.*8"):
        mse_model.fit(X, Y[:5], verbose=0)


def test_class_ids_for_categorical_crossentropy_point_to_the_sparse_loss(softmax_model):
    with pytest.raises(ValueError) as e:
        softmax_model.fit(X, np.array([0, 1, 2, 1, 0, 2, 1, 0]), verbose=0)
    assert "sparse_categorical_crossentropy" in str(e.value) and "to_categorical" in str(e.value)


def test_all_zero_one_hot_rows_warn_and_give_zero_loss(softmax_model):
    y = np.random.randint(0, 1, (8, 3))  # seed 000's targets: every row all zeros
    with pytest.warns(UserWarning, match="all zeros"):
        history = softmax_model.fit(X, y, epochs=1, verbose=0)
    assert history.history["loss"] == [0.0]


def test_zero_rows_warn_only_when_every_row_is_zero(softmax_model):
    y = np.zeros((8, 3))
    y[7, 1] = 1.0   # the first rows are zero, the last is not: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        softmax_model.fit(X, y, epochs=1, verbose=0)


def test_sparse_ids_out_of_range_are_an_error(dense_model):
    model = dense_model(3, 3, "softmax")
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.fit(X, np.array([0, 1, 2, 3, 0, 1, 2, 0]), verbose=0)


def test_dict_inputs_with_a_missing_key_list_expected_and_received():
    a, c = fgc.Input((3,), name="a"), fgc.Input((2,), name="c")
    model = fgc.Model([a, c], layers.Dense(1)(layers.Concatenate()([a, c])))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError) as e:
        model.fit({"a": X, "cc": X[:, :2]}, Y[:, :1], verbose=0)
    msg = str(e.value)
    assert "['a', 'c']" in msg and "cc" in msg and "missing" in msg


def test_integer_input_rejects_fractional_floats_and_accepts_integral_ones():
    ids_in = fgc.Input((4,), dtype="int32", name="ids")
    out = layers.Dense(1)(layers.Flatten()(layers.Embedding(10, 2)(ids_in)))
    model = fgc.Model(ids_in, out)
    model.compile(SGD(0.1), "mse")
    ids = rng.integers(0, 10, (5, 4))
    y = rng.standard_normal((5, 1))
    with pytest.raises(TypeError, match="'ids'.*fraction"):
        model.fit(ids + 0.5, y, verbose=0)
    before = model.get_weights()
    loss_from_floats = model.test_on_batch(ids.astype(np.float64), y)
    assert loss_from_floats == pytest.approx(model.test_on_batch(ids, y))
    model.fit(ids.astype(np.float64), y, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_nb_epoch_is_accepted_with_a_deprecation_warning(mse_model):
    with pytest.warns(DeprecationWarning, match="nb_epoch"):
        history = mse_model.fit(X, Y, nb_epoch=3, batch_size=4, verbose=0)
    assert history.epoch == [0, 1, 2]


def test_evaluate_returns_loss_then_metrics_and_return_dict(mse_model):
    pred = f32(X) @ f32(W) + f32(B)
    mse, mae = ((pred - f32(Y)) ** 2).mean(), np.abs(pred - f32(Y)).mean()
    values = mse_model.evaluate(X, Y, batch_size=3, verbose=0)
    assert values == pytest.approx([mse, mae], rel=1e-5)
    assert mse_model.evaluate(X, Y, verbose=0, return_dict=True) == pytest.approx({"loss": mse, "mae": mae}, rel=1e-5)
    assert mse_model.test_on_batch(X, Y) == pytest.approx([mse, mae], rel=1e-5)
    assert mse_model.test_on_batch(X, Y, return_dict=True) == pytest.approx({"loss": mse, "mae": mae}, rel=1e-5)
    # train_on_batch reports the loss of the weights it started from
    assert mse_model.train_on_batch(X, Y, return_dict=True)["loss"] == pytest.approx(mse, rel=1e-5)


def test_single_loss_without_metrics_returns_a_scalar(dense_model):
    model = dense_model(3, 2, weights=[W, B])
    model.compile("sgd", "mse")
    value = model.evaluate(X, Y, verbose=0)
    assert isinstance(value, float)
    assert value == pytest.approx(((f32(X) @ f32(W) + f32(B) - f32(Y)) ** 2).mean(), rel=1e-5)


def test_predict_after_training_uses_the_trained_weights(mse_model):
    initial = mse_model.predict(X, verbose=0)
    mse_model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    w, b = mse_model.get_weights()
    assert not np.allclose(w, W, atol=1e-3)
    np.testing.assert_allclose(mse_model.predict(X, verbose=0), f32(X) @ w + b, rtol=1e-5, atol=1e-6)
    # after train_on_batch too (no fit epilogue): predict pulls the device weights first
    mse_model.train_on_batch(X, Y)
    w2, b2 = mse_model.get_weights()
    assert not np.allclose(w2, w)
    np.testing.assert_allclose(mse_model.predict(X, verbose=0), f32(X) @ w2 + b2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(mse_model.predict(X, verbose=0), initial)


def test_set_weights_after_training_is_what_the_next_step_starts_from(mse_model):
    mse_model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    mse_model.set_weights([W, B])
    pred = f32(X) @ f32(W) + f32(B)
    assert mse_model.train_on_batch(X, Y)[0] == pytest.approx(((pred - f32(Y)) ** 2).mean(), rel=1e-5)
    gw = f32(X).T @ (2 * (pred - f32(Y)) / Y.size)
    np.testing.assert_allclose(mse_model.get_weights()[0], f32(W) - 0.1 * gw, rtol=1e-5, atol=1e-6)


def test_fit_before_compile_and_unknown_fit_keyword(dense_model):
    model = dense_model(3, 2)
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(X, Y, verbose=0)
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="epochs"):
        model.fit(X, Y, epoch=3, verbose=0)


def test_verbose_fit_prints_epochs_and_device(mse_model, capsys):
    mse_model.fit(X, Y, epochs=2, batch_size=4, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mse_model.fit(X, Y, epochs=1, verbose=0)   # well-formed data: no warnings at all
