"""Primitive forward semantics: shape rule and ONNX emission against numpy, through onnxruntime."""
import math

import numpy as np
import onnxruntime as ort
import pytest

from fgc import primitives
from fgc.export.onnx import to_onnx
from fgc.ir import Graph, ShapeError, TensorType, Value, verify
from fgc.primitives import Builder

_erf = np.vectorize(math.erf)


def _run(build, *arrays, names=None):
    """Build ``build(b, *inputs) -> Value or tuple`` on inputs with a symbolic batch dim; run it."""
    g = Graph("op")
    ins = [g.add_input(f"x{i}", TensorType(("N", *a.shape[1:]), a.dtype.name)) for i, a in enumerate(arrays)]
    out = build(Builder(g, "op"), *ins)
    outs = [out] if isinstance(out, Value) else list(out)   # Value is itself a NamedTuple
    g.outputs, g.output_names = outs, [f"y{i}" for i in range(len(outs))]
    verify(g)
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    results = sess.run(None, {f"x{i}": a for i, a in enumerate(arrays)})
    for v, r in zip(outs, results):   # the shape rule agrees with what onnxruntime computed
        t = g.type_of(v)
        assert r.ndim == t.rank and r.dtype == np.dtype(t.dtype)
        assert all(not isinstance(d, int) or d == s for d, s in zip(t.shape, r.shape)), (t, r.shape)
    return results


X = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
Y = np.random.default_rng(1).normal(size=(3, 4, 5)).astype(np.float32)

