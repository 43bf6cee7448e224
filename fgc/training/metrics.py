"""Keras 3 metrics as graph fragments: each emits one value per sample; the step graph outputs
their batch mean and the host averages over the epoch, weighted by batch size."""
from __future__ import annotations

from fgc.naming import near

from . import losses


class Metric:
    name = "metric"

    def __init__(self, name=None, dtype=None):
        if name:
            self.name = name
        if dtype not in (None, "float32"):
            raise ValueError(f"{type(self).__name__}(dtype={dtype!r}): fgc computes metrics in float32")

    def values(self, b, t, p):
        raise NotImplementedError

    def get_config(self) -> dict:
        """Keras 3's keys: name and dtype, then the metric's own arguments."""
        return {"name": self.name, "dtype": "float32"}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _as_float(b, cond, like):
    return b.Cast(cond, to=b.type(like).dtype)


class BinaryAccuracy(Metric):
    name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        self.threshold = threshold

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}

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

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(name, dtype)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}

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

    def get_config(self):
        from fgc.saving.serialization import serialize_keras_object

        return {**super().get_config(), "loss": serialize_keras_object(self.loss)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)
        return cls(losses.get(config.pop("loss")), **config)


def _loss_metric(class_name: str, loss_class, default_name: str):
    """Keras' metric classes that average a loss (MeanSquaredError, ...): a LossMetric of a fixed loss."""
    def __init__(self, name=None, dtype=None):
        LossMetric.__init__(self, loss_class(), name or default_name)
        Metric.__init__(self, None, dtype)

    def get_config(self):
        return Metric.get_config(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    return type(class_name, (LossMetric,), {"__init__": __init__, "get_config": get_config,
                                             "from_config": from_config, "__module__": __name__})


MeanSquaredError = _loss_metric("MeanSquaredError", losses.MeanSquaredError, "mean_squared_error")
MeanAbsoluteError = _loss_metric("MeanAbsoluteError", losses.MeanAbsoluteError, "mean_absolute_error")
MeanAbsolutePercentageError = _loss_metric("MeanAbsolutePercentageError", losses.MeanAbsolutePercentageError,
                                           "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _loss_metric("MeanSquaredLogarithmicError", losses.MeanSquaredLogarithmicError,
                                           "mean_squared_logarithmic_error")
KLDivergence = _loss_metric("KLDivergence", losses.KLDivergence, "kl_divergence")
Poisson = _loss_metric("Poisson", losses.Poisson, "poisson")
Hinge = _loss_metric("Hinge", losses.Hinge, "hinge")
SquaredHinge = _loss_metric("SquaredHinge", losses.SquaredHinge, "squared_hinge")
CategoricalHinge = _loss_metric("CategoricalHinge", losses.CategoricalHinge, "categorical_hinge")
LogCoshError = _loss_metric("LogCoshError", losses.LogCosh, "logcosh")


METRICS = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
}
_LOSS_METRICS = ("mae", "mse", "mape", "msle", "mean_absolute_error", "mean_squared_error",
                 "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "binary_crossentropy",
                 "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "poisson",
                 "hinge", "squared_hinge", "categorical_hinge", "log_cosh", "cosine_similarity")


def get(identifier, loss=None, out_type=None) -> Metric:
    """Resolve a metric (a name, a class, an instance or a Keras config dict); 'accuracy'/'acc' picks
    binary, sparse or categorical from the loss and the output's shape (``out_type``)."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a Metric, got {identifier!r}")
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        if out_type is None:
            raise ValueError(f"metric '{identifier}' depends on the model's loss and output shape; name the "
                             f"metric ('categorical_accuracy', 'binary_accuracy', 'sparse_categorical_accuracy') "
                             f"or pass it to compile(metrics=...)")
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


def serialize(metric) -> dict:
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(metric)


def deserialize(config, custom_objects=None) -> Metric:
    from fgc.saving.serialization import deserialize_keras_object

    metric = deserialize_keras_object(config, custom_objects)
    if isinstance(metric, str):   # a built-in metric function, written by name
        return get(metric)
    if not isinstance(metric, Metric):
        raise ValueError(f"the config {config.get('class_name')!r} is not a metric (got {metric!r})")
    return metric


__all__ = ["Metric", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "LossMetric", "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
           "MeanSquaredLogarithmicError", "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge",
           "LogCoshError", "METRICS", "get", "serialize", "deserialize"]
