"""Keras 3's stateful ``Metric``: state variables, ``update_state``, ``result``, ``reset_state``.

One definition serves two places. Called on arrays, ``update_state`` and ``result`` compute at once
(``fgc.ops`` runs each op eagerly) and the state lives in the metric's ``StateVariable``s. Inside
``compile()``/``fit()`` the same two methods are traced on symbolic tensors (metrics/trace.py): the
train and evaluation steps take each state variable as an input, output its new value and the
result, and the loop carries the state from step to step over an epoch.
"""
from __future__ import annotations

import numpy as np

from fgc import ops
from fgc.layers.base import KerasTensor
from fgc.naming import snake_case, unique_name
from fgc.variables import Variable


class StateVariable(Variable):
    """One piece of a metric's state (never trainable). Inside a metric trace ``assign`` records the
    new value symbolically; elsewhere it stores it."""

    def __init__(self, value: np.ndarray, name: str, metric):
        super().__init__(value, name, metric, trainable=False)
        self.aggregation = "sum"

    def assign(self, value) -> None:
        from .trace import active_metric_trace

        trace = active_metric_trace()
        if trace is not None:
            trace.assign(self, value)
            return
        if isinstance(value, KerasTensor):
            raise ValueError(f"metric state '{self.path}': cannot assign a symbolic tensor outside a traced "
                             f"update_state(); call the metric on arrays, or pass it to compile(metrics=...)")
        value = np.asarray(value, dtype=self._value.dtype)
        if value.shape != self._value.shape:
            value = np.broadcast_to(value, self._value.shape) if value.ndim == 0 else value
        super().assign(value)

    def _cast(self, value):
        if value is None:   # typically ops.shape(y)[0] while compile() traces the step
            raise ValueError(f"metric state '{self.path}': the value to add is None. Inside compile() the batch "
                             f"size is only known when the step runs, so ops.shape(x)[0] is None there; count "
                             f"samples with ops.sum(ops.ones_like(...)) instead")
        if isinstance(value, (int, float, list, tuple)):   # Python numbers: an array of this dtype
            return np.asarray(value, dtype=self._value.dtype)
        return ops.cast(value, self.dtype)

    def assign_add(self, value) -> None:
        self.assign(ops.add(self, self._cast(value)))

    def assign_sub(self, value) -> None:
        self.assign(ops.subtract(self, self._cast(value)))

    def __float__(self) -> float:
        return float(self.numpy())

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.numpy(), dtype=dtype)


def _check_dtype(where: str, dtype) -> str:
    if dtype in (None, "float32") or getattr(dtype, "name", None) == "float32":
        return "float32"
    raise ValueError(f"{where}(dtype={dtype!r}): fgc computes metrics in float32; leave dtype unset or pass 'float32'")


class Metric:
    """Keras 3's metric base class: subclass it with ``update_state(y_true, y_pred, sample_weight=None)``
    and ``result()`` written with ``fgc.ops``, state from ``self.add_variable``."""

    def __init__(self, dtype=None, name=None):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._dtype = _check_dtype(type(self).__name__, dtype)
        self._variables: list[StateVariable] = []

    @property
    def dtype(self) -> str:
        return self._dtype

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None) -> StateVariable:
        from fgc import initializers

        if not hasattr(self, "_variables"):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() in __init__() before add_variable()")
        if aggregation not in ("sum", "mean", "only_first_replica", "none", None):
            raise ValueError(f"{type(self).__name__}.add_variable(aggregation={aggregation!r}): expected one of "
                             f"'sum', 'mean', 'only_first_replica', 'none'")
        shape = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        dtype = dtype or self._dtype
        value = np.asarray(initializers.get(initializer)(shape), dtype=dtype) \
            if initializer is not None else np.zeros(shape, dtype)
        var = StateVariable(value.reshape(shape), name or f"variable_{len(self._variables)}", self)
        var.aggregation = aggregation
        self._variables.append(var)
        return var

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None) -> StateVariable:
        """Keras 3's older spelling of ``add_variable``."""
        return self.add_variable(shape, initializer or "zeros", dtype=dtype, name=name)

    @property
    def variables(self) -> list[StateVariable]:
        found = list(getattr(self, "_variables", []))
        for value in vars(self).values():   # metrics nested in this one contribute theirs, as in Keras
            if isinstance(value, Metric) and value is not self:
                found += value.variables
        return found

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define update_state(y_true, y_pred, "
                                  f"sample_weight=None)")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result()")

    def reset_state(self) -> None:
        for v in self.variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def __call__(self, *args, **kwargs):
        if not hasattr(self, "_variables"):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() in __init__()")
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self._dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

    # ------------------------------------------------------------------ used by compile()
    @property
    def batch_mean(self) -> bool:
        """Whether this metric is a mean of per-sample values that the step can report as a batch mean
        (then the loop's exact weighted running mean stands in for the state)."""
        return False


