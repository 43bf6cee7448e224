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

from fgc.naming import check_kwargs, near, resolve, snake_case

EPSILON = 1e-7
# Keras clips probabilities to [eps, 1 - eps] in float32 (its floatx), where 1 - eps rounds to
# 1 - 2**-23: log(1 - p) bottoms out at log(2**-23), not log(1e-7). The logits forms use the same bounds.
_P_LO, _P_HI = float(np.float32(EPSILON)), float(np.float32(1.0 - EPSILON))
_LOG_LO, _LOG_HI = math.log(_P_LO), math.log(_P_HI)   # log p, and log(1 - p) from above
_LOG1M_LO = math.log(1.0 - _P_HI)                     # log(1 - p) from below
# False: the binary crossentropy from logits as -(t log p + (1 - t) log(1 - p)), negations and all (the A/B
# and exactness tests switch it)
BCE_WITHOUT_NEGATIONS = True


def _mean_last(b, x):
    return b.ReduceMean(x, axes=(-1,), keepdims=0)


def _producer(b, v, op):
    """The input of the op that produced ``v`` if that op is ``op`` (on the last axis), else None.
    A float16 output widened to float32 for the loss (mixed precision) is looked through: the logits
    are then widened instead, so the loss is still computed stably from them, in float32."""
    d = b.graph.node(v.node)
    if d["op"] == "Cast" and d["attrs"]["to"] == "float32" and b.type(d["inputs"][0]).dtype == "float16":
        inner = _producer(b, d["inputs"][0], op)
        return None if inner is None else b.Cast(inner, to="float32")
    if d["op"] != op or (op == "Softmax" and d["attrs"].get("axis", -1) not in (-1, b.type(v).rank - 1)):
        return None
    return d["inputs"][0]


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def check_reduction(reduction):
    """Keras 3's reductions; ``"mean"`` is its alias of ``"sum_over_batch_size"``."""
    if reduction not in REDUCTIONS:
        hint = near(reduction, [r for r in REDUCTIONS if r]) if isinstance(reduction, str) else ""
        raise ValueError(f"invalid reduction={reduction!r}: expected one of {list(REDUCTIONS)}{hint}")
    return reduction


def canonical_axis(axis, rank: int, what: str) -> int:
    """``axis`` as a non-negative index into a tensor of ``rank`` dims, or a ValueError naming ``what``."""
    if not -rank <= axis < rank:
        raise ValueError(f"{what}: axis={axis} is out of range for predictions of rank {rank} "
                         f"(valid: {-rank} to {rank - 1})")
    return axis % rank


def _check_int(value, what: str, optional: bool = False):
    if (value is None and optional) or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return None if value is None else int(value)
    raise TypeError(f"{what} must be an int{' or None' if optional else ''}, got {value!r}")


