"""onnxruntime's offline graph optimization, saved into the exported file (CPU).

onnxruntime optimizes every graph when it loads it; ``optimize=True`` runs that once at export
(``SessionOptions.optimized_model_filepath``) so the file starts faster. The level is
``ORT_ENABLE_EXTENDED``: constant folding, redundant-node removal and fusions (Conv+activation,
Gemm+activation, MatMul+Add, ...) into ``com.microsoft`` ops. The file is then tied to the
onnxruntime version that wrote it (its metadata ``optimized_for`` says which): other versions,
other providers, or runtimes other than onnxruntime may not know those ops. ``ORT_ENABLE_ALL``
is not used: its layout transforms are specific to the exporting machine's CPU.
"""
from __future__ import annotations

import os
import tempfile

import onnx


def ort_optimized(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """(the optimized model, 'onnxruntime <version> CPUExecutionProvider')."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    with tempfile.TemporaryDirectory(prefix="fgc-opt-") as tmp:
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        optimized = onnx.load(options.optimized_model_filepath)
    return optimized, f"onnxruntime {ort.__version__} CPUExecutionProvider"
