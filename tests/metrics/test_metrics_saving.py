"""Metrics in .keras files: compile_config holds them as Keras writes them; a custom metric class
comes back through register_keras_serializable."""
import json
import zipfile

import numpy as np
import pytest

import fgc
from fgc import layers, ops


@fgc.saving.register_keras_serializable(package="MetricTests")
class CountAbove(fgc.metrics.Metric):
    def __init__(self, level=0.5, name="count_above", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.level = level
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(ops.sum(ops.cast(ops.greater(y_pred, self.level), "float32")))

    def result(self):
        return self.count

    def get_config(self):
        return {**super().get_config(), "level": self.level}


def test_compiled_metrics_round_trip_through_a_keras_file(tmp_path):
    rng = np.random.default_rng(2)
    x_data = rng.standard_normal((9, 3)).astype(np.float32)
    y_data = (rng.random((9, 1)) > 0.5).astype(np.float32)
    x = fgc.Input((3,), name="x")
    model = fgc.Model(x, layers.Dense(1, activation="sigmoid", name="out")(x))
    model.compile("sgd", "binary_crossentropy",
                  metrics=["auc", fgc.metrics.AUC(num_thresholds=50, curve="PR", name="pr"), CountAbove(0.3)])
    before = model.evaluate(x_data, y_data, batch_size=4, verbose=0, return_dict=True)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    written = config["compile_config"]["metrics"]
    assert written[0] == "auc"
    assert written[1]["module"] == "keras.metrics" and written[1]["class_name"] == "AUC"
    assert written[1]["config"]["num_thresholds"] == 50 and written[1]["config"]["curve"] == "PR"
    assert written[2]["registered_name"] == "MetricTests>CountAbove"
    again = fgc.models.load_model(path)
    after = again.evaluate(x_data, y_data, batch_size=4, verbose=0, return_dict=True)
    assert after == pytest.approx(before, rel=1e-6)
    assert after["count_above"] == float((model.predict(x_data, verbose=0) > 0.3).sum())