# ---------------------------------------------------------------------------------------- helpers
def to_float(x, dtype="float32"):
    return ops.cast(x, dtype)


def divide_no_nan(x, y):
    """x / y, and 0 where y is 0 (Keras' ops.divide_no_nan)."""
    def build(b, x, y):
        from fgc.ops.core import promote
        x, y = promote(b, x, y)
        zero = b.Equal(y, b.const(np.zeros((), np.dtype(b.type(y).dtype)), b.type(y).dtype))
        safe = b.Where(zero, b.const(np.ones((), np.dtype(b.type(y).dtype)), b.type(y).dtype), y)
        return b.Where(zero, b.const(np.zeros((), np.dtype(b.type(x).dtype)), b.type(x).dtype), b.Div(x, safe))
    from fgc.ops.core import apply
    return apply("divide_no_nan", build, x, y)


def same_rank(x1, x2, expand_rank_1: bool = True):
    """Keras' squeeze-or-expand rule: when ranks differ by one and the longer one ends in 1, squeeze
    that axis (or expand the rank-1 side instead, when ``expand_rank_1``)."""
    r1, r2 = ops.ndim(x1), ops.ndim(x2)
    if r1 == r2 + 1 and ops.shape(x1)[-1] == 1:
        return (x1, ops.expand_dims(x2, -1)) if r2 == 1 and expand_rank_1 else (ops.squeeze(x1, -1), x2)
    if r2 == r1 + 1 and ops.shape(x2)[-1] == 1:
        return (ops.expand_dims(x1, -1), x2) if r1 == 1 and expand_rank_1 else (x1, ops.squeeze(x2, -1))
    return x1, x2


def broadcast_like(x, like):
    """``x`` broadcast to the shape of ``like`` (fgc.ops has no broadcast_to: multiply by ones)."""
    return ops.multiply(x, ops.ones_like(like, dtype="float32"))


def samplewise(values, sample_weight, reduce_fn):
    """Keras' reduce-to-samplewise: (per-sample values, per-sample weights or None)."""
    values = to_float(values)
    if sample_weight is not None:
        sample_weight = to_float(sample_weight)
        values, sample_weight = same_rank(values, sample_weight)
        w_rank, v_rank = ops.ndim(sample_weight), ops.ndim(values)
        if v_rank > w_rank:
            values = reduce_fn(values, axis=tuple(range(w_rank, v_rank)))
        sample_weight = broadcast_like(sample_weight, values)
        values = ops.multiply(values, sample_weight)
        if w_rank > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, w_rank)))
    if ops.ndim(values) > 1:
        values = reduce_fn(values, axis=tuple(range(1, ops.ndim(values))))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of the values given."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = samplewise(values, sample_weight, ops.sum)
        self.total.assign_add(ops.sum(values))

    def result(self):
        return ops.cast(self.total, self.dtype)


class Mean(Metric):
    """The (weighted) mean of the values given: total / count."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = samplewise(values, sample_weight, ops.mean)
        self.total.assign_add(ops.sum(values))
        if sample_weight is not None:
            count = ops.sum(sample_weight)
        elif ops.ndim(values) >= 1:
            count = ops.sum(ops.ones_like(values))
        else:
            count = 1.0
        self.count.assign_add(count)

    def result(self):
        return divide_no_nan(self.total, self.count)


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)``'s per-sample values; ``fn`` written with ``fgc.ops``."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper(fn=...) takes a function fn(y_true, y_pred), got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean_metric_wrapper", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def per_sample(self, y_true, y_pred):
        """The per-sample (or per-element) values whose mean this metric is."""
        return self._fn(y_true, y_pred, **self._fn_kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(self.per_sample(y_true, y_pred), sample_weight=sample_weight)

    def values(self, b, target, pred):
        """The per-sample values emitted with builder ``b`` (the step's fast batch-mean path)."""
        from .trace import lower_function

        return lower_function(b, self, self.per_sample, [target, pred])

    @property
    def batch_mean(self) -> bool:
        cls = type(self)
        return cls.update_state is MeanMetricWrapper.update_state and cls.result is Mean.result \
            and cls.reset_state is Metric.reset_state

    def get_config(self):
        from fgc.saving.serialization import function_wrapper_config

        return {**super().get_config(), **function_wrapper_config(self._fn, self._fn_kwargs)}

    @classmethod
    def from_config(cls, config):
        from fgc.saving.serialization import function_wrapper_from_config

        return function_wrapper_from_config(cls, config)
