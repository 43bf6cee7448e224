"""Benchmarks of issue 13 (training speed and memory): the FLOP / peak table, compile time, peak RSS of
fit against PyTorch eager, and scaling with batch size and sequence length. Listed in run.py's
BENCHMARKS; the method of each is in benchmarks/README.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import peers
from benchmarks.timing import interleaved, once

HERE = Path(__file__).resolve().parent


def _run():
    from benchmarks import run

    return run


def _models() -> dict:
    """name -> (build fgc model, make_data(n, rng) -> (xs, ys), losses, batch, fit batches per epoch, torch builder,
    torch loss): the seed MLP and every TrainSpec."""
    from benchmarks import models as m

    out = {"mlp": (m.fgc_mlp, lambda n, rng: (m._mlp_inputs(n, rng), [m._one_hot(rng, n, 10)]),
                   ["categorical_crossentropy"], 128, 8, m.torch_mlp, m._cce_loss)}
    for name, spec in m.TRAIN_MODELS.items():
        out[name] = (spec.build_fgc, spec.make_data, spec.losses, spec.batch, spec.fit_batches, spec.build_torch,
                     spec.torch_loss)
    return out


def _compiled_model(name: str, batch: int, rng):
    build, make_data, losses, *_ = _models()[name]
    run = _run()
    model = build()
    model.compile(optimizer="rmsprop", loss=run._loss_arg(losses))
    xs, ys = make_data(batch, rng)
    model.train_on_batch(run._fgc_input(xs), run._fgc_input(ys))
    return model, xs, ys


# ---------------------------------------------------------------------------- (a) FLOPs and the machine's peak
def _ort_peak(ctx, op: str) -> tuple[float, str]:
    """GFLOP/s of one large float32 MatMul or Conv in onnxruntime at ctx.threads: the fastest of 7 runs after 2
    warm-ups (a peak is the best the machine does; load only takes from it: medians of 3 read 86-122 GFLOP/s
    for the same MatMul across runs)."""
    import onnx
    from onnx import TensorProto, helper

    from fgc.runtime import nchwc

    if op == "MatMul":
        n = 1024 if ctx.quick else 2048
        shapes, flops, what = ([n, n], [n, n]), 2.0 * n ** 3, f"MatMul {n}×{n} @ {n}×{n}"
        out = [n, n]
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
    else:
        b, c, hw = (8 if ctx.quick else 16), 128, 32
        shapes = ([b, c, hw, hw], [c, c, 3, 3])
        flops, what = 2.0 * b * c * hw * hw * c * 9, f"Conv {b}×{c}×{hw}×{hw}, 3×3, {c} filters, pads 1 (filter an input, run as fgc's steps run it)"
        node = helper.make_node("Conv", ["a", "b"], ["y"], pads=[1, 1, 1, 1])
        out = [b, c, hw, hw]
    graph = helper.make_graph([node], "peak", [helper.make_tensor_value_info(k, TensorProto.FLOAT, s)
                                               for k, s in zip("ab", shapes)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    # the filter is an input, as in a train step: the Conv runs as fgc's step sessions run it (blocked kernels
    # where the build has them, fgc/runtime/nchwc.py)
    sess = ctx.ort_session(nchwc.session_bytes(proto, "cpu"))
    rng = ctx.rng(11)
    feeds = {k: rng.standard_normal(s).astype(np.float32) for k, s in zip("ab", shapes)}
    timing = interleaved({"peak": lambda: sess.run(None, feeds)}, warmup=2, runs=7, settle=0)["peak"]
    return flops / min(timing.samples) / 1e9, what


def _phase(name: str) -> str:
    if name.startswith("grad/"):
        return "backward"
    if name.startswith(("opt/", "new/", "loss")):
        return "other"
    return "forward"


def _peaks(ctx) -> dict[str, tuple[float, str]]:
    """op -> (GFLOP/s, what was run) of onnxruntime's large MatMul and Conv, measured once per run and thread count."""
    key = ("ort_peak", ctx.threads)
    if key not in ctx.stash:
        ctx.stash[key] = {op: _ort_peak(ctx, op) for op in ("MatMul", "Conv")}
    return ctx.stash[key]


def _step_figures(ctx, name: str) -> dict:
    """One model's train step, measured once per run and thread count (flops_peak and node_floor share it): its
    batch, FLOPs by graph node, and `run._profile_step`'s profile (profiled kernels, plain step time, node
    executions)."""
    from fgc.passes.flops import input_sizes, matmul_flops
    from fgc.training.loop import make_batches

    key = ("step_figures", name, ctx.threads)
    if key not in ctx.stash:
        run = _run()
        batch = _models()[name][3]
        model, xs, ys = _compiled_model(name, batch, ctx.rng(7))
        graph = model._trainer.step(True).graph
        feeds, _ = next(make_batches(model, run._fgc_input(xs), run._fgc_input(ys)).chunks(batch))
        counts = matmul_flops(graph, {"N": batch, **input_sizes(graph, dict(feeds))})
        profile = run._profile_step(ctx, model, xs, ys, batch, 1 if ctx.quick else 3)
        ctx.stash[key] = {"batch": batch, "flops": counts, "profile": profile}
    return ctx.stash[key]


