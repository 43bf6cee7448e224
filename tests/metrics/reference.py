"""numpy references written from Keras' documented formulas (float64), for the metric tests."""
import numpy as np


def auc_thresholds(num_thresholds: int) -> np.ndarray:
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return np.array([-1e-7] + inner + [1 + 1e-7])


def counts(y_true, y_pred, thresholds, weights=None):
    """(tp, fp, tn, fn) per threshold: a prediction is positive when it is greater than the threshold."""
    t = np.asarray(y_true, np.float64).reshape(-1) != 0
    p = np.asarray(y_pred, np.float64).reshape(-1)
    w = np.ones_like(p) if weights is None else np.broadcast_to(
        np.asarray(weights, np.float64).reshape(-1, *([1] * (np.ndim(y_pred) - 1))), np.shape(y_pred)).reshape(-1)
    pos = p[None, :] > np.asarray(thresholds, np.float64)[:, None]
    tp = (pos & t).astype(float) @ w
    fp = (pos & ~t).astype(float) @ w
    tn = (~pos & ~t).astype(float) @ w
    fn = (~pos & t).astype(float) @ w
    return tp, fp, tn, fn


def ratio(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))


def auc_roc(y_true, y_pred, num_thresholds=200, weights=None):
    tp, fp, tn, fn = counts(y_true, y_pred, auc_thresholds(num_thresholds), weights)
    x, y = ratio(fp, fp + tn), ratio(tp, tp + fn)
    return float(np.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:]) / 2))


def auc_pr_interpolated(y_true, y_pred, num_thresholds=200, weights=None):
    """Davis & Goadrich's interpolation, in the closed form of Keras' AUC docstring."""
    tp, fp, _, fn = counts(y_true, y_pred, auc_thresholds(num_thresholds), weights)
    total = 0.0
    for a in range(num_thresholds - 1):
        b = a + 1
        p_a, p_b = tp[a] + fp[a], tp[b] + fp[b]
        dtp, dp = tp[a] - tp[b], p_a - p_b
        slope = dtp / dp if dp > 0 else 0.0
        intercept = tp[b] - slope * p_b
        log_ratio = np.log(p_a / p_b) if p_a > 0 and p_b > 0 else 0.0
        positives = tp[b] + fn[b]
        total += slope * (dtp + intercept * log_ratio) / positives if positives > 0 else 0.0
    return float(total)


def confusion_matrix(labels, predictions, num_classes, weights=None):
    cm = np.zeros((num_classes, num_classes))
    w = np.ones(len(labels)) if weights is None else weights
    for t, p, wi in zip(labels, predictions, w):
        cm[int(t), int(p)] += wi
    return cm


def mean_iou(cm, class_ids):
    tp = np.diag(cm)
    denominator = cm.sum(0) + cm.sum(1) - tp
    ious = [tp[i] / denominator[i] for i in class_ids if denominator[i] > 0]
    return float(np.mean(ious)) if ious else 0.0


def r2(y_true, y_pred, weights=None, aggregation="uniform_average"):
    w = np.ones_like(y_true) if weights is None else np.broadcast_to(np.asarray(weights)[:, None], y_true.shape)
    mean = (w * y_true).sum(0) / w.sum(0)
    total = (w * (y_true - mean) ** 2).sum(0)
    raw = 1 - (w * (y_true - y_pred) ** 2).sum(0) / total
    if aggregation == "uniform_average":
        return raw.mean()
    if aggregation == "variance_weighted_average":
        return (total * raw).sum() / total.sum()
    return raw
