"""benchmarks/step_kernels.py's and conv_threads.py's arithmetic on a hand-written onnxruntime profile: each node's fastest time over
the runs kept, a body node's kernels within one run summed, control-flow nodes left out (their bodies are
profiled themselves), and the table by op type. No timings are measured or asserted."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))   # benchmarks/ is not installed; appended so the installed fgc still wins

from benchmarks import conv_threads, step_kernels  # noqa: E402


def _event(name, op, ts, dur_us):
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur_us, "args": {"op_name": op}}


def _profile(tmp_path, runs):
    """runs: list of [(node, op, microseconds), ...], one list per model_run, each run 1000 us apart."""
    events = []
    for i, nodes in enumerate(runs):
        start = i * 1000
        events.append({"name": "model_run", "ts": start, "dur": 900})
        events += [_event(n, op, start + 1 + k, us) for k, (n, op, us) in enumerate(nodes)]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(events))
    return str(path)


def test_node_minima_keeps_each_nodes_fastest_run_and_leaves_out_control_flow(tmp_path):
    runs = [
        [("conv", "Conv", 9000), ("tap", "Slice", 500)],                                   # skipped: warm-up
        [("conv", "Conv", 3000), ("tap", "Slice", 700), ("if", "If", 900), ("if/then/mm", "MatMul", 400),
         ("if/then/mm", "MatMul", 300)],
        [("conv", "Conv", 2000), ("tap", "Slice", 800), ("if", "If", 800), ("if/then/mm", "MatMul", 800)],
    ]
    best, ops, run_ms, splits = step_kernels.node_minima(_profile(tmp_path, runs), skip=1)
    assert best == {"conv": 2.0, "tap": 0.7, "if/then/mm": 0.7}   # a body node's two kernels in one run add up
    assert ops["tap"] == "Slice" and "if" not in best
    assert run_ms == [0.9, 0.9]
    assert splits["if/then/mm"] == [1, 0]   # the last run's kernel runs, none split (no thread statistics)
    best, *_ = step_kernels.node_minima(_profile(tmp_path, runs), skip=1, control_flow=True)
    assert best["if"] == 0.8


def test_op_table_sums_by_op_type_with_speedups():
    ops = {"a": "Conv", "b": "Conv", "c": "Slice"}
    result = {1: ({"a": 4.0, "b": 2.0, "c": 1.0}, ops, [7.5]), 2: ({"a": 2.0, "b": 1.0, "c": 1.0}, ops, [4.5])}
    table = conv_threads.op_table("m", result)
    assert "| Conv | 2 | 6.00 | 3.00 | 2.00 |" in table
    assert "| Slice | 1 | 1.00 | 1.00 | 1.00 |" in table
    assert "kernel sum 7.0 ms at 1 thread, 4.0 at 2 (1.75x)" in table
