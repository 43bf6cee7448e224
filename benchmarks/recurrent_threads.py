"""Why the recurrent train steps gain little from a second intra-op thread: the train step of qa and siamese
(batch 128, rmsprop) on onnxruntime sessions of 1 and 2 threads, kernel time by part of the step, and which
kernels onnxruntime splits across its pool.

    PYTHONPATH=. KERAS_BACKEND=jax python -m benchmarks.recurrent_threads [qa siamese ...] [--rounds N]
        [--loop-form]

Per model: the plain step interleaved at 1 and 2 threads (no profiler; fastest and median, paired ratio);
then onnxruntime's profiler, alternating 1- and 2-thread sessions, each node's fastest kernel time over
the profiled runs summed by group (forward loop bodies, reverse loop bodies, the reverse gradient's
elementwise work vectorized over time, forward products and gathers, gradient products,
embedding gradient, optimizer, other) and by op type; and the loop nodes' own totals. The profiler times
every node inside the Scan bodies too, which inflates the loops' totals (per-node cost), not their kernels.
``--loop-form`` times the reverse loop's two forms (the one-thread rule, 2^18 elements, against always
vectorized: both of scan_grad's limits set alike) at 1 and 2 threads, to see where the crossover lies.

The 1-thread session runs the step fgc builds for one thread, the 2-thread one the step it builds for a pool
(the reverse loops' form depends on it: fgc/primitives/scan_grad.py, POOLED_LOOP_FROM_ELEMENTS). onnxruntime
1.31.1 on the 2-core machine, other engineers' tests around (load average 0.8-1.1 for the tables after, 2-3
before), fastest kernel time per node summed, ms; speedup = 1 thread / 2 threads:

| qa: part of the step | 1 thread | 2 threads before | speedup | 2 threads now | speedup |
|---|---|---|---|---|---|
| forward loop bodies (2 Scans x 100 steps) | 12.5 | 17.8 | 0.66 | 18.2 | 0.69 |
| reverse loop bodies | 16.6 | 23.0 | 0.68 | 14.7 (vectorized form) | 1.13 |
| reverse elementwise vectorized over time | 1.5 (question LSTM) | 0.9 | 1.52 | 2.1 (both LSTMs) | - |
| forward products + embedding gathers | 3.0 | 2.1 | 1.36 | 1.7 | 1.78 |
| gradient products (kernel, input, bias as ones) | 8.2 | 7.6 | 1.01 | 5.0 | 1.64 |
| embedding gradient (ScatterND add into zeros) | 1.5 | 1.1 | 1.18 | 1.1 | 1.34 |
| RMSprop over the flat buffer and two 10000-row tables | 4.6 | 2.7 | 1.57 | 2.5 | 1.86 |
| plain step, paired median of 30 rounds (fastest) | | | 0.63 (0.82) | | 1.39 (1.29) |

| siamese: part of the step | 1 thread | 2 threads now | speedup |
|---|---|---|---|
| forward loop body (the pair fused, 50 steps of batch 256) | 5.6 | 7.2 | 0.79 |
| reverse loop body | 7.5 | 5.3 (vectorized form) | 1.41 |
| reverse elementwise vectorized over time | - | 1.4 | - |
| forward and gradient products | 8.4 | 5.0 | 1.67 |
| plain step, paired median of 30 rounds (fastest) | | | 1.19 (1.29) |

("2 threads before": the 1-thread build on 2 threads, from an earlier run at load 2-3, its speedups against
that run's own 1-thread kernels; the load put its plain-step ratio below 1, the kernel shares are the robust
part.) Kernel runs per qa step at 2 threads (onnxruntime's
thread_scheduling_stats): in the loops 1800 Mul, 600 Sigmoid, 400 each of Identity, Tanh and Add, 200 each
of Split and Concat run on one thread, and only the 200 Gemm (forward) and 200 MatMul (reverse) products
split across the pool, each paying a dispatch and join for 0.1-0.5 MFLOP; outside the loops 70 of ~100
kernels split (every product, Gather, ScatterND, Transpose and the large elementwise ops).

Why the loops do not scale: a body's kernels are small ((128, 4 x units) at most, 16k floats) and serially
dependent, step after step. onnxruntime's cost model keeps the elementwise ones on one thread, MLAS splits
the per-step product (over its ~64k-op threshold per thread) and joins after it, 100 times per loop: at 2
threads the loop kernels gain nothing (0.6-0.8 here: the idle pool thread competes for the core).
onnxruntime has no per-node thread count, so a step cannot keep the loop products on one thread while the
rest uses two. What scales is work outside the loops: the products over all time steps (1.4-1.8x), RMSprop's
passes over the 0.6M-float tables (1.6-1.9x), the gathers and scatters (1.2-1.5x) — and the reverse loop's
activation derivatives once they run vectorized over time outside it. So on a pool of threads fgc now
vectorizes them at every size (one thread keeps the 2^18-element rule, where the in-loop form wins on large
arrays by cache locality).

The reverse loop's form (``--loop-form``: the one-thread rule against always vectorized, each graph at 1 and 2
threads; and the A/B of the change through fgc's own build at FGC_NUM_THREADS=2, POOLED_LOOP_FROM_ELEMENTS None
against 2^18), vectorized / rule, paired median of 25 interleaved rounds: at 2 threads siamese 0.85, 0.87,
0.91, 0.92, 0.92 and qa 0.91, 0.93, 0.94, 0.94, 0.99 (new faster in 68-92 % of rounds); siamese at length 200
0.95, 0.97; qa at length 400 0.63, 0.63 (its in-loop step ran no faster on 2 threads than on 1: 221 vs 230 ms).
At 1 thread the rule's form still wins where it keeps the loop (qa length 400: 1.05-1.15), and the 1-thread
step is the same graph as before. On a loaded machine (load 2-4, 2-thread steps slower than 1-thread ones)
the 2-thread pairs read 1.02-1.08: contention, not the form.
"""
from __future__ import annotations

