"""How fast the machine is right now, measured the same way before every benchmark of a run.

The benchmarks run on a shared VM whose speed drifts with the host's other tenants, and that drift does
not show in the VM's load average or steal time: two probes a minute apart read onnxruntime's per-node
cost at 0.42 and 0.21 µs on an idle VM (load average under 0.5). Small steps (the MLP, the Transformer
block) feel it most, because they are mostly onnxruntime's per-node launch cost. So a run records two
probes before each benchmark and at its end: onnxruntime's cost per node on a chain of scalar-sized nodes
(the launch alone) and a 512x512 float32 MatMul's GFLOP/s, both on the run's threads and the same
session settings as the benchmarks'. A reader compares a table's figures with the probes taken beside
it: a benchmark that ran while the per-node cost was twice the run's best ran on a slow machine."""
from __future__ import annotations

import dataclasses

import numpy as np

SHORT, LONG = 20, 200   # chain lengths: µs per node = (t(LONG) - t(SHORT)) / (LONG - SHORT)
MATMUL = 512


@dataclasses.dataclass
class Probe:
    when: str              # the benchmark that ran after it, or "end"
    node_us: float         # onnxruntime's µs per top-level node (1-element Add/Sub chain), median
    matmul_gflops: float   # 512x512 @ 512x512 float32, median


def _matmul_graph():
    from onnx import TensorProto, helper

    from benchmarks.speed import _tiny_proto

    shape = [MATMUL, MATMUL]
    proto = _tiny_proto([helper.make_node("MatMul", ["a", "b"], ["y"])],
                        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in "ab"],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    rng = np.random.default_rng(0)
    return proto, {n: rng.standard_normal(shape).astype(np.float32) for n in "ab"}


class MachineProbe:
    """Sessions made once per run; ``take(when)`` measures both probes (about 0.3 s) and keeps them."""

    def __init__(self, ctx):
        from benchmarks.speed import TINY, _chain_graph

        graphs = {"short": _chain_graph(SHORT, TINY), "long": _chain_graph(LONG, TINY), "matmul": _matmul_graph()}
        self._sessions = {k: (ctx.ort_session(proto), feeds) for k, (proto, feeds) in graphs.items()}
        self.probes: list[Probe] = []

    def _median(self, key: str, budget_s: float) -> float:
        from benchmarks.timing import repeat_for

        sess, feeds = self._sessions[key]
        return repeat_for(lambda: sess.run(None, feeds), budget_s, 15).median

    def take(self, when: str) -> Probe:
        node_us = (self._median("long", 0.08) - self._median("short", 0.04)) / (LONG - SHORT) * 1e6
        gflops = 2 * MATMUL ** 3 / self._median("matmul", 0.15) / 1e9
        probe = Probe(when, node_us, gflops)
        self.probes.append(probe)
        return probe

    def summary(self) -> str:
        """One header line: the range over the run, and how far the slowest probe is from the fastest."""
        if not self.probes:
            return ""
        nodes = [p.node_us for p in self.probes]
        flops = [p.matmul_gflops for p in self.probes]
        return (f"onnxruntime µs per node {min(nodes):.2f}-{max(nodes):.2f}, 512² MatMul {min(flops):.1f}-"
                f"{max(flops):.1f} GFLOP/s over {len(self.probes)} probes (one before each benchmark and one at "
                f"the end; per benchmark in the last section): the slowest probe is {max(nodes) / min(nodes):.2f}× "
                f"the fastest per node, {max(flops) / min(flops):.2f}× in MatMul")

    def markdown(self) -> str:
        rows = [f"| {p.when} | {p.node_us:.2f} | {p.matmul_gflops:.1f} |" for p in self.probes]
        return "\n".join([
            "## Machine speed during this run", "",
            "Measured before each benchmark (benchmarks/machine_probe.py): onnxruntime's µs per top-level node "
            f"(chains of {SHORT} and {LONG} scalar-sized Add/Sub nodes, the slope) and a {MATMUL}² float32 MatMul, "
            "both on this run's threads; medians over about 0.1 s each. This VM's speed drifts with the host's other "
            "tenants without showing in its load average: read a table against the probe taken before it.", "",
            "| before | µs / node | MatMul GFLOP/s |", "|---|---|---|", *rows, ""])
