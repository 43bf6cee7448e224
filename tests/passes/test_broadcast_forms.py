"""BroadcastForms: a one-element operand of a broadcasting op whose output has a dim of 1 takes the output's
rank (a constant reshaped, a computed scalar through a Reshape on big outputs), a short column is made whole
by a product with ones, a short row is expanded; values stay those of numpy and of the broadcast forms bit for
bit, and the pass leaves every other operand alone."""
import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.compiler import inference_graph
from fgc.ir import Graph, TensorType
from fgc.passes import broadcast_forms
from fgc.ir.types import estimated_size
from fgc.passes.broadcast_forms import BROADCASTING, MIN_SPANS, SHORT_SPAN, BroadcastForms
from fgc.primitives import Builder


def _scalar_operands(graph) -> int:
    """Broadcasting nodes with a dim of 1 in their output and a one-element operand of a lower rank."""
    count = 0
    for name in graph.topo_order():
        d = graph.node(name)
        out = d["outputs"][0]
        if d["op"] in BROADCASTING and out.rank >= 2 and 1 in out.shape:
            count += sum(graph.type_of(v).rank < out.rank and all(s == 1 for s in graph.type_of(v).shape)
                         for v in d["inputs"])
    return count


def _segmenter():
    x = fgc.Input((4, 4, 2))
    return fgc.Model(x, layers.Conv2D(1, 1, activation="sigmoid")(x))


def _trained(enabled: bool, monkeypatch, x, y):
    """Two SGD steps of the one-channel segmenter (its binary crossentropy runs on (N, 4, 4, 1) maps) with
    the pass on or off; the weights after them and the step's graph."""
    monkeypatch.setattr(broadcast_forms, "ENABLED", enabled)
    fgc.utils.set_random_seed(3)
    model = _segmenter()
    model.compile(optimizer=fgc.optimizers.SGD(0.5), loss="binary_crossentropy")
    losses = [model.train_on_batch(x, y) for _ in range(2)]
    return model, losses, model._trainer.step(True).graph


def test_segmentation_step_matches_numpy_and_the_scalar_form(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 4, 2)).astype(np.float32)
    y = (rng.random((6, 4, 4, 1)) > 0.5).astype(np.float32)
    before, before_losses, before_graph = _trained(False, monkeypatch, x, y)
    after, after_losses, after_graph = _trained(True, monkeypatch, x, y)
    assert _scalar_operands(before_graph) > 0 and _scalar_operands(after_graph) == 0
    # the same numbers bit for bit: only operand shapes changed
    assert before_losses == after_losses
    for a, b in zip(before.get_weights(), after.get_weights()):
        np.testing.assert_array_equal(a, b)
    # and the loss is Keras' binary crossentropy of the weights it was computed from
    kernel, bias = after.get_weights()
    p = 1 / (1 + np.exp(-(x.astype(np.float64) @ kernel.reshape(2, 1) + bias)))
    p = np.clip(p, 1e-7, 1 - 1e-7)
    want = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(after.evaluate(x, y, verbose=0), want, rtol=1e-5)


def test_grayscale_rescaling_constants_take_the_image_rank():
    x = fgc.Input((5, 5, 1))
    model = fgc.Model(x, layers.Rescaling(1 / 255.0, offset=-1.0)(x))
    graph = inference_graph(model)
    assert _scalar_operands(graph) == 0
    scales = [graph.node(n)["attrs"]["value"] for n in graph.topo_order() if graph.op(n) == "constant"]
    assert scales and all(np.shape(v) == (1, 1, 1, 1) for v in scales)
    images = np.random.default_rng(1).integers(0, 256, size=(3, 5, 5, 1)).astype(np.float32)
    np.testing.assert_allclose(model.predict(images, verbose=0), images / 255.0 - 1.0, rtol=1e-6, atol=1e-6)


