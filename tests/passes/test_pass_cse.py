import numpy as np

from fgc import Input, Model, layers
from fgc.ir import Graph, TensorType, verify
from fgc.primitives import Builder
from fgc.passes import CSE


def test_cse_merges_duplicate_ops(graph_before, run_graph):
    i = Input(shape=(4,))
    model = Model(i, layers.add([layers.Activation("relu", name="r1")(i), layers.Activation("relu", name="r2")(i),
                                 layers.average([i, i], name="m1"), layers.average([i, i], name="m2")]))
    g = graph_before(model, "cse")
    text = str(g)
    assert text.count("= Relu(%input_layer)") == 2 and text.count("= Add(%input_layer, %input_layer)") == 2
    x = np.random.default_rng(0).normal(size=(5, 4))
    (before,) = run_graph(g, x)

    assert CSE().run(g) is True
    verify(g)
    text = str(g)
    assert text.count("= Relu(%input_layer)") == 1 and text.count("= Add(%input_layer, %input_layer)") == 1
    assert text.count("= Mul(") == 1
    assert "%add/Add = Add(%r1/Relu, %r1/Relu) : f32[N,4]" in text
    (after,) = run_graph(g, x)
    np.testing.assert_array_equal(before, after)
    np.testing.assert_allclose(after, 2 * np.maximum(x, 0) + 2 * x, rtol=1e-6, atol=1e-6)
    assert CSE().run(g) is False


def test_cse_keeps_ops_with_different_attrs_or_random_ops():
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 4, 3), "float32"))
    b = Builder(g, "b")
    t1, t2 = b.Transpose(x, perm=(0, 2, 1)), b.Transpose(x, perm=(1, 0, 2))
    d1, d2 = b.Dropout(x, ratio=0.5), b.Dropout(x, ratio=0.5)
    g.outputs, g.output_names = [t1, t2, d1[0], d2[0]], ["t1", "t2", "d1", "d2"]
    verify(g)
    assert CSE().run(g) is False
    assert str(g).count("= Transpose(") == 2 and str(g).count("= Dropout(") == 2
