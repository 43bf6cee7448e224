"""The reverse-mode driver and the autodiff pass, checked against numpy-written derivatives."""
import numpy as np
import onnxruntime as ort
import pytest

from fgc.export.onnx import to_onnx
from fgc.ir import Graph, ParamSpec, TensorType, verify
from fgc.primitives import Builder
from fgc.passes.autodiff import Autodiff, NoGradientError, backprop, gradients


def _run(g, outputs, names, feeds, param_values=None):
    g.outputs, g.output_names = list(outputs), list(names)
    verify(g)
    sess = ort.InferenceSession(to_onnx(g, param_values=param_values).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


R = np.random.default_rng(0).standard_normal((4, 3))
X = np.random.default_rng(1).standard_normal((4, 3))


def test_a_value_with_several_users_gets_the_sum_of_their_cotangents():
    # L = sum(R * (x*x + 3x + sin-free tanh(x)))  ->  dL/dx = R * (2x + 3 + 1 - tanh(x)^2)
    g = Graph("t")
    x = g.add_input("x", TensorType((4, 3), "float64"))
    b = Builder(g, "t")
    y = b.Add(b.Add(b.Mul(x, x), b.Mul(x, 3.0)), b.Tanh(x))
    (gx,) = gradients(g, b.ReduceSum(b.Mul(y, R), keepdims=0), [x])
    (got,) = _run(g, [gx], ["gx"], {"x": X})
    np.testing.assert_allclose(got, R * (2 * X + 3 + 1 - np.tanh(X) ** 2), rtol=1e-12)


def test_broadcast_operands_get_cotangents_reduced_to_their_own_shape():
    # bias (3,) and scale (1, 3) broadcast against a symbolic batch: their gradients sum over it
    g = Graph("t")
    x = g.add_input("x", TensorType(("N", 3), "float64"))
    bias = g.add_input("bias", TensorType((3,), "float64"))
    scale = g.add_input("scale", TensorType((1, 3), "float64"))
    r = g.add_input("r", TensorType(("N", 3), "float64"))
    b = Builder(g, "t")
    y = b.Mul(b.Add(x, bias), scale)
    gb, gs = gradients(g, b.ReduceSum(b.Mul(y, r), keepdims=0), [bias, scale])
    bv, sv = np.array([0.1, -0.2, 0.3]), np.array([[1.5, -0.5, 2.0]])
    got_b, got_s = _run(g, [gb, gs], ["gb", "gs"], {"x": X, "bias": bv, "scale": sv, "r": R})
    assert got_b.shape == (3,) and got_s.shape == (1, 3)
    np.testing.assert_allclose(got_b, (R * sv).sum(0), rtol=1e-12)
    np.testing.assert_allclose(got_s, (R * (X + bv)).sum(0, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("one_sum", [True, False])
def test_a_bias_broadcast_over_leading_and_inner_axes_gets_its_gradient_from_one_sum(one_sum, monkeypatch):
    # a conv bias (C, 1, 1) on (N, C, H, W) and a (T, 1) bias on (N, T, 4) with T symbolic: one ReduceSum over
    # the leading and the size-1 axes at once (ONE_SUM), or two; both the numpy sums
    from fgc.primitives import autodiff

    monkeypatch.setattr(autodiff, "ONE_SUM", one_sum)
    rng = np.random.default_rng(2)
    g = Graph("t")
    x = g.add_input("x", TensorType(("N", 3, 4, 5), "float64"))
    bias = g.add_input("bias", TensorType((3, 1, 1), "float64"))
    seq = g.add_input("seq", TensorType(("N", "T", 4), "float64"))
    row = g.add_input("row", TensorType(("T", 1), "float64"))
    w1 = g.add_input("w1", TensorType(("N", 3, 4, 5), "float64"))
    w2 = g.add_input("w2", TensorType(("N", "T", 4), "float64"))
    b = Builder(g, "t")
    loss = b.Add(b.ReduceSum(b.Mul(b.Add(x, bias), w1), keepdims=0),
                 b.ReduceSum(b.Mul(b.Mul(b.Add(seq, row), seq), w2), keepdims=0))
    gb, gr = gradients(g, loss, [bias, row])
    sums = [n for n in g.topo_order() if g.op(n) == "ReduceSum" and n.startswith("grad/")]
    assert len(sums) == (2 if one_sum else 4)
    xv, sv = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 6, 4))
    r1, r2 = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 6, 4))
    got_b, got_r = _run(g, [gb, gr], ["gb", "gr"], {"x": xv, "bias": np.zeros((3, 1, 1)), "seq": sv,
                                                     "row": np.zeros((6, 1)), "w1": r1, "w2": r2})
    np.testing.assert_allclose(got_b, r1.sum((0, 2, 3)).reshape(3, 1, 1), rtol=1e-12)
    np.testing.assert_allclose(got_r, (r2 * sv).sum((0, 2)).reshape(6, 1), rtol=1e-12)


