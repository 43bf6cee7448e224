"""Two kernel-level limits of the recurrent models' train steps (qa, siamese), timed in onnxruntime alone.

    python -m benchmarks.recurrent_kernels [--threads N] [--rounds R]

1. onnxruntime's own fused kernel for the standard ONNX ``LSTM`` op (what fgc's inference export runs), on the
   shapes of the LSTMs in the seed models' train steps: the input projection and the recurrence of every step in
   one kernel. Timed interleaved with the forward part of each model's train step as fit builds it (the nodes its
   forward Scans read, cut out of the step: lookups, input products and loops, which also save the values the
   backward reads; the op returns only the outputs h).
2. A weight gradient over rows, dW = X^T @ dZ with X (R, F) and dZ (R, G) both stored rows first (a Dense layer
   over rows, an LSTM's input and recurrent kernels over time x batch), three ways: as the train step runs it
   (Transpose + MatMul, which onnxruntime fuses into one MatMul with a transposed A), with the Transpose kept
   apart (that fusion disabled), and with X^T already in memory (a plain product: what the first two would cost if
   the transposition were free).

Every form of the product is checked against numpy before it is timed; times are medians of interleaved rounds
(benchmarks.timing.interleaved: without its idle gap, the 2-thread pool of the session that just ran still spun
and made single large products read 2x slower at 2 threads than at 1).
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks.timing import interleaved

# (name, steps T, batch N, input features F, units U): the LSTMs of benchmarks.models' train specs; the siamese
# tower's two calls run as one loop over both batches (passes/fuse_scans.py), hence its batch of 2 x 128
LSTMS = [("qa text_lstm", 100, 128, 64, 32), ("qa question_lstm", 100, 128, 32, 16),
         ("siamese shared_lstm", 50, 256, 128, 32)]
# (name, rows R, F, G): the weight-gradient products those steps run over time x batch
PRODUCTS = [("qa text input kernel", 12800, 64, 128), ("qa text recurrent kernel", 12800, 32, 128),
            ("siamese input kernel", 12800, 128, 128), ("siamese recurrent kernel", 12800, 32, 128)]


def _session(nodes, inputs, outputs, threads: int, disabled=()):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def info(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(nodes, "kernel", [info(*i) for i in inputs], [info(*o) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled))


def _interleaved(contestants: dict, rounds: int) -> dict:
    """{name: median ms} of (session, feeds) pairs, timed round-robin by benchmarks.timing.interleaved (its idle
    gap before each turn keeps a 2-thread pool that just ran from taking the CPU from the next contestant)."""
    fns = {k: (lambda sess=sess, feeds=feeds: sess.run(None, feeds)) for k, (sess, feeds) in contestants.items()}
    return {k: 1e3 * t.median for k, t in interleaved(fns, warmup=1, runs=rounds).items()}


def _lstm_contestant(steps: int, batch: int, features: int, units: int, threads: int, rng):
    from onnx import helper

    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y", "Y_h", "Y_c"], hidden_size=units)
    sess = _session([node], [("X", [steps, batch, features]), ("W", [1, 4 * units, features]),
                             ("R", [1, 4 * units, units]), ("B", [1, 8 * units])],
                    [("Y", [steps, 1, batch, units]), ("Y_h", [1, batch, units]), ("Y_c", [1, batch, units])], threads)
    feeds = {"X": rng.random((steps, batch, features), dtype=np.float32),
             "W": rng.normal(0, 0.1, (1, 4 * units, features)).astype(np.float32),
             "R": rng.normal(0, 0.1, (1, 4 * units, units)).astype(np.float32),
             "B": np.zeros((1, 8 * units), np.float32)}
    return sess, feeds


def forward_part(proto):
    """The train step cut to what its forward Scans (those not named grad/...) read: a model whose outputs are
    those Scans' outputs, with only the nodes, initializers and inputs they need."""
    import onnx
    from onnx import helper

    graph = proto.graph
    scans = [n for n in graph.node if n.op_type == "Scan" and not n.name.startswith("grad")]
    outputs = [o for n in scans for o in n.output]
    needed, kept = set(outputs), []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
            for attr in node.attribute:   # a body reads outer values by name
                if attr.type == onnx.AttributeProto.GRAPH:
                    needed.update(i for body_node in attr.g.node for i in body_node.input)
    cut = onnx.ModelProto()
    cut.CopyFrom(proto)
    del cut.graph.node[:], cut.graph.output[:], cut.graph.initializer[:], cut.graph.input[:]
    cut.graph.node.extend(reversed(kept))
    cut.graph.output.extend(helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outputs)
    cut.graph.initializer.extend(i for i in graph.initializer if i.name in needed)
    cut.graph.input.extend(i for i in graph.input if i.name in needed)
    return cut


