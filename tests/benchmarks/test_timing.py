"""benchmarks/timing.py: paired ratios and round budgets (what the RESULTS tables' ratio columns rest on)."""
import pytest

from benchmarks.timing import Timing, interleaved, paired_speedup


def test_paired_speedup_is_the_median_of_each_rounds_ratio():
    # round 2 is a slow spell for both contestants; round 4 slows only the reference
    fast = Timing([1.0, 3.0, 1.0, 1.0, 1.0])
    ref = Timing([2.0, 6.0, 2.0, 9.0, 2.0])
    assert paired_speedup(fast, ref) == pytest.approx(2.0)
    assert paired_speedup(ref, fast) == pytest.approx(0.5)
    # the ratio of the medians would pair unrelated runs: here 2.0 / 1.0 as well, but not in general
    uneven = Timing([1.0, 1.0, 4.0, 4.0, 4.0])
    other = Timing([2.0, 2.0, 8.0, 8.0, 1.0])
    assert paired_speedup(uneven, other) == pytest.approx(2.0)
    assert other.median / uneven.median == pytest.approx(0.5)


def test_interleaved_runs_the_given_rounds_without_a_budget():
    calls = {"a": 0}

    def a():
        calls["a"] += 1

    t = interleaved({"a": a}, warmup=2, runs=3)
    assert len(t["a"].samples) == 3 and calls["a"] == 5


def test_a_budget_adds_rounds_up_to_the_cap_for_a_fast_contestant():
    t = interleaved({"a": lambda: None}, warmup=1, runs=3, budget_s=10.0, max_runs=12)
    assert len(t["a"].samples) == 12
