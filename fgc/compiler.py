"""The glue between a model and the compiler: run the pipelines, cache the compiled artefacts."""
from __future__ import annotations

import math

import numpy as np

from fgc import data, variables
from fgc.export.onnx import to_onnx
from fgc.ir.types import numpy_dtype
from fgc.runtime import session as rt
from fgc.runtime.threads import small_call_rows


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
    prepacks matrices). New weights mean a new session, built from the same compiled graph.

    On the CPU a call with fewer than ``small_rows`` rows runs on a second session with one intra-op
    thread (fgc/runtime/threads.py: small_call_rows), made the first time such a call comes: the pool's
    joins cost small kernels more than the second thread gains. Both compute the same numbers (MLAS
    splits a kernel's outputs between threads, never one output's sum)."""

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
        self.fetched = self.output_names + self.check_names
        weight_bytes = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in self.variables)
        # calls under this many rows run on the 1-thread session (0: none do)
        self.small_rows = small_call_rows(self.graph, weight_bytes) if device == "cpu" else 0
        self._session = None
        self.small_session = None   # the 1-thread session, once a small call has come
        self.versions = None   # the Variables' versions the sessions' initializers hold
        self.seen = -1         # the variables clock when they were last compared

    def refresh(self) -> None:
        """Drop the sessions if any weight changed since they were built (by anyone: see fgc/variables.py);
        each is made again by the first call that needs it (a loop of train steps and small predicts makes
        only the small one)."""
        if self.seen == variables.clock():
            return
        current = variables.versions(self.variables)
        if current != self.versions:
            self._session = self.small_session = None
            self._run = self._first_run
            self._small_run = self._first_small_run
            self.versions = current
        self.seen = variables.clock()

    @property
    def session(self):
        """The session on onnxruntime's default threads (FGC_NUM_THREADS)."""
        if self._session is None:
            self._session = rt.make_session(self._model_bytes(), self.device)
            self._run = rt.direct_run(self._session)   # every input is fed each call: no wrapper checks
        return self._session

    def _model_bytes(self) -> bytes:
        return to_onnx(self.graph, params_as_inputs=False).SerializeToString()

    def _first_run(self, outputs, feed):
        self.session   # noqa: B018 - makes the session and its run
        return self._run(outputs, feed)

    def _first_small_run(self, outputs, feed):
        self.small_session = rt.make_session(self._model_bytes(), self.device, threads=1)
        self._small_run = rt.direct_run(self.small_session)
        return self._small_run(outputs, feed)

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        run = self._small_run if len(arrays[0]) < self.small_rows else self._run
        return self._outputs(run(self.fetched, dict(zip(self.input_names, arrays))))

    def run_rows(self, arrays: list[np.ndarray], start: int, stop: int) -> list[np.ndarray]:
        """``run`` on rows start:stop of every array, each in its input's dtype (float data that
        ``data.prepare(..., float_casts_later=True)`` left as it came is cast here): predict's loop, with
        the feed made in one step (each step is ~1 % of a batch of the seed MLP)."""
        if len(arrays) == 1:
            feed = {self.input_names[0]: data.rows_as(arrays[0], start, stop, self.input_dtypes[0])}
        else:
            feed = {name: data.rows_as(a, start, stop, dtype)
                    for name, a, dtype in zip(self.input_names, arrays, self.input_dtypes)}
        # stop - start: a last, shorter batch may take the default session, which computes the same numbers
        run = self._small_run if stop - start < self.small_rows else self._run
        return self._outputs(run(self.fetched, feed))

    def _outputs(self, outs: list[np.ndarray]) -> list[np.ndarray]:
        if not self.check_names:   # most models: onnxruntime's list is the outputs already
            return outs
        rt.raise_failed_checks(self.check_names, outs[len(self.output_names):], self.graph.checks)
        return outs[:len(self.output_names)]
