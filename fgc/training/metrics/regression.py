"""Regression and correlation metrics written with ``fgc.ops`` (one definition for arrays and steps)."""
from __future__ import annotations

from fgc import ops

from .base import Mean, MeanMetricWrapper, Metric, broadcast_like, same_rank

_EPSILON = 1e-7   # Keras' backend.epsilon()


def _pair(y_true, y_pred):
    y_pred = ops.cast(y_pred, "float32")
    return same_rank(ops.cast(y_true, "float32"), y_pred)


def _l2_normalize(x, axis):
    # Keras clamps the squared norm at epsilon**2 before the reciprocal square root
    return ops.multiply(x, ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True),
                                                 _EPSILON * _EPSILON)))


def cosine_similarity(y_true, y_pred, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.sum(ops.multiply(_l2_normalize(y_true, axis), _l2_normalize(y_pred, axis)), axis=axis)


def pearson_correlation(y_true, y_pred, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred)
    t = ops.subtract(y_true, ops.mean(y_true, axis=axis, keepdims=True))
    p = ops.subtract(y_pred, ops.mean(y_pred, axis=axis, keepdims=True))
    t = ops.divide(t, ops.std(t, axis=axis, keepdims=True))
    p = ops.divide(p, ops.std(p, axis=axis, keepdims=True))
    return ops.mean(ops.multiply(t, p), axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    y_true, y_pred = _pair(y_true, y_pred)
    t_mean = ops.mean(y_true, axis=axis, keepdims=True)
    p_mean = ops.mean(y_pred, axis=axis, keepdims=True)
    t_var = ops.var(ops.subtract(y_true, t_mean), axis=axis, keepdims=True)
    p_var = ops.var(ops.subtract(y_pred, p_mean), axis=axis, keepdims=True)
    # Keras centres y_true on the *prediction* mean in the covariance term; kept for equal numbers
    covar = ops.multiply(ops.subtract(y_true, p_mean), ops.subtract(y_pred, p_mean))
    norm = ops.add(ops.add(t_var, p_var), ops.square(ops.subtract(t_mean, p_mean)))
    return ops.mean(ops.divide(ops.multiply(2.0, covar), ops.add(norm, _EPSILON)), axis=axis)


class _AxisWrapper(MeanMetricWrapper):
    _function = None

    def __init__(self, name=None, dtype=None, axis=-1):
        super().__init__(type(self)._function, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {**Metric.get_config(self), "axis": self.axis}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class CosineSimilarity(_AxisWrapper):
    _function = staticmethod(cosine_similarity)

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(name, dtype, axis)

    def get_config(self):   # Keras leaves the axis out of this one's config
        return Metric.get_config(self)


class PearsonCorrelation(_AxisWrapper):
    _function = staticmethod(pearson_correlation)

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(name, dtype, axis)


class ConcordanceCorrelation(_AxisWrapper):
    _function = staticmethod(concordance_correlation)

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(name, dtype, axis)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _pair(y_true, y_pred)
        super().update_state(ops.square(ops.subtract(y_pred, y_true)), sample_weight=sample_weight)

    def result(self):
        return ops.sqrt(super().result())


class R2Score(Metric):
    """The coefficient of determination over everything seen, per output column, then aggregated."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score(class_aggregation={class_aggregation!r}): expected None, 'uniform_average' "
                             f"or 'variance_weighted_average'")
        if num_regressors < 0:
            raise ValueError(f"R2Score(num_regressors={num_regressors}): expected a value >= 0")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable((), "zeros", name="num_samples")
        self._built = False

    def _build(self, true_shape, pred_shape):
        if len(pred_shape) != 2 or len(true_shape) != 2 or pred_shape[-1] is None:
            raise ValueError(f"R2Score expects 2-D inputs (batch_size, output_dim) with output_dim known; got "
                             f"y_true.shape={true_shape} and y_pred.shape={pred_shape}")
        columns = pred_shape[-1]
        self.squared_sum = self.add_variable((columns,), "zeros", name="squared_sum")
        self.sum = self.add_variable((columns,), "zeros", name="sum")
        self.total_mse = self.add_variable((columns,), "zeros", name="residual")
        self.count = self.add_variable((columns,), "zeros", name="count")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _pair(y_true, y_pred)
        if not self._built:
            self._build(ops.shape(y_true), ops.shape(y_pred))
        weight = ops.ones_like(y_true) if sample_weight is None else ops.cast(sample_weight, "float32")
        if ops.ndim(weight) == 1:
            weight = ops.expand_dims(weight, 1)
        weight = broadcast_like(weight, y_true)
        weighted_true = ops.multiply(y_true, weight)
        self.sum.assign(ops.add(self.sum, ops.sum(weighted_true, axis=0)))
        self.squared_sum.assign(ops.add(self.squared_sum, ops.sum(ops.multiply(y_true, weighted_true), axis=0)))
        residual = ops.multiply(ops.square(ops.subtract(y_true, y_pred)), weight)
        self.total_mse.assign(ops.add(self.total_mse, ops.sum(residual, axis=0)))
        self.count.assign(ops.add(self.count, ops.sum(weight, axis=0)))
        counted = ops.any(ops.not_equal(weight, 0.0), axis=-1)
        self.num_samples.assign_add(ops.sum(ops.cast(counted, "float32")))

    def result(self):
        mean = ops.divide(self.sum, self.count)
        total = ops.subtract(self.squared_sum, ops.multiply(self.sum, mean))
        raw = ops.subtract(1.0, ops.divide(self.total_mse, total))
        raw = ops.where(ops.equal(ops.abs(raw), float("inf")), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = ops.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = ops.divide(ops.sum(ops.multiply(total, raw)), ops.sum(total))
        else:
            score = raw
        if self.num_regressors:
            # Keras falls back to the plain score (with a warning) when n - 1 <= p; here that choice is
            # made on the tensor, so the same code serves the traced step
            n, p = ops.cast(self.num_samples, "float32"), float(self.num_regressors)
            adjusted = ops.subtract(1.0, ops.divide(ops.multiply(ops.subtract(1.0, score), ops.subtract(n, 1.0)),
                                                    ops.maximum(ops.subtract(ops.subtract(n, p), 1.0), 1e-30)))
            score = ops.where(ops.greater(ops.subtract(n, 1.0), p), adjusted, score)
        return score

    def reset_state(self):
        for v in self.variables:
            v.assign(ops.zeros(v.shape, dtype=v.dtype))

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