def lstm_op_table(threads: int, rounds: int, lstms=LSTMS, models=("qa", "siamese")) -> str:
    """The LSTM op per layer, and per model (with ``models``) its layers' ops against its train step's forward."""
    rng = np.random.default_rng(0)
    rows = ["| LSTM (T, N, F -> U) | onnxruntime's LSTM op, ms |", "|---|---|"]
    ops = {}
    for name, steps, batch, features, units in lstms:
        ops[name] = _lstm_contestant(steps, batch, features, units, threads, rng)
        ms = _interleaved({name: ops[name]}, rounds)[name]
        rows.append(f"| {name} ({steps}, {batch}, {features} -> {units}) | {ms:.2f} |")
    if not models:
        return "\n".join(rows)
    from benchmarks.step_kernels import session, train_step

    rows += ["", "| model | its LSTM ops, ms (sum) | forward part of fgc's train step, ms |", "|---|---|---|"]
    for model in models:
        proto, feeds, mem_pattern = train_step(model, threads)
        cut = forward_part(proto)
        names = {i.name for i in cut.graph.input}
        contestants = {"forward": (session(cut, threads, mem_pattern), {k: v for k, v in feeds.items() if k in names})}
        contestants.update({k: v for k, v in ops.items() if k.startswith(model + " ")})
        ms = _interleaved(contestants, rounds)
        layers = [k for k in contestants if k != "forward"]
        rows.append(f"| {model} | {sum(ms[k] for k in layers):.2f} ({' + '.join(f'{ms[k]:.2f}' for k in layers)}) | "
                    f"{ms['forward']:.2f} |")
    return "\n".join(rows)


def product_table(threads: int, rounds: int, products=PRODUCTS) -> str:
    from onnx import helper

    rng = np.random.default_rng(0)
    rows = ["| product X^T @ dZ (R x F)^T (R x G) | transposed A (as the step runs it) | explicit Transpose + "
            "MatMul | X^T already in memory | GFLOP/s of the three |", "|---|---|---|---|---|"]
    for name, r, f, g in products:
        x, dz = rng.random((r, f), dtype=np.float32), rng.random((r, g), dtype=np.float32)
        want = x.T.astype(np.float64) @ dz
        nodes = [helper.make_node("Transpose", ["X"], ["XT"], perm=[1, 0]), helper.make_node("MatMul", ["XT", "dZ"],
                                                                                             ["dW"])]
        io = ([("X", [r, f]), ("dZ", [r, g])], [("dW", [f, g])])
        contestants = {
            "fused": (_session(nodes, *io, threads), {"X": x, "dZ": dz}),
            "apart": (_session(nodes, *io, threads, disabled=["MatmulTransposeFusion"]), {"X": x, "dZ": dz}),
            "given": (_session([helper.make_node("MatMul", ["XT", "dZ"], ["dW"])], [("XT", [f, r]), ("dZ", [r, g])],
                               [("dW", [f, g])], threads), {"XT": np.ascontiguousarray(x.T), "dZ": dz}),
        }
        for k, (sess, feeds) in contestants.items():
            got = sess.run(None, feeds)[0]
            if not np.allclose(got, want, rtol=1e-4, atol=1e-2):
                raise AssertionError(f"{name}: the {k} form is off by {np.abs(got - want).max()}")
        ms = _interleaved(contestants, rounds)
        rates = " / ".join(f"{2 * r * f * g / ms[k] / 1e6:.0f}" for k in ("fused", "apart", "given"))
        rows.append(f"| {name} ({r} x {f})^T ({r} x {g}) | {ms['fused']:.2f} | {ms['apart']:.2f} | "
                    f"{ms['given']:.2f} | {rates} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    print(f"onnxruntime intra-op threads: {args.threads}; medians of {args.rounds} interleaved rounds\n")
    print(lstm_op_table(args.threads, args.rounds), "\n")
    print(product_table(args.threads, args.rounds))


if __name__ == "__main__":
    main()