def flops_peak(ctx) -> list:
    """FLOPs per sample of each model's train step (forward, backward), achieved GFLOP/s and its fraction of the
    machine's practical peak (onnxruntime's own large MatMul and Conv), where the time goes by op type."""
    run = _run()
    peaks = _peaks(ctx)
    peak = max(p for p, _ in peaks.values())
    intro = (f"Machine's practical peak at {ctx.threads} thread(s), measured by onnxruntime itself (fastest of 7 runs): "
             + "; ".join(f"{what}: **{gf:.1f} GFLOP/s**" for gf, what in peaks.values())
             + f". Fractions below are of the larger, {peak:.1f} GFLOP/s.")
    sec = run.Section("Train-step FLOPs and fraction of peak", [intro, (
        "FLOPs: `fgc.passes.flops.matmul_flops` over the train-step graph (`model._trainer.step(True).graph`): "
        "MatMul, Gemm, Conv, ConvTranspose at 2 FLOPs per multiply-add, Scan bodies once per time step, "
        "elementwise ops not counted; forward = nodes not named `grad/…` (nor the loss or optimizer), backward = "
        "`grad/…`. Time: onnxruntime's profiler on the same step (as `train_step_profile`), kernel time of the "
        "top-level nodes of each phase (a Scan's time counts whole), median of the profiled steps; achieved = "
        "FLOPs ÷ that time; the step column is FLOPs of the whole step ÷ the step's wall time without profiler "
        f"(`run._profile_step`: median of the steps that fill {_plain_budget_text(ctx)}).")],
        ["model (batch)", "MFLOP / sample fwd", "MFLOP / sample bwd", "fwd GFLOP/s (÷ peak)",
         "bwd GFLOP/s (÷ peak)", "step GFLOP/s (÷ peak)", "ms / step", "kernel time by op type"])
    ceiling = []
    for name in _models():
        batch = _models()[name][3]
        try:
            figures = _step_figures(ctx, name)
        except Exception as e:  # noqa: BLE001
            sec.rows.append([f"{name} ({batch})", f"failed: {type(e).__name__}: {str(e)[:120]}"] + [""] * 6)
            continue
        counts, profile = figures["flops"], figures["profile"]
        nodes, plain = profile.nodes, profile.plain_ms
        flops = {p: sum(v for k, v in counts.items() if _phase(k) == p) for p in ("forward", "backward")}
        ms = {p: sum(t for k, (_, t) in nodes.items() if _phase(k) == p) for p in ("forward", "backward")}
        by_op: dict[str, float] = {}
        for op, t in nodes.values():
            by_op[op] = by_op.get(op, 0.0) + t
        total = sum(by_op.values()) or 1.0
        shares = ", ".join(f"{op} {t / total:.0%}" for op, t in sorted(by_op.items(), key=lambda kv: -kv[1])[:4])

        def rate(f, t):
            return f"{f / t / 1e6:.1f} ({f / t / 1e6 / peak:.0%})" if t > 0 else "–"

        step = sum(counts.values())
        sec.rows.append([f"{name} ({batch})", f"{flops['forward'] / batch / 1e6:.2f}",
                         f"{flops['backward'] / batch / 1e6:.2f}", rate(flops["forward"], ms["forward"]),
                         rate(flops["backward"], ms["backward"]), rate(step, plain), f"{plain:.2f}", shares])
        ceiling.append(_ceiling_row(ctx, name, batch, step, peak, plain))
        ctx.summary.append([f"{name} train step: fraction of peak (fwd / bwd)",
                            f"{flops['forward'] / max(ms['forward'], 1e-9) / 1e6 / peak:.0%} / "
                            f"{flops['backward'] / max(ms['backward'], 1e-9) / 1e6 / peak:.0%}", ""])
    return [sec, _ceiling_section(run, peak, ceiling)]


def _plain_budget_text(ctx) -> str:
    run = _run()
    if ctx.quick:
        return (f"{run.QUICK_PLAIN_BUDGET_S} s and number at least {run.QUICK_PLAIN_MIN_RUNS}, after "
                f"{run.QUICK_PLAIN_WARMUP} warm-ups")
    return f"{run.PLAIN_BUDGET_S} s and number at least {run.PLAIN_MIN_RUNS}, after {run.PLAIN_WARMUP} warm-ups"


def _peer_ms(ctx, name: str, batch: int) -> tuple[str, float] | None:
    """(short name, ms / step) of the faster peer in this run's fit table of the model; None if it did not run."""
    rates = ctx.stash.get((name, "fit", ctx.threads)) or {}
    fastest = _run()._fastest(rates)
    if fastest is None:
        return None
    peer, rate = fastest
    return peer.split(" (")[0], batch / rate * 1e3


def _ceiling_row(ctx, name: str, batch: int, step_flops: float, peak: float, step_ms: float) -> list:
    """How far the 1.5x target is from onnxruntime's own limit: the faster peer's step time (this run's fit
    table) against the time the step's FLOPs would take at the peak."""
    at_peak_ms = step_flops / (peak * 1e9) * 1e3
    peer = _peer_ms(ctx, name, batch)
    if peer is None:
        return [name, f"{at_peak_ms:.2f}", f"{step_ms:.2f}", "–", "–", "–"]
    peer_name, peer_ms = peer
    return [name, f"{at_peak_ms:.2f}", f"{step_ms:.2f}", f"{peer_ms:.2f} ({peer_name})",
            f"{peer_ms / at_peak_ms:.2f}", f"{1.5 * at_peak_ms / peer_ms:.0%}"]


