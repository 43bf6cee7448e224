import numpy as np
import pytest

from fgc.ir import Graph, TensorType, op_path, verify
from fgc.primitives import Builder
from fgc.passes import CancelTransposes


def _graph(*perms):
    g = Graph("transposes")
    x = g.add_input("x", TensorType(("N", 2, 3, 4), "float32"))
    b = Builder(g, "t")
    y = x
    for p in perms:
        y = b.Transpose(y, perm=p)
    y = b.Relu(y)
    g.outputs, g.output_names = [y], ["y"]
    verify(g)
    return g


X = np.random.default_rng(0).normal(size=(3, 2, 3, 4))


def test_inverse_pair_vanishes(run_graph):
    g = _graph((0, 2, 3, 1), (0, 3, 1, 2))     # NCHW -> NHWC -> NCHW
    assert op_path(g) == "Transpose -> Transpose -> Relu"
    (before,) = run_graph(g, X)
    assert CancelTransposes().run(g) is True
    verify(g)
    assert op_path(g) == "Relu"
    assert str(g) == "\n".join([
        "graph @transposes(%x: f32[N,2,3,4]) {",
        "  %t/Relu = Relu(%x) : f32[N,2,3,4]",
        "  return y=%t/Relu",
        "}",
    ])
    (after,) = run_graph(g, X)
    np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(after, np.maximum(X, 0).astype(np.float32))


def test_non_inverse_pair_composes_into_one(run_graph):
    g = _graph((0, 2, 3, 1), (0, 2, 1, 3))
    (before,) = run_graph(g, X)
    assert CancelTransposes().run(g) is True
    verify(g)
    assert op_path(g) == "Transpose -> Relu"
    assert "perm=[0,3,2,1]" in str(g)
    (after,) = run_graph(g, X)
    np.testing.assert_array_equal(after, before)
    np.testing.assert_array_equal(after, np.maximum(X.transpose(0, 3, 2, 1), 0).astype(np.float32))


def test_identity_transpose_vanishes():
    g = _graph((0, 1, 2, 3))
    assert CancelTransposes().run(g) is True
    verify(g)
    assert op_path(g) == "Relu"


@pytest.mark.parametrize("perms", [((0, 2, 3, 1),), ()])
def test_lone_transpose_or_none_is_kept(perms):
    g = _graph(*perms)
    text = str(g)
    assert CancelTransposes().run(g) is False
    assert str(g) == text


def test_inner_transpose_with_another_user_stays(run_graph):
    g = Graph("shared")
    x = g.add_input("x", TensorType(("N", 2, 3), "float32"))
    b = Builder(g, "t")
    inner = b.Transpose(x, perm=(0, 2, 1))
    back = b.Transpose(inner, perm=(0, 2, 1))
    g.outputs, g.output_names = [b.Relu(back), b.Neg(inner)], ["y", "z"]
    x_val = np.random.default_rng(1).normal(size=(2, 2, 3))
    before = run_graph(g, x_val)
    CancelTransposes().run(g)
    verify(g)
    text = str(g)
    assert "Relu(%x)" in text and "Neg(%t/Transpose)" in text
    after = run_graph(g, x_val)
    for u, v in zip(before, after):
        np.testing.assert_array_equal(u, v)


def _product_graph(swap_a, swap_b, w_rank=3, reader="Relu"):
    """y = Swap(MatMul(a', b')) with a' = swap(a) or a and b' likewise (shapes chosen to fit)."""
    g = Graph("product")
    a = g.add_input("a", TensorType(("N", 4, 3) if swap_a else ("N", 3, 4), "float32"))
    b_shape = (5, 4) if swap_b else (4, 5)
    b_val = g.add_input("b", TensorType(("N", *b_shape) if w_rank == 3 else b_shape, "float32"))
    bld = Builder(g, "t")

    def swap(v):
        r = g.type_of(v).rank
        return bld.Transpose(v, perm=tuple(range(r - 2)) + (r - 1, r - 2))

    prod = bld.MatMul(swap(a) if swap_a else a, swap(b_val) if swap_b else b_val)     # (N, 3, 5)
    y = bld.emit(reader, swap(prod))                                                 # (N, 5, 3)
    g.outputs, g.output_names = [y], ["y"]
    verify(g)
    return g


@pytest.mark.parametrize("swap_a, swap_b, w_rank", [(True, False, 3), (False, True, 3), (True, True, 3),
                                                    (True, False, 2), (False, True, 2)])
def test_transposed_product_drops_the_swap_that_cancels(run_graph, swap_a, swap_b, w_rank):
    g = _product_graph(swap_a, swap_b, w_rank)
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 4, 3) if swap_a else (2, 3, 4))
    b_shape = (5, 4) if swap_b else (4, 5)
    b_val = rng.normal(size=(2, *b_shape) if w_rank == 3 else b_shape)
    (before,) = run_graph(g, a, b_val)
    transposes = sum(g.op(n) == "Transpose" for n in g.topo_order())
    assert CancelTransposes().run(g) is True
    verify(g)
    after_count = sum(g.op(n) == "Transpose" for n in g.topo_order())
    # the outer swap and the inner ones go; an operand that was not swapped gets one
    assert after_count == transposes - (3 if swap_a and swap_b else 1)
    (after,) = run_graph(g, a, b_val)
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


def test_transposed_product_without_a_swapped_operand_is_kept():
    g = _product_graph(False, False)
    text = str(g)
    assert CancelTransposes().run(g) is False
    assert str(g) == text
