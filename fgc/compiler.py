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
    """One onnxruntime session for a model's inference graph; weights are inputs bound from the
    model's ParamStore, so new weights need no new session."""

    def __init__(self, model, device: str):
        self.graph = inference_graph(model)
        self.device = device
        self.param_names = [n for n in self.graph.params if n in {
            self.graph.node(p)["attrs"]["name"] for p in self.graph.nodes_with_op("param")}]
        proto = to_onnx(self.graph, params_as_inputs=True)
        self.session = rt.make_session(proto.SerializeToString(), device)
        self.input_names = list(self.graph.input_names)
        self.output_names = list(self.graph.output_names)

    def run(self, arrays: list[np.ndarray], params: dict) -> list[np.ndarray]:
        feed = {n: a for n, a in zip(self.input_names, arrays)}
        for n in self.param_names:
            feed[n] = params[n]
        return self.session.run(self.output_names, feed)
