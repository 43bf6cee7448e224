"""Confusion-matrix metrics: counts at thresholds, precision, recall, the "X at Y" family and AUC.

Every metric accumulates (weighted) true/false positive/negative counts per threshold with
``confusion_counts``; a prediction is positive at threshold ``t`` when it is greater than ``t``.
For evenly spaced thresholds Keras buckets the predictions instead (``ceil(p * (T - 1)) - 1``,
with predictions clipped to [0, 1]); the same bucketing is used here so border cases agree.
"""
from __future__ import annotations

import numpy as np

from fgc import ops

from .base import Metric, divide_no_nan, same_rank

NEG_INF = -1e10   # Keras' threshold below every top-k score


def _to_list(x) -> list:
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return [x]


def parse_thresholds(thresholds, default: float) -> list:
    if thresholds is not None:
        bad = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(f"threshold values must be in [0, 1]; received {bad}")
    return [float(t) for t in _to_list(default if thresholds is None else thresholds)]


def evenly_spaced(thresholds) -> bool:
    n = len(thresholds)
    if n < 3:
        return False
    return bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=1e-7))


def _top_k_only(y_pred, k: int):
    """Scores outside each row's top ``k`` replaced by NEG_INF."""
    _, ids = ops.top_k(y_pred, k)
    keep = ops.sum(ops.one_hot(ids, ops.shape(y_pred)[-1]), axis=-2)
    return ops.add(ops.multiply(y_pred, keep), ops.multiply(NEG_INF, ops.subtract(1.0, keep)))