import collections
import os
import statistics
import sys
import tempfile

from benchmarks.step_kernels import node_minima, session, train_step

DEFAULT_MODELS = ("qa", "siamese")
PROFILED_RUNS = 15   # per session and alternation; each node's fastest kernel time over them counts


def _step(name: str, threads: int):
    """(train-step proto, feeds) of ``name`` as fgc builds it for a session of ``threads`` intra-op threads."""
    return train_step(name, threads)[:2]


def _interleaved_ms(runs: dict, rounds: int) -> dict[object, list[float]]:
    """Each callable's ms per call over ``rounds`` rounds of benchmarks.timing.interleaved (an idle gap
    before each turn, so another session's spinning pool threads do not take this one's CPU)."""
    from benchmarks.timing import interleaved

    timings = interleaved(runs, warmup=2, runs=rounds)
    return {k: [s * 1e3 for s in t.samples] for k, t in timings.items()}


def _paired(new: list[float], old: list[float]) -> float:
    return statistics.median(n / o for n, o in zip(new, old))


# ---------------------------------------------------------------- grouping the profiled nodes
def _loop_names(proto) -> tuple[list[str], list[str]]:
    """Names of the Scan nodes (at any depth) and of the If nodes of the step."""
    import onnx

    scans, ifs = [], []

    def walk(graph):
        for node in graph.node:
            if node.op_type in ("Scan", "Loop"):
                scans.append(node.name)
            elif node.op_type == "If":
                ifs.append(node.name)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)

    walk(proto.graph)
    return scans, ifs


def _group(name: str, op: str, scans: list[str], ifs: list[str]) -> str:
    """The part of the step a profiled node belongs to. Body nodes carry their Scan's (or If's) name as a
    prefix, also after onnxruntime's fusions rename them."""
    loop = next((s for s in scans if name.startswith(s + "/")), None)
    if loop is not None:
        return "reverse loop bodies" if loop.startswith("grad/") else "forward loop bodies"
    if any(name.startswith(i + "/") for i in ifs) or (
            name.startswith("grad/") and "/Scan/" in name and op in ("Mul", "Sub", "Add", "Neg")):
        return "reverse elementwise vectorized over time"   # in an If on one thread, at top level on more
    if name.startswith(("opt/", "new/")):
        return "optimizer"
    if name.startswith("grad/") and "embedding" in name:
        return "embedding gradient"
    if op in ("MatMul", "FusedMatMul", "Gemm"):
        return "gradient products" if name.startswith("grad/") else "forward products + gathers"
    if op == "Gather":
        return "forward products + gathers"
    return "other"


def _profiled_kernels(proto, feeds, threads: int, tmpdir: str):
    """Each node's fastest kernel time (ms) over PROFILED_RUNS profiled steps, node -> op type, the fastest
    profiled step, and node -> [executions, parallel sections] in the last step (step_kernels.node_minima)."""
    sess = session(proto, threads, profile_prefix=os.path.join(tmpdir, f"t{threads}"))
    for _ in range(3 + PROFILED_RUNS):
        sess.run(None, feeds)
    fastest, ops, step_ms, splits = node_minima(sess.end_profiling(), skip=3, control_flow=True)
    return fastest, ops, min(step_ms), splits


def _table(title: str, rows: dict, key_width: int = 46) -> None:
    print(f"| {title:{key_width}s} | 1 thread | 2 threads | speedup |")
    print(f"|{'-' * (key_width + 2)}|---|---|---|")
    for key, (one, two) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        print(f"| {key:{key_width}s} | {one:8.2f} | {two:9.2f} | {one / two if two else float('nan'):7.2f} |")


