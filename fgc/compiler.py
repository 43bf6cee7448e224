"""The glue between a model and the compiler: run the pipelines, cache the compiled artefacts."""
from __future__ import annotations

import numpy as np

from fgc.export.onnx import to_onnx
from fgc.runtime import session as rt


def inference_graph(model, manager_kwargs=None):
    """The model's primitive graph after the inference pipeline."""
    from fgc.passes import PassManager, inference_pipeline

    graph = model.to_graph()
    PassManager(inference_pipeline(), **(manager_kwargs or {})).run(graph)
    return graph


class InferenceRunner:
    """One onnxruntime session for a model's inference graph, with the weights built in as
    initializers (so onnxruntime folds weight-only work such as the recurrent weight permutes and
    prepacks matrices). New weights mean a new session, built from the same compiled graph."""

    def __init__(self, model, device: str):
        self.graph = inference_graph(model)
        self.device = device
        self.input_names = list(self.graph.input_names)
        self.output_names = list(self.graph.output_names)
        self.session = None
        self.version = None

    def refresh(self, version) -> None:
        if version != self.version:
            proto = to_onnx(self.graph, params_as_inputs=False)
            self.session = rt.make_session(proto.SerializeToString(), self.device)
            self.version = version

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.output_names, dict(zip(self.input_names, arrays)))