def _scaled(shape):
    """x * mean(x): a computed scalar times x."""
    graph = Graph("scaled")
    b = Builder(graph, "t")
    x = graph.add_input("x", TensorType(shape, "float32"))
    graph.outputs, graph.output_names = [b.Mul(x, b.ReduceMean(x, axes=None, keepdims=0))], ["y"]
    return graph


def test_computed_scalar_is_reshaped_only_on_big_outputs(run_graph):
    big = _scaled(("N", 64, 1))         # 2048 elements at a batch of 32: a Reshape pays
    xs = np.random.default_rng(2).normal(size=(3, 64, 1)).astype(np.float32)
    assert BroadcastForms().run(big)
    reshapes = [n for n in big.topo_order() if big.op(n) == "Reshape"]
    assert len(reshapes) == 1 and big.node(reshapes[0])["outputs"][0].shape == (1, 1, 1)
    np.testing.assert_allclose(run_graph(big, xs)[0], xs * xs.mean(), rtol=1e-6)
    small = _scaled(("N", 1))           # 32 elements: the node would cost more than it saves
    assert not BroadcastForms().run(small)


def test_operands_it_leaves_alone():
    """No dim of 1 in the output, a lower-rank operand of several elements, an operand already at the
    output's rank: nothing to do."""
    graph = Graph("alone")
    b = Builder(graph, "t")
    x = graph.add_input("x", TensorType(("N", 8, 3), "float32"))
    m = graph.add_input("m", TensorType(("N", 32, 1), "float32"))
    graph.outputs = [b.Mul(x, 2.0), b.Add(m, b.const(np.ones((32, 1), np.float32))), b.Sub(m, b.const(np.ones((1, 1, 1), np.float32)))]
    graph.output_names = ["a", "b", "c"]
    assert not BroadcastForms().run(graph)


@pytest.mark.parametrize("op", ["Where", "Greater"])
def test_where_and_comparisons(op, run_graph):
    graph = Graph(op)
    b = Builder(graph, "t")
    x = graph.add_input("x", TensorType(("N", 40, 1), "float32"))
    y = b.Where(b.Greater(x, 0.0), x, 0.0) if op == "Where" else b.Cast(b.Greater(x, 0.5), to="float32")
    graph.outputs, graph.output_names = [y], ["y"]
    xs = np.random.default_rng(4).normal(size=(2, 40, 1)).astype(np.float32)
    want = run_graph(graph, xs)[0]
    assert BroadcastForms().run(graph) and _scalar_operands(graph) == 0
    got = run_graph(graph, xs)[0]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, np.maximum(xs, 0) if op == "Where" else (xs > 0.5).astype(np.float32))


def _short_spans(graph) -> int:
    """Operands of arithmetic nodes broadcast as a column or a row of at most SHORT_SPAN elements, on at least
    MIN_SPANS spans (a symbolic batch counted as 32)."""
    count = 0
    for name in graph.topo_order():
        d = graph.node(name)
        out = d["outputs"][0]
        if d["op"] not in ("Add", "Sub", "Mul", "Div") or out.rank < 2 or not isinstance(out.shape[-1], int) or \
                not 1 < out.shape[-1] <= SHORT_SPAN or estimated_size(out.shape) // out.shape[-1] < MIN_SPANS:
            continue
        for v in d["inputs"]:
            t = graph.type_of(v)
            column = t.rank == out.rank and t.shape[-1] == 1 and t.shape[:-1] == out.shape[:-1]
            row = t.rank >= 1 and t.shape[-1] == out.shape[-1] and all(s == 1 for s in t.shape[:-1]) and \
                t.shape != out.shape
            count += column or row
    return count


def _encoder():
    """A Transformer encoder block on (16, 32) tokens: LayerNormalization's and the softmax's gradients
    broadcast (N, 16, 1) columns, the Dense biases (32,) and (64,) rows."""
    x = fgc.Input((16, 32))
    att = layers.MultiHeadAttention(2, 16)(x, x)
    h = layers.LayerNormalization(epsilon=1e-6)(layers.add([x, att]))
    h = layers.LayerNormalization(epsilon=1e-6)(layers.add([h, layers.Dense(32)(layers.Dense(64, activation="relu")(h))]))
    return fgc.Model(x, layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(h)))