def profile_model(name: str, rounds: int, alternations: int = 2) -> None:
    steps = {t: _step(name, t) for t in (1, 2)}
    plain = {t: session(steps[t][0], t) for t in (1, 2)}
    times = _interleaved_ms({t: (lambda s=s, f=steps[t][1]: s.run(None, f)) for t, s in plain.items()}, rounds)
    print(f"\n## {name}: plain step, {rounds} interleaved rounds")
    for t in (1, 2):
        print(f"  {t} thread(s): median {statistics.median(times[t]):.2f} ms, fastest {min(times[t]):.2f} ms")
    print(f"  speedup 1t/2t: paired median {_paired(times[1], times[2]):.2f}, fastest {min(times[1]) / min(times[2]):.2f}")

    scans, ifs = [], []
    for proto, _ in steps.values():
        loops = _loop_names(proto)
        scans += loops[0]
        ifs += loops[1]
    kernels = {1: {}, 2: {}}
    ops: dict[str, str] = {}
    profiled_step = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        for _ in range(alternations):
            for t in (1, 2):
                fastest, node_ops, step_ms, splits = _profiled_kernels(*steps[t], t, tmpdir)
                ops.update(node_ops)
                profiled_step[t] = min(step_ms, profiled_step.get(t, step_ms))
                for node, ms in fastest.items():
                    kernels[t][node] = min(ms, kernels[t].get(node, ms))
    print(f"  profiled step (fastest): 1t {profiled_step[1]:.2f} ms, 2t {profiled_step[2]:.2f} ms")
    controls = {n for n, op in ops.items() if op in ("Scan", "Loop", "If")}
    groups = collections.defaultdict(lambda: [0.0, 0.0])
    by_op = collections.defaultdict(lambda: [0.0, 0.0])
    op_splits = collections.defaultdict(lambda: [0, 0])   # at 2 threads, the last profiled step
    for i, t in enumerate((1, 2)):
        for node, ms in kernels[t].items():
            if node in controls:
                continue
            group = _group(node, ops[node], scans, ifs)
            key = f"{ops[node]} ({'in loops' if group.endswith('loop bodies') else 'outside loops'})"
            groups[group][i] += ms
            by_op[key][i] += ms
            if t == 2:
                op_splits[key][0] += splits[node][0]
                op_splits[key][1] += splits[node][1]
    print()
    _table(f"{name}: part of the step (kernel ms)", groups)
    print()
    _table(f"{name}: op type (kernel ms)", by_op)
    print(f"\n| {name}: op type at 2 threads | kernel runs per step | of them split across the pool |")
    print("|---|---|---|")
    for key, (count, split) in sorted(op_splits.items(), key=lambda kv: -kv[1][0]):
        print(f"| {key} | {count} | {split} |")
    print()
    _table(f"{name}: loop node totals (profiled, incl. body)",
           {n: (kernels[1].get(n, 0.0), kernels[2].get(n, 0.0)) for n in controls}, key_width=60)


def loop_form(name: str, rounds: int) -> None:
    """The reverse loop's form by the one-thread rule (2^18 elements) against always vectorized (the rule
    on a pool of threads), each at 1 and 2 threads."""
    import fgc.primitives.scan_grad as scan_grad

    limits = scan_grad.LOOP_FROM_ELEMENTS, scan_grad.POOLED_LOOP_FROM_ELEMENTS
    runs = {}
    for label, value in (("rule", limits[0]), ("vectorized", None)):
        scan_grad.LOOP_FROM_ELEMENTS = scan_grad.POOLED_LOOP_FROM_ELEMENTS = value
        try:
            for t in (1, 2):
                proto, feeds = _step(name, t)
                sess = session(proto, t)
                runs[(label, t)] = lambda s=sess, f=feeds: s.run(None, f)
        finally:
            scan_grad.LOOP_FROM_ELEMENTS, scan_grad.POOLED_LOOP_FROM_ELEMENTS = limits
    times = _interleaved_ms(runs, rounds)
    print(f"\n## {name}: reverse loop form, always vectorized / the 2^18 rule, {rounds} interleaved rounds")
    for t in (1, 2):
        new, old = times[("vectorized", t)], times[("rule", t)]
        print(f"  {t} thread(s): rule median {statistics.median(old):.2f} fastest {min(old):.2f} ms; vectorized "
              f"median {statistics.median(new):.2f} fastest {min(new):.2f} ms; paired {_paired(new, old):.3f}, "
              f"fastest {min(new) / min(old):.3f}")


def main(argv: list[str]) -> None:
    rounds = 30
    if "--rounds" in argv:
        i = argv.index("--rounds")
        rounds = int(argv[i + 1])
        del argv[i:i + 2]
    with_form = "--loop-form" in argv
    names = [a for a in argv if not a.startswith("--")] or list(DEFAULT_MODELS)
    print(f"onnxruntime threads 1 vs 2; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name in names:
        profile_model(name, rounds)
        if with_form:
            loop_form(name, rounds)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1:])
