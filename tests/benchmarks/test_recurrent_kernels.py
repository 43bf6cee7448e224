"""benchmarks/recurrent_kernels.py on tiny shapes: every form of the weight-gradient product is checked against
numpy before it is timed, and each table has one row per shape. No timings are asserted."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))   # benchmarks/ is not installed; appended so the installed fgc still wins

from benchmarks import recurrent_kernels  # noqa: E402


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_product_forms_agree_and_each_shape_gets_a_row():
    table = recurrent_kernels.product_table(1, 2, products=[("a", 64, 8, 16), ("b", 30, 5, 7)])
    rows = _rows(table)
    assert [r[0] for r in rows] == ["a (64 x 8)^T (64 x 16)", "b (30 x 5)^T (30 x 7)"]
    assert all(float(v) > 0 for r in rows for v in r[1:4])


def test_a_wrong_form_is_caught(monkeypatch):
    """The "apart" form with its Transpose dropped computes X @ dZ: on square shapes it runs, and is wrong."""
    real = recurrent_kernels._session

    def without_transpose(nodes, inputs, outputs, threads, disabled=()):
        if disabled:
            nodes = [n for n in nodes if n.op_type != "Transpose"]
            nodes[0].input[0] = "X"
        return real(nodes, inputs, outputs, threads, disabled)

    monkeypatch.setattr(recurrent_kernels, "_session", without_transpose)
    with pytest.raises(AssertionError, match="the apart form is off"):
        recurrent_kernels.product_table(1, 1, products=[("sq", 8, 8, 8)])


def test_lstm_table_has_a_row_per_layer():
    rows = _rows(recurrent_kernels.lstm_op_table(1, 1, lstms=[("tiny", 3, 2, 4, 5)], models=()))
    assert rows[0][0] == "tiny (3, 2, 4 -> 5)" and float(rows[0][1]) > 0


def test_forward_part_keeps_what_the_forward_scans_read_and_runs():
    """A step with a forward Scan whose body reads an outer value, a gradient Scan and an unrelated node: the cut
    keeps the Scan, its input's producer and the outer value's producer, and runs to the same Scan results."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def info(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    body = helper.make_graph([helper.make_node("Add", ["s", "x_t"], ["s1"]),
                              helper.make_node("Mul", ["s1", "w"], ["s2"]),   # w: an outer value
                              helper.make_node("Identity", ["s2"], ["y_t"])],
                             "body", [info("s", [2]), info("x_t", [2])], [info("s2", [2]), info("y_t", [2])])
    grad_body = helper.make_graph([helper.make_node("Add", ["g", "y_t"], ["g1"]),
                                   helper.make_node("Identity", ["g1"], ["o"])],
                                  "grad_body", [info("g", [2]), info("y_t", [2])], [info("g1", [2]), info("o", [2])])
    nodes = [helper.make_node("Add", ["a", "b"], ["x"], name="in_proj"),
             helper.make_node("Identity", ["c"], ["w"], name="weight"),
             helper.make_node("Scan", ["s0", "x"], ["s_end", "ys"], name="fwd/Scan", num_scan_inputs=1, body=body),
             helper.make_node("Scan", ["s0", "ys"], ["g_end", "gs"], name="grad/fwd/Scan", num_scan_inputs=1,
                              body=grad_body),
             helper.make_node("Mul", ["b", "b"], ["z"], name="unrelated")]
    graph = helper.make_graph(nodes, "step", [info("a", [3, 2]), info("b", [3, 2]), info("c", [2]), info("s0", [2])],
                              [info("g_end", [2]), info("z", [3, 2])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    cut = recurrent_kernels.forward_part(proto)
    assert [n.name for n in cut.graph.node] == ["in_proj", "weight", "fwd/Scan"]
    assert [o.name for o in cut.graph.output] == ["s_end", "ys"]
    feeds = {"a": np.ones((3, 2), np.float32), "b": np.full((3, 2), 2.0, np.float32), "c": np.full(2, 0.5, np.float32),
             "s0": np.zeros(2, np.float32)}
    s_end, ys = ort.InferenceSession(cut.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    want, state = [], np.zeros(2)
    for _ in range(3):
        state = (state + 3.0) * 0.5
        want.append(state)
    np.testing.assert_allclose(ys, want)
    np.testing.assert_allclose(s_end, want[-1])
