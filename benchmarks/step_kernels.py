"""A benchmark model's train step as fit builds it, a session of it on a given number of onnxruntime threads,
and each node's kernel time read from onnxruntime's profiler: what benchmarks/conv_threads.py and
benchmarks/recurrent_threads.py compare at 1 and 2 threads."""
from __future__ import annotations

import collections
import json
import os

import numpy as np

CONTROL_FLOW = {"If", "Loop", "Scan"}


def train_step(name: str, threads: int | None = None):
    """(train-step proto, its feeds, whether fit's session keeps the memory pattern) of ``name`` in
    benchmarks.models.TRAIN_MODELS, compiled with rmsprop and run once, fed as the trainer feeds it (state as
    host arrays). ``threads``: build it as fgc does for a session of that many intra-op threads (FGC_NUM_THREADS
    while it is built: the reverse loops' form depends on it); None: this process's setting."""
    from benchmarks.models import TRAIN_MODELS
    from benchmarks.run import _fgc_input, _loss_arg
    from fgc.training.loop import make_batches

    spec = TRAIN_MODELS[name]
    model = spec.build_fgc()
    model.compile(optimizer="rmsprop", loss=_loss_arg(spec.losses))
    xs, ys = spec.make_data(spec.batch, np.random.default_rng(0))
    x, y = _fgc_input(xs), _fgc_input(ys)
    saved = os.environ.get("FGC_NUM_THREADS")
    if threads is not None:
        os.environ["FGC_NUM_THREADS"] = str(threads)
    try:
        model.train_on_batch(x, y)
    finally:
        if saved is None:
            os.environ.pop("FGC_NUM_THREADS", None)
        else:
            os.environ["FGC_NUM_THREADS"] = saved
    trainer = model._trainer
    compiled = trainer.step(True)
    names = [i.name for i in compiled.proto.graph.input]
    data = make_batches(model, x, y)
    batch, _ = next(iter(data.chunks(spec.batch, keys=[k for k in names if k in data.arrays])))
    state = {k: np.array(trainer._host(v)) for k, v in trainer.now.arrays.items()}
    feeds = {}
    for n in names:
        if n in batch:
            feeds[n] = batch[n]
        elif n in state:
            feeds[n] = state[n]
        elif n in ("lr", "step"):
            feeds[n] = np.array(1e-3 if n == "lr" else 1, np.float32)
        else:
            raise KeyError(f"no feed for the step's input {n}")
    return compiled.proto, feeds, compiled.mem_pattern


def session(proto, threads: int, mem_pattern: bool = True, profile_prefix: str | None = None):
    """An onnxruntime CPU session of ``proto`` as fgc makes it (the copy with blocked convs,
    fgc/runtime/nchwc.py, and fgc's settings) on ``threads`` intra-op threads (one inter-op thread), profiling to
    files named from ``profile_prefix`` when given."""
    import onnxruntime as ort

    from fgc.runtime import nchwc

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.enable_mem_pattern = mem_pattern
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    if profile_prefix:
        opts.enable_profiling, opts.profile_file_prefix = True, profile_prefix
    return ort.InferenceSession(nchwc.session_bytes(proto, "cpu"), opts, providers=["CPUExecutionProvider"])


def node_minima(profile_file: str, skip: int, control_flow: bool = False):
    """From an onnxruntime profile, over the runs after the first ``skip``: each node's fastest kernel time (ms;
    a node inside a body may run several times a run, and those add up), each node's op type, every run's time,
    and per node [kernel runs, parallel sections] in the last run (a section: one split of a kernel's work across
    the intra-op pool, with its join; onnxruntime's thread_scheduling_stats). An If, Loop or Scan is left out
    unless ``control_flow``: its body's nodes are profiled themselves, and its own time is theirs."""
    with open(profile_file) as f:
        events = json.load(f)
    runs = [e for e in events if e.get("name") == "model_run"][skip:]
    kernels = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
               and (control_flow or e["args"].get("op_name") not in CONTROL_FLOW)]
    best, ops = {}, {}
    for run in runs:
        per_node = collections.defaultdict(float)
        splits = collections.defaultdict(lambda: [0, 0])
        for e in kernels:
            if run["ts"] <= e["ts"] <= run["ts"] + run["dur"]:
                node = e["name"][:-len("_kernel_time")]
                per_node[node] += e["dur"] / 1e3
                ops[node] = e["args"].get("op_name")
                stats = e["args"].get("thread_scheduling_stats") or {}
                main = (json.loads(stats) if isinstance(stats, str) else stats).get("main_thread", {})
                splits[node][0] += 1
                splits[node][1] += len(main.get("block_size", ()))
        for node, ms in per_node.items():
            best[node] = min(ms, best.get(node, ms))
    return best, ops, [r["dur"] / 1e3 for r in runs], (splits if runs else {})
