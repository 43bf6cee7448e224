"""Simplify's Reshape(Reshape(x)) merge: one Reshape, or none when the shapes round-trip; numbers unchanged."""
import numpy as np

from fgc.ir import Graph, TensorType, verify
from fgc.passes import Simplify
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
