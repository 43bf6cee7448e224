"""The glue between a model and the compiler: run the pipelines, cache the compiled artefacts."""
from __future__ import annotations

import numpy as np

from fgc import data, variables
from fgc.export.onnx import to_onnx
from fgc.ir.types import numpy_dtype
from fgc.runtime import session as rt


def inference_graph(model, manager_kwargs=None, guarded: bool = False):
    """The model's primitive graph after the inference pipeline; ``guarded`` adds the run-time checks
    (``check/`` outputs, see Graph.checks) that predict uses and exported files leave out."""
    from fgc.passes import PassManager, inference_pipeline

    graph = model.to_graph()
    graph.guarded = guarded
    PassManager(inference_pipeline(), **(manager_kwargs or {})).run(graph)
    return graph


class InferenceRunner:
    """One onnxruntime session for a model's inference graph, with the weights built in as
    initializers (so onnxruntime folds weight-only work such as the recurrent weight permutes and
    prepacks matrices). New weights mean a new session, built from the same compiled graph."""

    def __init__(self, model, device: str):
        self.graph = inference_graph(model, guarded=True)
        self.device = device
        # predict's batch size rule, found once: the Inputs are fixed while this graph lives
        self.fixed_batch = data.fixed_batch_size(model.input_names, [t.type for t in model.inputs])
        self.input_dtypes = [np.dtype(numpy_dtype(t.type.dtype)) for t in model.inputs]   # what prepare casts to
        self.input_names = list(self.graph.input_names)
        self.output_names = [n for n in self.graph.output_names if n not in self.graph.checks]
        self.check_names = [n for n in self.graph.output_names if n in self.graph.checks]
        self.variables = [spec.variable for spec in self.graph.params.values()]
        self.session = None
        self.versions = None   # the Variables' versions the session's initializers hold
        self.seen = -1         # the variables clock when they were last compared

    def refresh(self) -> None:
        """Rebuild the session if any weight changed since it was built (by anyone: see fgc/variables.py)."""
        if self.seen == variables.clock():
            return
        current = variables.versions(self.variables)
        if current != self.versions:
            proto = to_onnx(self.graph, params_as_inputs=False)
            self.session = rt.make_session(proto.SerializeToString(), self.device)
            self._run = rt.direct_run(self.session)   # every input is fed each call: no wrapper checks
            self.fetched = self.output_names + self.check_names
            self.versions = current
        self.seen = variables.clock()

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self._outputs(self._run(self.fetched, dict(zip(self.input_names, arrays))))

    def run_rows(self, arrays: list[np.ndarray], start: int, stop: int) -> list[np.ndarray]:
        """``run`` on rows start:stop of every array, each in its input's dtype (float data that
        ``data.prepare(..., float_casts_later=True)`` left as it came is cast here): predict's loop, with
        the feed made in one step (each step is ~1 % of a batch of the seed MLP)."""
        if len(arrays) == 1:
            feed = {self.input_names[0]: data.rows_as(arrays[0], start, stop, self.input_dtypes[0])}
        else:
            feed = {name: data.rows_as(a, start, stop, dtype)
                    for name, a, dtype in zip(self.input_names, arrays, self.input_dtypes)}
        return self._outputs(self._run(self.fetched, feed))

    def _outputs(self, outs: list[np.ndarray]) -> list[np.ndarray]:
        if not self.check_names:   # most models: onnxruntime's list is the outputs already
            return outs
        rt.raise_failed_checks(self.check_names, outs[len(self.output_names):], self.graph.checks)
        return outs[:len(self.output_names)]
