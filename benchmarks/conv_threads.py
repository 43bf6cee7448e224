"""Why the conv models' train steps gain little from a second thread: each step's kernels by op type at 1 and
at 2 onnxruntime intra-op threads, and single kernels at both counts.

    python -m benchmarks.conv_threads [model ...]      (default: resnet_block inception three_heads unet)
    python -m benchmarks.conv_threads --kernels         single kernels on a resnet_block-sized map

Per model: the train step as fit builds it (model._trainer.step(True).proto), one session at 1 and one at 2
threads, run alternately under onnxruntime's profiler; each node's time is its fastest of the runs (the
minimum filters the load of a shared machine, which hits a 2-thread run hardest), summed by op type.

What it showed before Relu's gradient became a product (git fff75a4; per-node minima of 15 alternating runs on
the shared 2-core machine, loaded; ms at 1 thread / 2 threads, speedup in brackets):

| op type | resnet_block | inception | three_heads | U-Net |
|---|---|---|---|---|
| Conv + FusedConv | 216 / 130 (1.65) | 251 / 159 (1.58) | 281 / 225 (1.25) | 11.6 / 7.7 (1.51) |
| FusedMatMul + MatMul (dW taps) | 100 / 56 (1.80) | 134 / 102 (1.31) | 130 / 88 (1.48) | 5.6 / 5.6 (0.99) |
| ConvTranspose (stride-2 dX) | – | 50 / 44 (1.13) | – | 0.26 / 0.42 (0.62) |
| Slice (dW taps) | 42 / 46 (0.90) | 37 / 40 (0.92) | 9 / 9 (0.96) | 2.9 / 2.8 (1.02) |
| Where (Relu gradient) | 15 / 15 (0.96) | 29 / 34 (0.86) | 5 / 5 (0.97) | 1.5 / 1.5 (0.99) |
| Pad | 9 / 10 (0.91) | 9 / 10 (0.94) | 11 / 11 (1.03) | 0.6 / 0.6 (1.01) |
| MaxPool (with indices) | 13 / 7 (1.88) | – | 28 / 18 (1.55) | 1.4 / 1.2 (1.10) |
| ReduceSum | 4 / 4 (0.87) | 7 / 8 (0.85) | 6 / 4 (1.42) | 0.3 / 0.4 (0.95) |
| Transpose | 4 / 4 (1.16) | 14 / 9 (1.54) | 27 / 20 (1.33) | 1.5 / 1.6 (0.89) |
| all kernels | 418 / 284 (1.47) | 554 / 423 (1.31) | 602 / 452 (1.33) | 28.8 / 25.2 (1.14) |

The Conv and GEMM kernels split (1.3-1.8x; inception's stride-2 dW products, K = N*P = 8192, only 1.1x); what
does not: Slice, Pad, Where, ReduceSum over the batch of the per-sample dW products (a (32, 64, 64) sum: 0.024 ms
at 1 thread, 0.069 at 2), Transpose of these sizes, and the stride-2 dX ConvTranspose (a GEMM, then a col2im
that onnxruntime runs on one thread). At 2 threads they hold 20-25 % of resnet_block's and inception's kernel
time. The U-Net step (batch 16, 588 nodes) is bound by its node count: its small MatMuls, Slices, Reshapes and
Transposes take the same time at 2 threads.

Single kernels on 2M floats (ms, fastest of 30 interleaved, 1t / 2t): Slice of a 3x3 tap 0.70 / 0.70, Pad 1.11 /
1.14, Transpose NCHW->NHWC 1.08 / 1.11, Cast bool->float 0.47 / 0.47, Where(mask, g, 0) 3.34 / 3.31 (the
broadcast scalar takes a slow path), while Mul 0.67 / 0.40, Greater 0.49 / 0.27, Relu 0.85 / 0.49, ReduceSum over
(0, 2, 3) 0.37 / 0.22 and a Gather of whole rows 0.79 / 0.40 split.

So Relu's gradient is g * Cast(y > 0) (elementwise.RELU_MASK_PRODUCT): Greater + Cast + Mul 1.6 / 1.1 ms against
Greater + Where 3.6 / 3.5 on 2M floats, and no slower from 8k floats up. The Relu gradients' kernels (per-node
minima, both graphs profiled alternately): resnet_block 37.7 -> 15.3 ms at 1 thread, 37.7 -> 11.3 at 2;
inception 41.6 -> 30.5 and 49.9 -> 20.0; U-Net 1.22 -> 1.01; three_heads 7.4 -> 5.6. The raw step, old and new
graph interleaved in one process (paired median of new / old; fastest old -> new, ms): inception 1t 0.966 (530
-> 519), 2t 0.936 (327 -> 312); resnet_block 1t 0.981 (421 -> 414), 2t 0.965 (320 -> 296); U-Net 1t 0.977
(20.6 -> 20.2, 200 rounds).

After the change (the script as committed, same method, 05:33 UTC): inception 504 / 360 ms (1.40x), three_heads
600 / 360 (1.67x), U-Net 21.9 / 20.1 (1.09x), resnet_block 420 / 374 (1.12x: in both runs of that hour its Convs
read the same at 2 threads as at 1, which the quieter run above did not show; a core taken by other work holds
a 2-thread kernel back for its whole length, so the 2-thread column is the figure a loaded machine hurts).
Slice (35-50 ms, 0.9x) and Pad (9-10 ms, 0.9-1.0x) are what remains of the non-splitting work in resnet_block and
inception, with inception's stride-2 ConvTranspose (49 / 41 ms) and its one-product stride-2 dW MatMuls (36 / 31).

Tried and dropped: the dW taps' columns as one Gather per tap over the flattened channels-last input (so that
the copy splits across threads): onnxruntime's Gather of (N*P) C-vectors did not split either and is slower
than the Slice at 1 thread (a 3x3 tap of 32x34x34x64: 1.09 / 1.12 ms against the Slice's 0.71 / 0.70; C 8:
0.084 against 0.037); the routed per-tap Slice rule stays. Whether another dW rule wins at 2 threads (the one-hot
patch Conv + one Gemm over all taps split 1.2-1.5x where the routed rule split ~1x in some runs: inception 3x3/2
96 / 62 ms against 78 / 96) stayed open: under this session's load (load average 3-5 on the 2 cores) one rule's
fastest of 15 moved 3x between runs. ``python -m benchmarks.conv_weight_grad --threads 2`` rechecks it on a quiet
machine; the rule keeps its 1-thread measurements.
"""
from __future__ import annotations

