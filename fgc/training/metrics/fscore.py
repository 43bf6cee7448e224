"""F-beta and F1 scores from accumulated per-class (or micro-averaged) counts."""
from __future__ import annotations

from fgc import ops

from .base import Metric

_EPSILON = 1e-7


class FBetaScore(Metric):
    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"{type(self).__name__}: invalid average={average!r}; expected one of None, 'micro', "
                             f"'macro', 'weighted'")
        if not isinstance(beta, float):
            raise ValueError(f"{type(self).__name__}: beta must be a Python float; received beta={beta!r} of type "
                             f"{type(beta).__name__}")
        if beta <= 0.0:
            raise ValueError(f"{type(self).__name__}: beta must be > 0; received beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"{type(self).__name__}: threshold must be a Python float; received "
                                 f"threshold={threshold!r} of type {type(threshold).__name__}")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(f"{type(self).__name__}: threshold must verify 0 < threshold <= 1; received "
                                 f"threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, true_shape, pred_shape):
        if len(pred_shape) != 2 or len(true_shape) != 2 or pred_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} expects 2-D inputs (batch_size, output_dim) with output_dim "
                             f"known; got y_pred.shape={pred_shape} and y_true.shape={true_shape}")
        shape = () if self.average == "micro" else (pred_shape[-1],)
        for name in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            setattr(self, name, self.add_variable(shape, "zeros", name=name))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        if not self._built:
            self._build(ops.shape(y_true), ops.shape(y_pred))
        if self.threshold is None:
            # the top score of each row counts as predicted (unless it is ~0)
            top = ops.max(y_pred, axis=-1, keepdims=True)
            predicted = ops.logical_and(ops.greater_equal(y_pred, top), ops.greater(ops.abs(y_pred), 1e-9))
        else:
            predicted = ops.greater(y_pred, self.threshold)
        y_pred = ops.cast(predicted, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            while ops.ndim(sample_weight) < ops.ndim(y_true):
                sample_weight = ops.expand_dims(sample_weight, -1)

        def total(values):
            if sample_weight is not None:
                values = ops.multiply(values, sample_weight)
            return ops.sum(values, axis=self.axis)

        missed = ops.subtract(1.0, y_pred)
        self.true_positives.assign(ops.add(self.true_positives, total(ops.multiply(y_pred, y_true))))
        self.false_positives.assign(ops.add(self.false_positives,
                                            total(ops.multiply(y_pred, ops.subtract(1.0, y_true)))))
        self.false_negatives.assign(ops.add(self.false_negatives, total(ops.multiply(missed, y_true))))
        self.intermediate_weights.assign(ops.add(self.intermediate_weights, total(y_true)))

    def result(self):
        tp = self.true_positives
        precision = ops.divide(tp, ops.add(ops.add(tp, self.false_positives), _EPSILON))
        recall = ops.divide(tp, ops.add(ops.add(tp, self.false_negatives), _EPSILON))
        beta2 = self.beta ** 2
        mean = ops.divide(ops.multiply(precision, recall),
                          ops.add(ops.add(ops.multiply(beta2, precision), recall), _EPSILON))
        score = ops.multiply(mean, 1.0 + beta2)
        if self.average == "weighted":
            weights = ops.divide(self.intermediate_weights, ops.add(ops.sum(self.intermediate_weights), _EPSILON))
            return ops.sum(ops.multiply(score, weights))
        if self.average is not None:
            return ops.mean(score)
        return score

    def reset_state(self):
        for v in self.variables:
            v.assign(ops.zeros(v.shape, dtype=v.dtype))

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
