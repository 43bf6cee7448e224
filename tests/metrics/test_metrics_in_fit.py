"""Stateful metrics in compile()/fit()/evaluate(): exact over an epoch of uneven batches, reset at
each epoch and evaluation, per-batch running values for callbacks, sample weights, custom metrics."""
import numpy as np
import pytest

import fgc
from fgc import layers, ops

from .reference import auc_roc, counts, r2, ratio

rng = np.random.default_rng(17)
N, D = 10, 3          # batch_size 4: batches of 4, 4 and 2
X = rng.standard_normal((N, D)).astype(np.float32)
Y = (rng.random((N, 1)) > 0.5).astype(np.float32)
SW = (rng.random(N) * 2).astype(np.float32)


def _frozen_model(**compile_kwargs):
    """A sigmoid classifier trained with learning rate 0: every step sees the same predictions."""
    x = fgc.Input((D,), name="x")
    model = fgc.Model(x, layers.Dense(1, activation="sigmoid", name="out")(x))
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "binary_crossentropy", **compile_kwargs)
    return model


def _precision(pred, weights=None):
    tp, fp, _, _ = counts(Y, pred, [0.5], weights)
    return float(ratio(tp, tp + fp)[0])


def test_evaluate_over_uneven_batches_equals_the_metric_over_all_samples():
    model = _frozen_model(metrics=["auc", "precision", fgc.metrics.TruePositives(thresholds=0.4),
                                   fgc.metrics.Recall(thresholds=0.6, name="recall_at_06")])
    pred = model.predict(X, verbose=0)
    logs = model.evaluate(X, Y, batch_size=4, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "auc", "precision", "true_positives", "recall_at_06"]
    assert logs["auc"] == pytest.approx(auc_roc(Y, pred), rel=1e-5)
    assert logs["precision"] == pytest.approx(_precision(pred), rel=1e-6)
    assert logs["true_positives"] == counts(Y, pred, [0.4])[0][0]
    tp, _, _, fn = counts(Y, pred, [0.6])
    assert logs["recall_at_06"] == pytest.approx(float(ratio(tp, tp + fn)[0]), rel=1e-6)


def test_fit_resets_the_state_at_each_epoch_and_for_validation():
    model = _frozen_model(metrics=[fgc.metrics.TruePositives(), "auc"])
    pred = model.predict(X, verbose=0)
    history = model.fit(X, Y, batch_size=4, epochs=3, shuffle=True, verbose=0, validation_data=(X[:6], Y[:6]))
    expected = counts(Y, pred, [0.5])[0][0]
    assert history.history["true_positives"] == [expected] * 3      # not 2x, 3x: reset every epoch
    assert history.history["val_true_positives"] == [counts(Y[:6], pred[:6], [0.5])[0][0]] * 3
    assert history.history["auc"][2] == pytest.approx(auc_roc(Y, pred), rel=1e-5)
    assert history.history["val_auc"][0] == pytest.approx(auc_roc(Y[:6], pred[:6]), rel=1e-5)


def test_callbacks_see_the_running_value_after_each_batch_and_the_metric_keeps_the_state():
    metric = fgc.metrics.AUC(name="auc")
    model = _frozen_model(metrics=[metric])
    pred = model.predict(X, verbose=0)
    seen = []
    cb = fgc.callbacks.LambdaCallback(on_test_batch_end=lambda batch, logs: seen.append(logs["auc"]))
    logs = model.evaluate(X, Y, batch_size=4, verbose=0, return_dict=True, callbacks=[cb])
    assert seen == pytest.approx([auc_roc(Y[:k], pred[:k]) for k in (4, 8, 10)], rel=1e-5)
    assert float(metric.result()) == pytest.approx(logs["auc"])   # the object holds the epoch's state


def test_weighted_stateful_metrics_take_the_sample_weights_as_given():
    model = _frozen_model(metrics=["precision"], weighted_metrics=["precision", fgc.metrics.TruePositives()])
    pred = model.predict(X, verbose=0)
    logs = model.evaluate(X, Y, batch_size=4, sample_weight=SW, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "precision", "weighted_precision", "true_positives"]
    assert logs["precision"] == pytest.approx(_precision(pred), rel=1e-6)
    assert logs["weighted_precision"] == pytest.approx(_precision(pred, SW), rel=1e-5)
    assert logs["true_positives"] == pytest.approx(counts(Y, pred, [0.5], SW)[0][0], rel=1e-5)


def test_steps_per_execution_gives_the_same_numbers():
    model = _frozen_model(metrics=["auc"], steps_per_execution=2)
    pred = model.predict(X, verbose=0)
    history = model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    assert history.history["auc"][0] == pytest.approx(auc_roc(Y, pred), rel=1e-5)


