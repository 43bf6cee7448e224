"""The Conv weight-gradient formulations of fgc/primitives/conv.py on the seed models' conv shapes, timed
interleaved on one onnxruntime thread (or --threads): what ``weight_grad`` routes each shape to against every
alternative, so that the rule in ``_dense_weight_grad`` can be re-checked on another machine or onnxruntime.

    python -m benchmarks.conv_weight_grad [--threads N] [name filter ...]

(``--threads``: onnxruntime's intra-op threads, 1 unless given; benchmarks/conv_threads.py says which kernels split.)

Shapes come from the train-step graphs (N, C in, O out, spatial, kernel, strides, pads begins + ends);
a ConvTranspose's dW is a Conv dW with input and output gradient exchanged (the U-Net's up-sampling).

The last three columns make dW ONE product over all taps (below: patches of every tap by a one-hot Conv or by
Slices + Concat, then one Gemm; or taps x shifted dY against the input packed once). On the U-Net's shapes they
lost to the routed per-tap rule (fastest of 9, ms, one thread, loaded 2-core machine):

| shape | routed | patch Conv + Gemm | patch Slices + Gemm | shifted dY, one product |
|---|---|---|---|---|
| 3x3 C1 O8 32x32 | 0.19 | 0.30 | 0.35 | 1.51 |
| 3x3 C8 O8 32x32 | 1.24 | 1.56 | 2.05 | 1.61 |
| 3x3 C16 O8 32x32 | 1.87 (one product 1.77) | 3.23 | 7.94 | 1.77 |
| 3x3 C16 O16 16x16 | 0.44 | 0.91 | 1.10 | 0.98 |
| 3x3 C32 O16 16x16 | 0.83 (one product 0.78) | 1.69 | 1.97 | 1.11 |
| 3x3 C32 O32 8x8 | 0.29 | 0.61 | 0.78 | 0.74 |
| ConvTranspose 2x2/2 C16 O32 | 0.15 | 0.19 | 0.27 | – |

At 2 threads (--threads 2) the patch Conv + Gemm beat the routed rule on inception's wide shapes; routed on a
step built for a pool of threads only (a pool_rule context read by conv.weight_grad, 1-thread builds unchanged), it
was tried and dropped: too little of the step, too much memory. Kernel alone, ms median / fastest, interleaved
(lead, quiet machine, 9 runs; then 25 runs on a loaded one), routed vs patch:

| shape | routed (9) | patch (9) | routed (25) | patch (25) |
|---|---|---|---|---|
| inception 3x3 C128 O128 32x32 | 125.4 / 82.1 | 103.6 / 62.9 | 91.6 / 65.1 | 89.4 / 56.8 |
| inception 3x3/2 C128 | 33.6 / 31.1 | 27.5 / 24.0 | 29.4 / 21.7 | 25.5 / 17.4 |
| resnet 1x1/2 C64 | 3.29 / 2.86 | 2.88 / 2.37 | 2.76 / 2.29 | 2.38 / 1.67 |
| inception 1x1/2 C64 | 3.84 / 3.19 | 3.27 / 2.62 | 3.13 / 2.67 | 2.88 / 2.34 |
| resnet 3x3 C64 O64 32x32 | 28.8 / 23.0 | 34.8 / 24.0 | 26.3 / 19.8 | 34.3 / 21.2 |

Routed for stride-2 and >= 128-channel 2-D convs with more than one tap (inception's 3x3 C128 and 3x3/2; resnet_block
unchanged), inception's train step at 2 threads, FGC_NUM_THREADS=2, batch 32, same feeds (outputs equal to 2e-8
relative): 346 -> 231 top-level nodes; onnxruntime profiler, per-node minima of 20 alternating runs: the dW kernels
(MatMul, FusedMatMul, Slice, Pad vs Gemm and the one-hot Conv) ~109 -> ~87 ms of a 317 ms step (~7 %), step
model_run median 436 vs 436, fastest 354 vs 340; raw step interleaved 31 rounds each order: medians 0.97 and 1.01,
paired medians 0.93 and 0.98, while an A/A control (resnet_block, graphs alike) read 0.91 and 1.04 on this load.
Peak RSS of fit (inception, batch 32, 2 threads, benchmarks/speed.py: _memory_worker) 306 -> 474 MB: the 3x3 C128
patches are taps x the input (151 MB). A patch-byte bound that keeps RSS near 306 MB (~64 MB) leaves only the 3x3/2
(~4-6 ms, ~1.5 % of the step). The patches in channel blocks (a Slice of the channel-major input per block, one Gemm
per block, Concat of dW's columns; one block's patches alive at a time) measured once, 3x3 C128, 2 threads, 21
interleaved, loaded: routed 87.3 / 64.9, patch 86.7 / 60.4, blocks of 64 channels 87.8 / 61.2, of 32 92.1 / 75.9."""
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


