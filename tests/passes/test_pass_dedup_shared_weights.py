import re

import numpy as np

from fgc import Input, Model, layers
from fgc.ir import verify
from fgc.passes import DedupSharedWeights


def _shared():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    dense = layers.Dense(3, name="shared")
    avg1, avg2 = layers.average([dense(a), dense(b)]), layers.average([a, b])
    return Model([a, b], [avg1, avg2])


def _param_nodes(text):
    return re.findall(r"^\s*%(\S+) = param\(\) \{name='([^']+)'\}", text, flags=re.M)


def test_dedup_merges_param_nodes_and_identical_constants(graph_before, run_graph):
    model = _shared()
    g = graph_before(model, "dedup_shared_weights")
    text = str(g)
    assert _param_nodes(text) == [("shared/kernel", "shared/kernel"), ("shared/bias", "shared/bias"),
                                  ("shared/kernel_1", "shared/kernel"), ("shared/bias_1", "shared/bias")]
    assert text.count("= constant() {value=dense<0.5>}") == 2
    xa, xb = np.random.default_rng(0).normal(size=(3, 4)), np.random.default_rng(1).normal(size=(3, 4))
    before = run_graph(g, xa, xb)

    assert DedupSharedWeights().run(g) is True
    verify(g)
    text = str(g)
    assert _param_nodes(text) == [("shared/kernel", "shared/kernel"), ("shared/bias", "shared/bias")]
    assert "%shared.1/MatMul = MatMul(%b, %shared/kernel) : f32[N,3]" in text
    assert text.count("= constant() {value=dense<0.5>}") == 1
    after = run_graph(g, xa, xb)
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)
    k, bias = model.get_weights()
    np.testing.assert_allclose(after[0], ((xa @ k + bias) + (xb @ k + bias)) / 2, rtol=1e-5, atol=1e-6)
    assert DedupSharedWeights().run(g) is False


def test_dedup_keeps_distinct_constants(graph_before):
    a, b = Input(shape=(4,)), Input(shape=(4,))
    model = Model([a, b], [layers.average([a, b]), layers.average([a, b, a])])
    g = graph_before(model, "dedup_shared_weights")
    DedupSharedWeights().run(g)
    verify(g)
    text = str(g)
    assert "{value=dense<0.5>}" in text and "{value=dense<0.3333" in text
