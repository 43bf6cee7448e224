"""How many intra-op threads a train or evaluation step's session gets.

onnxruntime splits a kernel across its intra-op pool and joins the threads again at its end: a few
microseconds per kernel, which a step whose kernels each take a few microseconds pays for nothing.
So a step whose arithmetic is small runs on one thread, where PyTorch's grain sizes keep small ops
single-threaded too. Measured on the 2-vCPU reference machine, the same session at 1 and 2 threads:
see SMALL_STEP_FLOPS.

``FGC_NUM_THREADS`` stays the cap: a step never gets more than it says.
"""
from __future__ import annotations

from fgc.ir import Graph

# Steps under this many MatMul / Gemm / Conv FLOPs per batch run on one thread. The same train-step session at
# 1 and 2 threads on the 2-vCPU reference machine (fastest / median of interleaved runs): the Transformer block
# of benchmarks/models_extra.py at batch 32 (25 MFLOP) 0.95 / 1.31 ms at 1 thread, 1.23 / 1.46 at 2; at 128
# (101 MFLOP) 4.45 / 5.43 against 4.06 / 5.22; at 512 15.6 / 24.2 against 12.0 / 16.2. Through fit, the seed
# MLP at batch 128 (2.6 MFLOP) was 1.14x and the Transformer at 32 1.06x slower at 2 threads (paired). The
# LSTM models (1.2 GFLOP at batch 128) and three_heads gain from the second thread.
SMALL_STEP_FLOPS = 50e6


def step_threads(graph: Graph, batch_rows: int | None) -> int | None:
    """1 for a step whose FLOPs at ``batch_rows`` rows per batch are under SMALL_STEP_FLOPS, else None
    (onnxruntime's own choice, or FGC_NUM_THREADS). None too where the FLOPs are not known before a
    batch arrives: no batch size yet, or other unknown dims (sequence lengths)."""
    from fgc.passes.flops import matmul_flops

    if not batch_rows:
        return None
    sizes = {}
    for value in graph.inputs:
        shape = graph.type_of(value).shape
        if shape and isinstance(shape[0], str) and "*" not in shape[0]:
            sizes[shape[0]] = batch_rows
    try:
        flops = sum(matmul_flops(graph, sizes).values())
    except ValueError:   # a dim besides the batch is unknown: the size of the work is not known yet
        return None
    return 1 if flops < SMALL_STEP_FLOPS else None
