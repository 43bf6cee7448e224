"""FoldNegation: a Neg whose value only flows through odd ops into a Mul by a constant (or another Neg)
goes, the constant changes sign, and the numbers stay the same bit for bit."""
import numpy as np

from fgc.ir import Graph, TensorType, verify
from fgc.passes import DCE, FoldNegation
from fgc.primitives import Builder


def _graph():
    g = Graph("g")
    return g, g.add_input("x", TensorType(("N", 4), "float32")), g.add_input("w", TensorType(("N",), "float32")), \
        Builder(g, "b")


def _ops(g):
    return [g.op(n) for n in g.topo_order() if g.op(n) not in ("input", "constant")]


def test_the_crossentropy_minus_moves_into_the_loss_scale(run_graph):
    g, x, w, b = _graph()
    per_sample = b.Neg(b.ReduceSum(b.Mul(x, x), axes=(1,), keepdims=0))
    loss = b.Mul(b.ReduceSum(b.Mul(per_sample, w), keepdims=0), 0.25)
    g.outputs, g.output_names = [loss], ["loss"]
    rng = np.random.default_rng(0)
    xs, ws = rng.normal(size=(5, 4)), rng.random(5)
    (before,) = run_graph(g, xs, ws)
    assert FoldNegation().run(g) is True
    DCE().run(g)
    verify(g)
    assert "Neg" not in _ops(g) and "-0.25" in str(g)
    (after,) = run_graph(g, xs, ws)
    np.testing.assert_array_equal(before, after)
    assert FoldNegation().run(g) is False


def test_two_negations_cancel_and_shared_or_output_values_keep_theirs(run_graph):
    g, x, w, b = _graph()
    twice = b.Neg(b.Unsqueeze(b.Neg(w), axes=(1,)))            # -(-w): both go
    shared = b.Neg(x)                                           # read by two ops: stays
    kept = b.Mul(b.Mul(shared, 2.0), b.Exp(shared))
    reported = b.Neg(w)                                         # a graph output itself: stays
    g.outputs, g.output_names = [b.Add(twice, x), kept, reported, b.Mul(reported, 3.0)], ["a", "k", "r", "m"]
    rng = np.random.default_rng(1)
    xs, ws = rng.normal(size=(3, 4)), rng.normal(size=3)
    before = run_graph(g, xs, ws)
    assert FoldNegation().run(g) is True
    verify(g)
    assert _ops(g).count("Neg") == 2
    for b_, a_ in zip(before, run_graph(g, xs, ws)):
        np.testing.assert_array_equal(b_, a_)


def test_a_non_odd_reader_stops_the_fold():
    g, x, w, b = _graph()
    g.outputs, g.output_names = [b.Mul(b.Exp(b.Neg(x)), 2.0)], ["y"]
    assert FoldNegation().run(g) is False and "Neg" in _ops(g)


def _crossentropy_gradient(b, y, w, logp, m):
    """The shape autodiff gives the crossentropy's gradient: -w through the clip's mask into log-softmax's vjp."""
    g = b.Where(m, b.Mul(b.Unsqueeze(b.Neg(w), axes=(1,)), y), 0.0)
    return b.Sub(g, b.Mul(b.Exp(logp), b.ReduceSum(g, axes=(1,), keepdims=1)))


def test_a_negation_that_fans_out_and_joins_in_a_sub_goes(run_graph):
    g, y, w, b = _graph()
    logp = g.add_input("logp", TensorType(("N", 4), "float32"))
    m = b.Less(logp, -0.5)
    g.outputs, g.output_names = [_crossentropy_gradient(b, y, w, logp, m)], ["dz"]
    rng = np.random.default_rng(2)
    vals = rng.random((6, 4)), rng.random(6), np.log(rng.dirichlet(np.ones(4), 6))
    (before,) = run_graph(g, *vals)
    assert FoldNegation().run(g) is True
    verify(g)
    assert "Neg" not in _ops(g) and _ops(g).count("Sub") == 1
    np.testing.assert_array_equal(run_graph(g, *vals)[0], before)   # zeros' signs aside, bit for bit


def test_a_join_with_a_non_odd_branch_keeps_the_negation():
    g, x, w, b = _graph()
    neg = b.Unsqueeze(b.Neg(w), axes=(1,))
    g.outputs, g.output_names = [b.Sub(b.Mul(neg, x), b.Exp(neg))], ["y"]
    assert FoldNegation().run(g) is False and "Neg" in _ops(g)


def test_a_sub_of_one_negated_operand_keeps_the_negation():
    g, x, w, b = _graph()
    g.outputs, g.output_names = [b.Sub(b.Mul(b.Unsqueeze(b.Neg(w), axes=(1,)), x), x)], ["y"]
    assert FoldNegation().run(g) is False and "Neg" in _ops(g)


def test_a_where_with_a_non_zero_branch_keeps_the_negation():
    g, x, w, b = _graph()
    chosen = b.Where(b.Less(x, 0.0), b.Mul(b.Unsqueeze(b.Neg(w), axes=(1,)), x), 1.0)
    g.outputs, g.output_names = [b.Mul(chosen, 2.0)], ["y"]
    assert FoldNegation().run(g) is False and "Neg" in _ops(g)


def test_folding_through_joins_gives_the_single_chain_fold_s_graph_on_a_chain(run_graph, monkeypatch):
    from fgc.passes import fold_negation

    def folded(through_joins):
        monkeypatch.setattr(fold_negation, "FOLD_THROUGH_JOINS", through_joins)
        g, x, w, b = _graph()
        per_sample = b.Neg(b.ReduceSum(b.Mul(x, x), axes=(1,), keepdims=0))
        g.outputs, g.output_names = [b.Mul(b.ReduceSum(b.Mul(per_sample, w), keepdims=0), 0.25)], ["loss"]
        FoldNegation().run(g)
        return _ops(g)

    assert folded(True) == folded(False)


def test_an_add_of_one_negated_operand_becomes_a_sub(run_graph):
    g, x, w, b = _graph()
    # the binary crossentropy's gradient: d/dz softplus(z) and -d/dz softplus(-z), summed
    z = b.Mul(x, 1.5)
    grad = b.Add(b.Mul(x, b.Sigmoid(z)), b.Neg(b.Mul(b.Unsqueeze(w, axes=(1,)), b.Sigmoid(b.Neg(z)))))
    g.outputs, g.output_names = [b.Exp(grad)], ["y"]
    rng = np.random.default_rng(3)
    vals = rng.normal(size=(5, 4)), rng.random(5)
    (before,) = run_graph(g, *vals)
    assert FoldNegation().run(g) is True
    verify(g)
    assert _ops(g).count("Neg") == 1 and "Add" not in _ops(g) and "Sub" in _ops(g)   # the logits' Neg stays
    np.testing.assert_array_equal(run_graph(g, *vals)[0], before)
