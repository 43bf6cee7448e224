"""Keras 3 loss reductions in fit (loss and gradient), evaluate, and a loss called on arrays.

References are numpy, from Keras' documented formulas: with per-sample losses v and sample
weights w, ``sum_over_batch_size`` (alias ``mean``) is sum(w v) / (elements in the batch), ``sum``
is sum(w v), ``mean_with_sample_weight`` is sum(w v) / sum(w) (w counted once per loss element),
and ``None``/``"none"`` leaves w v unreduced (only for a loss called on its own).
"""
import numpy as np
import pytest

import fgc
from fgc import layers, losses

rng = np.random.default_rng(7)
N, D, C = 6, 3, 2
X = rng.standard_normal((N, D)).astype(np.float32)
Y = rng.standard_normal((N, C)).astype(np.float32)
W0 = rng.standard_normal((D, C)).astype(np.float32)
B0 = np.array([0.1, -0.2], np.float32)
SW = np.array([1.0, 0.0, 2.0, 0.5, 3.0, 1.5], np.float32)
LR = 0.1


def _divisor(reduction, weights, elements):
    """Keras' divisor for one batch: its loss elements, 1, or its sample weight per element."""
    return {"sum_over_batch_size": elements, "mean": elements, "sum": 1.0,
            "mean_with_sample_weight": weights.sum() * (elements / len(weights))}[reduction]


def _mse_step(w, b, x, y, sw, reduction):
    """One SGD step of a linear model on MSE: (loss, new kernel, new bias), in float64."""
    p = x @ w + b
    per_sample = ((p - y) ** 2).mean(-1)
    divisor = _divisor(reduction, sw, len(x))
    loss = (sw * per_sample).sum() / divisor
    dp = (sw / divisor)[:, None] * 2.0 * (p - y) / y.shape[-1]
    return loss, w - LR * x.T @ dp, b - LR * dp.sum(0)


def _linear_model():
    x = fgc.Input((D,), name="x")
    model = fgc.Model(x, layers.Dense(C, name="out")(x))
    model.set_weights([W0, B0])
    return model


REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fit_one_step_loss_and_gradient(reduction):
    model = _linear_model()
    model.compile(fgc.optimizers.SGD(learning_rate=LR), losses.MeanSquaredError(reduction=reduction))
    history = model.fit(X, Y, batch_size=N, epochs=1, shuffle=False, sample_weight=SW, verbose=0)
    loss, w, b = _mse_step(W0.astype(np.float64), B0.astype(np.float64), X, Y, SW, reduction)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps_per_execution", [1, 2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fit_uneven_batches_each_batch_reduced_on_its_own(reduction, steps_per_execution):
    """Batches of 2, 2, 2 + a short last one: each step reduces its own batch (the short one
    divides by its own size or weight), and the epoch loss is the batch-size-weighted mean."""
    x, y = np.concatenate([X, X[:1]]), np.concatenate([Y, Y[:1] + 1.0])
    sw = np.concatenate([SW, [2.0]]).astype(np.float32)
    model = _linear_model()
    model.compile(fgc.optimizers.SGD(learning_rate=LR), losses.MeanSquaredError(reduction=reduction),
                  steps_per_execution=steps_per_execution)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, sample_weight=sw, verbose=0)
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    total = 0.0
    for start in range(0, len(x), 2):
        part = slice(start, start + 2)
        loss, w, b = _mse_step(w, b, x[part], y[part], sw[part], reduction)
        total += loss * len(x[part])
    assert history.history["loss"][0] == pytest.approx(total / len(x), rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_evaluate_reduces_each_batch_then_averages_by_batch_size(reduction):
    model = _linear_model()
    model.compile("sgd", losses.MeanSquaredError(reduction=reduction))
    per_sample = ((X @ W0 + B0 - Y).astype(np.float64) ** 2).mean(-1)
    batches = [slice(0, 4), slice(4, 6)]
    expected = sum((SW[s] * per_sample[s]).sum() / _divisor(reduction, SW[s], len(per_sample[s])) * len(per_sample[s])
                   for s in batches) / N
    got = model.evaluate(X, Y, batch_size=4, sample_weight=SW, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5)


def test_mean_with_sample_weight_without_weights_is_the_plain_mean():
    model = _linear_model()
    model.compile("sgd", losses.MeanSquaredError(reduction="mean_with_sample_weight"))
    expected = ((X @ W0 + B0 - Y).astype(np.float64) ** 2).mean()
    assert model.evaluate(X, Y, batch_size=N, verbose=0) == pytest.approx(expected, rel=1e-5)


T = 4


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sequence_output_reductions_count_every_timestep(reduction):
    """A (N, T, C) output: a sample's weight applies to each of its T loss values, so the
    divisors are N*T elements or T*sum(w)."""
    x = fgc.Input((T, C), name="x")
    model = fgc.Model(x, layers.Activation("linear")(x))
    model.compile("sgd", losses.MeanSquaredError(reduction=reduction))
    xs, ys = rng.standard_normal((N, T, C)), rng.standard_normal((N, T, C))
    values = ((xs.astype(np.float32) - ys.astype(np.float32)).astype(np.float64) ** 2).mean(-1)   # (N, T)
    total = (values * SW[:, None]).sum()
    divisor = {"sum": 1.0, "mean_with_sample_weight": T * SW.sum()}.get(reduction, N * T)
    got = model.evaluate(xs, ys, batch_size=N, sample_weight=SW, verbose=0)
    assert got == pytest.approx(total / divisor, rel=1e-5)


def test_sum_reduction_in_a_two_output_model_with_loss_weights():
    x = fgc.Input((D,), name="x")
    a, b = layers.Dense(C, name="a")(x), layers.Dense(1, name="b")(x)
    model = fgc.Model(x, [a, b])
    model.compile("sgd", loss={"a": losses.MeanSquaredError(reduction="sum", name="my_mse"), "b": "mae"},
                  loss_weights={"a": 0.5, "b": 2.0})
    pa, pb = model.predict(X, verbose=0)
    yb = rng.standard_normal((N, 1))
    la = ((pa.astype(np.float64) - Y) ** 2).mean(-1).sum()
    lb = np.abs(pb.astype(np.float64) - yb).mean()
    logs = model.evaluate(X, [Y, yb], batch_size=N, verbose=0, return_dict=True)
    # Keras names per-output losses after the output, whatever the loss object's name
    assert set(logs) == {"loss", "a_loss", "b_loss"}
    assert logs["a_loss"] == pytest.approx(la, rel=1e-5)
    assert logs["b_loss"] == pytest.approx(lb, rel=1e-5)
    assert logs["loss"] == pytest.approx(0.5 * la + 2.0 * lb, rel=1e-5)


@pytest.mark.parametrize("reduction", [None, "none"])
def test_unreduced_loss_is_refused_by_compile(reduction):
    model = _linear_model()
    with pytest.raises(ValueError, match=r"output 'out'.*one loss per sample.*loss\(y_true, y_pred\)"):
        model.compile("sgd", losses.MeanSquaredError(reduction=reduction))


@pytest.mark.parametrize("bad", ["summ", "avg", 3, "SUM"])
def test_unknown_reduction_lists_the_valid_ones(bad):
    with pytest.raises(ValueError, match="mean_with_sample_weight"):
        losses.MeanSquaredError(reduction=bad)


# ---------------------------------------------------------------- a loss called on arrays
YT = rng.standard_normal((5, 3)).astype(np.float32)
YP = rng.standard_normal((5, 3)).astype(np.float32)
PER_SAMPLE = ((YP.astype(np.float64) - YT) ** 2).mean(-1)
W5 = np.array([0.5, 0.0, 2.0, 1.0, 3.0], np.float32)


@pytest.mark.parametrize("reduction, sample_weight, expected", [
    ("sum_over_batch_size", None, PER_SAMPLE.mean()),
    ("mean", W5, (PER_SAMPLE * W5).sum() / 5),
    ("sum", None, PER_SAMPLE.sum()),
    ("sum", W5, (PER_SAMPLE * W5).sum()),
    ("mean_with_sample_weight", W5, (PER_SAMPLE * W5).sum() / W5.sum()),
    ("mean_with_sample_weight", None, PER_SAMPLE.mean()),
    (None, W5, PER_SAMPLE * W5),
    ("none", None, PER_SAMPLE),
], ids=["sobs", "mean_weighted", "sum", "sum_weighted", "mws_weighted", "mws_unweighted", "None", "none"])
def test_loss_called_on_arrays(reduction, sample_weight, expected):
    got = losses.MeanSquaredError(reduction=reduction)(YT, YP, sample_weight=sample_weight)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_loss_called_on_arrays_with_a_column_of_weights():
    """(N, 1) weights meet (N,) losses on the trailing axis, as Keras' squeeze_or_expand_to_same_rank."""
    got = losses.MeanSquaredError(reduction="sum")(YT, YP, sample_weight=W5[:, None])
    assert got == pytest.approx((PER_SAMPLE * W5).sum(), rel=1e-5)


def test_all_zero_weights_give_zero_not_nan():
    got = losses.MeanSquaredError(reduction="mean_with_sample_weight")(YT, YP, sample_weight=np.zeros(5))
    assert got == 0.0


def test_loss_call_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"y_true of shape \(5, 2\) and y_pred of shape \(5, 3\)"):
        losses.MeanSquaredError()(YT[:, :2], YP)
