"""The Conv weight-gradient formulations of fgc/primitives/conv.py on the seed models' conv shapes, timed
interleaved on one onnxruntime thread: what ``weight_grad`` routes each shape to against every alternative,
so that the rule in ``_dense_weight_grad`` can be re-checked on another machine or onnxruntime.

    python -m benchmarks.conv_weight_grad [name filter ...]

Shapes come from the train-step graphs (N, C in, O out, spatial, kernel, strides, pads begins + ends);
a ConvTranspose's dW is a Conv dW with input and output gradient exchanged (the U-Net's up-sampling)."""
from __future__ import annotations

import os
import sys

import numpy as np

SHAPES = [
    ("resnet_block 3x3 C64 O64 32x32", 32, 64, 64, (32, 32), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("resnet_block 1x1/2 C64 O64 32x32", 32, 64, 64, (32, 32), (1, 1), (2, 2), (0, 0, 0, 0)),
    ("inception 1x1 C64 O128 32x32", 32, 64, 128, (32, 32), (1, 1), (1, 1), (0, 0, 0, 0)),
    ("inception 1x1/2 C64 O128 32x32", 32, 64, 128, (32, 32), (1, 1), (2, 2), (0, 0, 0, 0)),
    ("inception 3x3 C128 O128 32x32", 32, 128, 128, (32, 32), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("inception 3x3/2 C128 O128 32x32", 32, 128, 128, (32, 32), (3, 3), (2, 2), (0, 0, 1, 1)),
    ("inception 3x3 C64 O128 16x16", 32, 64, 128, (16, 16), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("unet 3x3 C1 O8 32x32", 16, 1, 8, (32, 32), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("unet 3x3 C8 O8 32x32", 16, 8, 8, (32, 32), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("unet 3x3 C16 O8 32x32", 16, 16, 8, (32, 32), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("unet 3x3 C16 O16 16x16", 16, 16, 16, (16, 16), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("unet 3x3 C32 O16 16x16", 16, 32, 16, (16, 16), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("unet 3x3 C32 O32 8x8", 16, 32, 32, (8, 8), (3, 3), (1, 1), (1, 1, 1, 1)),
    ("unet ConvTranspose 2x2/2 C16 O32", 16, 16, 32, (16, 16), (2, 2), (2, 2), (0, 0, 0, 0)),
    ("three_heads conv_1 C256 O128 500", 64, 256, 128, (500,), (5,), (1,), (0, 0)),
    ("three_heads conv_3 C256 O256 95", 64, 256, 256, (95,), (5,), (1,), (0, 0)),
    ("three_heads conv_5 C256 O256 14", 64, 256, 256, (14,), (5,), (1,), (0, 0)),
]


def _rules(strides):
    from fgc.primitives import conv

    rules = {
        "routed": lambda b, x, gy, k, s, p, d: conv.weight_grad(b, x, gy, k, s, p, d, 1),
        "per sample": conv._im2col_weight_grad,
        "one product": conv._one_gemm_weight_grad,
        "batch swap Conv": conv._batch_swap_weight_grad,
    }
    if all(s == 1 for s in strides):
        rules["shifted dY"] = lambda b, x, gy, k, s, p, d: conv._shifted_dy_weight_grad(b, x, gy, k, p, d)
    return rules


def _session(rule, x_shape, gy_shape, kernel, strides, pads):
    import onnxruntime as ort

    from fgc.export.onnx import to_onnx
    from fgc.ir import Graph, TensorType
    from fgc.primitives import Builder

    g = Graph("dw")
    ins = [g.add_input("x", TensorType(x_shape, "float32")), g.add_input("gy", TensorType(gy_shape, "float32"))]
    g.outputs, g.output_names = [rule(Builder(g, "dw"), *ins, kernel, strides, pads, (1,) * len(kernel))], ["dw"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(to_onnx(g).SerializeToString(), options, providers=["CPUExecutionProvider"])


def main(filters):
    from benchmarks.timing import interleaved

    rng = np.random.default_rng(0)
    print("| shape | " + " | ".join(["routed", "per sample", "one product", "shifted dY", "batch swap Conv"]) +
          " |  (ms, median / fastest of 9 interleaved runs, 1 thread)")
    print("|---" * 6 + "|")
    for name, n, c, o, dims, kernel, strides, pads in SHAPES:
        if filters and not any(f in name for f in filters):
            continue
        nd = len(kernel)
        out = tuple((dims[i] + pads[i] + pads[nd + i] - kernel[i]) // strides[i] + 1 for i in range(nd))
        feed = {"x": rng.standard_normal((n, c, *dims)).astype(np.float32),
                "gy": rng.standard_normal((n, o, *out)).astype(np.float32)}
        sessions = {k: _session(r, (n, c, *dims), (n, o, *out), kernel, strides, pads)
                    for k, r in _rules(strides).items()}
        want = sessions["routed"].run(None, feed)[0]
        for k, s in sessions.items():   # every formulation computes the same dW
            np.testing.assert_allclose(s.run(None, feed)[0], want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
        times = interleaved({k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()}, warmup=1, runs=9)
        cells = [f"{times[k].median * 1e3:.2f} / {min(times[k].samples) * 1e3:.2f}" if k in times else "–"
                 for k in ("routed", "per sample", "one product", "shifted dY", "batch swap Conv")]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    main(sys.argv[1:])
