"""Run fgc's benchmarks and write benchmarks/RESULTS.md.

    python benchmarks/run.py [--quick] [--only NAME[,NAME...]] [--threads N] [--output PATH] [--list]

A benchmark is a function ``bench(ctx) -> list[Section]`` in ``BENCHMARKS`` at the bottom of this
file: adding a benchmark is adding one function to that list. A benchmark that cannot run yet
raises ``Skip(reason)`` and RESULTS.md says so in one line; one that fails is reported with its
error and the others still run.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import peers  # noqa: E402
from benchmarks.models import SEED_MODELS, ModelSpec  # noqa: E402
from benchmarks.timing import fmt_ms, fmt_rate, interleaved, measure, once  # noqa: E402

HERE = Path(__file__).resolve().parent
PREDICT_TARGET = 1 / 1.2   # fgc predict within 1.2x of onnxruntime on fgc's own exported file

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
            "runner": measure(lambda: InferenceRunner(model, "cpu"), ctx.warmup, ctx.runs),
        }
        proto = model.export(path)
        n_params = sum(int(np.prod(w.shape)) for w in model.get_weights())
        sec.rows.append([spec.name, *(fmt_ms(t[k].median) for k in ("build", "compile", "export", "runner")),
                         str(len(proto.graph.node)), f"{n_params:,}"])
        if spec.name == "mlp":
            ctx.summary.append(["mlp compile (inference pipeline)", fmt_ms(t["compile"].median), ""])
            ctx.summary.append(["mlp first-predict setup (compile + session)", fmt_ms(t["runner"].median), ""])
    return [sec]


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
        contestants[f"Keras {peers.version('keras')} ({peers.keras_backend()}) predict"] = \
            lambda: _as_list(kmodel.predict(_fgc_input(x32), batch_size=bs, verbose=0))
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
        sec = Section(f"Predict throughput: {spec.name} (batch {spec.predict_batch})",
                      [f"{spec.description}. {n:,} samples = {ctx.predict_batches} batches of {spec.predict_batch} "
                       f"per pass; contestants interleaved, {ctx.warmup} warm-up pass(es) each, median of {ctx.runs} "
                       f"timed passes. Every contestant returns the full output arrays (batches concatenated)."],
                      ["contestant", "samples/s", "µs / batch", "IQR / median", "÷ ORT-direct", "max abs diff"])
        for name, t in timings.items():
            rate = t.per_second(n)
            sec.rows.append([name, fmt_rate(rate), f"{t.median / ctx.predict_batches * 1e6:.1f}",
                             f"{t.spread:.2f}", f"{rate / ort_rate:.2f}", f"{diffs[name]:.1e}"])
        fgc_rate = timings["fgc predict (float32 data)"].per_second(n)
        ratio = fgc_rate / ort_rate
        verdict = "met" if ratio >= PREDICT_TARGET else "NOT met"
        sec.notes.append(f"**fgc / ORT-direct = {ratio:.2f}** (float32 data; target ≥ {PREDICT_TARGET:.2f}, i.e. "
                         f"within 1.2×: {verdict}). With float64 data: "
                         f"{timings['fgc predict (float64 data, as the seeds feed it)'].per_second(n) / ort_rate:.2f}.")
        ctx.summary.append([f"{spec.name} predict: fgc / ORT-direct (target ≥ {PREDICT_TARGET:.2f})",
                            f"{ratio:.2f}", verdict])
        torch_names = [k for k in timings if k.startswith("PyTorch")]
        if torch_names:
            tr = fgc_rate / timings[torch_names[0]].per_second(n)
            sec.notes.append(f"**fgc / PyTorch eager = {tr:.2f}**.")
            ctx.summary.append([f"{spec.name} predict: fgc / PyTorch eager", f"{tr:.2f}", ""])
        else:
            sec.notes.append("PyTorch: not installed, column skipped (`pip install torch==2.13.0`).")
        if not peers.available("keras"):
            sec.notes.append("Keras: not installed, column skipped.")
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
        params = model._param_feed(runner)
        sess, in_name, out_names = runner.session, runner.input_names[0], runner.output_names
        types = [t.type for t in model.inputs]
    except AttributeError as e:
        raise Skip(f"fgc internals this breakdown reads have changed ({e})")
    path = os.path.join(ctx.tmpdir, "mlp_overhead.onnx")
    model.export(path)
    direct = ctx.ort_session(path)
    direct_noprepack = ctx.ort_session(path, disable_prepacking=True)
    d_in = direct.get_inputs()[0].name
    batches = [x32[i:i + bs] for i in range(0, n, bs)]
    feed = dict(params)

    def fgc_session_run():
        for b in batches:
            feed[in_name] = b
            sess.run(out_names, feed)

    try:  # the recommended fix, prototyped outside fgc: the same predict loop, weights as initializers
        from fgc.export.onnx import to_onnx
        from fgc.runtime.session import make_session

        const_sess = make_session(to_onnx(runner.graph, params_as_inputs=False).SerializeToString(), "cpu")
    except Exception:  # noqa: BLE001 - the row is a bonus; the rest of the breakdown stands without it
        const_sess = None

    def predict_loop(sess_, with_params):
        def run():
            arrays = data_mod.prepare(model.input_names, types, x32, "input")
            chunks = []
            for i in range(0, n, bs):
                f = dict(params) if with_params else {}
                f[in_name] = arrays[0][i:i + bs]
                chunks.append(sess_.run(out_names, f))
            return np.concatenate([c[0] for c in chunks])
        return run

    steps = {
        "1. onnxruntime `run` on the exported file (weights are initializers)":
            lambda: [direct.run(None, {d_in: b}) for b in batches],
        "1b. same, prepacking of constant weights disabled":
            lambda: [direct_noprepack.run(None, {d_in: b}) for b in batches],
        "2. fgc's InferenceRunner session, `session.run` with a ready feed (weights are graph inputs)":
            fgc_session_run,
        "3. `InferenceRunner.run(arrays, params)` (+ feed dict per call)":
            lambda: [runner.run([b], params) for b in batches],
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
        "P1. predict's loop re-created here on fgc's session (weights fed as inputs): should match 5":
            predict_loop(sess, True),
    }
    if const_sess is not None:
        steps["P2. the same loop on a session of the same graph with the weights as initializers "
              "(the recommended fix, prototyped here)"] = predict_loop(const_sess, False)
    timings = interleaved(steps, warmup=ctx.warmup, runs=max(ctx.runs, 9))
    base = timings[next(iter(steps))].median
    sec = Section("Predict overhead breakdown: mlp (batch 256)",
                  [f"Each row runs {nb} batches of {bs}; times are per batch (row time / {nb}), interleaved, median "
                   f"of {max(ctx.runs, 9)}. Rows 1-3 peel fgc's call stack (`model_api.predict` → "
                   "`compiler.InferenceRunner.run` → onnxruntime) on pre-sliced batches; rows 4-6 are whole "
                   "predicts (slicing and concatenation included), so 5 ÷ 4 is fgc's predict overhead. P1/P2 "
                   "re-create predict's loop here to test a fix without touching fgc."],
                  ["step", "µs / batch", "÷ row 1"])
    for name, t in timings.items():
        sec.rows.append([name, f"{t.median / nb * 1e6:.1f}", f"{t.median / base:.2f}"])
    med = {name.split(".")[0]: t.median for name, t in timings.items()}
    note = (f"fgc predict ÷ onnxruntime predict (row 4 ÷ row 5): **{med['4'] / med['5']:.2f}**; weights fed as "
            f"inputs cost {(med['2'] - med['1']) / nb * 1e6:.1f} µs per batch (row 2 − row 1)")
    if "P2" in med:
        note += f"; with the weights as initializers (row 4 ÷ P2): **{med['4'] / med['P2']:.2f}**"
        ctx.summary.append(["mlp predict: fgc / ORT-direct with weights as initializers (prototype, see "
                            "breakdown)", f"{med['4'] / med['P2']:.2f}", ""])
    sec.notes.append(note + ".")
    return [sec]


def fit_throughput(ctx: Context) -> list[Section]:
    """fit samples/s on the seed MLP (rmsprop, categorical_crossentropy, batch 128), compile time apart.

    Skipped while fgc's Model has no compile()/fit(). The fgc half of this function was written before
    fgc could train and has not run yet: check it when training lands."""
    from benchmarks.models import fgc_mlp

    model = fgc_mlp()
    if not (hasattr(model, "compile") and hasattr(model, "fit")):
        raise Skip("fit: not yet measured (fgc's Model has no compile()/fit() yet)")
    bs, nb = 128, ctx.predict_batches
    n = bs * nb
    rng = ctx.rng(3)
    x = rng.random((n, 64))
    y = np.eye(10)[rng.integers(0, 10, n)]
    compile_s, _ = once(lambda: model.compile(optimizer="rmsprop", loss="categorical_crossentropy"))
    first_fit_s, _ = once(lambda: model.fit(x, y, epochs=1, batch_size=bs, verbose=0))
    contestants = {"fgc fit (1 epoch)": lambda: model.fit(x, y, epochs=1, batch_size=bs, verbose=0)}
    if peers.available("torch"):
        torch = peers.torch()
        from benchmarks.models import torch_mlp

        net = torch_mlp(model).train()
        opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)   # Keras RMSprop defaults
        xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))

        def torch_epoch():
            perm = torch.randperm(n)
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                opt.zero_grad()
                p = net(xt[idx]).clamp_min(1e-7)
                loss = -(yt[idx] * p.log()).sum(1).mean()
                loss.backward()
                opt.step()

        contestants[f"PyTorch {peers.version('torch')} eager (RMSprop)"] = torch_epoch
    timings = interleaved(contestants, warmup=ctx.warmup, runs=ctx.runs)
    sec = Section("Fit throughput: mlp (batch 128, rmsprop)",
                  [f"{n:,} samples per epoch; compile {fmt_ms(compile_s)}, first fit epoch (builds the train step) "
                   f"{fmt_ms(first_fit_s)}; then epochs interleaved, median of {ctx.runs}. fgc gets float64 data as in the "
                   f"seeds (cast inside fit), PyTorch float32 tensors made once; both shuffle every epoch."],
                  ["contestant", "samples/s", "µs / step"])
    for name, t in timings.items():
        sec.rows.append([name, fmt_rate(t.per_second(n)), f"{t.median / nb * 1e6:.1f}"])
    if "mlp" in REFERENCE:
        ref = ", ".join(f"{k} {fmt_rate(v)}" for k, v in REFERENCE["mlp"]["fit"].items())
        sec.notes.append(f"Reference fit figures on the CI-class machine (shared/reference/peers.md): {ref}.")
    fgc_rate = timings["fgc fit (1 epoch)"].per_second(n)
    ctx.summary.append(["mlp fit: fgc samples/s", fmt_rate(fgc_rate), ""])
    torch_names = [k for k in timings if k.startswith("PyTorch")]
    if torch_names:
        ctx.summary.append(["mlp fit: fgc / PyTorch eager", f"{fgc_rate / timings[torch_names[0]].per_second(n):.2f}",
                            ""])
    return [sec]


# Adding a benchmark = writing `def name(ctx) -> list[Section]` above and listing it here.
BENCHMARKS = [build_compile_export, pass_timings, predict_throughput, predict_overhead, fit_throughput]


# ============================================================================ report
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
        f"- **Threads**: {ctx.threads} intra-op thread(s) for every contestant (fgc via `FGC_NUM_THREADS`, "
        "onnxruntime `intra_op_num_threads`, `torch.set_num_threads`)"
        + (". One thread because several thread pools in one process (one per onnxruntime session, OpenMP's "
           "for PyTorch) interleaved on 2 vCPUs gave bimodal timings; at batch 256 these small models run as "
           "fast on one thread (see benchmarks/README.md)." if ctx.threads == 1 else "."),
        f"- **Method**: {ctx.warmup} warm-up run(s), then the median of {ctx.runs} timed runs; throughput in "
        "samples/s at the median. Contestants that are compared are timed interleaved (per round, each "
        "contestant makes one untimed settle run and one timed run) so machine drift hits them alike. The machine is shared and noisy: compare the ratios within "
        "this file, not absolute figures across runs. Data are random (`np.random.random`-style float64, as "
        "in the seeds, cast once to float32 for the peers).",
        "",
    ]
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
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"), help="where to write the report")
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

    threads = args.threads
    os.environ["FGC_NUM_THREADS"] = str(threads)   # read by fgc when it creates a session
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
        for bench in BENCHMARKS:
            if only and bench.__name__ not in only:
                continue
            print(f"[bench] {bench.__name__} ...", file=sys.stderr, flush=True)
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
        report = header(ctx, argv, time.perf_counter() - started, only) + "\n" + "\n".join(sections)
    Path(args.output).write_text(report)
    print(report)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
