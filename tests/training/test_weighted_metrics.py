"""compile(weighted_metrics=...): metrics weighted by the sample weights (and class weights), as
Keras computes them over an epoch: sum(w * per-sample value) / sum(w), exactly, whatever the
batch sizes. Log names follow Keras: a weighted metric keeps its name unless an unweighted one
already has it, then it is ``weighted_<name>``."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(11)
N, D, C = 7, 3, 4
X = rng.standard_normal((N, D)).astype(np.float32)
Y = rng.standard_normal((N, C)).astype(np.float32)
SW = np.array([1.0, 0.0, 2.0, 0.5, 3.0, 1.5, 0.25], np.float32)
IDS = rng.integers(0, C, N)


def _model(activation=None):
    x = fgc.Input((D,), name="x")
    model = fgc.Model(x, layers.Dense(C, activation=activation, name="out")(x))
    return model


def _mae(p, y):
    return np.abs(p.astype(np.float64) - y).mean(-1)


def _weighted(values, w):
    return (values * w).sum() / w.sum()


@pytest.mark.parametrize("batch_size", [7, 3, 2])
def test_weighted_metric_over_an_epoch_of_uneven_batches(batch_size):
    model = _model()
    model.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mae"])
    values = _mae(model.predict(X, verbose=0), Y)
    logs = model.evaluate(X, Y, batch_size=batch_size, sample_weight=SW, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae", "weighted_mae"]
    assert logs["mae"] == pytest.approx(values.mean(), rel=1e-5)
    assert logs["weighted_mae"] == pytest.approx(_weighted(values, SW), rel=1e-5)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_weighted_metric_does_not_depend_on_the_loss_reduction(reduction):
    model = _model()
    model.compile("sgd", fgc.losses.MeanSquaredError(reduction=reduction), weighted_metrics=["mae"])
    values = _mae(model.predict(X, verbose=0), Y)
    logs = model.evaluate(X, Y, batch_size=3, sample_weight=SW, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "mae"]         # no unweighted 'mae': the weighted one keeps the name
    assert logs["mae"] == pytest.approx(_weighted(values, SW), rel=1e-5)


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_fit_logs_weighted_metrics_with_class_weights(steps_per_execution):
    """lr 0 keeps the weights, so each step sees the predictions of the start; class weights act
    as sample weights on weighted metrics (Keras turns them into sample weights)."""
    model = _model("softmax")
    # fixed weights that hit some ids and miss others (4 of 7): a random start can miss them all
    model.set_weights([np.random.default_rng(5).standard_normal((D, C)).astype(np.float32), np.zeros(C, np.float32)])
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"], steps_per_execution=steps_per_execution)
    y = np.eye(C)[IDS]
    hits = (model.predict(X, verbose=0).argmax(-1) == IDS).astype(np.float64)
    class_weight = {0: 2.0, 1: 0.5, 2: 1.0, 3: 4.0}
    weights = np.array([class_weight[i] for i in IDS])
    history = model.fit(X, y, batch_size=2, epochs=1, shuffle=False, class_weight=class_weight, verbose=0)
    assert history.history["accuracy"][0] == pytest.approx(hits.mean())
    assert history.history["weighted_accuracy"][0] == pytest.approx(_weighted(hits, weights))
    assert 0 < hits.mean() < 1 and _weighted(hits, weights) != pytest.approx(hits.mean())


def test_validation_logs_weighted_metrics_with_the_validation_weights():
    model = _model()
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "mse", weighted_metrics=["mae"])
    values = _mae(model.predict(X, verbose=0), Y)
    history = model.fit(X, Y, batch_size=3, epochs=1, sample_weight=SW, verbose=0,
                        validation_data=(X[:5], Y[:5], SW[:5]))
    assert history.history["mae"][0] == pytest.approx(_weighted(values, SW), rel=1e-5)
    assert history.history["val_mae"][0] == pytest.approx(_weighted(values[:5], SW[:5]), rel=1e-5)


def test_two_outputs_name_weighted_metrics_after_their_output():
    x = fgc.Input((D,), name="x")
    a = layers.Dense(C, name="a")(x)
    b = layers.Dense(2, name="b")(x)
    model = fgc.Model(x, [a, b])
    yb = rng.standard_normal((N, 2)).astype(np.float32)
    model.compile("sgd", loss={"a": "mse"}, metrics={"a": ["mae"]}, weighted_metrics={"a": ["mae"], "b": ["mse"]})
    pa, pb = model.predict(X, verbose=0)
    logs = model.evaluate(X, [Y, yb], batch_size=4, sample_weight=SW, verbose=0, return_dict=True)
    # one loss only: Keras logs no per-output loss then
    assert list(logs) == ["loss", "a_mae", "a_weighted_mae", "b_mse"]
    assert logs["a_weighted_mae"] == pytest.approx(_weighted(_mae(pa, Y), SW), rel=1e-5)
    # output 'b' has no loss: its weighted metric still uses the sample weights
    assert logs["b_mse"] == pytest.approx(_weighted(((pb.astype(np.float64) - yb) ** 2).mean(-1), SW), rel=1e-5)


def test_sequence_output_averages_each_sample_then_weights_it():
    T = 5
    x = fgc.Input((T, C), name="x")
    model = fgc.Model(x, layers.Activation("linear")(x))
    model.compile("sgd", "mse", weighted_metrics=["mae"])
    xs, ys = rng.standard_normal((N, T, C)).astype(np.float32), rng.standard_normal((N, T, C)).astype(np.float32)
    per_sample = np.abs(xs.astype(np.float64) - ys).mean((1, 2))
    logs = model.evaluate(xs, ys, batch_size=3, sample_weight=SW, verbose=0, return_dict=True)
    assert logs["mae"] == pytest.approx(_weighted(per_sample, SW), rel=1e-5)


def test_all_zero_weights_report_zero():
    model = _model()
    model.compile("sgd", "mse", weighted_metrics=["mae"])
    logs = model.evaluate(X, Y, sample_weight=np.zeros(N), verbose=0, return_dict=True)
    assert logs["mae"] == 0.0


def test_weighted_metrics_must_be_a_list_or_dict():
    model = _model()
    with pytest.raises(ValueError, match=r"weighted_metrics must be a list, tuple or dict.*\['mae'\]"):
        model.compile("sgd", "mse", weighted_metrics="mae")
    with pytest.raises(ValueError, match=r"weighted_metrics: keys must be the model's output names"):
        model.compile("sgd", "mse", weighted_metrics={"nope": ["mae"]})
