"""Simplify's Reshape(Reshape(x)) merge: one Reshape, or none when the shapes round-trip; numbers unchanged."""
import numpy as np

from fgc.ir import Graph, TensorType, verify
from fgc.passes import DCE, Simplify
from fgc.primitives import Builder

rng = np.random.default_rng(0)


def _ops(g):
    return [g.op(n) for n in g.topo_order() if g.op(n) not in ("input", "constant")]


def test_round_trip_reshapes_vanish(run_graph):
    g = Graph("round_trip")
    x = g.add_input("x", TensorType((32,), "float32"))
    b = Builder(g, "t")
    g.outputs, g.output_names = [b.Relu(b.Reshape(b.Reshape(x, shape=(2, 16)), shape=(32,)))], ["y"]
    x_val = rng.normal(size=(32,))
    (before,) = run_graph(g, x_val)
    assert Simplify().run(g) is True
    verify(g)
    assert _ops(g) == ["Relu"]
    np.testing.assert_array_equal(run_graph(g, x_val)[0], before)


def test_a_static_chain_becomes_one_reshape(run_graph):
    g = Graph("chain")
    x = g.add_input("x", TensorType((4, 6), "float32"))
    b = Builder(g, "t")
    g.outputs, g.output_names = [b.Relu(b.Reshape(b.Reshape(x, shape=(2, 12)), shape=(3, 8)))], ["y"]
    x_val = rng.normal(size=(4, 6))
    (before,) = run_graph(g, x_val)
    Simplify().run(g)
    verify(g)
    assert _ops(g) == ["Reshape", "Relu"]
    np.testing.assert_array_equal(run_graph(g, x_val)[0], before)


def test_a_reshape_like_of_a_reshape_reads_the_source(run_graph):
    g = Graph("like")
    x = g.add_input("x", TensorType(("N", 6), "float32"))
    like = g.add_input("like", TensorType(("N", 3, 2), "float32"))
    b = Builder(g, "t")
    g.outputs, g.output_names = [b.Add(b.ReshapeLike(b.Reshape(x, shape=(0, 2, 3)), like), like)], ["y"]
    vals = rng.normal(size=(4, 6)), rng.normal(size=(4, 3, 2))
    (before,) = run_graph(g, *vals)
    Simplify().run(g)
    verify(g)
    assert _ops(g) == ["ReshapeLike", "Add"]
    np.testing.assert_array_equal(run_graph(g, *vals)[0], before)


def test_an_inner_reshape_with_other_readers_stays():
    g = Graph("shared")
    x = g.add_input("x", TensorType((4, 6), "float32"))
    b = Builder(g, "t")
    inner = b.Reshape(x, shape=(24,))
    g.outputs, g.output_names = [b.Reshape(inner, shape=(6, 4)), b.Relu(inner)], ["y", "z"]
    text = str(g)
    Simplify().run(g)
    assert str(g) == text


def _weighted_total(g, b, readers_of_product=()):
    values = g.add_input("values", TensorType(("N",), "float32"))
    sw = g.add_input("sw", TensorType(("N",), "float32"))
    product = b.Mul(values, sw)
    return b.ReduceSum(product, keepdims=0), [f(product) for f in readers_of_product]


def test_a_weighted_sum_of_two_vectors_becomes_one_matmul(run_graph):
    g = Graph("dot")
    b = Builder(g, "t")
    grad = g.add_input("g", TensorType((), "float32"))
    total, (expanded,) = _weighted_total(g, b, [lambda p: b.ExpandLike(grad, p)])   # a vjp reads its shape
    g.outputs, g.output_names = [b.Mul(total, 0.5), b.Exp(expanded)], ["loss", "e"]
    vals = np.float32(0.5), rng.normal(size=(7,)), rng.random(7)   # in the order the inputs were added
    before = run_graph(g, *vals)
    assert Simplify().run(g) is True
    DCE().run(g)   # the product, read by nothing now (the pipeline's DCE follows Simplify)
    verify(g)
    assert sorted(_ops(g)) == ["Dot", "Exp", "ExpandLike", "Mul"]
    after = run_graph(g, *vals)
    np.testing.assert_allclose(after[0], before[0], rtol=1e-6)   # the sum's order may differ
    np.testing.assert_array_equal(after[1], before[1])


def test_a_product_read_elsewhere_keeps_its_sum():
    g = Graph("shared_product")
    b = Builder(g, "t")
    total, (relu,) = _weighted_total(g, b, [b.Relu])
    g.outputs, g.output_names = [b.Mul(total, 0.5), relu], ["loss", "r"]
    Simplify().run(g)
    assert "Dot" not in _ops(g) and "ReduceSum" in _ops(g)


def test_the_dot_rule_switched_off_keeps_the_sum(monkeypatch):
    from fgc.passes import simplify

    monkeypatch.setattr(simplify, "DOT_RULE", False)
    g = Graph("off")
    b = Builder(g, "t")
    total, _ = _weighted_total(g, b)
    g.outputs, g.output_names = [b.Mul(total, 0.5)], ["loss"]
    Simplify().run(g)
    assert _ops(g) == ["Mul", "ReduceSum", "Mul"]


def test_a_sum_over_the_leading_axes_reads_their_flattening_and_the_reshapes_merge(run_graph):
    """A Dense-on-3D bias gradient summed over (N, T) beside the weight gradient's (N*T, C) rows: the sum reads
    the rows, and the Reshape of the Reshape that produced the cotangent becomes one."""
    g = Graph("flat_sum")
    x = g.add_input("x", TensorType(("N", 2, 4, 3), "float32"))
    b = Builder(g, "t")
    dy = b.Reshape(b.Relu(x), shape=(0, 4, 6))               # (N, 4, 6), read by the sum and the rows
    rows = b.Reshape(dy, shape=(-1, 6))
    g.outputs, g.output_names = [b.Exp(b.ReduceSum(dy, axes=(0, 1), keepdims=0)), b.Exp(rows)], ["db", "r"]
    x_val = rng.normal(size=(3, 2, 4, 3))
    before = run_graph(g, x_val)
    assert Simplify().run(g) is True
    verify(g)
    assert _ops(g).count("Reshape") == 1
    for a, b_ in zip(run_graph(g, x_val), before):
        np.testing.assert_array_equal(a, b_)


def test_flat_sums_switched_off_keep_the_sum_over_the_leading_axes(monkeypatch):
    from fgc.passes import simplify

    monkeypatch.setattr(simplify, "FLAT_SUMS", False)
    g = Graph("flat_sum_off")
    x = g.add_input("x", TensorType(("N", 2, 4, 3), "float32"))
    b = Builder(g, "t")
    dy = b.Reshape(b.Relu(x), shape=(0, 4, 6))
    g.outputs, g.output_names = [b.Exp(b.ReduceSum(dy, axes=(0, 1), keepdims=0)),
                                 b.Exp(b.Reshape(dy, shape=(-1, 6)))], ["db", "r"]
    Simplify().run(g)
    assert _ops(g).count("Reshape") == 2
