"""``layer(array, training=True)``: an eager call in training mode, as Keras 3 runs it.

The one-layer model of the eager call (eager.py) is lowered in training form (Dropout and the noise
layers draw noise, BatchNormalization normalizes with the batch's statistics) and run with the
current weights fed as inputs. What the training form updates besides its outputs (BatchNormalization's
moving mean and variance, ``new/<weight>`` outputs of the graph) is written back to those weights,
through their Variables, so every model that shares them sees the new values: Keras 3 assigns them in
an eager training call too. Nothing is differentiated and no optimizer runs.

Randomness: each random node keeps the seed its layer gives it (as in fit), and onnxruntime draws a
new stream position at every run of the cached session, so successive calls draw fresh noise.
"""
from __future__ import annotations

import numpy as np


class TrainingCall:
    """The compiled training-form forward of one eager call signature."""

    def __init__(self, model):
        from fgc.compiler import rt
        from fgc.export.onnx import to_onnx
        from fgc.passes import DCE, PassManager, lowering_pipeline

        graph = model.to_graph()
        graph.guarded = True
        PassManager(lowering_pipeline(training=True) + [DCE()]).run(graph)
        self.input_names = list(graph.input_names)
        self.params = {name: spec.variable for name, spec in graph.params.items()}
        names = list(graph.output_names)
        self.output_names = [n for n in names if not n.startswith("new/") and n not in graph.checks]
        self.update_names = [n for n in names if n.startswith("new/")]
        self.updated = {n: graph.params[n[len("new/"):]].variable for n in self.update_names}
        self.check_names = [n for n in names if n in graph.checks]
        self.checks = graph.checks
        self.session = rt.make_session(to_onnx(graph, params_as_inputs=True).SerializeToString())
        fed = {i.name for i in self.session.get_inputs()}   # passes may leave some weights unread
        self.params = {name: var for name, var in self.params.items() if name in fed}

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        from fgc.compiler import rt

        feed = dict(zip(self.input_names, arrays))
        feed.update({name: var.read() for name, var in self.params.items()})
        outs = self.session.run(self.output_names + self.update_names + self.check_names, feed)
        k, u = len(self.output_names), len(self.update_names)
        if self.check_names:
            rt.raise_failed_checks(self.check_names, outs[k + u:], self.checks)
        for name, value in zip(self.update_names, outs[k:k + u]):   # every check passed: now write
            self.updated[name].assign(value)
        return outs[:k]


def call_in_training_mode(model, data, cache_owner=None):
    """``model`` run on ``data`` in training form; the compiled call is cached on ``cache_owner``
    (the model itself, or the layer whose one-layer model this is)."""
    arrays = model._prepare_inputs(data)   # builds a model that takes its shape from its first data
    owner = model if cache_owner is None else cache_owner
    calls = owner.__dict__.setdefault("_eager_training_calls", {})
    key = (id(model), tuple(id(layer) for layer in model.layers))   # a Sequential may grow between calls
    if key not in calls:
        calls[key] = TrainingCall(model)
    return model._format_outputs(calls[key].run(arrays))