UNARY = [
    ("Relu", lambda x: np.maximum(x, 0)),
    ("Sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("Tanh", np.tanh),
    ("Exp", np.exp),
    ("Neg", np.negative),
    ("Abs", np.abs),
    ("Softplus", lambda x: np.log1p(np.exp(x))),
    ("Softsign", lambda x: x / (1 + np.abs(x))),
    ("Erf", _erf),
    ("Sign", np.sign),
    ("Floor", np.floor),
    ("Identity", lambda x: x),
]


@pytest.mark.parametrize("op, ref", UNARY, ids=[u[0] for u in UNARY])
def test_unary(op, ref):
    (got,) = _run(lambda b, x: getattr(b, op)(x), X)
    np.testing.assert_allclose(got, ref(X.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_log_sqrt_reciprocal_on_positive_values():
    p = np.abs(X) + 0.5
    got = _run(lambda b, x: (b.Log(x), b.Sqrt(x), b.Reciprocal(x)), p)
    for g, want in zip(got, (np.log(p), np.sqrt(p), 1 / p)):
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6)


def test_activation_attrs():
    got = _run(lambda b, x: (b.Elu(x, alpha=0.5), b.LeakyRelu(x, alpha=0.3), b.HardSigmoid(x, alpha=0.25, beta=0.4),
                             b.Clip(x, min=-0.5, max=0.5)), X)
    wants = [np.where(X > 0, X, 0.5 * (np.exp(X) - 1)), np.where(X > 0, X, 0.3 * X),
             np.clip(0.25 * X + 0.4, 0, 1), np.clip(X, -0.5, 0.5)]
    for g, w in zip(got, wants):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


BINARY = [("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("Div", np.divide),
          ("Max", np.maximum), ("Min", np.minimum)]


@pytest.mark.parametrize("op, ref", BINARY, ids=[b[0] for b in BINARY])
def test_binary_with_broadcasting(op, ref):
    row = Y[:, :1, :]           # (N, 1, 5) broadcasts over axis 1
    (got,) = _run(lambda b, x, y: getattr(b, op)(x, y), X, np.ascontiguousarray(row))
    np.testing.assert_allclose(got, ref(X, row), rtol=1e-6, atol=1e-6)


def test_python_scalars_become_constants_of_the_operand_dtype():
    (got,) = _run(lambda b, x: b.Add(b.Mul(x, 2.0), 1), X)
    np.testing.assert_allclose(got, 2 * X + 1, rtol=1e-6, atol=1e-6)


def test_comparisons_and_where():
    got = _run(lambda b, x, y: (b.Greater(x, y), b.Where(b.LessOrEqual(x, y), x, y)), X, Y)
    np.testing.assert_array_equal(got[0], X > Y)
    np.testing.assert_array_equal(got[1], np.where(X <= Y, X, Y))


def test_cast():
    (got,) = _run(lambda b, x: b.Cast(x, to="int32"), np.array([[1.7, -2.2, 3.0]], np.float32))
    np.testing.assert_array_equal(got, [[1, -2, 3]])
    assert got.dtype == np.int32


def test_matmul_batched_and_gemm():
    w = np.random.default_rng(2).normal(size=(5, 2)).astype(np.float32)
    got = _run(lambda b, x: b.MatMul(x, b.const(w)), X)[0]
    np.testing.assert_allclose(got, X @ w, rtol=1e-5, atol=1e-6)
    x2 = X[:, 0, :].copy()
    bias = np.array([0.5, -1.0], np.float32)
    got = _run(lambda b, x: b.Gemm(x, b.const(w), b.const(bias)), x2)[0]
    np.testing.assert_allclose(got, x2 @ w + bias, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op, ref", [("Softmax", lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)),
                                     ("LogSoftmax", lambda z: z - np.log(np.exp(z).sum(1, keepdims=True)))])
def test_softmax_family_on_an_inner_axis(op, ref):
    (got,) = _run(lambda b, x: getattr(b, op)(x, axis=1), X)
    np.testing.assert_allclose(got, ref(X.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_reshape_family():
    got = _run(lambda b, x: (b.Reshape(x, shape=(0, -1)), b.Reshape(x, shape=(0, 2, 10)),
                             b.Unsqueeze(x, axes=(1,)), b.Squeeze(b.Unsqueeze(x, axes=(-1,)), axes=(-1,)),
                             b.Transpose(x, perm=(2, 0, 1))), X)
    wants = [X.reshape(3, 20), X.reshape(3, 2, 10), X[:, None], X, X.transpose(2, 0, 1)]
    for g, w in zip(got, wants):
        np.testing.assert_array_equal(g, w)


def test_reshape_like_and_expand_like():
    flat = X.reshape(3, 20)
    got = _run(lambda b, f, x: (b.ReshapeLike(f, x), b.ExpandLike(b.const(np.float32(2.0)), x)), flat, X)
    np.testing.assert_array_equal(got[0], X)
    np.testing.assert_array_equal(got[1], np.full_like(X, 2.0))


def test_concat_slice_pad():
    got = _run(lambda b, x, y: (b.Concat(x, y, axis=1), b.Slice(x, starts=(1,), ends=(3,), axes=(2,)),
                                b.Pad(x, pads=(0, 1, 0, 0, 2, 0))), X, Y)
    np.testing.assert_array_equal(got[0], np.concatenate([X, Y], axis=1))
    np.testing.assert_array_equal(got[1], X[:, :, 1:3])
    np.testing.assert_array_equal(got[2], np.pad(X, ((0, 0), (1, 2), (0, 0))))


def test_gather_and_scatter_nd():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    ids = np.array([[0, 3], [2, 2]], np.int64)
    (got,) = _run(lambda b, i: b.Gather(b.const(table), i, axis=0), ids)
    np.testing.assert_array_equal(got, table[ids])
    upd = np.ones((2, 2, 3), np.float32)
    (got,) = _run(lambda b, i, u: b.ScatterND(b.Zeros(shape=(4, 3), dtype="float32"), b.Unsqueeze(i, axes=(-1,)), u,
                                              reduction="add"), ids, upd)
    want = np.zeros((4, 3), np.float32)
    np.add.at(want, ids, upd)
    np.testing.assert_array_equal(got, want)


def test_reductions():
    got = _run(lambda b, x: (b.ReduceSum(x, axes=(1,), keepdims=0), b.ReduceMean(x, axes=(1, 2), keepdims=1),
                             b.ReduceMax(x, axes=(-1,), keepdims=0), b.ReduceMin(x), b.ArgMax(x, axis=2, keepdims=0),
                             b.SizeOf(x, axes=(0, 1))), X)
    wants = [X.sum(1), X.mean((1, 2), keepdims=True), X.max(-1), X.min(keepdims=True), X.argmax(2), np.float32(12)]
    for g, w in zip(got, wants):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build, match", [
    (lambda b, x: b.MatMul(x, b.const(np.zeros((4, 2), np.float32))), r"MatMul inner dims differ"),
    (lambda b, x: b.Add(x, b.const(np.zeros((3,), np.float32))), r"cannot be broadcast"),
    (lambda b, x: b.Transpose(x, perm=(0, 1)), r"not a permutation"),
    (lambda b, x: b.Reshape(x, shape=(0, 7, -1)), r"cannot reshape"),
    (lambda b, x: b.Concat(x, b.const(np.zeros((1, 4, 6), np.float32)), axis=1), r"axis 2 differs"),
    (lambda b, x: b.Softmax(x, axis=3), r"axis 3 is out of range"),
])
def test_shape_rule_errors(build, match):
    g = Graph("bad")
    x = g.add_input("x", TensorType(("N", 4, 5), "float32"))
    with pytest.raises(ShapeError, match=match):
        build(Builder(g, "op", None), x)


def test_every_primitive_has_a_shape_rule_and_a_gradient_story():
    assert len(primitives.OPS) > 40
    for name, opdef in primitives.OPS.items():
        assert callable(opdef.infer), name
        assert opdef.vjp is not None or opdef.nondiff, name


def test_registering_twice_or_without_vjp_is_refused():
    with pytest.raises(ValueError, match=r"registered twice"):
        primitives.primitive("Relu", lambda t, a: t, nondiff="x")
    with pytest.raises(ValueError, match=r"needs a vjp or a non-differentiable reason"):
        primitives.primitive("BrandNewOp", lambda t, a: t)
    assert "BrandNewOp" not in primitives.OPS
