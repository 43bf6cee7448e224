import numpy as np

from fgc import Input, Model, layers
from fgc.ir import op_path, verify
from fgc.passes import FuseGemm


def test_fuse_gemm_mlp(graph_before, run_graph):
    i = Input(shape=(6,))
    h = layers.Dense(5, activation="relu")(i)
    h = layers.Dense(4, activation="relu")(h)
    model = Model(i, layers.Dense(3, activation="softmax")(h))
    g = graph_before(model, "fuse_gemm")
    assert op_path(g) == "MatMul -> Add -> Relu -> MatMul -> Add -> Relu -> MatMul -> Add -> Softmax"
    x = np.random.default_rng(0).normal(size=(7, 6))
    (before,) = run_graph(g, x)

    assert FuseGemm().run(g) is True
    verify(g)
    assert op_path(g) == "Gemm -> Relu -> Gemm -> Relu -> Gemm -> Softmax"
    assert "%dense/Gemm = Gemm(%input_layer, %dense/kernel, %dense/bias) : f32[N,5]" in str(g)
    (after,) = run_graph(g, x)
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7)
    assert FuseGemm().run(g) is False


def test_fuse_gemm_refuses_at_rank_3(graph_before, run_graph):
    i = Input(shape=(2, 6))
    model = Model(i, layers.Dense(3, activation="relu")(i))
    g = graph_before(model, "fuse_gemm")
    text = str(g)
    assert FuseGemm().run(g) is False
    verify(g)
    assert str(g) == text
    assert op_path(g) == "MatMul -> Add -> Relu"
    x = np.random.default_rng(1).normal(size=(1, 2, 6))
    k, b = model.get_weights()
    np.testing.assert_allclose(run_graph(g, x)[0], np.maximum(x @ k + b, 0), rtol=1e-5, atol=1e-6)


def test_fuse_gemm_refuses_when_the_matmul_has_another_user(graph_before, run_graph):
    x, o1, o2 = Input(shape=(4,), name="x"), Input(shape=(3,), name="o1"), Input(shape=(3,), name="o2")
    proj = layers.Dense(3, use_bias=False, name="proj")(x)
    model = Model([x, o1, o2], [layers.add([proj, o1], name="s1"), layers.add([proj, o2], name="s2")])
    g = graph_before(model, "fuse_gemm")
    text = str(g)
    assert FuseGemm().run(g) is False
    verify(g)
    assert str(g) == text and "Gemm" not in text
    assert g.node("proj/MatMul")["meta"]["fuse_gemm"] == "refused: the MatMul result has other users"


def test_fuse_gemm_refuses_when_the_matmul_is_a_graph_output(graph_before, run_graph):
    x, o1 = Input(shape=(4,), name="x"), Input(shape=(3,), name="o1")
    proj = layers.Dense(3, use_bias=False, name="proj")(x)
    model = Model([x, o1], [layers.add([proj, o1], name="s1"), proj])
    g = graph_before(model, "fuse_gemm")
    assert FuseGemm().run(g) is False
    assert "Gemm" not in str(g)
    xs = [np.random.default_rng(s).normal(size=(2, n)) for s, n in ((0, 4), (1, 3))]
    k = model.get_weights()[0]
    s1, p = run_graph(g, *xs)
    np.testing.assert_allclose(p, xs[0] @ k, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s1, xs[0] @ k + xs[1], rtol=1e-5, atol=1e-6)


def test_fuse_gemm_with_a_full_matrix_bias(graph_before, run_graph):
    # Add(MatMul(x, W), C) with C of shape [N, 3] is still a Gemm (C broadcasts to M x N)
    x, c = Input(shape=(4,), name="x"), Input(shape=(3,), name="c")
    model = Model([x, c], layers.add([layers.Dense(3, use_bias=False, name="proj")(x), c], name="s"))
    g = graph_before(model, "fuse_gemm")
    xs = [np.random.default_rng(s).normal(size=(5, n)) for s, n in ((0, 4), (1, 3))]
    (before,) = run_graph(g, *xs)
    assert FuseGemm().run(g) is True
    verify(g)
    assert op_path(g) == "Gemm"
    np.testing.assert_allclose(run_graph(g, *xs)[0], before, rtol=1e-6, atol=1e-7)
