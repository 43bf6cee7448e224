"""int8 exports through ``onnxruntime.quantization`` (it ships with onnxruntime).

Dynamic (the default): the weights of MatMul, Conv and LSTM and the tables of Embedding
lookups (Gather) are stored as int8 with a scale per tensor; activations are quantized on the fly,
per batch, from their own range. No data is needed. onnxruntime's integer Conv (ConvInteger) is
slow on CPU: conv models run faster with the static form. Gemm has no dynamic integer kernel, so each Gemm is first split back into MatMul + Add
(onnxruntime fuses the quantized pair again at load).

Static (``calibration_data=``): activation ranges are measured once on the data given (MinMax)
and stored (QDQ format), so nothing is measured at run time; weights per channel.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
from onnx import helper

DYNAMIC_OPS = ["MatMul", "Conv", "LSTM", "Gather"]
STATIC_OPS = ["MatMul", "Gemm", "Conv", "Gather"]
_CALIBRATION_BATCH = 64


def _plain_gemm(node) -> bool:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return attrs.get("transA", 0) == 0 and attrs.get("transB", 0) == 0 and attrs.get("alpha", 1.0) == 1.0 \
        and attrs.get("beta", 1.0) == 1.0


def split_gemms(proto: onnx.ModelProto) -> None:
    """Gemm(x, W, b) -> Add(MatMul(x, W), b) in the main graph, so dynamic quantization reaches W."""
    nodes = []
    for node in proto.graph.node:
        if node.op_type != "Gemm" or not _plain_gemm(node):
            nodes.append(node)
            continue
        product = node.output[0] + "/matmul" if len(node.input) == 3 else node.output[0]
        nodes.append(helper.make_node("MatMul", node.input[:2], [product], name=node.name + "/matmul"))
        if len(node.input) == 3:
            nodes.append(helper.make_node("Add", [product, node.input[2]], list(node.output), name=node.name))
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)


class _ArrayReader:
    """onnxruntime's CalibrationDataReader protocol over in-memory arrays, a batch at a time."""

    def __init__(self, feeds: dict[str, np.ndarray]):
        n = len(next(iter(feeds.values())))
        self._batches = iter([{k: v[i:i + _CALIBRATION_BATCH] for k, v in feeds.items()}
                              for i in range(0, n, _CALIBRATION_BATCH)])

    def get_next(self):
        return next(self._batches, None)

    def rewind(self):  # the MinMax calibrator reads the data once
        pass


def quantize_int8(proto: onnx.ModelProto, calibration_feeds: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    """``proto`` with int8 weights (and, given calibration feeds, int8 activations)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    with tempfile.TemporaryDirectory(prefix="fgc-int8-") as tmp:
        source, target = os.path.join(tmp, "float32.onnx"), os.path.join(tmp, "int8.onnx")
        if calibration_feeds is None:
            split_gemms(proto)
            onnx.save(proto, source)
            quantize_dynamic(source, target, op_types_to_quantize=DYNAMIC_OPS, weight_type=QuantType.QInt8)
        else:
            onnx.save(proto, source)
            # 7-bit weights (reduce_range): on x86 CPUs without VNNI onnxruntime's int8 products sum pairs of
            # products in 16 bits, which full-range weights overflow. Measured on an AVX2 machine (the dense + BN
            # model of tests/export/test_deploy_exports.py): max error of the probabilities 0.050 with full-range
            # weights, 0.008 with 7-bit ones; the file is deployed to machines we do not know.
            quantize_static(source, target, _ArrayReader(calibration_feeds), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=STATIC_OPS, per_channel=True, reduce_range=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        return onnx.load(target)
