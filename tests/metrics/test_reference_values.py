"""Standalone metrics on arrays (update_state / result / reset_state) against numpy written from
Keras' documented formulas and the examples of Keras' docstrings."""
import numpy as np
import pytest

import fgc
from fgc import ops

from .reference import auc_pr_interpolated, auc_roc, confusion_matrix, counts, mean_iou, r2, ratio

M = fgc.metrics
rng = np.random.default_rng(3)
N, C = 10, 3
LABELS = rng.integers(0, 2, (N, C)).astype(np.float32)
SCORES = rng.random((N, C)).astype(np.float32)
W = rng.random(N).astype(np.float32) + 0.1


def _in_two(metric, y_true, y_pred, weights=None, cut=3):
    for part in (slice(0, cut), slice(cut, None)):
        metric.update_state(y_true[part], y_pred[part], sample_weight=None if weights is None else weights[part])
    return float(np.asarray(metric.result()))


def test_mean_and_sum_docstring_examples():
    m = M.Mean()
    m.update_state([1, 3, 5, 7])
    assert float(m.result()) == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert float(m.result()) == 2.0
    s = M.Sum()
    s.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert float(s.result()) == 4.0


def test_mean_of_rank_two_values_weighted_per_sample():
    values = rng.random((4, 3)).astype(np.float32)
    w = np.array([1.0, 0.0, 2.0, 0.5])
    m = M.Mean()
    m.update_state(values, sample_weight=w)
    assert float(m.result()) == pytest.approx((values.mean(1) * w).sum() / w.sum(), rel=1e-6)


def test_call_updates_then_returns_the_result_and_variables_hold_the_state():
    m = M.Mean(name="avg")
    assert float(m([2.0, 4.0])) == 3.0
    assert float(m([6.0])) == 4.0
    assert [v.name for v in m.variables] == ["total", "count"]
    assert [float(v.numpy()) for v in m.variables] == [12.0, 3.0]
    m.reset_state()
    assert [float(v.numpy()) for v in m.variables] == [0.0, 0.0] and float(m.result()) == 0.0


@pytest.mark.parametrize("cls, which", [(M.TruePositives, 0), (M.FalsePositives, 1), (M.TrueNegatives, 2),
                                        (M.FalseNegatives, 3)])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.1, 0.5, 0.8]])
def test_confusion_counts(cls, which, thresholds):
    expected = counts(LABELS, SCORES, [0.5] if thresholds is None else np.atleast_1d(thresholds), W)[which]
    metric = cls(thresholds=thresholds)
    for part in (slice(0, 3), slice(3, None)):
        metric.update_state(LABELS[part], SCORES[part], sample_weight=W[part])
    np.testing.assert_allclose(np.asarray(metric.result()), expected if np.ndim(thresholds) else expected[0],
                               rtol=1e-5)


def test_precision_and_recall_docstring_examples():
    p, r = M.Precision(), M.Recall()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert float(p.result()) == pytest.approx(2 / 3) and float(r.result()) == pytest.approx(2 / 3)
    p.reset_state()
    p.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert float(p.result()) == 1.0
    top = M.Precision(top_k=2)
    top.update_state([0, 0, 1, 1], [1, 1, 1, 1])   # ties: the first two columns are the top 2
    assert float(top.result()) == 0.0


def test_precision_recall_class_id_and_top_k_against_numpy():
    tp, fp, _, fn = counts(LABELS[:, 1], SCORES[:, 1], [0.4], W)
    assert _in_two(M.Precision(thresholds=0.4, class_id=1), LABELS, SCORES, W) == pytest.approx(
        float(ratio(tp, tp + fp)[0]), rel=1e-5)
    assert _in_two(M.Recall(thresholds=0.4, class_id=1), LABELS, SCORES, W) == pytest.approx(
        float(ratio(tp, tp + fn)[0]), rel=1e-5)
    # top_k=1: only each row's best score counts as predicted
    best = (SCORES == SCORES.max(1, keepdims=True))
    hits, predicted = (best & (LABELS > 0)).sum(), best.sum()
    assert _in_two(M.Precision(top_k=1), LABELS, SCORES) == pytest.approx(hits / predicted)


def test_auc_docstring_example_and_reset():
    m = M.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert float(m.result()) == pytest.approx(0.75)
    m.reset_state()
    assert float(m.result()) == 0.0


@pytest.mark.parametrize("num_thresholds", [200, 11])
def test_auc_roc_and_pr_against_numpy(num_thresholds):
    roc = _in_two(M.AUC(num_thresholds=num_thresholds), LABELS, SCORES, W)
    assert roc == pytest.approx(auc_roc(LABELS, SCORES, num_thresholds, W), rel=1e-5)
    pr = _in_two(M.AUC(num_thresholds=num_thresholds, curve="PR"), LABELS, SCORES, W)
    assert pr == pytest.approx(auc_pr_interpolated(LABELS, SCORES, num_thresholds, W), rel=1e-5)


