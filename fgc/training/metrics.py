"""Keras 3 metrics as graph fragments: each emits one value per sample; the step graph outputs
their batch mean and the host averages over the epoch, weighted by batch size."""
from __future__ import annotations

from fgc.naming import near

from . import losses


class Metric:
    name = "metric"

    def __init__(self, name=None):
        if name:
            self.name = name

    def values(self, b, t, p):
        raise NotImplementedError


def _as_float(b, cond, like):
    return b.Cast(cond, to=b.type(like).dtype)


class BinaryAccuracy(Metric):
    name = "binary_accuracy"

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def values(self, b, t, p):
        hit = b.Equal(t, _as_float(b, b.Greater(p, self.threshold), p))
        return b.ReduceMean(_as_float(b, hit, p), axes=(-1,), keepdims=0)


class CategoricalAccuracy(Metric):
    name = "categorical_accuracy"

    def values(self, b, t, p):
        hit = b.Equal(b.ArgMax(t, axis=-1, keepdims=0), b.ArgMax(p, axis=-1, keepdims=0))
        return _as_float(b, hit, p)


class SparseCategoricalAccuracy(Metric):
    name = "sparse_categorical_accuracy"

    def values(self, b, t, p):
        hit = b.Equal(b.Cast(t, to="int64"), b.ArgMax(p, axis=-1, keepdims=0))
        return _as_float(b, hit, p)


class TopKCategoricalAccuracy(Metric):
    name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None):
        super().__init__(name)
        self.k = k

    def values(self, b, t, p):
        true_score = b.GatherElements(p, b.ArgMax(t, axis=-1, keepdims=1), axis=-1)
        above = b.ReduceSum(_as_float(b, b.Greater(p, true_score), p), axes=(-1,), keepdims=0)
        return _as_float(b, b.Less(above, float(self.k)), p)


class LossMetric(Metric):
    """A loss used as a metric (mae, mse, ...)."""

    def __init__(self, loss, name=None):
        super().__init__(name or loss.name)
        self.loss = loss

    def values(self, b, t, p):
        return self.loss.values(b, t, p)


METRICS = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
}
_LOSS_METRICS = ("mae", "mse", "mape", "msle", "mean_absolute_error", "mean_squared_error",
                 "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "binary_crossentropy",
                 "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "poisson",
                 "hinge", "squared_hinge", "categorical_hinge", "log_cosh", "cosine_similarity")


def get(identifier, loss, out_type) -> Metric:
    """Resolve a metric; 'accuracy'/'acc' picks binary, sparse or categorical from the loss and shape."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a Metric, got {identifier!r}")
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        if out_type.shape[-1] == 1 or isinstance(loss, losses.BinaryCrossentropy):
            metric = BinaryAccuracy()
        elif loss is not None and loss.sparse:
            metric = SparseCategoricalAccuracy()
        else:
            metric = CategoricalAccuracy()
    elif key in METRICS:
        metric = METRICS[key]()
    elif key in _LOSS_METRICS:
        metric = LossMetric(losses.get(key))
    else:
        known = sorted(["accuracy", "acc", *METRICS, *_LOSS_METRICS])
        raise ValueError(f"unknown metric '{identifier}'{near(key, known)}; known metrics: {known}")
    metric.name = identifier
    return metric
