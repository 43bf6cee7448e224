"""TransposeIds: an Embedding feeding a time-major recurrence looks up transposed ids instead of transposing
its rows, with the same values and gradients."""
import numpy as np
import pytest

import fgc
import fgc.passes.transpose_ids as transpose_ids
from fgc import layers
from fgc.passes import PassManager, lowering_pipeline


def embedded_rnn(wrap=lambda rnn: rnn, mask_zero=False, also_pooled=False):
    ids = fgc.Input((None,), dtype="int32", name="ids")
    x = layers.Embedding(11, 3, mask_zero=mask_zero, name="embed")(ids)
    h = wrap(layers.LSTM(4, name="rnn"))(x)
    if also_pooled:   # the rows are read batch-major too: the lookup must stay
        h = layers.concatenate([h, layers.GlobalAveragePooling1D()(x)])
    return fgc.Model(ids, layers.Dense(1, name="out")(h))


def lowered(model):
    graph = model.to_graph()
    PassManager(lowering_pipeline(training=True), verify_each=True).run(graph)
    return graph


def float_transposes(graph):
    return [n for n in graph.nodes_with_op("Transpose") if graph.node(n)["outputs"][0].dtype == "float32"]


def test_lookup_of_transposed_ids_replaces_the_row_transpose():
    graph = lowered(embedded_rnn())
    (gather,) = graph.nodes_with_op("Gather")
    assert graph.op(graph.node(gather)["inputs"][1].node) == "Transpose"
    assert not float_transposes(graph)


def test_a_lookup_read_batch_major_too_is_left_alone():
    graph = lowered(embedded_rnn(also_pooled=True))
    (gather,) = graph.nodes_with_op("Gather")
    assert graph.op(graph.node(gather)["inputs"][1].node) == "input"


def ids_batch(model):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 11, (3, 6))
    ids[0, :2] = 0
    return ids, rng.normal(size=(3, 1))


@pytest.mark.parametrize("kwargs", [
    pytest.param(dict(), id="lstm"),
    pytest.param(dict(mask_zero=True), id="masked"),
    pytest.param(dict(wrap=layers.Bidirectional), id="bidirectional"),
    pytest.param(dict(also_pooled=True), id="not-rewritten"),
])
def test_gradients_are_unchanged(kwargs, sgd_grads):
    weights, want, _ = sgd_grads(lambda: embedded_rnn(**kwargs), ids_batch, (transpose_ids, False))
    _, got, _ = sgd_grads(lambda: embedded_rnn(**kwargs), ids_batch, (transpose_ids, True), weights)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