def _check_bool(value, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def _check_smoothing(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{what} must be a float in [0, 1], got {value!r}")
    return float(value)


def defines_call(cls) -> bool:
    """Whether a Loss class computes its values with ``call`` (Keras 3 style, traced) rather than
    emitting primitives with ``values`` (fgc's built-in losses)."""
    for klass in cls.__mro__:
        if klass is Loss:
            return False
        if "call" in vars(klass):
            return True
        if "values" in vars(klass):
            return False
    return False


def traced_elements_per_sample(loss, target_shape: tuple) -> int:
    """Loss values per sample of a traced loss, from the shape its values take on targets of
    ``target_shape`` (predictions of the same shape): one per sample for a scalar."""
    from fgc.ir import TensorType

    from .traced import traced_shape

    if loss.sparse:
        raise NotImplementedError(f"{type(loss).__name__}: a loss written with call() takes targets shaped like the "
                                  f"model's output in fgc; class-id targets (sparse = True) are not supported yet")
    ttype = TensorType(tuple(int(d) for d in target_shape), "float32")
    shape = traced_shape(lambda b, t, p: loss.values(b, t, p), [ttype, ttype])
    if shape == ():
        return 1
    if shape[0] != target_shape[0]:
        raise ValueError(f"{loss.name}: the loss returned values of shape {shape} for a batch of {target_shape[0]} "
                         f"samples; training needs per-sample values (batch axis first) or a scalar")
    return int(np.prod(shape[1:], dtype=np.int64))


def _is_float32(dtype) -> bool:
    try:
        return np.dtype(dtype) == np.float32
    except TypeError:
        return False


class Loss:
    """Base of the Keras 3 losses.

    Your own loss, as in Keras 3: subclass it and define ``call(self, y_true, y_pred)`` with fgc.ops,
    returning the loss per sample (or per element); the train step traces it (training/traced.py)
    and calling the loss on arrays runs it eagerly. fgc's built-in losses instead define
    ``values(b, y_true, y_pred)``, which emits the per-sample loss with primitives, and
    ``valid_mask`` the elements that count (``ignore_class``). Either way the train step and
    ``__call__`` apply sample weights and ``reduction``."""

    name = "loss"
    sparse = False  # targets are class ids, not rows shaped like the output

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, **kwargs):
        named = [p for c in type(self).__mro__ if "__init__" in vars(c)
                 for p in inspect.signature(c.__init__).parameters if p not in ("self", "kwargs")]
        check_kwargs(f"{type(self).__name__}()", kwargs, named)  # named: only for the near-match hint
        self.reduction = check_reduction(reduction)
        if dtype is not None and not _is_float32(dtype):
            raise ValueError(f"{type(self).__name__}(dtype={dtype!r}): fgc computes losses in float32; "
                             f"pass dtype=None or 'float32'")
        own = type(self).__mro__[:type(self).__mro__.index(Loss)]
        if name is None and not any("name" in vars(klass) for klass in own):
            self.name = snake_case(type(self).__name__)   # a user's subclass: Keras' auto_name
        if name is not None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"{type(self).__name__}(name=...) must be a non-empty string, got {name!r}")
            self.name = name

    def values(self, b, y_true, y_pred):
        """The per-sample (or per-element) losses as builder values: a user's ``call`` is traced."""
        if not defines_call(type(self)):
            raise NotImplementedError(f"{type(self).__name__} must define call(self, y_true, y_pred) returning the "
                                      f"loss per sample, written with fgc.ops (as a Keras 3 Loss subclass)")
        from .traced import trace_into

        return trace_into(b, self.call, [y_true, y_pred], what=f"{type(self).__name__}.call")

    def loss_axis(self):
        """The target axis each loss value reduces (None: one value per target element)."""
        return None if self.sparse else getattr(self, "axis", -1)

    def elements_per_sample(self, target_shape: tuple) -> int:
        """Loss values per sample for targets of ``target_shape`` (batch first): the divisor of
        sum_over_batch_size is this times the batch size."""
        if defines_call(type(self)):
            return traced_elements_per_sample(self, target_shape)
        dims = list(target_shape[1:])
        axis = self.loss_axis()
        if axis is not None:
            where = canonical_axis(axis, len(target_shape), type(self).__name__)
            if where == 0:
                raise ValueError(f"{type(self).__name__}(axis={axis}) reduces the batch axis; in training the "
                                 f"loss axis must be a per-sample axis (1 to {len(target_shape) - 1}, or -1)")
            del dims[where - 1]
        return math.prod(dims)   # python ints: np.prod cost ~5 us of every fit call

    def valid_mask(self, b, y_true, y_pred):
        """A bool Value shaped like ``values`` marking the elements that count, or None (all count)."""
        return None

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss of arrays, reduced by ``self.reduction`` (Keras' ``loss(y_true, y_pred)``)."""
        from .loss_call import call_custom_loss, call_loss

        if defines_call(type(self)):
            return call_custom_loss(self, y_true, y_pred, sample_weight)
        return call_loss(self, y_true, y_pred, sample_weight)

    def per_sample(self, y_true, y_pred):
        """The unreduced losses (Keras' function forms): recorded on symbolic tensors, computed on arrays."""
        from .loss_functions import unreduced

        return unreduced(self, y_true, y_pred)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class _ReductionFirst(Loss):
    """Keras' built-in losses take ``reduction`` first (``MeanSquaredError("sum")``), its base Loss ``name``."""

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype, **kwargs)


class MeanSquaredError(_ReductionFirst):
    name = "mean_squared_error"

    def values(self, b, t, p):
        d = b.Sub(p, t)
        return _mean_last(b, b.Mul(d, d))


