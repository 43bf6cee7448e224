"""Bad arguments and bad data for fit / evaluate / predict / *_on_batch: each is a ValueError or TypeError
that names the argument and the accepted range, raised before any weight changes."""
import warnings

import numpy as np
import pytest

import fgc
from fgc.optimizers import SGD

rng = np.random.default_rng(1)
W = rng.standard_normal((3, 2))
B = np.array([0.1, -0.3])
X = rng.standard_normal((8, 3))
Y = rng.standard_normal((8, 2))
ONE_HOT = np.eye(2)[[0, 1, 1, 0, 1, 0, 0, 1]]


@pytest.fixture
def model(dense_model):
    m = dense_model(3, 2, weights=[W, B])
    m.compile(SGD(0.1), "mse")
    return m


def assert_weights_are(model, expected):
    got = model.get_weights()
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.tobytes() == e.tobytes()


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(batch_size=0), r"batch_size must be an integer >= 1 or None, got 0"),
    (dict(batch_size=-4), r"batch_size .* >= 1 .* got -4"),
    (dict(batch_size=2.5), r"batch_size .* got 2\.5"),
    (dict(batch_size=True), r"batch_size .* got True"),
    (dict(epochs=2.5), r"epochs must be an integer >= 0, got 2\.5"),
    (dict(epochs=-1), r"epochs .* >= 0.* -1"),
    (dict(steps_per_epoch=0), r"steps_per_epoch must be an integer >= 1 or None, got 0"),
    (dict(steps_per_epoch=-2), r"steps_per_epoch .* -2"),
    (dict(validation_steps=0), r"validation_steps .* >= 1"),
    (dict(validation_batch_size=0), r"validation_batch_size .* >= 1"),
    (dict(validation_freq=0), r"validation_freq must be an integer >= 1, got 0"),
    (dict(initial_epoch=-1), r"initial_epoch .* >= 0"),
    (dict(validation_split=1.0), r"validation_split must be a float in \[0, 1\), got 1\.0"),
    (dict(validation_split=-0.2), r"validation_split .* -0\.2"),
    (dict(validation_split=0.9), r"validation_split=0\.9 of 8 samples leaves no training samples"),
    (dict(verbose=3), r"verbose must be 'auto', 0, 1 or 2, got 3"),
    (dict(validation_data=(X,)), r"validation_data must be a tuple \(x_val, y_val\)"),
    (dict(validation_data=(X[:0], Y[:0])), r"validation_data: input 'x' has 0 samples"),
])
def test_fit_refuses_bad_arguments_before_training(model, kwargs, pattern):
    before = model.get_weights()
    with pytest.raises(ValueError, match=pattern):
        model.fit(X, Y, **{"verbose": 0, **kwargs})
    assert_weights_are(model, before)
    assert model.optimizer.iterations == 0


def test_numpy_integers_are_accepted_as_counts(model):
    # one full-batch SGD step: w -= lr * dL/dw, with mse = mean over outputs and batch
    model.fit(X, Y, batch_size=np.int64(8), epochs=np.int32(1), shuffle=False, verbose=0)
    err = X @ W + B - Y
    np.testing.assert_allclose(model.get_weights()[0], W - 0.1 * X.T @ err * 2 / err.size, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call", [
    lambda m: m.fit(X[:0], Y[:0], verbose=0),
    lambda m: m.evaluate(X[:0], Y[:0], verbose=0),
    lambda m: m.predict(X[:0], verbose=0),
    lambda m: m.train_on_batch(X[:0], Y[:0]),
    lambda m: m.test_on_batch(X[:0], Y[:0]),
])
def test_empty_arrays_are_refused(model, call):
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"input 'x' has 0 samples \(shape \(0, 3\)\)"):
        call(model)
    assert_weights_are(model, before)


def test_missing_x_is_named(model):
    with pytest.raises(ValueError, match=r"input 'x' is None; pass an array of shape \(None, 3\)"):
        model.fit(None, Y, verbose=0)