# ---------------------------------------------------------------- one product over all taps (measured, not routed)
# Three ways to make dW ONE GEMM over every kernel tap instead of one skinny GEMM per tap. Each computes the same
# dW (main() checks it); none beat the per-tap rule on the U-Net's narrow shapes (N 16, C/O 1-32, 8x8-32x32,
# one thread): onnxruntime's GEMM packs its right operand, so packing taps x the input (or taps x dY) once costs
# what packing the input once per tap does, and making the columns adds a copy (the table in the module doc).
def patch_gemm_weight_grad(b, x, gy, kernel, strides, pads, dilations, patches="conv"):
    """dW (O, C*taps) = dY (O, N*P) @ cols (C*taps, N*P)^T as ONE Gemm: every tap's columns at once,
    channel-major, so the product is (O x K)(K x C*taps) with K = N*P and its result is already the
    kernel layout (O, C, *kernel). ``patches`` makes the columns: "conv", a Conv with constant one-hot
    filters over the input seen as (C, 1, N, *H) (onnxruntime copies the windows in its im2col), or
    "slices", one strided Slice per tap and one Concat. Holds taps x the input at once."""
    nd = len(kernel)
    channels, outs = b.type(x).shape[1], b.type(gy).shape[1]
    channel_major = b.Transpose(x, perm=(1, 0, *range(2, 2 + nd)))              # (C, N, *H)
    cols = (_onehot_conv_patches if patches == "conv" else _sliced_patches)(
        b, channel_major, kernel, strides, pads, dilations)                      # (C, taps, N, *Ho)
    cols = b.Reshape(cols, shape=(channels * int(np.prod(kernel)), -1))
    dy = b.Reshape(b.Transpose(gy, perm=(1, 0, *range(2, 2 + nd))), shape=(outs, -1))
    return b.Reshape(b.Gemm(dy, cols, transB=1), shape=(outs, channels, *kernel))


def _onehot_conv_patches(b, channel_major, kernel, strides, pads, dilations):
    """(C, N, *H) -> (C, taps, N, *Ho): a Conv over (C, 1, N, *H) with one (1, *kernel) one-hot filter
    per tap; the batch axis is a spatial axis of kernel size 1, so windows never cross samples."""
    from fgc.primitives import conv

    nd = len(kernel)
    taps = int(np.prod(kernel))
    filters = np.zeros((taps, 1, 1, *kernel), np.float32)
    for t, offset in enumerate(np.ndindex(*kernel)):
        filters[(t, 0, 0, *offset)] = 1.0
    dtype = b.type(channel_major).dtype
    image = b.Unsqueeze(channel_major, axes=(1,))
    return b.Conv(image, b.const(filters.astype(conv.numpy_dtype(dtype)), dtype), strides=(1, *strides),
                  dilations=(1, *dilations), pads=(0, *pads[:nd], 0, *pads[nd:]), group=1, kernel_shape=(1, *kernel))


def _sliced_patches(b, channel_major, kernel, strides, pads, dilations):
    """(C, N, *H) -> (C, taps, N, *Ho): one strided Slice per tap of the padded input, one Concat."""
    from fgc.primitives import conv

    padded = conv._pad_spatial(b, channel_major, pads)
    pieces = [b.Unsqueeze(piece, axes=(1,))
              for piece in conv._window_slices(b, padded, kernel, strides, dilations, first_axis=2)]
    return b.Concat(*pieces, axis=1) if len(pieces) > 1 else pieces[0]


