"""benchmarks/machine_probe.py: the probe's graphs are what it says it times, and its report carries every
probe in the order taken. No timing is asserted beyond being a positive number."""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))   # benchmarks/ is not installed; appended so the installed fgc still wins

from benchmarks import machine_probe, run  # noqa: E402


def _context(tmp_path):
    return run.Context(quick=True, threads=1, tmpdir=str(tmp_path), warmup=0, runs=1, predict_batches=1)


def test_the_matmul_probe_multiplies_its_two_square_inputs():
    proto, feeds = machine_probe._matmul_graph()
    model = onnx.load_from_string(proto)
    assert [n.op_type for n in model.graph.node] == ["MatMul"]
    sess = ort.InferenceSession(proto, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, feeds)
    want = feeds["a"].astype(np.float64) @ feeds["b"].astype(np.float64)
    assert y.shape == (machine_probe.MATMUL, machine_probe.MATMUL)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-3)


def test_probes_are_kept_in_order_and_reported_one_row_each(tmp_path):
    probe = machine_probe.MachineProbe(_context(tmp_path))
    first, second = probe.take("fit_throughput"), probe.take("end")
    assert [p.when for p in probe.probes] == ["fit_throughput", "end"]
    for p in (first, second):
        assert np.isfinite(p.node_us) and p.matmul_gflops > 0
    table = probe.markdown()
    assert table.count("\n| fit_throughput |") == 1 and table.count("\n| end |") == 1
    assert "over 2 probes" in probe.summary()


def test_summary_gives_the_range_and_the_slowest_to_fastest_ratio(tmp_path):
    probe = machine_probe.MachineProbe(_context(tmp_path))
    probe.probes = [machine_probe.Probe("a", 0.2, 200.0), machine_probe.Probe("b", 0.5, 100.0)]
    line = probe.summary()
    assert "0.20-0.50" in line and "100.0-200.0 GFLOP/s" in line
    assert "2.50× the fastest per node" in line and "2.00× in MatMul" in line
