"""passes/flops.py: FLOPs of MatMul / Gemm / Conv / ConvTranspose, Scan bodies per step, against
hand counts (2 per multiply-add)."""
import numpy as np
import pytest

import fgc
from fgc.ir import Graph, TensorType
from fgc.passes.flops import input_sizes, matmul_flops
from fgc.primitives import Builder


def _graph():
    g = Graph("f")
    return g, Builder(g, "f")


def test_matmul_gemm_and_batched_matmul():
    g, b = _graph()
    x = g.add_input("x", TensorType(("N", 3), "float32"))
    y = b.MatMul(x, b.const(np.ones((3, 4), np.float32)))
    z = b.Gemm(y, b.const(np.ones((5, 4), np.float32)), transB=1)
    t = g.add_input("t", TensorType((2, "N", 6, 7), "float32"))
    u = b.MatMul(t, b.const(np.ones((7, 8), np.float32)))
    g.outputs, g.output_names = [z, u], ["z", "u"]
    counts = matmul_flops(g, {"N": 10})
    assert sorted(counts.values()) == sorted([2 * 10 * 3 * 4, 2 * 10 * 4 * 5, 2 * (2 * 10) * 6 * 7 * 8])


def test_conv_and_conv_transpose_count_multiply_adds_per_output_and_input():
    g, b = _graph()
    x = g.add_input("x", TensorType(("N", 4, 9, 9), "float32"))
    w = b.const(np.ones((6, 2, 3, 3), np.float32))               # group 2: 2 input channels per output
    y = b.Conv(x, w, strides=(2, 2), group=2)                    # (N, 6, 4, 4)
    wt = b.const(np.ones((6, 3, 2, 2), np.float32))
    z = b.ConvTranspose(y, wt, strides=(2, 2))                   # each of the N*6*4*4 inputs x 3*2*2 taps
    g.outputs, g.output_names = [z], ["z"]
    counts = matmul_flops(g, {"N": 2})
    conv = [v for k, v in counts.items() if "ConvTranspose" not in k]
    assert conv == [2 * (2 * 6 * 4 * 4) * (2 * 3 * 3)]
    assert [v for k, v in counts.items() if "ConvTranspose" in k] == [2 * (2 * 6 * 4 * 4) * (3 * 2 * 2)]


def test_an_lstm_train_step_counts_its_scan_bodies_per_time_step():
    inp = fgc.Input((7, 3))
    model = fgc.Model(inp, fgc.layers.LSTM(5)(inp))
    model.compile("sgd", "mse")
    x, y = np.zeros((4, 7, 3)), np.zeros((4, 5))
    model.train_on_batch(x, y)
    graph = model._trainer.step(True).graph
    sizes = input_sizes(graph, {graph.input_names[0]: x})
    counts = matmul_flops(graph, sizes)
    forward = sum(v for k, v in counts.items() if not k.startswith("grad/"))
    # x @ W over all steps (3 -> 20) and h @ U per step (5 -> 20), batch 4, 7 steps
    assert forward == 2 * 4 * 7 * 3 * 20 + 2 * 4 * 7 * 5 * 20


def test_an_unknown_symbol_is_named():
    g, b = _graph()
    x = g.add_input("x", TensorType(("N", 3), "float32"))
    g.outputs, g.output_names = [b.MatMul(x, b.const(np.ones((3, 2), np.float32)))], ["y"]
    with pytest.raises(ValueError, match="'N'.*pass it in sizes"):
        matmul_flops(g)


def test_a_conv_over_an_unknown_length_binds_its_output_symbol():
    g, b = _graph()
    x = g.add_input("x", TensorType(("N", 2, "T"), "float32"))
    y = b.Conv(x, b.const(np.ones((3, 2, 5), np.float32)), strides=(2,))          # (N, 3, S): S = (T - 5) // 2 + 1
    z = b.Conv(y, b.const(np.ones((4, 3, 3), np.float32)))                          # (N, 4, S - 2)
    g.outputs, g.output_names = [z], ["z"]
    counts = sorted(matmul_flops(g, {"N": 2, "T": 21}).values())
    assert counts == sorted([2 * 2 * 3 * 9 * (2 * 5), 2 * 2 * 4 * 7 * (3 * 3)])


def test_an_if_counts_its_costlier_branch_with_the_outer_sizes():
    # the gradient of a Conv1D over an unknown length with more than SMALL_CHANNELS channels picks its
    # dW rule at run time in an If
    from fgc.primitives.conv import SMALL_CHANNELS

    c, o = SMALL_CHANNELS + 1, SMALL_CHANNELS + 2
    inp = fgc.Input((None, c))
    model = fgc.Model(inp, fgc.layers.GlobalMaxPooling1D()(fgc.layers.Conv1D(o, 3)(inp)))
    model.compile("sgd", "mse")
    x, y = np.zeros((2, 9, c)), np.zeros((2, o))
    model.train_on_batch(x, y)
    graph = model._trainer.step(True).graph
    assert graph.nodes_with_op("If")
    counts = matmul_flops(graph, input_sizes(graph, {graph.input_names[0]: x}))
    forward = sum(v for k, v in counts.items() if not k.startswith("grad/"))
    assert forward == 2 * 2 * 7 * o * c * 3                 # N * positions * O * C * k
    dw = sum(v for k, v in counts.items() if g_op(graph, k) == "If")
    assert dw == forward                                      # dW costs what the forward costs


def g_op(graph, name):
    return graph.op(name)


@pytest.mark.parametrize("layer, gates", [(fgc.layers.LSTM, 4), (fgc.layers.GRU, 3), (fgc.layers.SimpleRNN, 1)])
def test_an_inference_graphs_recurrent_op_counts_every_gate_over_every_step(layer, gates):
    from fgc.compiler import inference_graph

    inp = fgc.Input((7, 3))
    graph = inference_graph(fgc.Model(inp, fgc.layers.Bidirectional(layer(5))(inp)))
    ops = {graph.op(name) for name in graph.topo_order()}
    assert ops & {"LSTM", "GRU", "RNN"}
    counts = matmul_flops(graph, {graph.type_of(graph.inputs[0]).shape[0]: 4})
    # both directions: x @ W (3 -> gates*5) and h @ U (5 -> gates*5) per step, batch 4, 7 steps
    assert sum(counts.values()) == 2 * (2 * 4 * 7 * (3 + 5) * gates * 5)