def _ceiling_section(run, peak: float, rows: list):
    return run.Section("The 1.5x target against onnxruntime's peak", [
        f"Per model: the train step's counted FLOPs (table above) at onnxruntime's measured peak ({peak:.1f} "
        "GFLOP/s) is the fastest the step can run on onnxruntime's kernels; the faster peer's ms / step is from "
        "this run's fit table of the same model. Ceiling = peer ms ÷ ms at peak: the best fgc ÷ peer ratio "
        "reachable with every MatMul and Conv at onnxruntime's peak and everything else free. Where it is "
        "below 1.5 the target is out of reach on this CPU with onnxruntime; the last column is the fraction "
        "of the peak the whole step would have to sustain to reach 1.5 (above 100 %: impossible). fgc's own "
        "ms / step (profiled session, without profiler) is given for scale. The MLP's FLOPs are negligible, "
        "so the peak does not bound its step: the per-node floor table below measures what onnxruntime's node "
        "launches add, the fit-overhead table what fgc's host loop adds."],
        ["model", "ms / step at peak", "fgc ms / step", "faster peer ms / step", "ceiling fgc ÷ peer",
         "share of peak needed for 1.5×"], rows=rows)


# ---------------------------------------------------------------------------- (a') the per-node floor
CHAIN_NODES = (10, 100, 1000)     # top-level chain lengths
BODY_NODES = (1, 4, 16, 64)       # nodes in a Scan / Loop body
BODY_ITERATIONS = (20, 100)       # Scan sequence lengths and Loop trip counts
TINY, SMALL = [1], [128, 32]      # scalar-sized tensors: the launch alone; [128, 32]: a small activation's worth
COST_ROUNDS = 3                   # each graph is timed in this many interleaved rounds