import collections
import os
import sys
import time

import numpy as np

from benchmarks.step_kernels import node_minima, session, train_step

MODELS = ("resnet_block", "inception", "three_heads", "unet")
THREADS = (1, 2)


def profile_threads(name: str, runs: int = 15, warmup: int = 2) -> dict:
    """{threads: (node minima, op types, run times)} of the model's train step, the sessions alternating."""
    import tempfile

    from benchmarks.timing import GAP

    proto, feeds, mem_pattern = train_step(name)
    tmp = tempfile.mkdtemp(prefix="conv_threads_")
    sessions = {t: session(proto, t, mem_pattern, os.path.join(tmp, f"{name}_{t}"))
                for t in THREADS}
    for _ in range(warmup + runs):
        for t, s in sessions.items():
            time.sleep(GAP)   # the other session's idle pool stops spinning first
            s.run(None, feeds)
    return {t: node_minima(s.end_profiling(), warmup)[:3] for t, s in sessions.items()}


def op_table(name: str, result: dict) -> str:
    ops = result[THREADS[0]][1]
    by_op = {t: collections.Counter() for t in THREADS}
    for t in THREADS:
        for node, ms in result[t][0].items():
            by_op[t][ops.get(node, result[t][1].get(node))] += ms
    total = {t: sum(by_op[t].values()) for t in THREADS}
    counts = collections.Counter(ops.values())
    lines = [f"## {name}: kernel sum {total[1]:.1f} ms at 1 thread, {total[2]:.1f} at 2 ({total[1] / total[2]:.2f}x); "
             f"fastest run {min(result[1][2]):.1f} / {min(result[2][2]):.1f} ms",
             "| op type | nodes | ms 1t | ms 2t | speedup | share 1t | share 2t |", "|---|---|---|---|---|---|---|"]
    for op, ms1 in by_op[1].most_common():
        ms2 = by_op[2][op]
        if ms1 < 0.005 * total[1] and ms2 < 0.005 * total[2]:
            continue
        lines.append(f"| {op} | {counts[op]} | {ms1:.2f} | {ms2:.2f} | {ms1 / ms2 if ms2 else float('nan'):.2f} | "
                     f"{ms1 / total[1]:.1%} | {ms2 / total[2]:.1%} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- single kernels
def _kernel_cases():
    """(name, model, feeds) of single kernels on a 32x64x32x32 map (resnet_block's)."""
    from onnx import TensorProto as T
    from onnx import helper as h

    def model(nodes, inputs, outputs, inits=()):
        graph = h.make_graph(nodes, "k", inputs, outputs, initializer=list(inits))
        return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], ir_version=8)

    def vi(name, shape, t=T.FLOAT):
        return h.make_tensor_value_info(name, t, shape)

    def ints(name, values):
        return h.make_tensor(name, T.INT64, [len(values)], values)

    n, c, w = 32, 64, 32
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, w, w)).astype(np.float32)
    padded = rng.standard_normal((n, w + 2, w + 2, c)).astype(np.float32)
    s, sl = [n, c, w, w], [n, w, w, c]
    zero = h.make_tensor("zero", T.FLOAT, [], [0.0])
    return [
        ("Relu gradient: Greater + Where", model([h.make_node("Greater", ["x", "zero"], ["m"]),
                                                  h.make_node("Where", ["m", "g", "zero"], ["y"])],
                                                 [vi("x", s), vi("g", s)], [vi("y", s)], [zero]), {"x": x, "g": x}),
        ("Relu gradient: Greater + Cast + Mul",
         model([h.make_node("Greater", ["x", "zero"], ["m"]), h.make_node("Cast", ["m"], ["f"], to=T.FLOAT),
                h.make_node("Mul", ["g", "f"], ["y"])], [vi("x", s), vi("g", s)], [vi("y", s)], [zero]),
         {"x": x, "g": x}),
        ("Slice: a 3x3 tap, channels-last", model([h.make_node("Slice", ["x", "b", "e", "a"], ["y"])],
                                                   [vi("x", list(padded.shape))], [vi("y", sl)],
                                                   [ints("b", [1, 1]), ints("e", [w + 1, w + 1]), ints("a", [1, 2])]),
         {"x": padded}),
        ("Gather: a 3x3 tap's rows, channels-last", model([h.make_node("Gather", ["x", "i"], ["y"], axis=1)],
                                                           [vi("x", list(padded.shape))], [vi("y", [n, w, w + 2, c])],
                                                           [ints("i", list(range(1, w + 1)))]), {"x": padded}),
        ("Pad 1", model([h.make_node("Pad", ["x", "p"], ["y"])], [vi("x", s)], [vi("y", [n, c, w + 2, w + 2])],
                        [ints("p", [0, 0, 1, 1, 0, 0, 1, 1])]), {"x": x}),
        ("Transpose NCHW -> NHWC", model([h.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], [vi("x", s)],
                                         [vi("y", sl)]), {"x": x}),
        ("ReduceSum over (0, 2, 3)", model([h.make_node("ReduceSum", ["x", "a"], ["y"], keepdims=0)], [vi("x", s)],
                                           [vi("y", [c])], [ints("a", [0, 2, 3])]), {"x": x}),
        ("Mul", model([h.make_node("Mul", ["x", "g"], ["y"])], [vi("x", s), vi("g", s)], [vi("y", s)]),
         {"x": x, "g": x}),
    ]


def kernel_table(runs: int = 30) -> str:
    lines = ["| kernel (32x64x32x32 floats) | ms 1t | ms 2t | speedup |  (fastest of %d interleaved)" % runs,
             "|---|---|---|---|"]
    for name, model, feeds in _kernel_cases():
        sessions = {t: session(model, t) for t in THREADS}
        times = {t: [] for t in THREADS}
        for i in range(runs + 3):
            for t, s in sessions.items():
                start = time.perf_counter()
                s.run(None, feeds)
                if i >= 3:
                    times[t].append((time.perf_counter() - start) * 1e3)
        best = {t: min(v) for t, v in times.items()}
        lines.append(f"| {name} | {best[1]:.3f} | {best[2]:.3f} | {best[1] / best[2]:.2f} |")
    return "\n".join(lines)


def main(args):
    if "--kernels" in args:
        print(kernel_table(), flush=True)
        return
    for name in args or MODELS:
        print(op_table(name, profile_threads(name)), "\n", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    main(sys.argv[1:])
