"""Timing helpers: warm-up runs, then the median of N timed runs.

The benchmark machine is shared and noisy, so contestants that are compared with each other are
timed *interleaved* (one run of each, round after round) and reported as ratios from the same
run; absolute figures drift from day to day.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Timing:
    """Seconds per call of one contestant: all samples plus their median."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """(p75 - p25) / median: how noisy the measurement was."""
        if len(self.samples) < 4:
            return 0.0
        q = statistics.quantiles(self.samples, n=4)
        return (q[2] - q[0]) / self.median if self.median else 0.0

    def per_second(self, items: float) -> float:
        """Throughput: items per second at the median time."""
        return items / self.median


def paired_speedup(t: Timing, ref: Timing) -> float:
    """How many times faster ``t`` ran than ``ref``, as the median over rounds of ref's time ÷ t's time in
    the same round. For contestants timed by ``interleaved``: a slow spell of the machine lands on both
    runs of a round, so each round's ratio cancels it, where a ratio of the two medians can pair a calm
    run of one with a loaded run of the other."""
    return statistics.median(r / x for x, r in zip(t.samples, ref.samples))


def measure(fn: Callable[[], object], warmup: int = 2, runs: int = 7) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed."""
    return interleaved({"fn": fn}, warmup=warmup, runs=runs)["fn"]


GAP = 0.1  # seconds idle at the start of each contestant's turn when contestants alternate (see interleaved)


def interleaved(fns: dict[str, Callable[[], object]], warmup: int = 2, runs: int = 7,
                settle: int = 1, budget_s: float = 0.0, max_runs: int = 41) -> dict[str, Timing]:
    """Time several contestants round-robin so that slow drifts of the machine hit them alike.

    Every function gets ``warmup`` untimed calls first. Then each round, for every function in the
    order given: ``settle`` untimed calls (caches and thread pools back to this contestant), then
    one timed call.

    Each contestant has its own thread pool (every onnxruntime session has one, PyTorch has
    OpenMP's, JAX has XLA's), and an idle pool's threads spin-wait a while before they sleep: on a
    2-vCPU machine the spinning threads of the contestant that just ran took the CPU from the next
    one (fgc's three_heads step 584 instead of 398 ms right after PyTorch's). So when contestants
    alternate, each turn starts after ``GAP`` seconds idle, long enough for every other pool to
    fall asleep, and its settle calls wake its own pool again before the timed call (a pool woken
    from sleep for the timed call itself made fgc's 2-thread qa epoch 35 instead of 23 ms per
    step). OMP_WAIT_POLICY=PASSIVE instead silenced PyTorch's pool but made PyTorch itself up to 2x
    slower on the LSTM models, whose many small parallel regions need its threads awake.

    With ``budget_s``, the rounds grow beyond ``runs`` (up to ``max_runs``) while the rounds' estimated
    time stays within it, estimated from the last warm-up call of each contestant: fast contestants get
    more rounds, so the median and the paired ratios hang less on a few runs a busy machine slowed."""
    last = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            start = time.perf_counter()
            fn()
            last[name] = time.perf_counter() - start
    if budget_s and last:
        per_round = sum(last.values()) * (1 + (settle if len(fns) > 1 else 0)) + (GAP * len(fns) if len(fns) > 1
                                                                                  else 0.0)
        runs = max(runs, min(max_runs, int(budget_s / per_round)))
    out = {name: Timing() for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            if len(fns) > 1:
                time.sleep(GAP)
                for _ in range(settle):
                    fn()
            start = time.perf_counter()
            fn()
            out[name].samples.append(time.perf_counter() - start)
    return out


def once(fn: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of a single call: for one-off costs such as the first compile."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def fmt_rate(per_s: float) -> str:
    """12.3M / 456k / 789 samples/s, in the style of shared/reference/peers.md."""
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f}M"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.1f}k"
    return f"{per_s:.0f}"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs"


def repeat_for(fn: Callable[[], object], budget_s: float, min_runs: int, warmup: int = 3,
               max_runs: int = 1000) -> Timing:
    """Time ``fn`` until its timed calls cover ``budget_s`` seconds and number at least ``min_runs`` (at most
    ``max_runs``), after ``warmup`` untimed calls.

    For one contestant's steady per-call time: a step of 1 ms gets hundreds of samples, so its median
    does not hang on the two or three calls a busy machine happened to slow down, and one of 600 ms
    still gets ``min_runs``. The warm-up calls take the first runs' arena growth and thread-pool
    start out of the samples."""
    for _ in range(warmup):
        fn()
    out = Timing()
    spent = 0.0
    while (spent < budget_s or len(out.samples) < min_runs) and len(out.samples) < max_runs:
        start = time.perf_counter()
        fn()
        out.samples.append(time.perf_counter() - start)
        spent += out.samples[-1]
    return out
