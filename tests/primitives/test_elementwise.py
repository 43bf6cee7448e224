"""Elementwise gradient forms that are chosen for speed: each form against the other and against numpy
(values), and against central finite differences. test_gradients.py checks every primitive's default form."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType, verify
from fgc.passes.autodiff import gradients
from fgc.primitives import Builder, elementwise


def _relu_grad_session(shape, dtype):
    """Inputs x and r; outputs the loss sum(relu(x) * r) and its gradient with respect to x."""
    g = Graph("relu_grad")
    x = g.add_input("x", TensorType(shape, dtype))
    r = g.add_input("r", TensorType(shape, dtype))
    b = Builder(g, "f")
    loss = b.ReduceSum(b.Mul(b.Relu(x), r), keepdims=0)
    g.outputs, g.output_names = [loss, *gradients(g, loss, [x])], ["loss", "dx"]
    verify(g)
    ops = {g.op(n) for n in g.topo_order()}
    return ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"]), ops


def _kinks_and_ties(rng, shape, dtype):
    """Positives, negatives, exact (and negative) zeros and subnormals: every side of Relu's kink."""
    x = rng.normal(size=shape).astype(dtype)
    flat = x.reshape(-1)
    flat[::5] = 0.0
    flat[1::7] = -0.0
    flat[2::11] = np.finfo(dtype).smallest_subnormal
    flat[3::13] = -np.finfo(dtype).smallest_subnormal
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_relu_gradient_as_a_mask_product_equals_the_where_form(dtype, monkeypatch):
    rng = np.random.default_rng(3)
    shape = (4, 3, 6, 5)
    x = _kinks_and_ties(rng, shape, dtype)
    r = rng.normal(size=shape).astype(dtype)      # negative cotangents too: g * 0 may be -0, equal to 0
    got = {}
    monkeypatch.setattr(elementwise, "RELU_MASK_PRODUCT_FROM", 0)
    for product in (True, False):
        monkeypatch.setattr(elementwise, "RELU_MASK_PRODUCT", product)
        sess, ops = _relu_grad_session(shape, dtype)
        assert ("Where" in ops) != product and ("Cast" in ops) == product
        got[product] = sess.run(None, {"x": x, "r": r})
    np.testing.assert_array_equal(got[True][1], got[False][1])
    np.testing.assert_array_equal(got[True][1], np.where(x > 0, r, 0).astype(dtype))
    assert got[True][0] == got[False][0]


def test_relu_gradient_as_a_mask_product_matches_finite_differences(fd_grads, monkeypatch):
    monkeypatch.setattr(elementwise, "RELU_MASK_PRODUCT", True)
    monkeypatch.setattr(elementwise, "RELU_MASK_PRODUCT_FROM", 0)
    rng = np.random.default_rng(4)
    shape = (2, 3, 4)
    x = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)   # no kink within h
    r = rng.normal(size=shape)
    sess, _ = _relu_grad_session(shape, "float64")
    dx = sess.run(["dx"], {"x": x, "r": r})[0]
    want, = fd_grads(lambda p: float(sess.run(["loss"], {"x": p[0], "r": r})[0]), [x])
    np.testing.assert_allclose(dx, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("shape, product", [((8, 32), False), (("N", 32), False), (("N", 16, 64), True),
                                            ((64, 128), True)])
def test_relu_gradient_keeps_the_where_form_on_small_tensors(shape, product):
    """Below RELU_MASK_PRODUCT_FROM elements (a symbolic batch counted as 32) the Cast would be one node more
    where the step is bound by node count; from there on the product form is no slower."""
    g = Graph("relu_grad")
    x = g.add_input("x", TensorType(shape, "float32"))
    b = Builder(g, "f")
    loss = b.ReduceSum(b.Relu(x), keepdims=0)
    gradients(g, loss, [x])
    ops = {g.op(n) for n in g.topo_order()}
    assert ("Cast" in ops) == product and ("Where" in ops) != product