class MeanAbsoluteError(_ReductionFirst):
    name = "mean_absolute_error"

    def values(self, b, t, p):
        return _mean_last(b, b.Abs(b.Sub(p, t)))


class MeanAbsolutePercentageError(_ReductionFirst):
    name = "mean_absolute_percentage_error"

    def values(self, b, t, p):
        ratio = b.Div(b.Sub(t, p), b.Max(b.Abs(t), EPSILON))
        return b.Mul(_mean_last(b, b.Abs(ratio)), 100.0)


class MeanSquaredLogarithmicError(_ReductionFirst):
    name = "mean_squared_logarithmic_error"

    def values(self, b, t, p):
        d = b.Sub(b.Log(b.Add(b.Max(p, EPSILON), 1.0)), b.Log(b.Add(b.Max(t, EPSILON), 1.0)))
        return _mean_last(b, b.Mul(d, d))


class Huber(Loss):
    name = "huber_loss"

    def __init__(self, delta=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.integer, np.floating)) or delta <= 0:
            raise ValueError(f"Huber(delta=...) must be a positive number (where the loss turns from quadratic "
                             f"to linear), got {delta!r}")
        self.delta = float(delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}

    def values(self, b, t, p):
        err = b.Abs(b.Sub(p, t))
        quad = b.Mul(b.Mul(err, err), 0.5)
        lin = b.Sub(b.Mul(err, self.delta), 0.5 * self.delta ** 2)
        return _mean_last(b, b.Where(b.LessOrEqual(err, self.delta), quad, lin))


