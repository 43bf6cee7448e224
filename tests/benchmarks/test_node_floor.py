"""The per-node floor's pieces (benchmarks/speed.py: node_floor, run.py: _profile_step's execution count, timing.py:
repeat_for): that the graphs measure the launches they claim to, that the profiler's events are counted per
step as onnxruntime ran them, and the floor's arithmetic. No timings are asserted."""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))   # benchmarks/ is not installed; appended so the installed fgc still wins

from benchmarks import run, speed  # noqa: E402
from benchmarks.timing import repeat_for  # noqa: E402


def _context(tmp_path) -> "run.Context":
    return run.Context(quick=True, threads=1, tmpdir=str(tmp_path), warmup=0, runs=1, predict_batches=1)


def _session(proto: bytes, tmp_path, profile: bool = False):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(tmp_path / "profile")
    return ort.InferenceSession(proto, opts, providers=["CPUExecutionProvider"])


def test_repeat_for_stops_at_min_runs_or_max_runs():
    calls = []
    timing = repeat_for(lambda: calls.append(1), budget_s=0.0, min_runs=4, warmup=2)
    assert len(timing.samples) == 4 and len(calls) == 6
    capped = repeat_for(lambda: None, budget_s=60.0, min_runs=1, warmup=0, max_runs=7)
    assert len(capped.samples) == 7


@pytest.mark.parametrize("shape", [speed.TINY, speed.SMALL])
def test_chain_keeps_every_node_after_onnxruntime_optimizations(tmp_path, shape):
    proto, feeds = speed._chain_graph(10, shape)
    out = _session(proto, tmp_path).run(None, feeds)[0]
    assert len(onnx.load(tmp_path / "optimized.onnx").graph.node) == 10
    np.testing.assert_array_equal(out, np.ones(shape, np.float32))   # x + b - b + ... stays 1 exactly


def test_scan_and_loop_bodies_keep_their_nodes(tmp_path):
    for make, trips in ((speed._scan_graph, None), (speed._loop_graph, 5)):
        proto, feeds = make(4, 5, speed.TINY)
        out = _session(proto, tmp_path).run(None, feeds)[0]
        (node,) = onnx.load(tmp_path / "optimized.onnx").graph.node
        body = next(a.g for a in node.attribute if a.name == "body")
        assert len(body.node) == (4 if trips is None else 5)   # the Loop's condition Identity stays
        np.testing.assert_allclose(out, np.ones(speed.TINY, np.float32))


def test_executions_count_body_kernels_per_iteration_and_body_runs(tmp_path):
    """A Scan of 5 steps over a 3-node body, then a top-level Add named like a body node: one step runs 15 body
    kernels in 5 body runs inside the Scan; the Add counts once, at top level."""
    from onnx import helper

    body = helper.make_graph(speed._alternating(3, "s_in", "x_t", "s_out"), "body",
                             [speed._value("s_in", [1]), speed._value("x_t", [1])], [speed._value("s_out", [1])])
    body.node[0].name = "clash"
    nodes = [helper.make_node("Scan", ["s0", "xs"], ["h"], body=body, num_scan_inputs=1, name="scan"),
             helper.make_node("Add", ["h", "s0"], ["y"], name="clash")]
    proto = speed._tiny_proto(nodes, [speed._value("s0", [1]), speed._value("xs", [5, 1])], [speed._value("y", [1])])
    sess = _session(proto, tmp_path, profile=True)
    feeds = {"s0": np.ones([1], np.float32), "xs": np.ones([5, 1], np.float32)}
    for _ in range(2):
        sess.run(None, feeds)
    events = json.loads(Path(sess.end_profiling()).read_text())
    top = {n.name for n in onnx.load(tmp_path / "optimized.onnx").graph.node}
    model_runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    assert len(model_runs) == 2
    for step in model_runs:
        assert run._executions(run._top_level_events(events, top, step)) == {"scan": (15, 5), "clash": (0, 0)}


def test_fit_recovers_per_node_and_per_iteration_costs():
    points = [(k, t) for k in speed.BODY_NODES for t in speed.BODY_ITERATIONS]
    seconds = [(30 + 2.5 * t + 0.4 * k * t) * 1e-6 for k, t in points]
    fixed, per_iteration, per_node = speed._fit_us([[1, t, k * t] for k, t in points], seconds)
    assert (fixed, per_iteration, per_node) == pytest.approx((30, 2.5, 0.4), rel=1e-6)


def test_floor_row_adds_node_and_flop_floors(tmp_path):
    ctx = _context(tmp_path)
    profile = run.StepProfile(wall_ms=3.0, plain_ms=2.0, plain_min_ms=1.5, plain_runs=9, nodes={}, sizes={},
                              bound=False, executions={"dense/MatMul": (0, 0), "grad/lstm/Scan": (100, 10),
                                                       "opt/Mul": (0, 0)})
    figures = {"batch": 8, "flops": {"dense/MatMul": 1e9}, "profile": profile}
    ctx.stash[("m", "fit", 1)] = {"PyTorch eager": 8 / 4e-3}   # 4 ms per step of 8
    row = speed._floor_row(ctx, "m", figures, (1.0, 2.0, 3.0), peak=1000.0)
    # nodes: 3 top × 1 µs + 100 body kernels × 2 µs + 10 body runs × 3 µs = 0.233 ms;
    # FLOPs: 1 GFLOP at 1000 GFLOP/s = 1 ms
    assert row[1] == "103 (1 / 101 / 1)" and row[3] == "0.233" and row[4] == "1.000"
    assert row[6] == f"{1.233 / 2.0:.0%}" and row[8] == f"{4 / 1.233:.2f}"
