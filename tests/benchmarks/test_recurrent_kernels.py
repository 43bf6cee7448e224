"""benchmarks/recurrent_kernels.py on tiny shapes: every form of the weight-gradient product is checked against
numpy before it is timed, and each table has one row per shape. No timings are asserted."""
import sys
from pathlib import Path

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
    rows = _rows(recurrent_kernels.lstm_op_table(1, 1, lstms=[("tiny", 3, 2, 4, 5)]))
    assert rows[0][0] == "tiny (3, 2, 4 -> 5)" and float(rows[0][1]) > 0
