import numpy as np

from fgc import Input, Model, layers
from fgc.ir import verify
from fgc.passes import InlineModels


def _outer():
    i = Input(shape=(4,))
    inner = Model(i, layers.Dense(2, activation="relu", name="d")(i), name="inner")
    j = Input(shape=(4,))
    middle = Model(j, inner(j), name="middle")
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    return Model([a, b], layers.add([middle(a), inner(b)], name="sum"), name="outer")


def test_inline_models_replaces_model_nodes_recursively():
    g = _outer().to_graph()
    before = str(g)
    assert "%middle = model.Model(%a) [d/kernel f32[4,2], d/bias f32[2]] : f32[N,2]" in before
    assert "%inner.1 = model.Model(%b)" in before     # node 1 of 'inner': node 0 is inside 'middle'
    assert InlineModels().run(g) is True
    verify(g)
    assert str(g) == "\n".join([
        "graph @outer(%a: f32[N,4], %b: f32[N,4]) {",
        "  %inner.1/d = layer.Dense(%b) [d/kernel f32[4,2], d/bias f32[2]] : f32[N,2]",
        "  %middle/inner/d = layer.Dense(%a) [d/kernel f32[4,2], d/bias f32[2]] : f32[N,2]",
        "  %sum = layer.Add(%middle/inner/d, %inner.1/d) : f32[N,2]",
        "  return sum=%sum",
        "}",
    ])
    assert InlineModels().run(g) is False
    assert g.params.keys() == {"d/kernel", "d/bias"}


def test_inlined_graph_computes_the_same_numbers(run_graph):
    from fgc.passes import PassManager, inference_pipeline

    model = _outer()
    g = model.to_graph()
    PassManager(inference_pipeline(), verify_each=True).run(g)
    xa, xb = np.random.default_rng(0).normal(size=(3, 4)), np.random.default_rng(1).normal(size=(3, 4))
    k, bias = model.get_weights()
    (got,) = run_graph(g, xa, xb)
    np.testing.assert_allclose(got, np.maximum(xa @ k + bias, 0) + np.maximum(xb @ k + bias, 0), rtol=1e-5, atol=1e-6)
