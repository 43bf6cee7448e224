"""Keras 3 losses as graph fragments.

``values(b, y_true, y_pred)`` emits the Keras loss function (one value per sample, or per
sample and timestep for sequence outputs); the train-step builder applies sample weights and
the ``sum_over_batch_size`` reduction. Crossentropies on a softmax or sigmoid output are
computed from its logits: ``log(clip(softmax(z), eps, 1-eps)) == clip(log_softmax(z), log eps,
log(1-eps))``, the same values and gradients as Keras' clipped formula, without the overflow.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from fgc.naming import check_kwargs, near, resolve

EPSILON = 1e-7
# Keras clips probabilities to [eps, 1 - eps] in float32 (its floatx), where 1 - eps rounds to
# 1 - 2**-23: log(1 - p) bottoms out at log(2**-23), not log(1e-7). The logits forms use the same bounds.
_P_LO, _P_HI = float(np.float32(EPSILON)), float(np.float32(1.0 - EPSILON))
_LOG_LO, _LOG_HI = math.log(_P_LO), math.log(_P_HI)   # log p, and log(1 - p) from above
_LOG1M_LO = math.log(1.0 - _P_HI)                     # log(1 - p) from below


def _mean_last(b, x):
    return b.ReduceMean(x, axes=(-1,), keepdims=0)


def _producer(b, v, op):
    """The input of the op that produced ``v`` if that op is ``op`` (on the last axis), else None."""
    d = b.graph.node(v.node)
    if d["op"] != op or (op == "Softmax" and d["attrs"].get("axis", -1) not in (-1, b.type(v).rank - 1)):
        return None
    return d["inputs"][0]


class Loss:
    name = "loss"
    sparse = False  # targets are class ids, not rows shaped like the output

    def __init__(self, reduction="sum_over_batch_size", name=None, **kwargs):
        named = [p for c in type(self).__mro__ if "__init__" in vars(c)
                 for p in inspect.signature(c.__init__).parameters if p not in ("self", "kwargs")]
        check_kwargs(f"{type(self).__name__}()", kwargs, named)  # named: only for the near-match hint
        if reduction not in ("sum_over_batch_size", "sum", "none", "mean"):
            raise ValueError(f"unknown reduction '{reduction}'{near(reduction, ['sum_over_batch_size', 'sum'])}")
        self.reduction = reduction
        if name:
            self.name = name

    def values(self, b, y_true, y_pred):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def values(self, b, t, p):
        d = b.Sub(p, t)
        return _mean_last(b, b.Mul(d, d))


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def values(self, b, t, p):
        return _mean_last(b, b.Abs(b.Sub(p, t)))


class MeanAbsolutePercentageError(Loss):
    name = "mean_absolute_percentage_error"

    def values(self, b, t, p):
        ratio = b.Div(b.Sub(t, p), b.Max(b.Abs(t), EPSILON))
        return b.Mul(_mean_last(b, b.Abs(ratio)), 100.0)


class MeanSquaredLogarithmicError(Loss):
    name = "mean_squared_logarithmic_error"

    def values(self, b, t, p):
        d = b.Sub(b.Log(b.Add(b.Max(p, EPSILON), 1.0)), b.Log(b.Add(b.Max(t, EPSILON), 1.0)))
        return _mean_last(b, b.Mul(d, d))


class Huber(Loss):
    name = "huber_loss"

    def __init__(self, delta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.delta = float(delta)

    def values(self, b, t, p):
        err = b.Abs(b.Sub(p, t))
        quad = b.Mul(b.Mul(err, err), 0.5)
        lin = b.Sub(b.Mul(err, self.delta), 0.5 * self.delta ** 2)
        return _mean_last(b, b.Where(b.LessOrEqual(err, self.delta), quad, lin))


class LogCosh(Loss):
    name = "log_cosh"

    def values(self, b, t, p):
        x = b.Sub(p, t)  # log(cosh x) = x + softplus(-2x) - log 2, stable for large |x|
        return _mean_last(b, b.Sub(b.Add(x, b.Softplus(b.Mul(x, -2.0))), math.log(2.0)))


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.from_logits, self.label_smoothing, self.axis = from_logits, float(label_smoothing), axis

    def log_probs(self, b, p):
        logits = p if self.from_logits else _producer(b, p, "Softmax")
        if logits is not None:
            logp = b.LogSoftmax(logits, axis=-1)
            return logp if self.from_logits else b.Clip(logp, min=_LOG_LO, max=_LOG_HI)
        p = b.Div(p, b.ReduceSum(p, axes=(-1,), keepdims=1))
        return b.Log(b.Clip(p, min=EPSILON, max=1.0 - EPSILON))

    def values(self, b, t, p):
        if self.label_smoothing:
            n = b.type(p).shape[-1]
            t = b.Add(b.Mul(t, 1.0 - self.label_smoothing), self.label_smoothing / n)
        return b.Neg(b.ReduceSum(b.Mul(t, self.log_probs(b, p)), axes=(-1,), keepdims=0))


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    name = "sparse_categorical_crossentropy"
    sparse = True

    def values(self, b, t, p):
        ids = b.Unsqueeze(b.Cast(t, to="int64"), axes=(-1,))
        picked = b.GatherElements(self.log_probs(b, p), ids, axis=-1)
        return b.Neg(b.Squeeze(picked, axes=(-1,)))


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.from_logits, self.label_smoothing = from_logits, float(label_smoothing)

    def values(self, b, t, p):
        if self.label_smoothing:
            t = b.Add(b.Mul(t, 1.0 - self.label_smoothing), 0.5 * self.label_smoothing)
        logits = p if self.from_logits else _producer(b, p, "Sigmoid")
        if logits is not None:  # log sigmoid(z) = -softplus(-z); log(1 - sigmoid(z)) = -softplus(z)
            log_p, log_q = b.Neg(b.Softplus(b.Neg(logits))), b.Neg(b.Softplus(logits))
            if not self.from_logits:
                log_p, log_q = b.Clip(log_p, min=_LOG_LO, max=_LOG_HI), b.Clip(log_q, min=_LOG1M_LO, max=_LOG_HI)
        else:
            p = b.Clip(p, min=EPSILON, max=1.0 - EPSILON)
            log_p, log_q = b.Log(p), b.Log(b.Sub(1.0, p))
        bce = b.Add(b.Mul(t, log_p), b.Mul(b.Sub(1.0, t), log_q))
        return b.Neg(_mean_last(b, bce))


class KLDivergence(Loss):
    name = "kl_divergence"

    def values(self, b, t, p):
        t = b.Clip(t, min=EPSILON, max=1.0)
        p = b.Clip(p, min=EPSILON, max=1.0)
        return b.ReduceSum(b.Mul(t, b.Log(b.Div(t, p))), axes=(-1,), keepdims=0)


def _hinge_labels(b, t):
    """Keras maps {0, 1} labels to {-1, 1} when every label is 0 or 1."""
    is01 = b.Or(b.Equal(t, 0.0), b.Equal(t, 1.0))
    all01 = b.Equal(b.ReduceMin(b.Cast(is01, to=b.type(t).dtype), keepdims=0), 1.0)
    return b.Where(all01, b.Sub(b.Mul(t, 2.0), 1.0), t)


class Hinge(Loss):
    name = "hinge"

    def values(self, b, t, p):
        return _mean_last(b, b.Relu(b.Sub(1.0, b.Mul(_hinge_labels(b, t), p))))


class SquaredHinge(Loss):
    name = "squared_hinge"

    def values(self, b, t, p):
        h = b.Relu(b.Sub(1.0, b.Mul(_hinge_labels(b, t), p)))
        return _mean_last(b, b.Mul(h, h))


class CategoricalHinge(Loss):
    name = "categorical_hinge"

    def values(self, b, t, p):
        pos = b.ReduceSum(b.Mul(t, p), axes=(-1,), keepdims=0)
        neg = b.ReduceMax(b.Mul(b.Sub(1.0, t), p), axes=(-1,), keepdims=0)
        return b.Relu(b.Add(b.Sub(neg, pos), 1.0))


class Poisson(Loss):
    name = "poisson"

    def values(self, b, t, p):
        return _mean_last(b, b.Sub(p, b.Mul(t, b.Log(b.Add(p, EPSILON)))))


class CosineSimilarity(Loss):
    name = "cosine_similarity"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def values(self, b, t, p):
        def l2n(x):
            sq = b.ReduceSum(b.Mul(x, x), axes=(self.axis,), keepdims=1)
            return b.Div(x, b.Sqrt(b.Max(sq, EPSILON * EPSILON)))  # Keras 3 ops.normalize: norm >= eps
        return b.Neg(b.ReduceSum(b.Mul(l2n(t), l2n(p)), axes=(self.axis,), keepdims=0))


LOSSES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "huber": Huber, "huber_loss": Huber, "log_cosh": LogCosh, "logcosh": LogCosh,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "poisson": Poisson, "cosine_similarity": CosineSimilarity,
}


def get(identifier) -> Loss:
    """A Loss from a name ('mse'), a class (Huber) or an instance (Huber(delta=2))."""
    return resolve(identifier, Loss, LOSSES, "loss")