def test_encoder_step_is_the_same_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 16, 32)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 40)]
    runs = {}
    for enabled in (False, True):
        monkeypatch.setattr(broadcast_forms, "ENABLED", enabled)
        fgc.utils.set_random_seed(7)
        model = _encoder()
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
        losses = [model.train_on_batch(x, y) for _ in range(2)]
        runs[enabled] = (losses, model.get_weights(), model._trainer.step(True).graph)
    assert _short_spans(runs[False][2]) > 0 and _short_spans(runs[True][2]) == 0
    assert runs[False][0] == runs[True][0]
    for a, b in zip(runs[False][1], runs[True][1]):
        np.testing.assert_array_equal(a, b)


def _centered_and_biased(shape):
    """(x - mean(x, -1)) * (x + b): a column and a row broadcast."""
    graph = Graph("spans")
    b = Builder(graph, "t")
    x = graph.add_input("x", TensorType(shape, "float32"))
    bias = b.const(np.arange(shape[-1], dtype=np.float32) / 8)
    centered = b.Sub(x, b.ReduceMean(x, axes=(-1,), keepdims=1))
    graph.outputs, graph.output_names = [b.Mul(centered, b.Add(x, bias))], ["y"]
    return graph


def test_columns_and_rows_take_whole_forms(run_graph):
    graph = _centered_and_biased(("N", 64, 16))      # 2048 spans of 16 at a batch of 32
    xs = np.random.default_rng(6).normal(size=(3, 64, 16)).astype(np.float32)
    want = run_graph(graph, xs)[0]
    assert BroadcastForms().run(graph)
    ops = [graph.op(n) for n in graph.topo_order()]
    assert "MatMul" in ops and "ExpandLike" in ops and _short_spans(graph) == 0
    got = run_graph(graph, xs)[0]
    np.testing.assert_array_equal(got, want)
    x64 = xs.astype(np.float64)
    np.testing.assert_allclose(got, (x64 - x64.mean(-1, keepdims=True)) * (x64 + np.arange(16) / 8), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [("N", 4, 16), ("N", 64, 64), ("N", 64, 1)])
def test_few_or_long_spans_stay_broadcast(shape):
    """128 spans at a batch of 32 (the nodes would cost more than they save), spans of 64 (about even), and
    no span at all."""
    graph = _centered_and_biased(shape)
    BroadcastForms().run(graph)
    assert not {"MatMul", "ExpandLike"} & {graph.op(n) for n in graph.topo_order()}


def test_comparisons_take_the_whole_forms_too(run_graph):
    """A mask of the maxima along the last axis (ReduceMax's gradient): x == max(x) with max a column, and
    x > b with b a row; as numpy gives them."""
    graph = Graph("masks")
    b = Builder(graph, "t")
    x = graph.add_input("x", TensorType(("N", 64, 8), "float32"))
    at_max = b.Cast(b.Equal(x, b.ReduceMax(x, axes=(-1,), keepdims=1)), to="float32")
    above = b.Cast(b.Greater(x, b.const(np.linspace(-1, 1, 8, dtype=np.float32))), to="float32")
    graph.outputs, graph.output_names = [at_max, above], ["at_max", "above"]
    xs = np.round(np.random.default_rng(8).normal(size=(2, 64, 8)), 1).astype(np.float32)   # ties at the max
    assert BroadcastForms().run(graph)
    ops = [graph.op(n) for n in graph.topo_order()]
    assert "MatMul" in ops and "ExpandLike" in ops
    got = run_graph(graph, xs)
    np.testing.assert_array_equal(got[0], (xs == xs.max(-1, keepdims=True)).astype(np.float32))
    np.testing.assert_array_equal(got[1], (xs > np.linspace(-1, 1, 8, dtype=np.float32)).astype(np.float32))