def shifted_dy_gemm_weight_grad(b, x, gy, kernel, pads, dilations):
    """Stride 1: dW for all taps as ONE product (taps*O, Q) @ (Q, C) over the padded grid.

    Number the positions q of the padded input Xpad (N, *Hp) flat. Output position p = (n, *i) reads tap
    j at q = base(p) + off_j, with base(p) the flat padded index of (n, *i) and off_j = sum_a j_a d_a
    stride_a(Hp). So dW_j[o, c] = sum_q dYgrid[o, q - off_j] Xpad[q, c], where dYgrid is dY written at
    base(p) and zero elsewhere (dY padded at the end of each spatial axis by (k-1)d: a window never
    reaches into the next row or sample). Each tap's shifted dY is one Slice of the flat grid (of
    dY's O channels, not the input's C), stacked they make the left operand (taps*O, Q), and the
    input is packed once for one product with K = Q, M = taps*O, N = C, instead of taps skinny
    products that each copy and pack the input. Holds taps x dY at once."""
    import itertools

    from fgc.primitives import conv

    nd = len(kernel)
    channels, outs = b.type(x).shape[1], b.type(gy).shape[1]
    spans = [(k - 1) * d for k, d in zip(kernel, dilations)]
    grid = [h + pads[i] + pads[nd + i] for i, h in enumerate(b.type(x).shape[2:])]   # Hp, static
    # Xpad channels-last, flat: (N*prod(Hp), C)
    xg = b.Transpose(x, perm=(0, *range(2, 2 + nd), 1))
    if any(pads):
        xg = b.Pad(xg, pads=(0, *pads[:nd], 0, 0, *pads[nd:], 0))
    xg = b.Reshape(xg, shape=(-1, channels))
    # dY channel-major on the padded grid, flat: (O, N*prod(Hp)), then `reach` zero columns in front
    dyg = b.Transpose(gy, perm=(1, 0, *range(2, 2 + nd)))
    dyg = b.Reshape(b.Pad(dyg, pads=(0,) * (nd + 2) + (0, 0, *spans)), shape=(outs, -1))
    row = [int(np.prod(grid[a + 1:])) for a in range(nd)]      # flat stride of each spatial axis
    reach = sum(sp * r for sp, r in zip(spans, row))
    dyg = b.Pad(dyg, pads=(0, reach, 0, 0))
    shifted = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        off = sum(j * d * r for j, d, r in zip(offset, dilations, row))
        shifted.append(b.Slice(dyg, starts=(reach - off,), ends=(-off if off else 2 ** 62,), axes=(1,)))
    left = b.Concat(*shifted, axis=0) if len(shifted) > 1 else shifted[0]       # (taps*O, Q)
    dw = b.Reshape(b.MatMul(left, xg), shape=(-1, outs, channels))              # (taps, O, C)
    return b.Reshape(b.Transpose(dw, perm=(1, 2, 0)), shape=(outs, channels, *kernel))


COLUMNS = ("routed", "per sample", "one product", "shifted dY", "batch swap Conv", "patch Conv + Gemm",
           "patch Slices + Gemm", "shifted dY, one product")


def _rules(strides):
    from fgc.primitives import conv

    rules = {
        "routed": lambda b, x, gy, k, s, p, d: conv.weight_grad(b, x, gy, k, s, p, d, 1),
        "per sample": conv._im2col_weight_grad,
        "one product": conv._one_gemm_weight_grad,
        "batch swap Conv": conv._batch_swap_weight_grad,
        "patch Conv + Gemm": patch_gemm_weight_grad,
        "patch Slices + Gemm": lambda b, x, gy, k, s, p, d: patch_gemm_weight_grad(b, x, gy, k, s, p, d, "slices"),
    }
    if all(s == 1 for s in strides):
        rules["shifted dY"] = lambda b, x, gy, k, s, p, d: conv._shifted_dy_weight_grad(b, x, gy, k, p, d)
        rules["shifted dY, one product"] = (
            lambda b, x, gy, k, s, p, d: shifted_dy_gemm_weight_grad(b, x, gy, k, p, d))
    return rules


def _session(rule, x_shape, gy_shape, kernel, strides, pads, threads=1):
    import onnxruntime as ort

    from fgc.export.onnx import to_onnx
    from fgc.ir import Graph, TensorType
    from fgc.primitives import Builder

    g = Graph("dw")
    ins = [g.add_input("x", TensorType(x_shape, "float32")), g.add_input("gy", TensorType(gy_shape, "float32"))]
    g.outputs, g.output_names = [rule(Builder(g, "dw"), *ins, kernel, strides, pads, (1,) * len(kernel))], ["dw"]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(to_onnx(g).SerializeToString(), options, providers=["CPUExecutionProvider"])


def main(filters, threads=1):
    from benchmarks.timing import interleaved

    rng = np.random.default_rng(0)
    print("| shape | " + " | ".join(COLUMNS) +
          f" |  (ms, median / fastest of 9 interleaved runs, {threads} thread(s))")
    print("|---" * (1 + len(COLUMNS)) + "|")
    for name, n, c, o, dims, kernel, strides, pads in SHAPES:
        if filters and not any(f in name for f in filters):
            continue
        nd = len(kernel)
        out = tuple((dims[i] + pads[i] + pads[nd + i] - kernel[i]) // strides[i] + 1 for i in range(nd))
        feed = {"x": rng.standard_normal((n, c, *dims)).astype(np.float32),
                "gy": rng.standard_normal((n, o, *out)).astype(np.float32)}
        sessions = {k: _session(r, (n, c, *dims), (n, o, *out), kernel, strides, pads, threads)
                    for k, r in _rules(strides).items()}
        want = sessions["routed"].run(None, feed)[0]
        for k, s in sessions.items():   # every formulation computes the same dW
            np.testing.assert_allclose(s.run(None, feed)[0], want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
        times = interleaved({k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()}, warmup=1, runs=9)
        cells = [f"{times[k].median * 1e3:.2f} / {min(times[k].samples) * 1e3:.2f}" if k in times else "–"
                 for k in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    args = sys.argv[1:]
    threads = 1
    if "--threads" in args:
        at = args.index("--threads")
        threads = int(args[at + 1])
        args = args[:at] + args[at + 2:]
    main(args, threads)
