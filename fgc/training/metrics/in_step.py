"""Stateful metrics in the train and evaluation steps.

Each state variable is a step input ``metric/<key>/<i>`` and, when the update changes it, a step
output ``metric/<key>/<i>/new``; the metric's result is a report output ``<key>`` like any other
log. ``EpochState`` is the host side: it starts every pass from the metric's reset state, feeds the
state to each step, keeps what the step returned, and writes the last state back into the metric
object at the end of the pass (so ``metric.result()`` after ``evaluate`` gives the logged value)."""
from __future__ import annotations

import numpy as np

from fgc.ir import TensorType

from .trace import lower_stateful


def raw_weight_input(graph, spec, output: str, batch_dim):
    """The ``msw/<output>`` input: sample weights as given (the ``sw/`` feed is scaled for the loss)."""
    name = f"msw/{output}"
    if name not in graph.input_names:
        spec.target_inputs.append(name)
        return graph.add_input(name, TensorType((batch_dim,), "float32"))
    return graph.inputs[graph.input_names.index(name)]


def add_stateful(b, spec, key: str, metric, target, pred, sample_weight) -> tuple[list, list]:
    """Emit one stateful metric; returns ([(key, result)], [(state output name, new value)])."""
    result, states = lower_stateful(b, metric, key, target, pred, sample_weight)
    outputs = []
    for var, given, new in states:
        input_name = b.graph.input_names[b.graph.inputs.index(given)]
        if new == given:   # update_state left this variable alone: it keeps its reset value
            spec.metric_states[input_name] = (None, var)
            continue
        out_name = f"{input_name}/new"
        spec.metric_states[input_name] = (out_name, var)
        outputs.append((out_name, new))
    spec.metric_results.append(key)
    return [(key, result)], outputs


def needs_raw_weights(compiled, output: str) -> bool:
    return any(not m.batch_mean for m in compiled.weighted_metrics.get(output, []))


class EpochState:
    """The host's copy of every stateful metric's state during one pass over the data."""

    def __init__(self, spec, report_names: list[str]):
        self.states = spec.metric_states
        metrics = []
        for _, var in self.states.values():
            if all(var.layer is not m for m in metrics):
                metrics.append(var.layer)
        for metric in metrics:   # Keras resets the metrics at the start of each epoch and evaluation
            metric.reset_state()
        self.arrays = {name: np.array(var._value) for name, (_, var) in self.states.items()}
        self.taken = [(name, report_names.index(out)) for name, (out, _) in self.states.items() if out is not None]

    def feed(self, feeds: dict) -> dict:
        return {**feeds, **self.arrays}

    def take(self, values) -> None:
        for name, index in self.taken:
            self.arrays[name] = np.asarray(values[index], dtype=self.arrays[name].dtype)

    def write_back(self) -> None:
        for name, (_, var) in self.states.items():
            var.assign(self.arrays[name].reshape(var.shape))
