import numpy as np

from fgc import Input, Model, layers
from fgc.ir import Value, op_path, verify
from fgc.passes import DCE


def test_dce_removes_an_unused_branch(graph_before, run_graph):
    i = Input(shape=(4,))
    kept = layers.Dense(2, activation="tanh", name="kept")(i)
    unused = layers.Dense(3, activation="relu", name="unused")(i)
    model = Model(i, [kept, unused])
    g = graph_before(model, "dce")
    # drop the second output: its whole branch is now dead
    g.outputs, g.output_names = g.outputs[:1], g.output_names[:1]
    assert "unused/" in str(g)

    assert DCE().run(g) is True
    verify(g)
    text = str(g)
    assert "unused" not in text
    assert text.count("= param()") == 2
    assert op_path(g) == "Gemm -> Tanh"
    x = np.random.default_rng(0).normal(size=(3, 4))
    k, b = model.get_layer("kept").get_weights()
    (got,) = run_graph(g, x)
    np.testing.assert_allclose(got, np.tanh(x @ k + b), rtol=1e-5, atol=1e-6)
    assert DCE().run(g) is False


def test_dce_keeps_graph_inputs_nobody_reads(graph_before):
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    model = Model([a, b], [layers.Dense(2, name="d")(a), layers.Activation("relu", name="r")(b)])
    g = graph_before(model, "dce")
    g.outputs, g.output_names = g.outputs[:1], g.output_names[:1]
    DCE().run(g)
    verify(g)
    assert g.input_names == ["a", "b"] and "b" in g
    assert "Relu" not in str(g)
    assert g.users("b") == [] and g.inputs[1] == Value("b")