@pytest.mark.parametrize("call, pattern", [
    (lambda m: m.evaluate(X, Y, batch_size=0, verbose=0), r"evaluate\(\): batch_size .* >= 1"),
    (lambda m: m.evaluate(X, Y, steps=0, verbose=0), r"evaluate\(\): steps .* >= 1"),
    (lambda m: m.predict(X, batch_size=-1), r"predict\(\): batch_size .* >= 1"),
    (lambda m: m.predict(X, steps=1.5), r"predict\(\): steps .* got 1\.5"),
])
def test_evaluate_and_predict_refuse_bad_counts(model, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(model)


def test_predict_steps_limits_the_batches(model):
    out = model.predict(X, batch_size=3, steps=2, verbose=0)
    np.testing.assert_allclose(out, X[:6] @ W + B, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_sample_weight_is_refused(model, bad):
    sw = np.ones(8)
    sw[5] = bad
    before = model.get_weights()
    with pytest.raises(ValueError, match=rf"sample_weight for output 'dense' is {bad} at sample 5.*finite"):
        model.fit(X, Y, sample_weight=sw, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        model.train_on_batch(X, Y, sample_weight=sw)
    assert_weights_are(model, before)


@pytest.mark.parametrize("class_weight, error, pattern", [
    ({0: 1.0, 1: np.nan}, ValueError, r"class_weight\[1\] is nan.*finite"),
    ({0: np.inf}, ValueError, r"class_weight\[0\] is inf"),
    ({0: "2"}, TypeError, r"class_weight\[0\] must be a number"),
    ({-1: 2.0}, ValueError, r"class_weight keys must be class indices.*-1"),
    ({0.5: 2.0}, ValueError, r"class_weight keys must be class indices.*0\.5"),
    ([1.0, 2.0], TypeError, r"class_weight must be a dict"),
])
def test_bad_class_weight_is_refused(dense_model, class_weight, error, pattern):
    model = dense_model(3, 2, "softmax", weights=[W, B])
    model.compile(SGD(0.1), "categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(error, match=pattern):
        model.fit(X, ONE_HOT, class_weight=class_weight, verbose=0)
    assert_weights_are(model, before)


def test_class_weight_scales_each_sample_like_keras(dense_model):
    # Keras: each sample's loss is multiplied by class_weight[class]; the batch loss is the sum / batch size
    model = dense_model(3, 2, "softmax", weights=[W, B])
    model.compile(SGD(0.1), "categorical_crossentropy")
    z = X @ W + B
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    per_sample = -np.log(np.clip((p * ONE_HOT).sum(1), 1e-7, 1 - 1e-7))
    weights = np.where(ONE_HOT[:, 1] == 1, 3.0, 0.5)
    got = model.train_on_batch(X, ONE_HOT, class_weight={0: 0.5, 1: 3.0})
    np.testing.assert_allclose(got, (per_sample * weights).mean(), rtol=1e-5)
    model.set_weights([W, B])
    float_keys = model.train_on_batch(X, ONE_HOT, class_weight={0.0: 0.5, 1.0: 3.0})
    np.testing.assert_allclose(float_keys, (per_sample * weights).mean(), rtol=1e-5)


def test_nan_loss_warns_once_naming_epoch_and_step(dense_model):
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse")
    x = X.copy()
    x[4:] *= 1e25  # finite inputs, but (1e25)^2 overflows float32: the second batch's loss is inf
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.fit(x, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    nan_warnings = [w for w in seen if "training loss became" in str(w.message)]
    assert len(nan_warnings) == 1
    assert "epoch 1, step 2" in str(nan_warnings[0].message)
    assert nan_warnings[0].filename == __file__  # points at the user's fit() call
    assert "TerminateOnNaN" in str(nan_warnings[0].message)


def test_no_nan_warning_when_terminate_on_nan_is_given(dense_model, capsys):
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse")
    x = X * 1e25
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model.fit(x, Y, batch_size=4, verbose=0, callbacks=[fgc.callbacks.TerminateOnNaN()])
    assert not [w for w in seen if "training loss became" in str(w.message)]
    assert "Invalid loss" in capsys.readouterr().out


def test_a_symbolic_tensor_given_as_data_is_named():
    from fgc import Input, Model, layers

    i = Input((3,))
    model = Model(i, layers.Dense(1)(i))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"is a symbolic tensor .*need the data itself: a numpy array of shape "
                                        r"\(None, 3\)"):
        model.fit(i, np.ones((2, 1)))


def test_class_weight_needs_a_single_output():
    from fgc import Input, Model, layers

    i = Input((3,))
    model = Model(i, [layers.Dense(2, activation="softmax")(i), layers.Dense(2, activation="softmax")(i)])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    before = model.get_weights()
    y = np.eye(2)[[0, 1, 1]]
    with pytest.raises(ValueError, match=r"class_weight is only supported for models with a single output"):
        model.fit(np.ones((3, 3)), [y, y], class_weight={0: 1.0, 1: 2.0}, verbose=0)
    assert all((a == b).all() for a, b in zip(model.get_weights(), before))