class MaxAbsError(fgc.metrics.Metric):
    """A custom metric whose update is not a sum: the largest absolute error seen, and a count."""

    def __init__(self, name="max_abs_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.largest = self.add_variable(shape=(), initializer="zeros", name="largest")
        self.seen = self.add_variable(shape=(), initializer="zeros", name="seen")

    def update_state(self, y_true, y_pred, sample_weight=None):
        error = ops.max(ops.abs(ops.subtract(ops.cast(y_true, "float32"), y_pred)))
        self.largest.assign(ops.maximum(self.largest, error))
        self.seen.assign_add(ops.sum(ops.ones_like(y_pred)))

    def result(self):
        return ops.add(self.largest, ops.multiply(0.0, self.seen))


def test_a_custom_stateful_metric_in_fit_and_evaluate():
    metric = MaxAbsError()
    x = fgc.Input((D,), name="x")
    model = fgc.Model(x, layers.Dense(2, name="out")(x))
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "mse", metrics=[metric])
    targets = rng.standard_normal((N, 2)).astype(np.float32)
    pred = model.predict(X, verbose=0)
    history = model.fit(X, targets, batch_size=4, epochs=2, verbose=0)
    assert history.history["max_abs_error"] == pytest.approx([np.abs(pred - targets).max()] * 2, rel=1e-6)
    model.evaluate(X[:3], targets[:3], verbose=0)
    assert float(metric.seen.numpy()) == 6.0 and float(metric.result()) == pytest.approx(
        np.abs(pred[:3] - targets[:3]).max(), rel=1e-6)


def test_function_metrics_and_regression_metrics_in_evaluate():
    def abs_diff(y_true, y_pred):
        return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)

    x = fgc.Input((D,), name="x")
    model = fgc.Model(x, layers.Dense(2, name="out")(x))
    model.compile("sgd", "mse", metrics=[abs_diff, "r2_score", fgc.metrics.RootMeanSquaredError()])
    targets = rng.standard_normal((N, 2)).astype(np.float32)
    pred = model.predict(X, verbose=0).astype(np.float64)
    logs = model.evaluate(X, targets, batch_size=4, verbose=0, return_dict=True)
    assert logs["abs_diff"] == pytest.approx(np.abs(pred - targets).mean(), rel=1e-5)
    assert logs["r2_score"] == pytest.approx(r2(targets.astype(np.float64), pred), rel=1e-4)
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(((pred - targets) ** 2).mean()), rel=1e-5)


def test_several_outputs_prefix_the_output_name():
    x = fgc.Input((D,), name="x")
    a = layers.Dense(1, activation="sigmoid", name="a")(x)
    b = layers.Dense(1, activation="sigmoid", name="b")(x)
    model = fgc.Model(x, [a, b])
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "binary_crossentropy", metrics={"b": ["auc"]})
    pred_b = model.predict(X, verbose=0)[1]
    logs = model.evaluate(X, [Y, Y], batch_size=4, verbose=0, return_dict=True)
    assert logs["b_auc"] == pytest.approx(auc_roc(Y, pred_b), rel=1e-5)


def test_a_vector_result_is_logged_as_an_array():
    model = _frozen_model(metrics=[fgc.metrics.Precision(thresholds=[0.3, 0.6])])
    pred = model.predict(X, verbose=0)
    history = model.fit(X, Y, batch_size=4, epochs=1, verbose=1)
    tp, fp, _, _ = counts(Y, pred, [0.3, 0.6])
    np.testing.assert_allclose(history.history["precision"][0], ratio(tp, tp + fp), rtol=1e-6)


def test_bound_device_state_carries_the_metric_state_too():
    """Over 1 MiB of weights the trainer binds preallocated buffers (as on CUDA): same numbers."""
    x = fgc.Input((D,), name="x")
    hidden = layers.Dense(600, name="wide")(layers.Dense(600, name="wider")(x))
    model = fgc.Model(x, layers.Dense(1, activation="sigmoid", name="out")(hidden))
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "binary_crossentropy", metrics=["auc"])
    pred = model.predict(X, verbose=0)
    history = model.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    assert model._trainer.bind
    assert history.history["auc"][0] == pytest.approx(auc_roc(Y, pred), rel=1e-5)


def test_the_exported_train_step_takes_and_returns_the_metric_state(tmp_path):
    import onnx

    model = _frozen_model(metrics=["auc"])
    model.export(str(tmp_path / "step.onnx"), training=True)
    graph = onnx.load(str(tmp_path / "step.onnx")).graph
    inputs, outputs = {i.name for i in graph.input}, {o.name for o in graph.output}
    assert {f"metric/auc/{i}" for i in range(4)} <= inputs
    assert {f"metric/auc/{i}/new" for i in range(4)} | {"auc"} <= outputs


def test_counting_with_the_symbolic_batch_size_says_what_to_do_instead():
    class CountSamples(fgc.metrics.Metric):
        def __init__(self):
            super().__init__(name="count_samples")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.count.assign_add(ops.shape(y_pred)[0])

        def result(self):
            return self.count

    standalone = CountSamples()
    standalone.update_state(Y, Y)
    assert float(standalone.result()) == N   # on arrays the batch size is a number
    model = _frozen_model(metrics=[CountSamples()])
    with pytest.raises(ValueError, match=r"ops.sum\(ops.ones_like"):
        model.evaluate(X, Y, verbose=0)