def test_auc_multi_label_is_the_mean_of_per_label_aucs():
    per_label = [auc_roc(LABELS[:, j], SCORES[:, j]) for j in range(C)]
    assert _in_two(M.AUC(multi_label=True), LABELS, SCORES) == pytest.approx(np.mean(per_label), rel=1e-5)


def test_auc_from_logits_equals_auc_of_the_sigmoid():
    logits = rng.standard_normal((N, C)).astype(np.float32)
    expected = auc_roc(LABELS, 1 / (1 + np.exp(-logits.astype(np.float64))))
    assert _in_two(M.AUC(from_logits=True), LABELS, logits) == pytest.approx(expected, rel=1e-5)


def test_x_at_y_family_against_numpy():
    thresholds = np.array([0.0] + [(i + 1) / 199 for i in range(198)] + [1.0])
    tp, fp, tn, fn = counts(LABELS, SCORES, thresholds)
    recall, precision, specificity = ratio(tp, tp + fn), ratio(tp, tp + fp), ratio(tn, tn + fp)
    best = lambda cond, values: max(0.0, float(np.max(np.where(cond, values, 0.0))))  # noqa: E731
    assert _in_two(M.PrecisionAtRecall(0.5), LABELS, SCORES) == pytest.approx(best(recall >= 0.5, precision))
    assert _in_two(M.RecallAtPrecision(0.6), LABELS, SCORES) == pytest.approx(best(precision >= 0.6, recall))
    assert _in_two(M.SensitivityAtSpecificity(0.4), LABELS, SCORES) == pytest.approx(
        best(specificity >= 0.4, recall))
    assert _in_two(M.SpecificityAtSensitivity(0.7), LABELS, SCORES) == pytest.approx(
        best(recall >= 0.7, specificity))


def test_f1_docstring_example_and_averages():
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.float32)
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32)
    m = M.F1Score(threshold=0.5)
    m.update_state(y_true, y_pred)
    np.testing.assert_allclose(m.result(), [0.5, 0.8, 0.6666667], rtol=1e-5)
    predicted = (SCORES > 0.5).astype(np.float64)
    tp, fp, fn = (predicted * LABELS).sum(0), (predicted * (1 - LABELS)).sum(0), ((1 - predicted) * LABELS).sum(0)
    eps = 1e-7
    p_, r_ = tp / (tp + fp + eps), tp / (tp + fn + eps)
    beta2 = 4.0
    per_class = (1 + beta2) * p_ * r_ / (beta2 * p_ + r_ + eps)
    assert _in_two(M.FBetaScore(average="macro", beta=2.0, threshold=0.5), LABELS, SCORES) == pytest.approx(
        per_class.mean(), rel=1e-5)
    support = LABELS.sum(0)
    assert _in_two(M.FBetaScore(average="weighted", beta=2.0, threshold=0.5), LABELS, SCORES) == pytest.approx(
        (per_class * support / (support.sum() + eps)).sum(), rel=1e-5)