def _tiny_proto(nodes: list, inputs: list, outputs: list) -> bytes:
    import onnx
    from onnx import helper

    proto = helper.make_model(helper.make_graph(nodes, "per_node", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _alternating(n: int, source: str, other: str, last: str) -> list:
    """n elementwise nodes in a chain from ``source``: Add then Sub of ``other``, so values stay bounded and
    onnxruntime has nothing to fuse or fold (``other`` is a graph or body input, never a constant)."""
    from onnx import helper

    names = [f"{last}_{i}" for i in range(n - 1)] + [last]
    return [helper.make_node("Add" if i % 2 == 0 else "Sub", [src, other], [dst])
            for i, (src, dst) in enumerate(zip([source] + names[:-1], names))]


def _value(name: str, shape: list):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _chain_graph(n: int, shape: list) -> tuple[bytes, dict]:
    ones = np.ones(shape, np.float32)
    proto = _tiny_proto(_alternating(n, "x", "b", "y"), [_value("x", shape), _value("b", shape)], [_value("y", shape)])
    return proto, {"x": ones, "b": ones}


def _scan_graph(k: int, t: int, shape: list) -> tuple[bytes, dict]:
    """One Scan over t steps whose body is k nodes: state s, scanned slice x_t, s <- s ± x_t k times."""
    from onnx import helper

    body = helper.make_graph(_alternating(k, "s_in", "x_t", "s_out"), "body", [_value("s_in", shape),
                             _value("x_t", shape)], [_value("s_out", shape)])
    node = helper.make_node("Scan", ["s0", "xs"], ["y"], body=body, num_scan_inputs=1)
    proto = _tiny_proto([node], [_value("s0", shape), _value("xs", [t] + shape)], [_value("y", shape)])
    return proto, {"s0": np.ones(shape, np.float32), "xs": np.ones([t] + shape, np.float32)}


def _loop_graph(k: int, t: int, shape: list) -> tuple[bytes, dict]:
    """One Loop of t trips (as steps_per_execution runs the step) whose body is k nodes on the carried state
    (against an outer-scope tensor) plus the Identity that carries the condition: k + 1 nodes per trip."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        _alternating(k, "s_in", "b", "s_out") + [helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), _value("s_in", shape)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _value("s_out", shape)])
    node = helper.make_node("Loop", ["trips", "", "s0"], ["y"], body=body)
    proto = _tiny_proto([node], [helper.make_tensor_value_info("trips", TensorProto.INT64, []), _value("s0", shape),
                                 _value("b", shape)], [_value("y", shape)])
    ones = np.ones(shape, np.float32)
    return proto, {"trips": np.array(t, np.int64), "s0": ones, "b": ones}


def _time_graphs(ctx, graphs: dict) -> dict:
    """key -> Timing of session.run on each (proto, feeds), in COST_ROUNDS interleaved rounds, each round
    repeating a graph until its calls cover a share of the budget."""
    from benchmarks.timing import Timing, repeat_for

    sessions = {key: (ctx.ort_session(proto), feeds) for key, (proto, feeds) in graphs.items()}
    budget = (0.03 if ctx.quick else 0.15) / COST_ROUNDS
    out = {key: Timing() for key in graphs}
    for _ in range(COST_ROUNDS):
        for key, (sess, feeds) in sessions.items():
            out[key].samples += repeat_for(lambda: sess.run(None, feeds), budget, 5, warmup=2).samples
    return out


def _fit_us(features: list[list[float]], seconds: list[float]) -> list[float]:
    """Least-squares coefficients (µs) of run time over the features (the first feature a constant 1), each point
    weighted by 1 / its time: noise is about proportional to a run's length, and unweighted the longest graphs'
    noise would swamp the small per-iteration term, which the short ones carry."""
    weights = 1.0 / np.array(seconds, float)
    coef = np.linalg.lstsq(np.array(features, float) * weights[:, None], np.ones(len(seconds)), rcond=None)[0]
    return [float(c) * 1e6 for c in coef]


def _node_costs(ctx) -> dict:
    """onnxruntime's own per-node cost at ctx.threads, from the slopes of run time: over the chain length at top
    level, over nodes × iterations and iterations in Scan and Loop bodies. kind -> shape -> {"median": µs,
    "fastest": µs} (per node, per node-iteration, and for "scan iteration" / "loop iteration" per iteration
    besides the body's nodes). Measured once per run and thread count."""
    key = ("node_costs", ctx.threads)
    if key in ctx.stash:
        return ctx.stash[key]
    graphs = {}
    for shape in (TINY, SMALL):
        for n in CHAIN_NODES:
            graphs[("top", str(shape), n, 1)] = _chain_graph(n, shape)
        for k in BODY_NODES:
            for t in BODY_ITERATIONS:
                graphs[("scan", str(shape), k, t)] = _scan_graph(k, t, shape)
    for k in BODY_NODES:
        for t in BODY_ITERATIONS:
            graphs[("loop", str(TINY), k + 1, t)] = _loop_graph(k, t, TINY)
    timings = _time_graphs(ctx, graphs)
    costs: dict = {}
    for kind in ("top", "scan", "loop"):
        for shape in {g[1] for g in timings if g[0] == kind}:
            points = [(n, t, timing) for (k_, s, n, t), timing in timings.items() if k_ == kind and s == shape]
            for stat, pick in (("median", lambda tm: tm.median), ("fastest", lambda tm: min(tm.samples))):
                if kind == "top":
                    _, per_node = _fit_us([[1, n] for n, _, _ in points], [pick(tm) for *_, tm in points])
                    costs.setdefault(kind, {}).setdefault(shape, {})[stat] = per_node
                    continue
                _, per_iteration, per_node = _fit_us([[1, t, n * t] for n, t, _ in points],
                                                     [pick(tm) for *_, tm in points])
                costs.setdefault(kind, {}).setdefault(shape, {})[stat] = per_node
                costs.setdefault(f"{kind} iteration", {}).setdefault(shape, {})[stat] = per_iteration
    ctx.stash[key] = costs
    return costs


def _floor_costs(costs: dict) -> tuple[float, float, float]:
    """(µs per top-level node, per body node-iteration, per body run besides its nodes): the scalar-sized
    fits at the median, none below zero (a fit on noisy points can give a small negative intercept-like term)."""
    tiny = str(TINY)
    return tuple(max(costs[kind][tiny]["median"], 0.0) for kind in ("top", "scan", "scan iteration"))


def _node_cost_section(ctx, costs: dict):
    run = _run()
    labels = {"top": "top-level node", "scan": "Scan body node, per iteration",
              "scan iteration": "Scan iteration itself (besides its body's nodes)",
              "loop": "Loop body node, per trip", "loop iteration": "Loop trip itself (besides its body's nodes)"}
    rows = []
    for kind, label in labels.items():
        for shape, stats in sorted(costs.get(kind, {}).items()):
            rows.append([label, shape.replace(", ", "×").strip("[]"), f"{stats['median']:.2f}",
                         f"{stats['fastest']:.2f}"])
    return run.Section("Per-node cost of onnxruntime's CPU executor", [
        f"Measured by onnxruntime itself at {ctx.threads} thread(s), same session settings as fgc's: graphs of tiny "
        "elementwise nodes (Add and Sub alternating, every operand a graph or body input, so nothing is folded "
        f"or fused), on a scalar-sized float tensor (1 element: the launch alone) and on a 128×32 one. Top level: "
        f"chains of {', '.join(map(str, CHAIN_NODES))} nodes; µs per node = the least-squares slope of run time "
        f"over the chain length. Scan: one Scan of T = {', '.join(map(str, BODY_ITERATIONS))} steps whose body is "
        f"K = {', '.join(map(str, BODY_NODES))} nodes; run time fitted as a + b·T + c·K·T: c is the cost of a body "
        "node per iteration, b the Scan's own cost per iteration (slicing the scanned input, running the body's "
        "frame). Loop: the same with a Loop of T trips (as `steps_per_execution` runs the step), K + 1 body "
        f"nodes (the condition's Identity counts). Every graph timed in {COST_ROUNDS} interleaved rounds, "
        "repeated to cover a time budget; the fit on the medians, and on the fastest runs (load only adds time). "
        "The 128×32 rows include the elementwise work itself (4,096 floats), which the FLOP count below leaves "
        "out."],
        ["what", "tensor", "µs (fit on medians)", "µs (fit on fastest runs)"], rows=rows)


def _executions_by_phase(profile) -> dict[str, list[int]]:
    """phase -> [top-level kernels, kernels inside their bodies, body runs] in one step."""
    out = {p: [0, 0, 0] for p in ("forward", "backward", "other")}
    for node, (inside, body_runs) in profile.executions.items():
        counts = out[_phase(node)]
        counts[0] += 1
        counts[1] += inside
        counts[2] += body_runs
    return out


def _floor_row(ctx, name: str, figures: dict, costs: tuple[float, float, float], peak: float) -> list:
    profile, batch = figures["profile"], figures["batch"]
    per_top, per_body_node, per_body_run = costs
    phases = _executions_by_phase(profile)
    top, inside, body_runs = (sum(c[i] for c in phases.values()) for i in range(3))
    node_ms = (top * per_top + inside * per_body_node + body_runs * per_body_run) / 1e3
    flop_ms = sum(figures["flops"].values()) / (peak * 1e9) * 1e3
    floor_ms = node_ms + flop_ms
    split = " / ".join(f"{c[0] + c[1]:,}" for c in phases.values())
    peer = _peer_ms(ctx, name, batch)
    ctx.summary.append([f"{name} train step: node + FLOP floor ÷ fgc step", f"{floor_ms / profile.plain_ms:.0%}", ""])
    return [f"{name} ({batch})", f"{top + inside:,} ({split})", f"{inside:,} in {body_runs:,} body runs",
            f"{node_ms:.3f}", f"{flop_ms:.3f}", f"{profile.plain_ms:.3f} ({profile.plain_min_ms:.3f})",
            f"{floor_ms / profile.plain_ms:.0%}",
            f"{peer[1]:.3f} ({peer[0]})" if peer else "–", f"{peer[1] / floor_ms:.2f}" if peer else "–"]


def node_floor(ctx) -> list:
    """The fastest each model's train step can run on onnxruntime with its present node count: node executions
    per step × onnxruntime's measured per-node cost, plus the step's FLOPs at onnxruntime's measured peak."""
    run = _run()
    costs = _node_costs(ctx)
    peak = max(p for p, _ in _peaks(ctx).values())
    per_top, per_body_node, per_body_run = _floor_costs(costs)
    sec = run.Section("The per-node floor: node executions × onnxruntime's per-node cost, plus FLOPs at peak", [
        "Per model: how many kernels onnxruntime runs for one train step, counted by onnxruntime's profiler on "
        "the step as `flops_peak` profiles it (`run._profile_step`, the graph after onnxruntime's own "
        "optimizations, one step): every top-level kernel, every kernel inside Scan / Loop / If bodies each time it "
        "runs (a Scan body's nodes × the sequence length, nested bodies too, only the If branch taken), and how "
        "many times a body ran (the profiler's `SequentialExecutor::Execute` events inside a top-level node). "
        "Split forward / backward / other (loss, optimizer) by the top-level node's name, as the FLOPs table "
        f"splits them. Node floor = top-level kernels × {per_top:.2f} µs + body kernels × {per_body_node:.2f} µs + "
        f"body runs × {per_body_run:.2f} µs (the scalar-sized fits on medians of the table above); FLOP floor = "
        f"the step's counted FLOPs at onnxruntime's peak ({peak:.1f} GFLOP/s, the FLOPs table); fgc ms / step = "
        "the step alone in onnxruntime, no profiler and no fit loop (median, fastest in brackets; "
        f"{_plain_budget_text(ctx)}); the faster peer from this run's fit table of the model (– when it did "
        "not run). Last column: the fgc ÷ peer speed ratio that a step running exactly at the floor would reach.",
        "What it assumes: that each kernel's launch cost adds to its compute time, and that the compute is at "
        "best the MatMul / Conv FLOPs at peak, with elementwise work, copies, transposes, reductions and "
        "memory traffic free. So the floor is a lower bound, and floors ÷ fgc says how much of fgc's step these "
        "two costs explain; the rest is the kernels' real work beyond that (elementwise ops on real tensors "
        "cost far more than a scalar's launch: see the 128×32 rows) and kernels below peak. What it cannot "
        "say: a graph with fewer nodes (fused cells, merged recurrences) has a lower floor, so a floor-allowed "
        "ratio below 1.5 rules the target out for this node count, not for the model."],
        ["model (batch)", "node executions / step (fwd / bwd / other)", "of which in bodies", "node floor ms",
         "FLOP floor ms", "fgc ms / step (fastest)", "floors ÷ fgc", "faster peer ms / step",
         "fgc ÷ peer the floor allows"])
    for name in _models():
        try:
            figures = _step_figures(ctx, name)
        except Exception as e:  # noqa: BLE001
            sec.rows.append([name, f"failed: {type(e).__name__}: {str(e)[:120]}"] + [""] * 7)
            continue
        sec.rows.append(_floor_row(ctx, name, figures, (per_top, per_body_node, per_body_run), peak))
    ctx.summary.append(["onnxruntime per-node cost, top level / Scan body node-iteration (scalar-sized)",
                        f"{per_top:.2f} / {per_body_node:.2f} µs", ""])
    return [_node_cost_section(ctx, costs), sec]

# ---------------------------------------------------------------------------- (b) compile time
def compile_time(ctx) -> list:
    """First fit epoch minus a steady epoch (graph build + passes + session creation) per model."""
    run = _run()
    sec = run.Section("Compile time: first fit epoch minus a steady epoch", [
        "Per model: a fresh model, `compile(optimizer='rmsprop', loss=…)`, then `fit` one epoch at a time on the "
        "same data (the benchmark's batch, epochs of the fit benchmark's batch count); compile time = first epoch − "
        f"median of the next {1 if ctx.quick else 3} epochs. Target ≤ 1 s (≤ 5 s for Xception-based models)."],
        ["model", "batches / epoch", "first epoch (s)", "steady epoch (s)", "compile (s)", "≤ 1 s"])
    for name, (build, make_data, losses, batch, fit_batches, *_rest) in _models().items():
        try:
            model = build()
            model.compile(optimizer="rmsprop", loss=run._loss_arg(losses))
            xs, ys = make_data(batch * fit_batches, ctx.rng(3))
            x, y = run._fgc_input(xs), run._fgc_input(ys)

            def epoch():
                model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

            first, _ = once(epoch)
            steady = float(np.median([once(epoch)[0] for _ in range(1 if ctx.quick else 3)]))
        except Exception as e:  # noqa: BLE001
            sec.rows.append([name, f"failed: {type(e).__name__}: {str(e)[:120]}", "", "", "", ""])
            continue
        cost = first - steady
        sec.rows.append([name, str(fit_batches), f"{first:.2f}", f"{steady:.2f}", f"**{cost:.2f}**",
                         "met" if cost <= 1.0 else "NOT met"])
        ctx.summary.append([f"{name}: compile time (first − steady epoch)", f"{cost:.2f} s", "≤ 1 s"])
    return [sec]


# ---------------------------------------------------------------------------- (c) peak RSS of fit
def _status_mb(field: str) -> float:
    """A line of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def _memory_worker(framework: str, name: str, batch: int, threads: int) -> dict:
    """In a fresh process: build, make 2 batches of data (floats as float32 for both, so that neither pays a
    cast inside the measured part), fit one epoch; RSS before fit and its high-water mark after.

    Not ``ru_maxrss``: Linux carries it over from the parent across fork and exec (the benchmark runner's
    own peak showed up in every child). VmHWM belongs to the process's own memory map; writing 5 to
    /proc/self/clear_refs resets it to the current RSS just before fit."""
    os.environ["FGC_NUM_THREADS"] = str(threads)
    run = _run()
    build, make_data, losses, _, _, build_torch, torch_loss = _models()[name]
    xs, ys = make_data(2 * batch, np.random.default_rng(0))
    xs, ys = [[a.astype(np.float32) if a.dtype.kind == "f" else a for a in arrays] for arrays in (xs, ys)]
    model = build()
    if framework == "fgc":
        model.compile(optimizer="rmsprop", loss=run._loss_arg(losses))
        fit = lambda: model.fit(run._fgc_input(xs), run._fgc_input(ys), batch_size=batch, epochs=1, verbose=0)  # noqa: E731
    else:
        peers.torch().set_num_threads(threads)
        fit = run._torch_fit_epoch(build_torch(model), torch_loss, xs, ys, batch)
    base = _status_mb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:   # not permitted: the high-water mark then also covers what ran before fit
        pass
    fit()
    return {"base_mb": base, "peak_mb": _status_mb("VmHWM")}


def _measure_memory(framework: str, name: str, batch: int, threads: int) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(HERE.parent)!r}); from benchmarks.speed import _memory_worker; "
            f"print('RESULT', json.dumps(_memory_worker({framework!r}, {name!r}, {batch}, {threads})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parent.parent,
                          timeout=900)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])


MEMORY_BATCHES = {"resnet_block": (16, 64, 256)}


def fit_memory(ctx) -> list:
    """Peak RSS of fit, fgc vs PyTorch eager, each in its own subprocess (Linux: reads /proc/self/status)."""
    run = _run()
    frameworks = ["fgc"] + (["torch"] if peers.available("torch") else [])
    sec = run.Section("Peak memory of fit: fgc vs PyTorch eager", [
        "Each cell is a fresh Python process (`benchmarks/speed.py: _memory_worker`): build the model (fgc's, and "
        "for PyTorch the same architecture with fgc's weights), make 2 batches of data as the seeds do (floats as "
        "float32 for both), then one `fit` epoch of 2 batches (fgc: `compile('rmsprop', …)` + `model.fit`; "
        "PyTorch: RMSprop eager loop); RSS before fit (base: interpreter, libraries, model, data) and the "
        "high-water mark `VmHWM` after (reset to the RSS just before fit). Growth = peak − base is "
        "what training itself needs; both processes import fgc, onnxruntime and torch alike. Target: fgc's peak "
        "≤ PyTorch's."],
        ["model", "batch", "fgc peak MB (growth)", "PyTorch peak MB (growth)", "fgc ÷ PyTorch growth",
         "fgc growth / sample MB", "PyTorch growth / sample MB"])
    for name, (_, _, _, batch, *_rest) in _models().items():
        for b in (MEMORY_BATCHES.get(name, (batch,))[:2] if ctx.quick else MEMORY_BATCHES.get(name, (batch,))):
            cells = {}
            for fw in frameworks:
                try:
                    cells[fw] = _measure_memory(fw, name, b, ctx.threads)
                except Exception as e:  # noqa: BLE001
                    cells[fw] = {"error": f"{type(e).__name__}: {str(e)[:100]}"}

            def show(fw):
                c = cells.get(fw)
                if not c:
                    return "–"
                if "error" in c:
                    return f"failed: {c['error']}"
                return f"{c['peak_mb']:.0f} ({c['peak_mb'] - c['base_mb']:.0f})"

            def growth(fw):
                c = cells.get(fw) or {}
                return c["peak_mb"] - c["base_mb"] if "peak_mb" in c else None

            g_f, g_t = growth("fgc"), growth("torch")
            sec.rows.append([name, str(b), show("fgc"), show("torch"),
                             f"{g_f / g_t:.2f}" if g_f is not None and g_t else "–",
                             f"{g_f / b:.2f}" if g_f is not None else "–", f"{g_t / b:.2f}" if g_t is not None else "–"])
    return [sec]


# ---------------------------------------------------------------------------- (d) scaling
SCALING = {"qa": {"seq": (50, 100, 200, 400), "batch": (32, 128, 512)}, "resnet_block": {"batch": (16, 64, 256)}}


def _step_times(ctx, name: str, batch: int, seq: int | None, runs: int) -> dict:
    """ms per train step of fgc fit and PyTorch eager, 2 batches per epoch, interleaved."""
    run = _run()
    build, make_data, losses, _, _, build_torch, torch_loss = _models()[name]
    xs, ys = make_data(2 * batch, ctx.rng(9))
    if seq is not None:   # qa: ids of the given length
        xs = [ctx.rng(10 + i).integers(1, 10000, (2 * batch, seq)) for i in range(len(xs))]
    model = build()
    model.compile(optimizer="rmsprop", loss=run._loss_arg(losses))
    x, y = run._fgc_input(xs), run._fgc_input(ys)
    contestants = {"fgc": lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0)}
    if peers.available("torch"):
        contestants["torch"] = run._torch_fit_epoch(build_torch(model), torch_loss, xs, ys, batch)
    timings = interleaved(contestants, warmup=1, runs=runs, settle=0)
    return {k: t.median / 2 * 1e3 for k, t in timings.items()}


def scaling(ctx) -> list:
    """Train-step time against batch size and sequence length, fgc fit vs PyTorch eager."""
    run = _run()
    runs = 1 if ctx.quick else 2
    sec = run.Section("Scaling: train-step time against batch and sequence length", [
        f"ms per train step: `fit` epochs of 2 batches (fgc) and the PyTorch eager RMSprop loop, interleaved, 1 "
        f"warm-up epoch then the median of {runs}; per-sample columns divide by the batch (and for qa by the "
        "sequence length, in µs per sample-step): flat columns mean linear scaling. qa takes ids of the given "
        "length for both inputs (its Inputs have no fixed length)."],
        ["model", "batch", "seq", "fgc ms / step", "PyTorch ms / step", "fgc ÷ PyTorch time",
         "fgc per sample (µs)", "PyTorch per sample (µs)"])
    for name, grid in SCALING.items():
        seqs = grid.get("seq", (None,))
        batches = grid["batch"]
        if ctx.quick:
            seqs, batches = seqs[:2], batches[:2]
        for seq in seqs:
            for b in batches:
                try:
                    t = _step_times(ctx, name, b, seq, runs)
                except Exception as e:  # noqa: BLE001
                    sec.rows.append([name, str(b), str(seq or "–"), f"failed: {type(e).__name__}: {str(e)[:100]}",
                                     "", "", "", ""])
                    continue
                per = b * (seq or 1)
                tt = t.get("torch")
                sec.rows.append([name, str(b), str(seq or "–"), f"{t['fgc']:.1f}", f"{tt:.1f}" if tt else "–",
                                 f"{t['fgc'] / tt:.2f}" if tt else "–", f"{t['fgc'] / per * 1e3:.2f}",
                                 f"{tt / per * 1e3:.2f}" if tt else "–"])
    return [sec]


# ---------------------------------------------------------------------------- host overhead of the MLP's fit
EPOCHS = 10


def fit_overhead(ctx) -> list:
    """The seed MLP's fit epoch (8 batches of 128 over 1,000 samples, steps_per_execution=1) peeled layer by
    layer: what onnxruntime alone needs for the epoch's steps, and what each layer above it adds."""
    import contextlib
    import io

    from fgc.training.loop import EpochLoop, make_batches

    run = _run()
    build, make_data, losses, batch, *_ = _models()["mlp"]
    xs, ys = make_data(1000, ctx.rng(4))
    model = build()
    model.compile(optimizer="rmsprop", loss=run._loss_arg(losses), metrics=["accuracy"])
    x, y = xs[0], ys[0]
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    trainer = model._trainer
    compiled = trainer.step(True)
    spec = compiled.spec
    data = make_batches(model, x, y)
    wanted = [k for k in spec.data_inputs + spec.target_inputs if k in data.arrays]
    batches = [dict(f) for f, _ in data.chunks(batch, keys=wanted)]
    outputs = spec.report_outputs + list(spec.update_outputs.values())
    names = {i.name for i in compiled.session.get_inputs()}
    host_state = not trainer.bind

    def state_now():
        # the weights the fit rows have trained up to now, not those after the first epoch: onnxruntime's own time
        # depends on their values (the seed MLP overfits its 1,000 samples over the benchmark's epochs, and the same
        # 8 steps then take ~20 % longer in onnxruntime alone), so every row runs on the same weights and the
        # difference between rows is fgc's
        return {k: np.asarray(v) for k, v in trainer.now.arrays.items() if k in names}

    def ort_alone():   # the same session and feeds, state carried as fgc's host path does, no fgc code
        current = state_now()
        for i, feeds in enumerate(batches):
            outs = compiled.session.run(outputs, {**feeds, **current, "lr": np.array(1e-3, np.float32),
                                                  "step": np.array(i, np.float32)})
            current.update(zip(spec.update_outputs, outs[len(spec.report_outputs):]))

    inner = compiled.session._sess   # what fgc calls (fgc.runtime.session.direct_run): no wrapper checks

    def ort_inner():
        current = state_now()
        for i, feeds in enumerate(batches):
            outs = inner.run(outputs, {**feeds, **current, "lr": np.array(1e-3, np.float32),
                                       "step": np.array(i, np.float32)}, None)
            current.update(zip(spec.update_outputs, outs[len(spec.report_outputs):]))

    def trainer_run():   # the step function EpochLoop.run calls (Trainer.runner)
        step = trainer.runner(True)
        for feeds in batches:
            step(feeds)

    loop = EpochLoop(model, True)   # fit keeps one per call: what each pass reads is found on its first run

    def epoch_loop():   # batching (no shuffle), the running mean of the logs, no callbacks
        loop.run(data, batch)

    # fit runs EPOCHS epochs per call and is divided by EPOCHS below: the per-epoch cost of a long fit, not
    # the per-call setup (argument checks, casting the data once, callbacks made once)
    def fit_silent():
        model.fit(x, y, batch_size=batch, epochs=EPOCHS, verbose=0)

    def fit_progress():
        with contextlib.redirect_stdout(io.StringIO()):
            model.fit(x, y, batch_size=batch, epochs=EPOCHS, verbose=1)

    contestants = {"onnxruntime alone, its inner `run` as fgc calls it (no Python wrapper checks)": ort_inner,
                   "onnxruntime alone (`session.run` × 8, same feeds)": ort_alone,
                   "`Trainer.runner` × 8 (+ lr/step feeds, commit, log floats)": trainer_run,
                   "`EpochLoop.run` (+ batching, running mean)": epoch_loop,
                   "`model.fit(verbose=0)` (+ shuffle, make_batches, callbacks, History)": fit_silent,
                   "`model.fit(verbose=1)` (+ progress bar, to a buffer)": fit_progress}
    if not host_state:
        del contestants["onnxruntime alone (`session.run` × 8, same feeds)"]
        del contestants["onnxruntime alone, its inner `run` as fgc calls it (no Python wrapper checks)"]
    timings = interleaved(contestants, warmup=2, runs=5 if ctx.quick else 31, settle=1)
    per_epoch = {k: t.median / (EPOCHS if k.startswith("`model.fit") else 1) for k, t in timings.items()}
    fastest = {k: min(t.samples) / (EPOCHS if k.startswith("`model.fit") else 1) for k, t in timings.items()}
    base = next(iter(per_epoch.values()))
    full = per_epoch[list(per_epoch)[-1]]
    sec = run.Section("Host overhead of the MLP's fit (steps_per_execution=1)", [
        "Seed MLP, rmsprop, categorical_crossentropy, metrics ['accuracy'], one epoch of 8 batches of 128 over "
        "1,000 samples; each row adds one layer of fgc's fit call stack over the row above (contestants "
        f"interleaved, median of {5 if ctx.quick else 31}; the fit rows run {EPOCHS} epochs per call, divided by "
        f"{EPOCHS}; the fastest run is given too, as load only ever adds time). Target: fit's overhead over onnxruntime alone < 10 % "
        "of the epoch, and ≥ 1.25M samples/s through `model.fit`."],
        ["layer", "ms / epoch", "fastest run, ms / epoch", "samples/s", "added over the row above (ms)",
         "share of the fit(verbose=1) epoch"])
    wrapper = "onnxruntime alone (`session.run` × 8, same feeds)"
    if wrapper in per_epoch:   # a reference, not a layer: fgc's hot loop calls the inner run, as the first row
        public, public_fastest = per_epoch.pop(wrapper), fastest.pop(wrapper)
        sec.notes.append(f"onnxruntime's public `session.run` × 8 (its Python wrapper checks that every input is fed, "
                         f"OrtValue ownership and WebGPU capture each call): {public * 1e3:.3f} ms / epoch, fastest "
                         f"{public_fastest * 1e3:.3f}, i.e. {(public - base) * 1e3:+.3f} ms over the first row.")
    previous = None
    for name, med in per_epoch.items():
        sec.rows.append([name, f"{med * 1e3:.3f}", f"{fastest[name] * 1e3:.3f}", f"{1000 / med / 1e3:,.0f}k",
                         "–" if previous is None else f"{(med - previous) * 1e3:+.3f}", f"{med / full:.0%}"])
        previous = med
    # a row's medians can fall in different groups on a loaded machine (the core to itself, or shared): the
    # overhead is read from each round's own pair of runs, which sit next to each other in time
    names = list(per_epoch)
    paired = _paired_shares(timings[names[0]].samples, [t / EPOCHS for t in timings[names[-1]].samples])
    fastest_share = (fastest[names[-1]] - fastest[names[0]]) / fastest[names[-1]]
    sec.notes.append(f"fit(verbose=1)'s overhead over onnxruntime alone, as a share of the epoch: {paired:.0%} "
                     f"(median over the rounds of each round's own pair of runs); {fastest_share:.0%} from the "
                     f"fastest runs; {(full - base) / full:.0%} from the medians.")
    ctx.summary.append(["mlp fit(verbose=1): host overhead over onnxruntime alone (share of the epoch, paired "
                        "per round; fastest runs)", f"{paired:.0%}; {fastest_share:.0%}", "< 10 %"])
    ctx.summary.append(["mlp model.fit samples/s (steps_per_execution=1): median; fastest run",
                        f"{1000 / full / 1e3:,.0f}k; {1000 / fastest[names[-1]] / 1e3:,.0f}k", "≥ 1.25M"])
    return [sec]


def _paired_shares(base: list, full: list) -> float:
    """The median over rounds of (full - base) / full, each round's two runs taken together."""
    return float(np.median([(f - b) / f for b, f in zip(base, full)]))


BENCHMARKS = [flops_peak, node_floor, compile_time, fit_memory, scaling, fit_overhead]
