"""FuseScans: a shared recurrent layer called on several inputs runs as one Scan over their rows, with the
gradients of the separate Scans (checked against the unfused step and finite differences)."""
import numpy as np
import pytest

import fgc
import fgc.passes.fuse_scans as fuse_scans
from fgc import layers
from fgc.passes import PassManager, lowering_pipeline


def shared_model(cell=layers.LSTM, features=3, mask=False, **kwargs):
    """Two inputs of unknown length through one recurrent layer, averaged or last outputs, one Dense."""
    if mask:
        ids = [fgc.Input((None,), dtype="int32", name=n) for n in ("left", "right")]
        embed = layers.Embedding(9, features, mask_zero=True, name="embed")
        inputs, seqs = ids, [embed(i) for i in ids]
    else:
        inputs = seqs = [fgc.Input((None, features), name=n) for n in ("left", "right")]
    rnn = cell(4, name="shared", **kwargs)
    outs = [rnn(s) for s in seqs]
    if kwargs.get("return_sequences"):
        outs = [layers.GlobalAveragePooling1D()(o) for o in outs]
    return fgc.Model(inputs, layers.Dense(1, name="out")(layers.concatenate(outs)))


def data(model, lengths=(5, 5), batch=3, seed=0):
    rng = np.random.default_rng(seed)
    if model.inputs[0].type.dtype.startswith("int"):
        xs = [rng.integers(0, 9, (batch, t)) for t in lengths]
        for x in xs:
            x[0, -2:] = 0   # padded steps
    else:
        xs = [rng.normal(size=(batch, t, 3)).astype(np.float32) for t in lengths]
    return xs, rng.normal(size=(batch, 1)).astype(np.float32)


def sgd_gradients(sgd_grads, build, fused: bool, weights=None):
    return sgd_grads(build, data, (fuse_scans, fused), weights)


def lowered(model, equal=True):
    graph = model.to_graph()
    graph.equal_dims = (("T0", "T1"),) if equal else ()
    PassManager(lowering_pipeline(training=True), verify_each=True).run(graph)
    return graph


def test_shared_layer_becomes_one_scan_when_lengths_are_declared_equal():
    graph = lowered(shared_model())
    assert len(graph.nodes_with_op("Scan")) == 1
    assert graph.assumed_dims == (("T0", "T1"),)
    assert len(graph.nodes_with_op("SplitEqual")) == 1


def test_lengths_not_known_equal_are_not_fused():
    graph = lowered(shared_model(), equal=False)
    assert len(graph.nodes_with_op("Scan")) == 2
    assert not getattr(graph, "assumed_dims", ())


def test_same_length_symbol_needs_no_assumption():
    x = fgc.Input((None, 3), name="x")
    rnn = layers.LSTM(4, name="shared")
    model = fgc.Model(x, layers.concatenate([rnn(x), rnn(layers.Lambda(lambda t: t * 2.0)(x))]))
    graph = lowered(model, equal=False)
    assert len(graph.nodes_with_op("Scan")) == 1
    assert not getattr(graph, "assumed_dims", ())


def test_separate_layers_and_chained_calls_are_not_fused():
    left, right = fgc.Input((None, 3), name="left"), fgc.Input((None, 3), name="right")
    two = fgc.Model([left, right], layers.concatenate([layers.LSTM(4)(left), layers.LSTM(4)(right)]))
    assert len(lowered(two).nodes_with_op("Scan")) == 2
    x = fgc.Input((None, 3), name="x")
    rnn = layers.LSTM(3, return_sequences=True)
    chained = fgc.Model(x, rnn(rnn(x)))   # the second call reads the first one's result
    assert len(lowered(chained, equal=False).nodes_with_op("Scan")) == 2
    # recurrent dropout: each call's mask is a (N, units) closure of its own rows
    assert len(lowered(shared_model(recurrent_dropout=0.5)).nodes_with_op("Scan")) == 2


CELLS = [
    pytest.param(dict(cell=layers.LSTM), id="lstm"),
    pytest.param(dict(cell=layers.GRU), id="gru"),
    pytest.param(dict(cell=layers.GRU, reset_after=False), id="gru-reset-before"),
    pytest.param(dict(cell=layers.SimpleRNN), id="simple-rnn"),
    pytest.param(dict(cell=layers.LSTM, go_backwards=True), id="lstm-backwards"),
    pytest.param(dict(cell=layers.LSTM, return_sequences=True), id="lstm-sequences"),
    pytest.param(dict(cell=layers.GRU, mask=True), id="gru-masked"),
]


@pytest.mark.parametrize("kwargs", CELLS)
def test_fused_gradients_match_the_separate_scans(kwargs, sgd_grads):
    weights, want, _ = sgd_gradients(sgd_grads, lambda: shared_model(**kwargs), fused=False)
    _, got, model = sgd_gradients(sgd_grads, lambda: shared_model(**kwargs), fused=True, weights=weights)
    assert model._trainer.step(True).spec.equal_dims == [[("left", 1), ("right", 1)]]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_fused_gradient_matches_finite_differences(fd_grads, sgd_grads):
    weights, got, model = sgd_gradients(sgd_grads, shared_model, fused=True)
    xs, y = data(model)

    def loss(ws):
        model.set_weights([w.astype(np.float32) for w in ws])
        return float(model.test_on_batch(xs, y))

    # float32 losses: a large step and a loose tolerance, enough to catch a wrong term
    want = fd_grads(loss, [w.astype(np.float64) for w in weights], h=1e-2)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-2, atol=2e-3)


def test_chained_calls_fuse_pairwise_with_the_same_gradients(sgd_grads):
    """x1 -> A -> B and x2 -> C -> D through one layer: A with C, then B with D (judged after the first fusion)."""
    def build():
        xs = [fgc.Input((None, 3), name=n) for n in ("left", "right")]
        rnn = layers.LSTM(3, return_sequences=True, name="shared")
        outs = [layers.GlobalAveragePooling1D()(rnn(rnn(x))) for x in xs]
        return fgc.Model(xs, layers.Dense(1, name="out")(layers.concatenate(outs)))

    assert len(lowered(build()).nodes_with_op("Scan")) == 2
    weights, want, _ = sgd_gradients(sgd_grads, build, fused=False)
    _, got, _ = sgd_gradients(sgd_grads, build, fused=True, weights=weights)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_bodies_that_mix_rows_are_not_fused():
    from fgc.ir import Graph, TensorType
    from fgc.primitives import Builder

    body = Graph("body")
    h = body.add_input("h", TensorType(("N", 2)))
    x = body.add_input("x", TensorType(("N", 2)))
    w = body.add_input("c0", TensorType((2, 2)))
    b = Builder(body, "cell")
    body.outputs, body.output_names = [b.Add(b.MatMul(h, w), x)], ["h_new"]
    assert fuse_scans._rowwise(body, 1)
    body.outputs = [b.Add(body.outputs[0], b.ReduceSum(x, axes=(0,), keepdims=1))]   # a sum over the batch
    assert not fuse_scans._rowwise(body, 1)
    body.outputs = [b.Tanh(w)]   # a closure-only output has no batch rows to split
    assert not fuse_scans._rowwise(body, 1)
