"""How many intra-op threads a train or evaluation step's session gets, and which predict calls run on one.

onnxruntime splits a kernel across its intra-op pool and joins the threads again at its end: a few
microseconds per kernel, which a step whose kernels each take a few microseconds pays for nothing.
So a step whose arithmetic is small runs on one thread, where PyTorch's grain sizes keep small ops
single-threaded too. Measured on the 2-vCPU reference machine, the same session at 1 and 2 threads:
see SMALL_STEP_FLOPS.

A predict session serves every batch size, so predict keeps two: onnxruntime's default pool and, made the
first time a call small enough comes (small_call_rows), one on a single thread.

``FGC_NUM_THREADS`` stays the cap: a step never gets more than it says.
"""
from __future__ import annotations

import os
from math import ceil

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
    if not batch_rows:
        return None
    flops = _flops_at(graph, batch_rows)
    if flops is None:
        return None
    return 1 if flops < SMALL_STEP_FLOPS else None


def thread_cap() -> int | None:
    """FGC_NUM_THREADS, the most intra-op threads any fgc session gets; None when it is not set."""
    value = os.environ.get("FGC_NUM_THREADS")
    if not value:
        return None
    try:
        cap = int(value)
    except ValueError:
        cap = 0
    if cap < 1:
        raise ValueError(f"FGC_NUM_THREADS={value!r}: expected a whole number of threads, 1 or more "
                         f"(unset it to let onnxruntime choose)")
    return cap


def pool_threads() -> int:
    """The intra-op threads a step's session runs where step_threads leaves the choice open:
    FGC_NUM_THREADS, else onnxruntime's default of one per core (os.cpu_count(), which also counts
    hyperthreads)."""
    return thread_cap() or os.cpu_count() or 1


def _flops_at(graph: Graph, batch_rows: int) -> float | None:
    """MatMul / Gemm / Conv / recurrent FLOPs of one run at ``batch_rows`` rows; None where another dim
    (a sequence length) is unknown until a batch arrives."""
    from fgc.passes.flops import matmul_flops

    sizes = {}
    for value in graph.inputs:
        shape = graph.type_of(value).shape
        if shape and isinstance(shape[0], str) and "*" not in shape[0]:
            sizes[shape[0]] = batch_rows
    try:
        return sum(matmul_flops(graph, sizes).values())
    except ValueError:   # a dim besides the batch is unknown: the size of the work is not known yet
        return None


# A predict call under this many MatMul / Gemm / Conv / recurrent FLOPs runs on one thread. The inference
# session at 1 and 2 threads on the 2-vCPU reference machine (interleaved runs, paired median of 2t / 1t,
# FGC_NUM_THREADS unset: onnxruntime's default pool is 2 threads there too; the machine shared, so the second
# thread's gains read low): under 8 MFLOP one thread wins everywhere: the seed MLP at 32 rows (0.2 MFLOP)
# 1.26, at 256 (1.7) 1.03, at 1024 (7.0) 1.03-1.08; headline_dense at 32 (0.7) 1.17, at 256 (5.5) 1.02; the
# Transformer block at 1-16 rows (0.3-4.7) 1.04-1.09. Around it the Transformer ties at 24 rows (7.1) 1.00 and
# gains from 32 rows (9.4) 0.92-1.02 (fastest 0.93), at 64 (19) fastest 0.86-0.87, while the dense models still
# lose a little up to ~40 MFLOP (MLP at 2048 rows 1.01-1.03, headline_dense at 1024-2048 0.97-1.02) and tie
# beyond; U-Net and the LSTM models gain. The line sits where the Transformer's gain starts. It is lower than
# SMALL_STEP_FLOPS by measurement: the Transformer's train step at batch 32 (25 MFLOP, its many small gradient
# kernels included) lost at 2 threads, its forward alone at 32 rows (9.4) gains.
SMALL_CALL_FLOPS = 8e6
# The 1-thread session holds its own copy of the weights (initializers in the inference proto; onnxruntime
# also prepacks them per session), so predict keeps one only for models whose weights are at most this big.
SMALL_CALL_MAX_WEIGHT_BYTES = 16 * 2 ** 20


def small_call_rows(graph: Graph, weight_bytes: int) -> int:
    """Predict calls with fewer rows than this run on a 1-thread session; 0 where none ever does: the
    default pool is one thread already (FGC_NUM_THREADS=1), the weights are too big to hold twice, the
    FLOPs are not known before a batch (sequence lengths), or the graph has no counted arithmetic to
    decide by."""
    if pool_threads() <= 1 or weight_bytes > SMALL_CALL_MAX_WEIGHT_BYTES:
        return 0
    one, two = _flops_at(graph, 1), _flops_at(graph, 2)
    if one is None or two is None or two == 0:
        return 0
    per_row, fixed = two - one, 2 * one - two   # fixed: work that does not grow with the rows (a fixed batch)
    if fixed >= SMALL_CALL_FLOPS:
        return 0
    if per_row == 0:   # an Input with a fixed batch size: every call does the same (small) work
        return 2 ** 62
    return ceil((SMALL_CALL_FLOPS - fixed) / per_row)
