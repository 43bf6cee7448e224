"""``trace_into``: a function written with fgc.ops, emitted into a Builder graph on existing values.

Checked by running the graph with onnxruntime against numpy, and its autodiff gradient against
finite differences of the numpy formula (float64)."""
import numpy as np
import onnxruntime as ort
import pytest

from fgc import ops
from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType
from fgc.primitives import Builder
from fgc.primitives.autodiff import gradients
from fgc.training.traced import trace_into, traced_shape

rng = np.random.default_rng(2)
A = rng.standard_normal((4, 3))
B = rng.standard_normal((4, 3))


def fn(a, b, scale=1.0):
    return scale * ops.sum(ops.tanh(a) * b + ops.square(ops.maximum(a - b, 0.0)), axis=-1)


def ref(a, b, scale=1.0):
    return scale * (np.tanh(a) * b + np.maximum(a - b, 0.0) ** 2).sum(-1)


def _graph(dtype, with_gradient=False):
    g = Graph("traced")
    b = Builder(g, "t")
    a_in = g.add_input("a", TensorType(("N", 3), dtype))
    b_in = g.add_input("b", TensorType(("N", 3), dtype))
    out = trace_into(b, fn, [a_in, b_in], kwargs={"scale": 2.0})
    outs = [out]
    if with_gradient:
        outs += gradients(g, b.ReduceSum(out, keepdims=0), [a_in])
    g.outputs, g.output_names = outs, [f"o{i}" for i in range(len(outs))]
    return ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])


def test_values_and_gradient():
    session = _graph("float64", with_gradient=True)
    value, grad = session.run(None, {"a": A, "b": B})
    np.testing.assert_allclose(value, ref(A, B, 2.0), rtol=1e-12)
    h, want = 1e-6, np.zeros_like(A)
    for idx in np.ndindex(A.shape):
        up, dn = A.copy(), A.copy()
        up[idx] += h
        dn[idx] -= h
        want[idx] = (ref(up, B, 2.0).sum() - ref(dn, B, 2.0).sum()) / (2 * h)
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-8)


def test_shape_of_a_traced_function():
    shape = traced_shape(lambda b, x, y: trace_into(b, fn, [x, y]), [TensorType((5, 3), "float32")] * 2)
    assert shape == (5,)


def test_non_tensor_results_are_refused():
    g = Graph("bad")
    x = g.add_input("x", TensorType(("N", 3), "float32"))
    with pytest.raises(TypeError, match="my_loss returned ndarray"):
        trace_into(Builder(g, "t"), lambda a: np.zeros(3), [x], what="my_loss")
