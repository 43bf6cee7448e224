"""Mean metrics whose per-sample values are a Builder fragment: the accuracy family and the losses
used as metrics. In a step they are reported as batch means (the loop's running mean is exact);
on arrays the same fragment runs through ``fgc.ops``' eager path."""
from __future__ import annotations

from fgc import ops
from fgc.ops.core import apply

from .. import losses
from .base import Mean, Metric, MeanMetricWrapper, same_rank


def _fragment(b, t, p, metric):
    return metric.metric.values(b, t, p)


def _frozen(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


class _ByConfig:
    """A metric as a cache key of fgc.ops' eager sessions: equal classes and configs (the name aside)
    compute the same values, so metrics created again and again share one session."""

    def __init__(self, metric):
        self.metric = metric
        config = {k: v for k, v in metric.get_config().items() if k != "name"}
        self.key = (type(metric), _frozen(config))

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _ByConfig) and self.key == other.key


def _as_float(b, cond, like):
    return b.Cast(cond, to=b.type(like).dtype)


class FragmentMean(MeanMetricWrapper):
    """A mean metric defined by ``values(b, target, pred)``: per-sample values emitted with a Builder."""

    sparse_target = False   # the targets are class ids (int64), not rows shaped like the output

    def __init__(self, name=None, dtype=None):
        Mean.__init__(self, name=name, dtype=dtype)
        self._fn, self._fn_kwargs = None, {}

    def per_sample(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        if self.sparse_target:
            y_true = ops.cast(y_true, "int64")
            if ops.ndim(y_true) == ops.ndim(y_pred):
                y_true = ops.squeeze(y_true, -1)
        else:
            y_true, y_pred = same_rank(ops.cast(y_true, "float32"), y_pred)
        return apply(type(self).__name__, _fragment, y_true, y_pred, metric=_ByConfig(self))

    def values(self, b, t, p):
        raise NotImplementedError

    def get_config(self):
        return Metric.get_config(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class BinaryAccuracy(FragmentMean):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        self.threshold = threshold

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}

    def values(self, b, t, p):
        hit = b.Equal(t, _as_float(b, b.Greater(p, float(self.threshold)), p))
        return b.ReduceMean(_as_float(b, hit, p), axes=(-1,), keepdims=0)


class CategoricalAccuracy(FragmentMean):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, b, t, p):
        hit = b.Equal(b.ArgMax(t, axis=-1, keepdims=0), b.ArgMax(p, axis=-1, keepdims=0))
        return _as_float(b, hit, p)


class SparseCategoricalAccuracy(FragmentMean):
    sparse_target = True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)

    def values(self, b, t, p):
        hit = b.Equal(b.Cast(t, to="int64"), b.ArgMax(p, axis=-1, keepdims=0))
        return _as_float(b, hit, p)


def _in_top_k(b, ids, p, k: int):
    """1.0 where the score of class ``ids`` is among the ``k`` largest (ties count in, as Keras' in_top_k)."""
    true_score = b.GatherElements(p, b.Unsqueeze(b.Cast(ids, to="int64"), axes=(-1,)), axis=-1)
    above = b.ReduceSum(_as_float(b, b.Greater(p, true_score), p), axes=(-1,), keepdims=0)
    return _as_float(b, b.Less(above, float(k)), p)


class TopKCategoricalAccuracy(FragmentMean):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}

    def values(self, b, t, p):
        return _in_top_k(b, b.ArgMax(t, axis=-1, keepdims=0), p, self.k)


class SparseTopKCategoricalAccuracy(FragmentMean):
    sparse_target = True

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(name, dtype)
        if from_sorted_ids:
            raise NotImplementedError("SparseTopKCategoricalAccuracy(from_sorted_ids=True) is not supported yet; "
                                      "pass the scores of every class (from_sorted_ids=False)")
        self.k, self.from_sorted_ids = k, from_sorted_ids

    def get_config(self):
        return {**super().get_config(), "k": self.k}

    def values(self, b, t, p):
        return _in_top_k(b, t, p, self.k)


def _accuracy(y_true, y_pred):
    y_true, y_pred = same_rank(y_true, y_pred)
    return ops.mean(ops.cast(ops.equal(y_true, y_pred), "float32"), axis=-1)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return Metric.get_config(self)


class LossMetric(FragmentMean):
    """A loss used as a metric (mae, mse, ...): the mean of its per-sample values."""

    def __init__(self, loss, name=None, dtype=None):
        super().__init__(name or loss.name, dtype)
        self.loss = loss
        self.sparse_target = loss.sparse

    def values(self, b, t, p):
        return self.loss.values(b, t, p)

    def get_config(self):
        from fgc.saving.serialization import serialize_keras_object

        return {**super().get_config(), "loss": serialize_keras_object(self.loss)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(losses.get(config.pop("loss")), **config)


def _loss_metric(class_name: str, loss_class, default_name: str, options: dict | None = None):
    """One of Keras' metric classes that average a loss (MeanSquaredError, ...), with the loss's own
    options (``from_logits``, ...) as keyword arguments after name and dtype, as Keras orders them."""
    options = options or {}

    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = [k for k in kwargs if k not in options]
        if unknown:
            raise TypeError(f"{class_name}() got unexpected keyword arguments {unknown}; it takes name, dtype"
                            + (f" and {sorted(options)}" if options else ""))
        chosen = {**options, **kwargs}
        LossMetric.__init__(self, loss_class(**chosen), name, dtype)
        self._options = chosen
        for key, value in chosen.items():
            setattr(self, key, value)

    def get_config(self):
        return {**Metric.get_config(self), **self._options}

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
BinaryCrossentropy = _loss_metric("BinaryCrossentropy", losses.BinaryCrossentropy, "binary_crossentropy",
                                  {"from_logits": False, "label_smoothing": 0})
CategoricalCrossentropy = _loss_metric("CategoricalCrossentropy", losses.CategoricalCrossentropy,
                                       "categorical_crossentropy",
                                       {"from_logits": False, "label_smoothing": 0, "axis": -1})
SparseCategoricalCrossentropy = _loss_metric("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy,
                                             "sparse_categorical_crossentropy",
                                             {"from_logits": False, "ignore_class": None, "axis": -1})