class LogCosh(_ReductionFirst):
    name = "log_cosh"

    def values(self, b, t, p):
        x = b.Sub(p, t)  # log(cosh x) = x + softplus(-2x) - log 2, stable for large |x|
        return _mean_last(b, b.Sub(b.Add(x, b.Softplus(b.Mul(x, -2.0))), math.log(2.0)))


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, **kwargs):
        super().__init__(**kwargs)
        where = type(self).__name__
        self.from_logits = _check_bool(from_logits, f"{where}(from_logits=...)")
        self.label_smoothing = _check_smoothing(label_smoothing, f"{where}(label_smoothing=...)")
        self.axis = _check_int(axis, f"{where}(axis=...)")

    def _class_axis(self, b, p) -> int:
        return canonical_axis(self.axis, b.type(p).rank, f"{type(self).__name__}")

    def log_probs(self, b, p):
        """Log-probabilities over the class axis, clipped as Keras clips probabilities."""
        axis = self._class_axis(b, p)
        on_last = axis == b.type(p).rank - 1
        # The softmax output's own logits are usable only when it normalizes over the same axis.
        logits = p if self.from_logits else (_producer(b, p, "Softmax") if on_last else None)
        if logits is not None:
            logp = b.LogSoftmax(logits, axis=axis)
            return logp if self.from_logits else b.Clip(logp, min=_LOG_LO, max=_LOG_HI)
        p = b.Div(p, b.ReduceSum(p, axes=(axis,), keepdims=1))
        return b.Log(b.Clip(p, min=EPSILON, max=1.0 - EPSILON))

    def values(self, b, t, p):
        axis = self._class_axis(b, p)
        if self.label_smoothing:
            n = b.type(p).shape[axis]
            t = b.Add(b.Mul(t, 1.0 - self.label_smoothing), self.label_smoothing / n)
        return b.Neg(b.ReduceSum(b.Mul(t, self.log_probs(b, p)), axes=(axis,), keepdims=0))

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Class ids against the class axis, which must be the last one: the targets are the ids of
    the output's shape without its last axis. ``ignore_class`` ids count for nothing, and the
    reduction divides by the elements that do count (Keras masks them)."""

    name = "sparse_categorical_crossentropy"
    sparse = True

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1, **kwargs):
        if "label_smoothing" in kwargs:
            raise TypeError("SparseCategoricalCrossentropy has no label_smoothing (as in Keras 3); smooth one-hot "
                            "targets with CategoricalCrossentropy(label_smoothing=...) instead")
        super().__init__(from_logits=from_logits, axis=axis, reduction=reduction, **kwargs)
        self.ignore_class = _check_int(ignore_class, "SparseCategoricalCrossentropy(ignore_class=...)", optional=True)

    def _class_axis(self, b, p) -> int:
        axis = super()._class_axis(b, p)
        if axis != b.type(p).rank - 1:
            raise ValueError(f"SparseCategoricalCrossentropy(axis={self.axis}): fgc supports only the last axis of "
                             f"the predictions as the class axis (axis=-1); move the classes last (e.g. with a "
                             f"Permute layer) or use one-hot targets with CategoricalCrossentropy(axis=...)")
        return axis

    def _ids(self, b, t):
        ids = b.Cast(t, to="int64")
        if self.ignore_class is None:
            return ids
        return b.Where(b.Equal(ids, self.ignore_class), 0, ids)   # any in-range id: its loss is zeroed

    def valid_mask(self, b, t, p):
        if self.ignore_class is None:
            return None
        return b.Not(b.Equal(b.Cast(t, to="int64"), self.ignore_class))

    def values(self, b, t, p):
        self._class_axis(b, p)
        picked = b.GatherElements(self.log_probs(b, p), b.Unsqueeze(self._ids(b, t), axes=(-1,)), axis=-1)
        loss = b.Neg(b.Squeeze(picked, axes=(-1,)))
        mask = self.valid_mask(b, t, p)
        return loss if mask is None else b.Where(mask, loss, 0.0)

    def get_config(self):
        config = {**super().get_config(), "ignore_class": self.ignore_class}
        config.pop("label_smoothing")
        return config


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.from_logits = _check_bool(from_logits, "BinaryCrossentropy(from_logits=...)")
        self.label_smoothing = _check_smoothing(label_smoothing, "BinaryCrossentropy(label_smoothing=...)")
        self.axis = _check_int(axis, "BinaryCrossentropy(axis=...)")

    def values(self, b, t, p):
        axis = canonical_axis(self.axis, b.type(p).rank, "BinaryCrossentropy")
        if self.label_smoothing:
            t = b.Add(b.Mul(t, 1.0 - self.label_smoothing), 0.5 * self.label_smoothing)
        logits = p if self.from_logits else _producer(b, p, "Sigmoid")
        if logits is not None and BCE_WITHOUT_NEGATIONS:
            return self._from_logits_unsigned(b, t, logits, axis)
        if logits is not None:  # log sigmoid(z) = -softplus(-z); log(1 - sigmoid(z)) = -softplus(z)
            log_p, log_q = b.Neg(b.Softplus(b.Neg(logits))), b.Neg(b.Softplus(logits))
            if not self.from_logits:
                log_p, log_q = b.Clip(log_p, min=_LOG_LO, max=_LOG_HI), b.Clip(log_q, min=_LOG1M_LO, max=_LOG_HI)
        else:
            p = b.Clip(p, min=EPSILON, max=1.0 - EPSILON)
            log_p, log_q = b.Log(p), b.Log(b.Sub(1.0, p))
        bce = b.Add(b.Mul(t, log_p), b.Mul(b.Sub(1.0, t), log_q))
        return b.Neg(b.ReduceMean(bce, axes=(axis,), keepdims=0))   # Keras: the mean over `axis`

    def _from_logits_unsigned(self, b, t, logits, axis):
        """The same numbers from the logits with no negation left to fold: -log sigmoid(z) = softplus(-z) and
        -log(1 - sigmoid(z)) = softplus(z), and Keras' clip of log p to [lo, hi] is the clip of -log p to
        [-hi, -lo] (negation is exact in floating point, so are the products and sums it moves through)."""
        neg_log_p, neg_log_q = b.Softplus(b.Neg(logits)), b.Softplus(logits)
        if not self.from_logits:
            neg_log_p = b.Clip(neg_log_p, min=-_LOG_HI, max=-_LOG_LO)
            neg_log_q = b.Clip(neg_log_q, min=-_LOG_HI, max=-_LOG1M_LO)
        bce = b.Add(b.Mul(t, neg_log_p), b.Mul(b.Sub(1.0, t), neg_log_q))
        return b.ReduceMean(bce, axes=(axis,), keepdims=0)   # Keras: the mean over `axis`

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class KLDivergence(_ReductionFirst):
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


class Hinge(_ReductionFirst):
    name = "hinge"

    def values(self, b, t, p):
        return _mean_last(b, b.Relu(b.Sub(1.0, b.Mul(_hinge_labels(b, t), p))))


class SquaredHinge(_ReductionFirst):
    name = "squared_hinge"

    def values(self, b, t, p):
        h = b.Relu(b.Sub(1.0, b.Mul(_hinge_labels(b, t), p)))
        return _mean_last(b, b.Mul(h, h))


class CategoricalHinge(_ReductionFirst):
    name = "categorical_hinge"

    def values(self, b, t, p):
        pos = b.ReduceSum(b.Mul(t, p), axes=(-1,), keepdims=0)
        neg = b.ReduceMax(b.Mul(b.Sub(1.0, t), p), axes=(-1,), keepdims=0)
        return b.Relu(b.Add(b.Sub(neg, pos), 1.0))


class Poisson(_ReductionFirst):
    name = "poisson"

    def values(self, b, t, p):
        return _mean_last(b, b.Sub(p, b.Mul(t, b.Log(b.Add(p, EPSILON)))))


class CosineSimilarity(Loss):
    name = "cosine_similarity"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_int(axis, "CosineSimilarity(axis=...)")

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def values(self, b, t, p):
        axis = canonical_axis(self.axis, b.type(p).rank, "CosineSimilarity")

        def l2n(x):
            sq = b.ReduceSum(b.Mul(x, x), axes=(axis,), keepdims=1)
            return b.Div(x, b.Sqrt(b.Max(sq, EPSILON * EPSILON)))  # Keras 3 ops.normalize: norm >= eps
        return b.Neg(b.ReduceSum(b.Mul(l2n(t), l2n(p)), axes=(axis,), keepdims=0))


from .losses_extra import (  # noqa: E402  (they subclass Loss, defined above)
    BinaryFocalCrossentropy, CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy, Circle, Dice, Tversky)
from .loss_ctc import CTC  # noqa: E402
from .loss_functions import FUNCTIONS, LossFunctionWrapper, as_loss, function_forms  # noqa: E402

LOSSES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "huber": Huber, "huber_loss": Huber, "log_cosh": LogCosh, "logcosh": LogCosh,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "kullback_leibler_divergence": KLDivergence,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "poisson": Poisson, "cosine_similarity": CosineSimilarity,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "dice": Dice, "tversky": Tversky, "circle": Circle, "ctc": CTC,
    "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
}

FUNCTIONS.update(function_forms(globals()))
globals().update(FUNCTIONS)   # fgc.losses.mean_squared_error(y_true, y_pred), ...


def get(identifier) -> Loss:
    """A Loss from a name ('mse'), a class (Huber), an instance (Huber(delta=2)), a Keras config dict,
    or a function ``fn(y_true, y_pred)`` (wrapped in a LossFunctionWrapper, as Keras does)."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier) and not isinstance(identifier, (type, Loss)):
        return as_loss(identifier)
    if isinstance(identifier, str) and identifier.lower() not in LOSSES:
        found = _by_class_or_registered_name(identifier)
        if found is not None:
            return get(found)
    return resolve(identifier, Loss, LOSSES, "loss")


def _by_class_or_registered_name(name: str):
    """A loss class by its Keras class name ('BinaryFocalCrossentropy'), or a class or function registered
    with register_keras_serializable ('package>name') or in a custom_object_scope, as Keras' get() finds them."""
    from fgc.saving.serialization import get_registered_object

    builtin = globals().get(name)
    if isinstance(builtin, type) and issubclass(builtin, Loss):
        return builtin
    found = get_registered_object(name)
    return found if isinstance(found, Loss) or (isinstance(found, type) and issubclass(found, Loss)) \
        or (callable(found) and not isinstance(found, type)) else None


def serialize(loss) -> dict:
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(loss)


def deserialize(config, custom_objects=None) -> Loss:
    """A loss from Keras' config: a Loss class's config, or a built-in loss function written by name."""
    from fgc.saving.serialization import deserialize_keras_object

    loss = deserialize_keras_object(config, custom_objects)
    if isinstance(loss, str):
        return get(loss)
    if not isinstance(loss, Loss):
        raise ValueError(f"the config {config.get('class_name')!r} is not a loss (got {loss!r})")
    return loss