def test_values_off_the_loss_path_and_integer_paths_get_no_gradient():
    g = Graph("t")
    x = g.add_input("x", TensorType((4, 3), "float64"))
    unused = g.add_input("unused", TensorType((4, 3), "float64"))
    b = Builder(g, "t")
    b.Exp(unused)  # a dead branch
    floor_only = b.Floor(x)  # piecewise constant: no gradient flows back through it
    loss = b.ReduceSum(b.Mul(floor_only, 2.0), keepdims=0)
    gx, gu = gradients(g, loss, [x, unused])
    assert gx is None and gu is None
    # through an integer Cast and back: still nothing, and the float path alongside still counts
    as_int = b.Cast(b.Cast(x, to="int64"), to="float64")
    loss2 = b.ReduceSum(b.Add(b.Mul(as_int, 5.0), b.Mul(x, R)), keepdims=0)
    (gx2,) = gradients(g, loss2, [x])
    (got,) = _run(g, [gx2], ["gx"], {"x": X, "unused": X})
    np.testing.assert_allclose(got, R)


def test_non_scalar_loss_is_seeded_with_ones():
    g = Graph("t")
    x = g.add_input("x", TensorType((4, 3), "float64"))
    b = Builder(g, "t")
    (gx,) = gradients(g, b.Mul(b.Mul(x, x), 0.5), [x])
    (got,) = _run(g, [gx], ["gx"], {"x": X})
    np.testing.assert_allclose(got, X)


def test_backprop_with_given_output_cotangents_is_a_vjp():
    g = Graph("t")
    x = g.add_input("x", TensorType((4, 3), "float64"))
    w = g.add_input("w", TensorType((3, 2), "float64"))
    ct = g.add_input("ct", TensorType((4, 2), "float64"))
    b = Builder(g, "t")
    y = b.MatMul(x, w)
    gx, gw = backprop(g, [y], [ct], [x, w])
    wv = np.random.default_rng(2).standard_normal((3, 2))
    cv = np.random.default_rng(3).standard_normal((4, 2))
    got_x, got_w = _run(g, [gx, gw], ["gx", "gw"], {"x": X, "w": wv, "ct": cv})
    np.testing.assert_allclose(got_x, cv @ wv.T, rtol=1e-12)
    np.testing.assert_allclose(got_w, X.T @ cv, rtol=1e-12)


class _Layer:
    name = "my_layer"


def test_missing_rule_names_the_op_and_the_layer():
    g = Graph("t")
    x = g.add_input("x", TensorType((6, 3), "float32"))
    b = Builder(g, "t", layer=_Layer())
    y = b.Slice(x, starts=(0,), ends=(6,), axes=(0,), steps=(2,))  # strided slices have no vjp (yet)
    with pytest.raises(NoGradientError, match=r"no gradient rule for op 'Slice' \(layer 'my_layer'\)"):
        gradients(g, b.ReduceSum(y, keepdims=0), [x])


def test_autodiff_pass_appends_gradients_of_trainable_params_only():
    """loss = mean((x @ W + b) * R) with b frozen: grad/W = x^T R / n, no grad/b; unused trainable -> zeros."""
    g = Graph("t")
    x = g.add_input("x", TensorType((4, 3), "float32"))
    g.add_param("W", ParamSpec((3, 2), "float32"))
    g.add_param("b", ParamSpec((2,), "float32", trainable=False))
    g.add_param("unused", ParamSpec((5,), "float32"))
    b = Builder(g, "t")
    r = np.random.default_rng(4).standard_normal((4, 2)).astype(np.float32)
    y = b.Add(b.MatMul(x, b.param("W")), b.param("b"))
    b.param("unused")
    loss = b.ReduceMean(b.Mul(y, r), keepdims=0)
    g.outputs, g.output_names = [loss], ["loss"]
    assert Autodiff().run(g)
    assert g.output_names == ["loss", "grad/W", "grad/unused"]
    verify(g)
    wv = np.random.default_rng(5).standard_normal((3, 2)).astype(np.float32)
    params = {"W": wv, "b": np.array([0.5, -0.5], np.float32), "unused": np.ones(5, np.float32)}
    sess = ort.InferenceSession(to_onnx(g, param_values=params).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    xv = X.astype(np.float32)
    lv, gw, gu = sess.run(None, {"x": xv})
    np.testing.assert_allclose(lv, ((xv @ wv + params["b"]) * r).mean(), rtol=1e-5)
    np.testing.assert_allclose(gw, xv.T @ r / r.size, rtol=1e-5)
    np.testing.assert_array_equal(gu, np.zeros(5))
