"""Simplify: ArgMax of a Softmax over the same axis reads the logits (softmax keeps the order), so an
accuracy metric on a softmax output no longer needs the Softmax in the train step."""
import numpy as np

from fgc.ir import Graph, TensorType, verify
from fgc.passes import DCE, Simplify
from fgc.primitives import Builder


def _ops(g):
    return [g.op(n) for n in g.topo_order() if g.op(n) not in ("input", "constant")]


def test_argmax_of_softmax_reads_the_logits(run_graph):
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 3, 5), "float32"))
    b = Builder(g, "b")
    same = b.ArgMax(b.Softmax(x, axis=-1), axis=2, keepdims=0)
    other = b.ArgMax(b.Softmax(x, axis=1), axis=2, keepdims=0)   # another axis: the Softmax stays
    g.outputs, g.output_names = [b.Identity(same), b.Identity(other)], ["same", "other"]   # as accuracy reads them
    xs = np.random.default_rng(0).normal(size=(4, 3, 5))
    before = run_graph(g, xs)
    assert Simplify().run(g) is True
    DCE().run(g)
    verify(g)
    assert _ops(g).count("Softmax") == 1 and _ops(g).count("ArgMax") == 2
    for b_, a_ in zip(before, run_graph(g, xs)):
        np.testing.assert_array_equal(b_, a_)
