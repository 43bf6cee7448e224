"""Keras 3 metrics: stateful ``Metric`` objects (base.py), by name or class.

Mean metrics (accuracy, losses as metrics, ``MeanMetricWrapper`` of a function) are reported by the
step as batch means, which the loop averages exactly over the epoch; every other metric carries its
state variables through the step (metrics/trace.py). Modules: base (the API, Mean, Sum,
MeanMetricWrapper), mean_metrics (accuracy family, loss metrics), confusion (counts, precision,
recall, AUC, ...), fscore, iou, regression (RMSE, R2, cosine, correlations)."""
from __future__ import annotations

from fgc.naming import near, snake_case

from .. import losses
from .base import Mean, MeanMetricWrapper, Metric, StateVariable, Sum
from .confusion import (AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
                        SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives)
from .fscore import F1Score, FBetaScore
from .iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from .mean_metrics import (Accuracy, BinaryAccuracy, BinaryCrossentropy, CategoricalAccuracy, CategoricalCrossentropy,
                           CategoricalHinge, FragmentMean, Hinge, KLDivergence, LogCoshError, LossMetric,
                           MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError,
                           MeanSquaredLogarithmicError, Poisson, SparseCategoricalAccuracy,
                           SparseCategoricalCrossentropy, SparseTopKCategoricalAccuracy, SquaredHinge,
                           TopKCategoricalAccuracy)
from .regression import (ConcordanceCorrelation, CosineSimilarity, PearsonCorrelation, R2Score, RootMeanSquaredError,
                         concordance_correlation, cosine_similarity, pearson_correlation)

ALL_CLASSES = (Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
               MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, R2Score,
               AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
               SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives,
               ConcordanceCorrelation, PearsonCorrelation, Hinge, SquaredHinge, CategoricalHinge, KLDivergence,
               Poisson, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Accuracy,
               BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
               SparseTopKCategoricalAccuracy, F1Score, FBetaScore, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU)

# Keras' string names: every class by its snake_case name, plus the short aliases
METRICS = {snake_case(cls.__name__): cls for cls in ALL_CLASSES if cls not in (Mean, Sum, MeanMetricWrapper)}
METRICS.update({"mse": MeanSquaredError, "mae": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
                "msle": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy,
                "mean_squared_error": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
                "mean_absolute_percentage_error": MeanAbsolutePercentageError,
                "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "logcosh": LogCoshError,
                "log_cosh": LogCoshError, "kl_divergence": KLDivergence, "kld": KLDivergence,
                "top_k_categorical_accuracy": TopKCategoricalAccuracy})
# names whose metric is a loss; kept for saving's lookup of built-in function names
_LOSS_METRICS = ("mae", "mse", "mape", "msle", "mean_absolute_error", "mean_squared_error",
                 "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "binary_crossentropy",
                 "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "poisson",
                 "hinge", "squared_hinge", "categorical_hinge", "log_cosh", "cosine_similarity")


def _accuracy_for(identifier: str, loss, out_type) -> Metric:
    if out_type is None:
        raise ValueError(f"metric '{identifier}' depends on the model's loss and output shape; name the "
                         f"metric ('categorical_accuracy', 'binary_accuracy', 'sparse_categorical_accuracy') "
                         f"or pass it to compile(metrics=...)")
    if out_type.shape[-1] == 1 or isinstance(loss, losses.BinaryCrossentropy):
        return BinaryAccuracy(name=identifier)
    if loss is not None and loss.sparse:
        return SparseCategoricalAccuracy(name=identifier)
    return CategoricalAccuracy(name=identifier)


def get(identifier, loss=None, out_type=None) -> Metric:
    """A Metric from a name, a class, an instance, a function ``fn(y_true, y_pred)`` written with
    ``fgc.ops`` (wrapped in a MeanMetricWrapper, as Keras does) or a Keras config dict. 'accuracy' /
    'acc' picks binary, sparse or categorical from the loss and the output's shape (``out_type``)."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower() if identifier.lower() in ("accuracy", "acc") else identifier
        if key in ("accuracy", "acc"):
            return _accuracy_for(identifier, loss, out_type)
        cls = METRICS.get(key) or METRICS.get(snake_case(key)) or METRICS.get(key.lower())
        if cls is None:
            known = sorted(["accuracy", "acc", *METRICS])
            raise ValueError(f"unknown metric '{identifier}'{near(key.lower(), known)}; known metrics: {known}")
        metric = cls()
        metric.name = identifier
        return metric
    if callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(f"a metric must be a name, a Metric class or instance, or a function fn(y_true, y_pred); "
                    f"got {identifier!r}")


def serialize(metric) -> dict:
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(metric)


def deserialize(config, custom_objects=None) -> Metric:
    from fgc.saving.serialization import deserialize_keras_object

    metric = deserialize_keras_object(config, custom_objects)
    if isinstance(metric, str):   # a built-in metric function, written by name
        return get(metric)
    if callable(metric) and not isinstance(metric, Metric):
        return MeanMetricWrapper(metric)
    if not isinstance(metric, Metric):
        raise ValueError(f"the config {config.get('class_name')!r} is not a metric (got {metric!r})")
    return metric


__all__ = [cls.__name__ for cls in ALL_CLASSES] + [
    "Metric", "StateVariable", "LossMetric", "FragmentMean", "METRICS", "get", "serialize", "deserialize",
    "cosine_similarity", "pearson_correlation", "concordance_correlation"]