def confusion_counts(y_true, y_pred, thresholds, evenly: bool, sample_weight=None, top_k=None, class_id=None,
                     multi_label: bool = False, label_weights=None) -> dict:
    """{"tp", "fp", "tn", "fn"}: weighted counts per threshold, shape (T,) or (T, labels) with multi_label."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    y_pred, y_true = same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = ops.expand_dims(ops.cast(sample_weight, "float32"), -1)
        _, sample_weight = same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = _top_k_only(y_pred, top_k)
    if class_id is not None:
        if ops.ndim(y_pred) == 1:
            raise ValueError(f"class_id={class_id} needs y_pred of shape (num_samples, num_classes); got shape "
                             f"{ops.shape(y_pred)}")
        y_true = ops.expand_dims(y_true[..., class_id], -1)
        y_pred = ops.expand_dims(y_pred[..., class_id], -1)
    count = len(thresholds)
    weights = None
    if sample_weight is not None:
        weights = ops.multiply(sample_weight, ops.ones_like(y_pred))
    if label_weights is not None:
        weights = ops.multiply(label_weights, ops.ones_like(y_pred)) if weights is None \
            else ops.multiply(weights, label_weights)
    if not multi_label:
        y_true, y_pred = ops.reshape(y_true, (-1,)), ops.reshape(y_pred, (-1,))
        weights = None if weights is None else ops.reshape(weights, (-1,))
    levels = np.asarray(thresholds, np.float32).reshape((count,) + (1,) * ops.ndim(y_pred))
    if evenly:
        with_epsilon = thresholds[0] < 0.0 or thresholds[-1] > 1.0
        bucket = ops.subtract(ops.ceil(ops.multiply(ops.clip(y_pred, 0.0, 1.0), float(count - 1))), 1.0)
        if with_epsilon:
            bucket = ops.maximum(bucket, 0.0)
        index = np.arange(count, dtype=np.float32).reshape(levels.shape)
        positive = ops.greater_equal(ops.expand_dims(bucket, 0), index)
    else:
        positive = ops.greater(ops.expand_dims(y_pred, 0), levels)
    label = ops.expand_dims(ops.not_equal(y_true, 0.0), 0)

    def total(cond):
        if weights is None:
            return ops.sum(ops.cast(cond, "float32"), axis=1)
        return ops.sum(ops.where(cond, ops.expand_dims(weights, 0), 0.0), axis=1)

    negative, unlabelled = ops.logical_not(positive), ops.logical_not(label)
    return {"tp": total(ops.logical_and(label, positive)), "fp": total(ops.logical_and(unlabelled, positive)),
            "tn": total(ops.logical_and(unlabelled, negative)), "fn": total(ops.logical_and(label, negative))}


def _add_counts(targets: dict, counts: dict) -> None:
    for key, var in targets.items():
        var.assign(ops.add(var, counts[key]))


class _ConfusionCount(Metric):
    _which = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = parse_thresholds(thresholds, 0.5)
        self._evenly = evenly_spaced(self.thresholds)
        self.accumulator = self.add_variable((len(self.thresholds),), "zeros", name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = confusion_counts(y_true, y_pred, self.thresholds, self._evenly, sample_weight)
        _add_counts({self._which: self.accumulator}, counts)

    def result(self):
        return self.accumulator[0] if len(self.thresholds) == 1 else ops.convert_to_tensor(self.accumulator)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    _which = "tp"


class FalsePositives(_ConfusionCount):
    _which = "fp"


class TrueNegatives(_ConfusionCount):
    _which = "tn"


class FalseNegatives(_ConfusionCount):
    _which = "fn"


class _PrecisionRecall(Metric):
    _other = None   # "fp" for precision, "fn" for recall

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self.thresholds = parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = evenly_spaced(self.thresholds)
        size = (len(self.thresholds),)
        self.true_positives = self.add_variable(size, "zeros", name="true_positives")
        other = "false_positives" if self._other == "fp" else "false_negatives"
        setattr(self, other, self.add_variable(size, "zeros", name=other))
        self._other_var = getattr(self, other)

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = confusion_counts(y_true, y_pred, self.thresholds, self._evenly, sample_weight, self.top_k,
                                  self.class_id)
        _add_counts({"tp": self.true_positives, self._other: self._other_var}, counts)

    def result(self):
        value = divide_no_nan(self.true_positives, ops.add(self.true_positives, self._other_var))
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    _other = "fp"


class Recall(_PrecisionRecall):
    _other = "fn"


def _four_counts(metric, shape) -> None:
    for name in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
        setattr(metric, name, metric.add_variable(shape, "zeros", name=name))


def _update_four(metric, counts) -> None:
    _add_counts({"tp": metric.true_positives, "fp": metric.false_positives, "tn": metric.true_negatives,
                 "fn": metric.false_negatives}, counts)


class _AtConstraint(Metric):
    """Counts at ``num_thresholds`` thresholds spread over [0, 1]; the result is the best value of one
    rate among the thresholds where another rate reaches ``value``."""

    _argument = None   # the constructor argument holding the constraint's value

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if value < 0 or value > 1:
            raise ValueError(f"{type(self).__name__}: argument `{self._argument}` must be in [0, 1]; received "
                             f"{self._argument}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"{type(self).__name__}: num_thresholds must be an integer > 0; received {num_thresholds}")
        super().__init__(name=name, dtype=dtype)
        setattr(self, self._argument, value)
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds, self._evenly = [0.0] + inner + [1.0], True
        _four_counts(self, (len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None):
        _update_four(self, confusion_counts(y_true, y_pred, self.thresholds, self._evenly, sample_weight,
                                            class_id=self.class_id))

    def _rates(self) -> dict:
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        return {"recall": divide_no_nan(tp, ops.add(tp, fn)), "specificity": divide_no_nan(tn, ops.add(tn, fp)),
                "precision": divide_no_nan(tp, ops.add(tp, fp))}

    def _best(self, constrained: str, dependent: str):
        rates = self._rates()
        feasible = ops.greater_equal(rates[constrained], self.value)
        return ops.maximum(ops.max(ops.where(feasible, rates[dependent], 0.0)), 0.0)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._argument: getattr(self, self._argument)}


class SensitivityAtSpecificity(_AtConstraint):
    _argument = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("specificity", "recall")


class SpecificityAtSensitivity(_AtConstraint):
    _argument = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("recall", "specificity")


class PrecisionAtRecall(_AtConstraint):
    _argument = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("recall", "precision")


class RecallAtPrecision(_AtConstraint):
    _argument = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("precision", "recall")


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(Metric):
    """Area under the ROC or PR curve, by a Riemann sum over ``num_thresholds`` thresholds."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        curve_key = getattr(curve, "value", curve)
        if not isinstance(curve_key, str) or curve_key.lower() not in _CURVES:
            raise ValueError(f'AUC: invalid curve value "{curve}"; expected one of ["PR", "ROC", "PRGAIN"]')
        method = getattr(summation_method, "value", summation_method)
        if not isinstance(method, str) or method.lower() not in _SUMMATIONS:
            raise ValueError(f'AUC: invalid summation_method value "{summation_method}"; expected one of '
                             f'{list(_SUMMATIONS)}')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_thresholds(thresholds, 0.5))
            self.num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced(np.array([0.0] + inner + [1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1; received {num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - 1e-7] + inner + [1.0 + 1e-7]
        self.curve = _CURVES[curve_key.lower()]
        self.summation_method = method.lower()
        super().__init__(name=name, dtype=dtype)
        self.multi_label, self.num_labels = multi_label, num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float32)
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise ValueError("AUC: num_labels is needed only when multi_label=True")
            self._build(None)

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(f"AUC(multi_label=True): y_pred must have rank 2; got shape {tuple(shape)}")
            self._num_labels = shape[1]
            size = (self.num_thresholds, self._num_labels)
        else:
            size = (self.num_thresholds,)
        _four_counts(self, size)
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self._built:
            self._build(ops.shape(y_pred))
        if self._from_logits:
            y_pred = ops.sigmoid(ops.cast(y_pred, "float32"))
        label_weights = None if self.multi_label else self.label_weights
        _update_four(self, confusion_counts(y_true, y_pred, self._thresholds, self._evenly, sample_weight,
                                            multi_label=self.multi_label, label_weights=label_weights))

    def _by_label(self, terms):
        if not self.multi_label:
            return ops.sum(terms)
        per_label = ops.sum(terms, axis=0)
        if self.label_weights is None:
            return ops.mean(per_label)
        return divide_no_nan(ops.sum(ops.multiply(per_label, self.label_weights)), float(self.label_weights.sum()))

    def _interpolated_pr(self):
        n = self.num_thresholds
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        tp_a, tp_b = tp[:n - 1], tp[1:]
        p = ops.add(tp, fp)
        p_a, p_b = p[:n - 1], p[1:]
        dtp = ops.subtract(tp_a, tp_b)
        slope = divide_no_nan(dtp, ops.maximum(ops.subtract(p_a, p_b), 0.0))
        intercept = ops.subtract(tp_b, ops.multiply(slope, p_b))
        ratio = ops.where(ops.logical_and(ops.greater(p_a, 0.0), ops.greater(p_b, 0.0)),
                          divide_no_nan(p_a, ops.maximum(p_b, 0.0)), ops.ones_like(p_b))
        area = divide_no_nan(ops.multiply(slope, ops.add(dtp, ops.multiply(intercept, ops.log(ratio)))),
                             ops.maximum(ops.add(tp_b, fn[1:]), 0.0))
        return self._by_label(area)

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = divide_no_nan(tp, ops.add(tp, fn))
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, ops.add(fp, tn)), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, ops.add(tp, fp))
        else:
            scale = divide_no_nan(ops.add(tp, fn), ops.add(tn, fp))
            no_tp = ops.equal(tp, 0.0)
            x = ops.maximum(ops.where(no_tp, 0.0, ops.subtract(1.0, ops.multiply(scale, divide_no_nan(fn, tp)))), 0.0)
            y = ops.where(no_tp, 1.0, ops.subtract(1.0, ops.multiply(scale, divide_no_nan(fp, tp))))
        n = self.num_thresholds
        y_a, y_b = y[:n - 1], y[1:]
        if self.summation_method == "interpolation":
            heights = ops.divide(ops.add(y_a, y_b), 2.0)
        elif self.summation_method == "minoring":
            heights = ops.minimum(y_a, y_b)
        else:
            heights = ops.maximum(y_a, y_b)
        return self._by_label(ops.multiply(ops.subtract(x[:n - 1], x[1:]), heights))

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