def test_mean_iou_docstring_example_with_float_weights():
    m = M.MeanIoU(num_classes=2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert float(m.result()) == pytest.approx(1 / 3)
    f = M.MeanIoU(num_classes=2, dtype="float32")   # float weights are used as they are
    f.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert float(f.result()) == pytest.approx(0.23809525, rel=1e-5)


def test_iou_family_against_numpy():
    ids_true, ids_pred = rng.integers(0, 4, 20), rng.integers(0, 4, 20)
    weights = rng.integers(0, 3, 20).astype(np.float32)
    cm = confusion_matrix(ids_true, ids_pred, 4, weights)
    assert _in_two(M.IoU(4, [1, 3]), ids_true, ids_pred, weights, 7) == pytest.approx(mean_iou(cm, [1, 3]))
    assert _in_two(M.MeanIoU(4), ids_true, ids_pred, weights, 7) == pytest.approx(mean_iou(cm, range(4)))
    onehot = np.eye(4, dtype=np.float32)
    scores = onehot[ids_pred] + 0.1 * rng.random((20, 4)).astype(np.float32)
    assert _in_two(M.OneHotMeanIoU(4), onehot[ids_true], scores, weights, 7) == pytest.approx(
        mean_iou(cm, range(4)))
    assert _in_two(M.OneHotIoU(4, [0]), onehot[ids_true], scores, weights, 7) == pytest.approx(mean_iou(cm, [0]))
    ignored = confusion_matrix(ids_true, ids_pred, 4, weights * (ids_true != 2))
    assert _in_two(M.MeanIoU(4, ignore_class=2), ids_true, ids_pred, weights, 7) == pytest.approx(
        mean_iou(ignored, range(4)))
    probs = rng.random(20).astype(np.float32)
    binary = confusion_matrix(ids_true % 2, probs >= 0.3, 2)
    assert _in_two(M.BinaryIoU(threshold=0.3), ids_true % 2, probs, cut=7) == pytest.approx(mean_iou(binary, [0, 1]))


@pytest.mark.parametrize("aggregation", ["uniform_average", "variance_weighted_average"])
def test_r2_against_numpy(aggregation):
    y_true = rng.standard_normal((N, C))
    y_pred = y_true + 0.5 * rng.standard_normal((N, C))
    got = _in_two(M.R2Score(class_aggregation=aggregation), y_true.astype(np.float32), y_pred.astype(np.float32), W)
    assert got == pytest.approx(r2(y_true, y_pred, W, aggregation), rel=1e-4)


def test_adjusted_r2_counts_samples_with_nonzero_weight():
    y_true = rng.standard_normal((N, C))
    y_pred = y_true + 0.5 * rng.standard_normal((N, C))
    weights = np.ones(N, np.float32)
    weights[:2] = 0
    plain = r2(y_true, y_pred, weights)
    n, p = N - 2, 3
    got = _in_two(M.R2Score(num_regressors=p), y_true.astype(np.float32), y_pred.astype(np.float32), weights)
    assert got == pytest.approx(1 - (1 - plain) * (n - 1) / (n - p - 1), rel=1e-4)
    # more regressors than samples: the plain score
    assert _in_two(M.R2Score(num_regressors=50), y_true.astype(np.float32), y_pred.astype(np.float32)) == \
        pytest.approx(r2(y_true, y_pred), rel=1e-4)


def test_regression_and_correlation_metrics_against_numpy():
    t = rng.standard_normal((N, C))
    p = rng.standard_normal((N, C))
    t32, p32 = t.astype(np.float32), p.astype(np.float32)
    assert _in_two(M.RootMeanSquaredError(), t32, p32, W) == pytest.approx(
        np.sqrt((((p - t) ** 2).mean(1) * W).sum() / W.sum()), rel=1e-5)
    cos = (t * p).sum(1) / np.linalg.norm(t, axis=1) / np.linalg.norm(p, axis=1)
    assert _in_two(M.CosineSimilarity(), t32, p32) == pytest.approx(cos.mean(), rel=1e-5)
    tc, pc = t - t.mean(1, keepdims=True), p - p.mean(1, keepdims=True)
    pearson = ((tc / tc.std(1, keepdims=True)) * (pc / pc.std(1, keepdims=True))).mean(1)
    assert _in_two(M.PearsonCorrelation(), t32, p32) == pytest.approx(pearson.mean(), rel=1e-4)
    tm, pm = t.mean(1, keepdims=True), p.mean(1, keepdims=True)
    norm = t.var(1, keepdims=True) + p.var(1, keepdims=True) + (tm - pm) ** 2
    concordance = (2 * (t - pm) * (p - pm) / (norm + 1e-7)).mean(1)   # Keras' formula, y_true - mean(y_pred)
    assert _in_two(M.ConcordanceCorrelation(), t32, p32) == pytest.approx(concordance.mean(), rel=1e-4)


def test_accuracy_family_and_wrapped_functions():
    ids = rng.integers(0, C, N)
    assert _in_two(M.SparseTopKCategoricalAccuracy(k=2), ids, SCORES) == pytest.approx(
        np.mean([(SCORES[i] > SCORES[i, ids[i]]).sum() < 2 for i in range(N)]))
    assert _in_two(M.Accuracy(), np.array([1, 2, 3, 4]), np.array([0, 2, 3, 4]), cut=2) == 0.75

    def squared(y_true, y_pred):
        return ops.square(ops.subtract(y_true, y_pred))

    m = M.MeanMetricWrapper(squared, name="sq")
    assert _in_two(m, LABELS, SCORES, W) == pytest.approx(
        (((LABELS - SCORES.astype(np.float64)) ** 2).mean(1) * W).sum() / W.sum(), rel=1e-5)
    assert m.name == "sq" and M.get(squared).name == "squared"


def test_a_subclassed_metric_on_arrays():
    class BinaryTruePositives(fgc.metrics.Metric):
        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hits = ops.cast(ops.logical_and(ops.cast(y_true, "bool"), ops.cast(y_pred, "bool")), "float32")
            if sample_weight is not None:
                hits = ops.multiply(hits, ops.cast(sample_weight, "float32"))
            self.true_positives.assign(self.true_positives + ops.sum(hits))

        def result(self):
            return self.true_positives

    m = BinaryTruePositives()
    m.update_state([1, 1, 0, 1], [1, 0, 1, 1], sample_weight=[1, 2, 3, 4])
    m.update_state([1], [1])
    assert float(m.result()) == 6.0
    assert m.get_config() == {"name": "binary_true_positives", "dtype": "float32"}


def test_bad_arguments_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"threshold values must be in \[0, 1\]"):
        M.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="curve"):
        M.AUC(curve="XY")
    with pytest.raises(ValueError, match="num_thresholds"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="average"):
        M.F1Score(average="mean")
    with pytest.raises(ValueError, match="beta must be a Python float"):
        M.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="out of range"):
        M.IoU(num_classes=2, target_class_ids=[2])
    with pytest.raises(ValueError, match="recall"):
        M.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="float32"):
        M.Mean(dtype="float16")
    with pytest.raises(ValueError, match="unknown metric 'aucc'; did you mean 'auc'"):
        M.get("aucc")
    with pytest.raises(NotImplementedError, match="from_sorted_ids"):
        M.SparseTopKCategoricalAccuracy(from_sorted_ids=True)
