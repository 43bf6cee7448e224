"""Tracing a metric's ``fgc.ops`` code into a step graph.

``lower_stateful`` calls ``update_state`` and then ``result`` on symbolic stand-ins for the targets,
the predictions and the sample weights, inside a ``MetricTrace``: reading a state variable gives
its latest symbolic value (the step's input at first), ``assign`` records a new one. The recorded
calls are emitted with the step's Builder; each state variable becomes a step input and its new
value a step output, so the state is carried by the host from one step to the next.

``lower_function`` does the same for a plain ``fn(y_true, y_pred)`` (MeanMetricWrapper's values).
"""
from __future__ import annotations

import contextlib

from fgc import naming, ops
from fgc.ir import TensorType
from fgc.layers.base import KerasTensor
from fgc.layers.op_layer import Trace, active_trace

from .base import StateVariable


class MetricTrace(Trace):
    """A Trace whose state variables can be assigned: reads see the latest assignment."""

    def __init__(self, metric, input_types):
        super().__init__(metric, input_types)
        self.current: dict[int, tuple] = {}   # id(variable) -> (variable, its latest symbolic value)

    def read(self, variable) -> KerasTensor:
        if id(variable) in self.current:
            return self.current[id(variable)][1]
        return super().read(variable)

    def assign(self, variable, value) -> None:
        value = ops.cast(value, variable.dtype)
        if not isinstance(value, KerasTensor):   # a constant: a symbolic tensor of the variable's shape
            value = ops.where(ops.ones_like(self.read(variable), dtype="bool"), value, self.read(variable))
        shape = tuple(value.shape)
        if shape != tuple(variable.shape):
            raise ValueError(f"metric '{self.layer.name}': state variable '{variable.name}' has shape "
                             f"{tuple(variable.shape)}; update_state() assigned a value of shape {shape} (a value "
                             f"that depends on the batch size must be reduced, e.g. with ops.sum(..., axis=0))")
        self.current[id(variable)] = (variable, value)


def active_metric_trace() -> MetricTrace | None:
    trace = active_trace()
    return trace if isinstance(trace, MetricTrace) else None


@contextlib.contextmanager
def _names_kept():
    # The ops recorded here make layers named "add", "multiply", ...; the user's next Add() layer
    # must still be called "add", so the automatic-name counters go back to what they were.
    saved = dict(naming._counts)
    try:
        yield
    finally:
        naming._counts.clear()
        naming._counts.update(saved)


def lower_function(b, metric, fn, values):
    """``fn(*tensors)`` emitted with builder ``b`` on the Values ``values``; returns its one output."""
    trace = MetricTrace(metric, [b.type(v) for v in values])
    with _names_kept():
        trace.run(lambda args: fn(*args), [None] * len(values))
    return trace.lower(b, list(values), {})[0]


def lower_stateful(b, metric, key: str, target, pred, sample_weight):
    """Emit ``metric.update_state(target, pred, sample_weight)`` then ``metric.result()``.

    Returns (result Value, [(variable, input Value, new Value)]) where each state variable's input
    was added to the graph as ``metric/<key>/<index>``."""
    graph = b.graph
    values = [target, pred] + ([sample_weight] if sample_weight is not None else [])
    trace = MetricTrace(metric, [b.type(v) for v in values])

    def body(args):
        y_true, y_pred = args[0], args[1]
        metric.update_state(y_true, y_pred, sample_weight=args[2] if len(args) > 2 else None)
        result = metric.result()
        if isinstance(result, dict):
            raise NotImplementedError(f"metric '{metric.name}': result() returned a dict; fgc logs one scalar "
                                      f"per metric in fit()/evaluate() (call it on arrays for the dict)")
        if isinstance(result, StateVariable):
            result = trace.read(result)
        if not isinstance(result, KerasTensor):   # a constant: make it a tensor of the step
            result = ops.add(ops.multiply(ops.sum(ops.cast(y_pred, "float32")), 0.0), result)
        return [result] + [trace.read(v) for v in metric.variables]

    with _names_kept():
        outs = trace.run(body, [None] * len(values))
    state = metric.variables
    inputs = {}
    for i, var in enumerate(state):
        inputs[var] = graph.add_input(f"metric/{key}/{i}", TensorType(tuple(var.shape), var.dtype))
    lowered = trace.lower(b, values, inputs)
    result = lowered[0]
    if b.type(result).dtype != "float32":
        result = b.Cast(result, to="float32")
    return result, [(var, inputs[var], new) for var, new in zip(state, lowered[1:])]
