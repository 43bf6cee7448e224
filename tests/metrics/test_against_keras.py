"""Every metric of the catalogue against Keras 3 itself (JAX backend), on the same random batches,
with and without sample weights, and its get_config against Keras' (skipped without Keras)."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fgc  # noqa: E402

rng = np.random.default_rng(5)
N, C = 12, 4
PROBS = rng.random((N, C)).astype(np.float32)
SOFT = (PROBS / PROBS.sum(-1, keepdims=True)).astype(np.float32)
ONEHOT = np.eye(C, dtype=np.float32)[rng.integers(0, C, N)]
IDS = rng.integers(0, C, N)
BIN_TRUE = rng.integers(0, 2, (N, 1)).astype(np.float32)
BIN_PRED = rng.random((N, 1)).astype(np.float32)
MULTI_TRUE = rng.integers(0, 2, (N, C)).astype(np.float32)
REG_TRUE = rng.standard_normal((N, C)).astype(np.float32)
REG_PRED = rng.standard_normal((N, C)).astype(np.float32)
POS_TRUE, POS_PRED = rng.random((N, C)).astype(np.float32) + 0.1, rng.random((N, C)).astype(np.float32) + 0.1
SW = rng.random(N).astype(np.float32) * 2

# (class name, constructor kwargs, y_true, y_pred)
CASES = [
    ("Accuracy", {}, (ONEHOT > 0.5).astype(np.float32), (PROBS > 0.5).astype(np.float32)),
    ("BinaryAccuracy", {}, BIN_TRUE, BIN_PRED),
    ("BinaryAccuracy", {"threshold": 0.3}, MULTI_TRUE, PROBS),
    ("CategoricalAccuracy", {}, ONEHOT, PROBS),
    ("SparseCategoricalAccuracy", {}, IDS, PROBS),
    ("TopKCategoricalAccuracy", {"k": 2}, ONEHOT, PROBS),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, IDS, PROBS),
    ("TruePositives", {}, BIN_TRUE, BIN_PRED),
    ("FalsePositives", {"thresholds": 0.3}, MULTI_TRUE, PROBS),
    ("TrueNegatives", {}, MULTI_TRUE, PROBS),
    ("FalseNegatives", {"thresholds": 0.7}, BIN_TRUE, BIN_PRED),
    ("Precision", {}, MULTI_TRUE, PROBS),
    ("Precision", {"top_k": 2}, MULTI_TRUE, PROBS),
    ("Precision", {"class_id": 1, "thresholds": 0.4}, MULTI_TRUE, PROBS),
    ("Recall", {}, BIN_TRUE, BIN_PRED),
    ("Recall", {"top_k": 1, "class_id": 2}, MULTI_TRUE, PROBS),
    ("AUC", {}, BIN_TRUE, BIN_PRED),
    ("AUC", {"num_thresholds": 7}, MULTI_TRUE, PROBS),
    ("AUC", {"curve": "PR"}, MULTI_TRUE, PROBS),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, MULTI_TRUE, PROBS),
    ("AUC", {"summation_method": "minoring", "num_thresholds": 50}, BIN_TRUE, BIN_PRED),
    ("AUC", {"thresholds": [0.2, 0.5, 0.9]}, MULTI_TRUE, PROBS),
    ("AUC", {"multi_label": True}, MULTI_TRUE, PROBS),
    ("AUC", {"multi_label": True, "num_labels": C, "curve": "PR"}, MULTI_TRUE, PROBS),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5, 0.0]}, MULTI_TRUE, PROBS),
    ("AUC", {"from_logits": True}, MULTI_TRUE, REG_PRED),
    ("AUC", {"curve": "PRGAIN"}, MULTI_TRUE, PROBS),
    ("PrecisionAtRecall", {"recall": 0.5}, MULTI_TRUE, PROBS),
    ("RecallAtPrecision", {"precision": 0.6, "num_thresholds": 20}, MULTI_TRUE, PROBS),
    ("SensitivityAtSpecificity", {"specificity": 0.4}, BIN_TRUE, BIN_PRED),
    ("SpecificityAtSensitivity", {"sensitivity": 0.7, "class_id": 1}, MULTI_TRUE, PROBS),
    ("F1Score", {}, MULTI_TRUE, PROBS),
    ("F1Score", {"average": "micro", "threshold": 0.5}, MULTI_TRUE, PROBS),
    ("F1Score", {"average": "macro"}, ONEHOT, PROBS),
    ("FBetaScore", {"beta": 2.0, "average": "weighted", "threshold": 0.4}, MULTI_TRUE, PROBS),
    ("IoU", {"num_classes": C, "target_class_ids": [0, 2]}, IDS, PROBS.argmax(-1)),
    ("MeanIoU", {"num_classes": C}, IDS, PROBS.argmax(-1)),
    ("MeanIoU", {"num_classes": C, "ignore_class": 1, "sparse_y_pred": False}, IDS, PROBS),
    ("BinaryIoU", {}, BIN_TRUE, BIN_PRED),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, BIN_TRUE, BIN_PRED),
    ("OneHotIoU", {"num_classes": C, "target_class_ids": [1, 3]}, ONEHOT, PROBS),
    ("OneHotMeanIoU", {"num_classes": C}, ONEHOT, PROBS),
    ("MeanSquaredError", {}, REG_TRUE, REG_PRED),
    ("RootMeanSquaredError", {}, REG_TRUE, REG_PRED),
    ("MeanAbsoluteError", {}, REG_TRUE, REG_PRED),
    ("MeanAbsolutePercentageError", {}, REG_TRUE, REG_PRED),
    ("MeanSquaredLogarithmicError", {}, POS_TRUE, POS_PRED),
    ("CosineSimilarity", {}, REG_TRUE, REG_PRED),
    ("CosineSimilarity", {"axis": 1}, REG_TRUE, REG_PRED),
    ("LogCoshError", {}, REG_TRUE, REG_PRED),
    ("R2Score", {}, REG_TRUE, REG_PRED),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, REG_TRUE, REG_PRED),
    ("R2Score", {"class_aggregation": None}, REG_TRUE, REG_TRUE + 0.3 * REG_PRED),
    ("PearsonCorrelation", {}, REG_TRUE, REG_PRED),
    ("ConcordanceCorrelation", {}, REG_TRUE, REG_PRED),
    ("BinaryCrossentropy", {}, MULTI_TRUE, PROBS),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, MULTI_TRUE, REG_PRED),
    ("CategoricalCrossentropy", {}, ONEHOT, SOFT),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, ONEHOT, REG_PRED),
    ("SparseCategoricalCrossentropy", {}, IDS, SOFT),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, IDS, REG_PRED),
    ("KLDivergence", {}, SOFT[::-1].copy(), SOFT),
    ("Poisson", {}, POS_TRUE, POS_PRED),
    ("Hinge", {}, MULTI_TRUE * 2 - 1, REG_PRED),
    ("SquaredHinge", {}, MULTI_TRUE, REG_PRED),
    ("CategoricalHinge", {}, ONEHOT, REG_PRED),
]
IDS_ = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw, _, _ in CASES]
# a representative subset runs always; the whole catalogue is marked slow (Keras' eager JAX ops
# cost up to ~10 s a case: AUC(multi_label=True) in eager JAX is the slowest)
QUICK = {"BinaryAccuracy-", "Recall-", "AUC-", "F1Score-average=macro", "R2Score-", "RootMeanSquaredError-",
         "CategoricalCrossentropy-from_logits=True-label_smoothing=0.2"}
PARAMS = [pytest.param(*case, id=case_id, marks=() if case_id in QUICK else pytest.mark.slow)
          for case, case_id in zip(CASES, IDS_)]


def _run(metric, y_true, y_pred, weights):
    half = N // 3   # two uneven batches: the state must accumulate
    for part in (slice(0, half), slice(half, None)):
        w = None if weights is None else weights[part]
        metric.update_state(y_true[part], y_pred[part], sample_weight=w)
    return np.asarray(metric.result(), np.float64)


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("name, kwargs, y_true, y_pred", PARAMS)
def test_value_equals_keras(name, kwargs, y_true, y_pred, weighted):
    weights = SW if weighted else None
    ours = _run(getattr(fgc.metrics, name)(**kwargs), y_true, y_pred, weights)
    theirs = _run(getattr(keras.metrics, name)(**kwargs), y_true, y_pred, weights)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name, kwargs, y_true, y_pred", CASES, ids=IDS_)
def test_config_equals_keras(name, kwargs, y_true, y_pred):
    ours = getattr(fgc.metrics, name)(**kwargs).get_config()
    theirs = getattr(keras.metrics, name)(**kwargs).get_config()
    assert list(ours) == list(theirs)
    for key in theirs:
        if key == "name":
            continue
        value = theirs[key]
        value = np.asarray(value).tolist() if hasattr(value, "shape") else value
        assert ours[key] == value or str(ours[key]) == str(value), key


def test_default_names_follow_keras():
    for name, kwargs, _, _ in CASES:
        ours, theirs = getattr(fgc.metrics, name)(**kwargs).name, getattr(keras.metrics, name)(**kwargs).name
        assert ours.rstrip("_0123456789") == theirs.rstrip("_0123456789"), name


@pytest.mark.slow   # Keras compiles its evaluation step with JAX: ~30 s
def test_a_keras_file_with_compiled_metrics_moves_both_ways(tmp_path):
    rng_ = np.random.default_rng(0)
    x_data = rng_.random((9, 3)).astype(np.float32)
    y_data = (rng_.random((9, 1)) > 0.5).astype(np.float32)
    x = fgc.Input((3,), name="x")
    model = fgc.Model(x, fgc.layers.Dense(1, activation="sigmoid", name="out")(x))
    model.compile("sgd", "binary_crossentropy",
                  metrics=["auc", fgc.metrics.AUC(num_thresholds=50, curve="PR", name="pr"),
                           fgc.metrics.MeanIoU(2, sparse_y_pred=False)])
    model.save(tmp_path / "fgc.keras")
    theirs = keras.models.load_model(tmp_path / "fgc.keras")
    ours = model.evaluate(x_data, y_data, batch_size=4, verbose=0, return_dict=True)
    logs = theirs.evaluate(x_data, y_data, batch_size=4, verbose=0, return_dict=True)
    assert {k: pytest.approx(v, rel=1e-5) for k, v in ours.items()} == logs
    theirs.save(tmp_path / "keras.keras")
    again = fgc.models.load_model(tmp_path / "keras.keras")
    assert again.evaluate(x_data, y_data, batch_size=4, verbose=0, return_dict=True) == pytest.approx(ours, rel=1e-5)


def test_every_string_name_keras_accepts_resolves_to_the_same_class():
    from keras.src.metrics import ALL_OBJECTS_DICT

    not_for_compile = {"Metric", "Mean", "Sum", "MeanMetricWrapper"}
    for key, cls in ALL_OBJECTS_DICT.items():
        if cls.__name__ in not_for_compile or key.lower() == "accuracy":   # compile picks the accuracy kind
            continue
        if cls.__init__.__code__.co_argcount > 1 and cls.__init__.__defaults__ is None:
            continue   # needs arguments (IoU(num_classes, ...)), so no string can name it
        try:
            cls()
        except TypeError:
            continue
        metric = fgc.metrics.get(key)
        assert type(metric).__name__ == cls.__name__, key
        assert metric.name == key
