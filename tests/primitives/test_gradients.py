"""Gradient checks for every differentiable primitive, against central finite differences.

Each case builds a tiny graph by hand, emits the op, takes the scalar loss
``sum_k ReduceSum(out_k * R_k)`` (R_k random constants), asks the autodiff driver for the
gradients of that loss with respect to the float inputs, exports the whole graph to ONNX and
runs it in onnxruntime. The directional derivative along random directions must match a
central finite difference of the same loss. float64 where onnxruntime's CPU kernels take it,
else float32 with a looser tolerance.

Adding a primitive with a vjp without a case here fails ``test_every_differentiable_primitive_has_a_case``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnxruntime as ort
import pytest

from fgc import primitives
from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType, Value, verify
from fgc.ir.types import canonical_dtype, is_float
from fgc.primitives import Builder
from fgc.passes.autodiff import gradients


@dataclass
class Case:
    inputs: list                     # numpy arrays; float ones take the checked dtype
    build: Callable                  # (builder, *input Values) -> Value or sequence of Values
    diff: tuple | None = None        # indices of the inputs to differentiate (default: every float input)
    symbolic: tuple = ()             # input indices whose first dim is the symbol N
    keep_dtype: bool = False         # feed the float inputs with their own dtype


_rng = np.random.default_rng(1234)


def _away(shape, lo=0.2, hi=2.0, sign=True):
    """Random values with |x| in [lo, hi]: no kinks of relu/abs/clip near the sample."""
    mag = _rng.uniform(lo, hi, size=shape)
    return mag * (_rng.choice([-1.0, 1.0], size=shape) if sign else 1.0)


def _normal(*shape):
    return _rng.standard_normal(shape)


def _distinct(*shape, step=0.37):
    """Values with no ties anywhere (for max/min), shuffled."""
    n = int(np.prod(shape))
    return (_rng.permutation(n) * step - n * step / 2).reshape(shape)


CASES: dict[str, list[tuple[str, Case]]] = {}


def case(op: str, name: str, inputs, build, **kw) -> None:
    CASES.setdefault(op, []).append((name, Case(list(inputs), build, **kw)))


def unary(op: str, x, **attrs):
    case(op, "unary", [x], lambda b, v: b.emit(op, v, **attrs))


# ---------------------------------------------------------------- unary elementwise
unary("Identity", _normal(2, 3))
unary("Neg", _normal(2, 3))
unary("Relu", _away((3, 4)))
unary("Sigmoid", 3 * _normal(3, 4))
unary("Tanh", 2 * _normal(3, 4))
unary("Exp", _normal(3, 4))
unary("Log", _away((3, 4), sign=False))
unary("Sqrt", _away((3, 4), sign=False))
unary("Abs", _away((3, 4)))
unary("Reciprocal", _away((3, 4), 0.5, 2.0))
unary("Softplus", 3 * _normal(3, 4))
unary("Softsign", 3 * _normal(3, 4))
unary("Erf", _normal(3, 4))
unary("Elu", _away((3, 4)))
case("Elu", "alpha", [_away((3, 4))], lambda b, v: b.Elu(v, alpha=0.5))
unary("Selu", _away((3, 4)))
unary("LeakyRelu", _away((3, 4)))
case("LeakyRelu", "alpha", [_away((3, 4))], lambda b, v: b.LeakyRelu(v, alpha=0.3))
# hard sigmoid: slope alpha on |x| < 2.5 (default alpha 0.2, beta 0.5), flat beyond; stay away from the kinks
unary("HardSigmoid", np.array([[-4.0, -2.0, -0.3, 0.1], [0.4, 1.9, 3.0, 6.0]]))
case("HardSigmoid", "alpha", [np.array([[-4.0, -1.0, 0.3, 1.5, 5.0]])], lambda b, v: b.HardSigmoid(v, alpha=0.25))
case("Clip", "both", [_away((3, 4), 0.1, 1.0)], lambda b, v: b.Clip(v, min=-0.5, max=0.55))
case("Clip", "min_only", [_away((3, 4), 0.1, 1.0)], lambda b, v: b.Clip(v, min=0.05))
# the input is float32, the loss lives in float64; the gradient is cast back
case("Cast", "f32_to_f64", [_normal(2, 3).astype(np.float32)], lambda b, v: b.Cast(v, to="float64"),
     keep_dtype=True)
case("Cast", "to_same", [_normal(2, 3)],
     lambda b, v: b.Mul(b.Cast(v, to=b.type(v).dtype), b.Cast(v, to=b.type(v).dtype)))

# ---------------------------------------------------------------- binary, with numpy broadcasting
_BCAST = [("same", (2, 3), (2, 3)), ("lead_and_ones", (2, 3, 4), (3, 1)), ("both", (1, 4), (3, 1)),
          ("scalar", (2, 3), ())]
for _tag, _sx, _sz in _BCAST:
    case("Add", _tag, [_normal(*_sx), _normal(*_sz)], lambda b, x, z: b.Add(x, z))
    case("Sub", _tag, [_normal(*_sx), _normal(*_sz)], lambda b, x, z: b.Sub(x, z))
    case("Mul", _tag, [_normal(*_sx), _normal(*_sz)], lambda b, x, z: b.Mul(x, z))
    case("Div", _tag, [_normal(*_sx), _away(_sz, 0.5, 2.0)], lambda b, x, z: b.Div(x, z))
    case("Pow", _tag, [_away(_sx, 0.5, 2.0, sign=False), _normal(*_sz)], lambda b, x, z: b.Pow(x, z))
    case("Max", _tag, [_distinct(*_sx), _distinct(*_sz, step=0.29) + 0.011], lambda b, x, z: b.Max(x, z))
    case("Min", _tag, [_distinct(*_sx), _distinct(*_sz, step=0.29) + 0.011], lambda b, x, z: b.Min(x, z))
# the same value on both sides: the driver accumulates both cotangents
case("Mul", "square", [_normal(2, 3)], lambda b, x: b.Mul(x, x))
case("Sub", "self_plus", [_normal(2, 3)], lambda b, x: b.Sub(b.Mul(x, 3.0), x))

_COND = np.array([[True, False, True], [False, False, True]])
case("Where", "bcast_y", [_COND, _normal(2, 3), _normal(3)], lambda b, c, x, y: b.Where(c, x, y))
case("Where", "scalar_x", [_COND, _normal(), _normal(2, 3)], lambda b, c, x, y: b.Where(c, x, y))
case("Where", "bcast_cond", [np.array([True, False, True]), _normal(2, 3), _normal(2, 1)],
     lambda b, c, x, y: b.Where(c, x, y))

# ---------------------------------------------------------------- linear algebra, softmax
for _tag, _sa, _sb in [("2d", (3, 4), (4, 5)), ("batched_x_2d", (2, 3, 4), (4, 5)),
                       ("batched", (2, 3, 4), (2, 4, 5)), ("2d_x_batched", (3, 4), (2, 4, 5)),
                       ("bcast_batch", (2, 3, 4), (1, 4, 5)), ("rank4_x_2d", (2, 2, 3, 4), (4, 2))]:
    case("MatMul", _tag, [_normal(*_sa), _normal(*_sb)], lambda b, x, w: b.MatMul(x, w))
case("MatMul", "batched_x_2d_symbolic", [_normal(3, 2, 4), _normal(4, 5)], lambda b, x, w: b.MatMul(x, w),
     symbolic=(0,))
for _op in ("Softmax", "LogSoftmax"):
    case(_op, "last", [2 * _normal(3, 5)], lambda b, x, _op=_op: b.emit(_op, x, axis=-1))
    case(_op, "middle_axis", [2 * _normal(2, 3, 4)], lambda b, x, _op=_op: b.emit(_op, x, axis=1))
case("LayerNormalization", "last_axis", [2 * _normal(3, 5), _normal(5), _normal(5)],
     lambda b, x, s, c: b.LayerNormalization(x, s, c, axis=-1, epsilon=1e-3))
case("LayerNormalization", "two_trailing_axes", [_normal(2, 3, 4), _normal(3, 4), _normal(4)],
     lambda b, x, s, c: b.LayerNormalization(x, s, c, axis=1, epsilon=1e-3), symbolic=(0,))
# training graphs: the backward reads the forward's Mean and InvStdDev outputs (float32 only)
case("LayerNormalization", "saved_stats", [(2 * _normal(3, 5)).astype(np.float32), _normal(5).astype(np.float32),
                                          _normal(5).astype(np.float32)],
     lambda b, x, s, c: b.LayerNormalization(x, s, c, axis=-1, epsilon=1e-3, _stats=1)[0], keep_dtype=True)
case("LayerNormalization", "saved_stats_two_axes", [_normal(2, 3, 4).astype(np.float32),
                                                   _normal(3, 4).astype(np.float32), _normal(4).astype(np.float32)],
     lambda b, x, s, c: b.LayerNormalization(x, s, c, axis=1, epsilon=1e-3, _stats=1)[0], symbolic=(0,),
     keep_dtype=True)

# ---------------------------------------------------------------- reductions
for _op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"):
    case(_op, "axis1", [_distinct(2, 3, 4)], lambda b, x, _op=_op: b.emit(_op, x, axes=(1,), keepdims=0))
    case(_op, "all", [_distinct(2, 3)], lambda b, x, _op=_op: b.emit(_op, x, keepdims=0))
    case(_op, "keep_0_2", [_distinct(2, 3, 4)], lambda b, x, _op=_op: b.emit(_op, x, axes=(0, 2), keepdims=1))
    case(_op, "neg_axis", [_distinct(2, 3, 4)], lambda b, x, _op=_op: b.emit(_op, x, axes=(-1,), keepdims=1))
    case(_op, "symbolic_batch", [_distinct(3, 4)], lambda b, x, _op=_op: b.emit(_op, x, axes=(0,), keepdims=0),
         symbolic=(0,))

# ---------------------------------------------------------------- data movement
case("Reshape", "minus_one", [_normal(2, 3, 4)], lambda b, x: b.Reshape(x, shape=(6, -1)))
case("Reshape", "zero_copies", [_normal(2, 3, 4)], lambda b, x: b.Reshape(x, shape=(0, 12)))
case("Reshape", "symbolic", [_normal(3, 2, 2)], lambda b, x: b.Reshape(x, shape=(-1, 4)), symbolic=(0,))
case("ReshapeLike", "like", [_normal(2, 6), _normal(3, 4)], lambda b, x, like: b.ReshapeLike(x, like), diff=(0,))
case("ExpandLike", "rows", [_normal(1, 3), _normal(4, 3)], lambda b, x, like: b.ExpandLike(x, like), diff=(0,))
case("ExpandLike", "lead", [_normal(3), _normal(2, 4, 3)], lambda b, x, like: b.ExpandLike(x, like), diff=(0,))
case("Unsqueeze", "two_axes", [_normal(2, 3)], lambda b, x: b.Unsqueeze(x, axes=(0, 2)))
case("Squeeze", "middle", [_normal(2, 1, 3)], lambda b, x: b.Squeeze(x, axes=(1,)))
case("Transpose", "rank3", [_normal(2, 3, 4)], lambda b, x: b.Transpose(x, perm=(2, 0, 1)))
case("Concat", "three", [_normal(2, 1), _normal(2, 3), _normal(2, 2)], lambda b, x, y, z: b.Concat(x, y, z, axis=1))
case("Concat", "same_value_twice", [_normal(2, 3), _normal(1, 3)], lambda b, x, y: b.Concat(x, y, x, axis=0))
case("CumSum", "axis1", [_normal(2, 4)], lambda b, x: b.CumSum(x, axis=1))
case("CumSum", "reverse_axis0", [_normal(3, 2)], lambda b, x: b.CumSum(x, axis=0, reverse=1))
case("Einsum", "matmul", [_normal(2, 3), _normal(3, 4)], lambda b, x, y: b.Einsum(x, y, equation="ij,jk->ik"))
case("Einsum", "batched_transposed", [_normal(2, 3, 4), _normal(4, 5)], lambda b, x, y: b.Einsum(x, y, equation="bij,jk->bki"))
case("Einsum", "row_sums", [_normal(3, 4)], lambda b, x: b.Einsum(x, equation="ij->i"))
case("Einsum", "outer_and_diagonal_out", [_normal(3), _normal(3)], lambda b, x, y: b.Einsum(x, y, equation="i,j->ij"))
case("Concat", "symbolic_batch", [_normal(3, 2), _normal(3, 1)], lambda b, x, y: b.Concat(x, y, axis=-1),
     symbolic=(0, 1))
case("Slice", "two_axes", [_normal(4, 5)], lambda b, x: b.Slice(x, starts=(1, -3), ends=(3, 2**62), axes=(0, 1)))
case("Slice", "negative_end", [_normal(3, 6)], lambda b, x: b.Slice(x, starts=(0,), ends=(-2,), axes=(-1,)))
case("Pad", "2d", [_normal(2, 3)], lambda b, x: b.Pad(x, pads=(1, 0, 2, 1)))
case("Pad", "3d_one_axis", [_normal(2, 3, 2)], lambda b, x: b.Pad(x, pads=(0, 2, 0, 0, 1, 0)))

# ---------------------------------------------------------------- gathers and scatters (repeated ids)
case("Gather", "repeated_ids", [_normal(5, 3), np.array([[0, 2, 2], [4, 0, 0]], np.int64)],
     lambda b, t, i: b.Gather(t, i, axis=0))
case("Gather", "int32_ids", [_normal(4, 2), np.array([3, 3, 1, 3], np.int32)], lambda b, t, i: b.Gather(t, i))
case("GatherElements", "last_axis", [_normal(3, 4), np.array([[0, 0, 3, 1, 0], [2, 2, 2, 2, 1], [3, 0, 1, 3, 3]],
                                                              np.int64)],
     lambda b, x, i: b.GatherElements(x, i, axis=-1))
case("GatherElements", "axis0", [_normal(3, 2), np.array([[0, 2], [0, 2], [1, 1], [0, 0]], np.int64)],
     lambda b, x, i: b.GatherElements(x, i, axis=0))
case("ScatterND", "add_repeated", [_normal(5, 3), np.array([[1], [3], [1], [0]], np.int64), _normal(4, 3)],
     lambda b, d, i, u: b.ScatterND(d, i, u, reduction="add"))
case("ScatterND", "overwrite", [_normal(5, 3), np.array([[4], [1]], np.int64), _normal(2, 3)],
     lambda b, d, i, u: b.ScatterND(d, i, u))

# ---------------------------------------------------------------- control (registered by fgc.primitives.control)
case("Split", "two", [_normal(2, 6)], lambda b, x: b.Split(x, axis=1, sizes=(2, 4)))
case("Split", "one_output_unused_by_loss", [_normal(5, 2)], lambda b, x: b.Split(x, axis=0, sizes=(2, 3))[1])
case("Split", "symbolic_batch", [_normal(3, 2, 4)], lambda b, x: b.Split(x, axis=-1, sizes=(2, 2)), symbolic=(0,))
case("SplitEqual", "rows", [_normal(4, 3)], lambda b, x: b.SplitEqual(x, axis=0, parts=2))
case("SplitEqual", "one_part_unused_by_loss", [_normal(2, 6)], lambda b, x: b.SplitEqual(x, axis=1, parts=3)[2])
case("ConcatEqual", "symbolic_batch_and_back", [_normal(3, 2), _normal(3, 2)],
     lambda b, x, y: b.SplitEqual(b.Mul(b.ConcatEqual(x, y, axis=0), b.ConcatEqual(y, x, axis=0)), axis=0,
                                  parts=2)[0], symbolic=(0, 1))


def _scan_case(b, h0, xs, w):
    """h_t = tanh(h_{t-1} @ w + x_t), emitting h_t every step (an RNN over the leading axis)."""
    body = Graph("body")
    h = body.add_input("h", b.type(h0))
    xt = body.add_input("x", TensorType(b.type(xs).shape[1:], b.type(xs).dtype))
    wc = body.add_input("w", b.type(w))
    bb = Builder(body, "body")
    hn = bb.Tanh(bb.Add(bb.MatMul(h, wc), xt))
    body.outputs, body.output_names = [hn, bb.Mul(hn, 1.0)], ["h_new", "y"]
    outs = b.Scan(h0, xs, w, body=body, num_states=1, num_scan=1, save_states=True)
    return outs[:2]  # final state, stacked per-step outputs (the saved states are for the gradient)


case("Scan", "rnn", [_normal(2, 3), _normal(4, 2, 3), 0.5 * _normal(3, 3)], _scan_case)


# ---------------------------------------------------------------- convolution, pooling (NCHW; float32 in onnxruntime)
case("Conv", "2d_stride_pad_dilation_bias", [_normal(2, 3, 7, 6), 0.5 * _normal(4, 3, 3, 2), _normal(4)],
     lambda b, x, w, c: b.Conv(x, w, c, strides=(2, 1), pads=(1, 0, 0, 1), dilations=(1, 2)))
case("Conv", "1d_grouped", [_normal(2, 4, 9), 0.5 * _normal(6, 2, 3)],
     lambda b, x, w: b.Conv(x, w, strides=(2,), pads=(1, 1), group=2))
case("ConvTranspose", "2d_stride_output_padding", [_normal(2, 3, 3, 4), 0.5 * _normal(3, 2, 3, 3)],
     lambda b, x, w: b.ConvTranspose(x, w, strides=(2, 1), pads=(1, 0, 1, 1), output_padding=(1, 0)))
case("MaxPool", "overlapping", [_distinct(2, 2, 5, 6)],
     lambda b, x: b.MaxPool(x, kernel_shape=(3, 2), strides=(2, 1), pads=(1, 0, 1, 1)))
case("MaxPool", "1d", [_distinct(2, 3, 8)], lambda b, x: b.MaxPool(x, kernel_shape=(2,), strides=(2,)))
case("AveragePool", "pads_excluded", [_normal(2, 2, 5, 5)],
     lambda b, x: b.AveragePool(x, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)))
case("AveragePool", "pads_included", [_normal(2, 2, 6)],
     lambda b, x: b.AveragePool(x, kernel_shape=(3,), strides=(2,), pads=(1, 1), count_include_pad=1))
case("FoldTime", "rank4", [_normal(2, 3, 4, 2)], lambda b, x: b.FoldTime(x))
case("FoldTime", "symbolic", [_normal(2, 3, 4)], lambda b, x: b.FoldTime(x), symbolic=(0,))
case("UnfoldTimeLike", "like", [_normal(6, 4), _normal(2, 3, 5)], lambda b, y, like: b.UnfoldTimeLike(y, like),
     diff=(0,))


# ---------------------------------------------------------------- ops checked by their own test below
SPECIAL = {"Dropout": "test_dropout_gradient_is_mask_times_cotangent_over_keep"}


# ================================================================= the driver
@dataclass
class Built:
    session: object
    feeds: dict
    diff: list          # input names differentiated
    dtype: str
    grad_names: list = field(default_factory=list)

    def run(self, feeds=None):
        return self.session.run(None, feeds or self.feeds)


def _inputs(c: Case, dtype: str, g: Graph):
    feeds, ins = {}, []
    for i, a in enumerate(c.inputs):
        a = np.asarray(a)
        if a.dtype.kind == "f" and not c.keep_dtype:
            a = a.astype(dtype)
        shape = tuple("N" if (i in c.symbolic and k == 0) else d for k, d in enumerate(a.shape))
        ins.append(g.add_input(f"in{i}", TensorType(shape, canonical_dtype(a.dtype))))
        feeds[f"in{i}"] = a
    return feeds, ins


def _forward_shapes(c: Case, dtype: str) -> list:
    """The concrete shapes of the case's outputs (for outputs whose type has symbolic dims)."""
    g = Graph("probe")
    feeds, ins = _inputs(c, dtype, g)
    out = c.build(Builder(g, "t"), *ins)
    g.outputs = [out] if isinstance(out, Value) else list(out)
    g.output_names = [f"y{i}" for i in range(len(g.outputs))]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    return [r.shape for r in sess.run(None, feeds)]


def _build(c: Case, dtype: str) -> Built:
    g = Graph("t")
    feeds, ins = _inputs(c, dtype, g)
    b = Builder(g, "t")
    out = c.build(b, *ins)
    outs = [out] if isinstance(out, Value) else list(out)
    loss, rng = None, np.random.default_rng(7)
    for o in outs:
        t = g.type_of(o)
        if not is_float(t.dtype):
            continue
        if all(isinstance(d, int) for d in t.shape):
            weight = rng.standard_normal(t.shape).astype(t.dtype)        # a constant in the graph
        else:  # a symbolic output: its weights are an extra (not differentiated) input of the same type
            shape = _forward_shapes(c, dtype)[outs.index(o)]
            weight = g.add_input(f"r{len(feeds)}", t)
            feeds[f"r{len(feeds)}"] = rng.standard_normal(shape).astype(t.dtype)
        term = b.ReduceSum(b.Mul(o, weight), keepdims=0)
        if loss is not None and g.type_of(loss).dtype != t.dtype:
            term = b.Cast(term, to=g.type_of(loss).dtype)
        loss = term if loss is None else b.Add(loss, term)
    diff = list(c.diff if c.diff is not None else
                [i for i, a in enumerate(c.inputs) if np.asarray(a).dtype.kind == "f"])
    grads = gradients(g, loss, [ins[i] for i in diff])
    for i, gr in zip(diff, grads):
        assert gr is not None, f"no gradient reached input {i}, but the output depends on it"
    g.outputs = [loss, *grads]
    g.output_names = ["loss", *[f"grad{i}" for i in diff]]
    verify(g)
    proto = to_onnx(g)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return Built(sess, feeds, [f"in{i}" for i in diff], dtype, [f"grad{i}" for i in diff])


def _build_any(c: Case) -> Built:
    """float64 when onnxruntime has double kernels for everything in the graph, else float32."""
    try:
        return _build(c, "float64")
    except Exception as e:  # onnxruntime: no double kernel for some op
        if "NOT_IMPLEMENTED" not in str(e) and "Could not find an implementation" not in str(e):
            raise
    return _build(c, "float32")


def _gradcheck(c: Case) -> None:
    built = _build_any(c)
    outs = built.run()
    grads = dict(zip(built.grad_names, outs[1:]))
    rng = np.random.default_rng(99)
    for name, gname in zip(built.diff, built.grad_names):
        x = built.feeds[name]
        grad = grads[gname]
        assert grad.shape == x.shape, f"gradient of {name} has shape {grad.shape}, input {x.shape} (unbroadcast?)"
        assert grad.dtype == x.dtype
        f64 = built.dtype == "float64" and x.dtype == np.float64
        h, rtol = (1e-6, 1e-6) if f64 else (1e-3, 2e-2)
        for _ in range(2):
            v = np.array(rng.standard_normal(x.shape), dtype=x.dtype)
            step = h * max(1.0, float(np.max(np.abs(x)))) if not f64 else h
            plus = dict(built.feeds, **{name: np.array(x + step * v, dtype=x.dtype)})
            minus = dict(built.feeds, **{name: np.array(x - step * v, dtype=x.dtype)})
            fd = (float(built.run(plus)[0]) - float(built.run(minus)[0])) / (2 * step)
            an = float(np.sum(grad.astype(np.float64) * v))
            scale = float(np.sum(np.abs(grad.astype(np.float64) * v))) + 1e-3
            assert abs(fd - an) <= rtol * scale + (1e-9 if f64 else 1e-4), \
                f"{name} ({built.dtype}): finite difference {fd} vs vjp {an}"


def _diff_ops():
    return sorted(name for name, d in primitives.OPS.items() if d.vjp is not None)


def _params():
    out = []
    for op in _diff_ops():
        if op in SPECIAL:
            continue
        for tag, c in CASES.get(op, []):
            out.append(pytest.param(c, id=f"{op}-{tag}"))
    return out


@pytest.mark.parametrize("c", _params())
def test_gradcheck(c):
    _gradcheck(c)


def test_every_differentiable_primitive_has_a_case():
    missing = [op for op in _diff_ops() if op not in CASES and op not in SPECIAL]
    assert not missing, f"primitives with a vjp but no gradcheck case in {__file__}: {missing}"


def test_every_primitive_has_a_vjp_or_a_nondiff_reason():
    for name, d in primitives.OPS.items():
        assert d.infer is not None, name
        assert (d.vjp is not None) or bool(d.nondiff), f"primitive {name!r} has neither a vjp nor a nondiff reason"
        assert not (d.vjp is not None and d.nondiff), f"primitive {name!r} has both a vjp and a nondiff reason"


def test_registering_a_primitive_without_vjp_or_reason_fails():
    with pytest.raises(ValueError, match="needs a vjp or a non-differentiable reason"):
        primitives.primitive("_NoRuleAtAll_", lambda t, a: t)
    assert "_NoRuleAtAll_" not in primitives.OPS


# ================================================================= special cases
def test_dropout_gradient_is_mask_times_cotangent_over_keep():
    ratio = 0.4
    g = Graph("t")
    x = g.add_input("x", TensorType((50, 4), "float32"))
    b = Builder(g, "t")
    out, mask = b.Dropout(x, ratio=ratio)
    r = np.random.default_rng(3).standard_normal((50, 4)).astype(np.float32)
    loss = b.ReduceSum(b.Mul(out, r), keepdims=0)
    (gx,) = gradients(g, loss, [x])
    g.outputs, g.output_names = [out, mask, gx], ["out", "mask", "grad"]
    verify(g)
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    xv = np.random.default_rng(4).standard_normal((50, 4)).astype(np.float32)
    o, m, gr = sess.run(None, {"x": xv})
    assert m.dtype == np.bool_ and 0 < m.mean() < 1            # really random, really training mode
    np.testing.assert_allclose(o, xv * m / (1 - ratio), rtol=1e-6)
    np.testing.assert_allclose(gr, r * m / (1 - ratio), rtol=1e-6)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_max_min_ties_share_the_gradient_equally(op):
    """At a tie the max is not differentiable; like TensorFlow and JAX, fgc splits the cotangent equally."""
    xv = np.array([[1.0, 3.0, 3.0, 3.0], [-2.0, -2.0, 0.5, 0.0]])
    if op == "ReduceMin":
        xv = -xv
    g = Graph("t")
    x = g.add_input("x", TensorType(xv.shape, "float64"))
    b = Builder(g, "t")
    y = b.emit(op, x, axes=(1,), keepdims=0)
    r = np.array([2.0, -3.0])
    (gx,) = gradients(g, b.ReduceSum(b.Mul(y, r), keepdims=0), [x])
    g.outputs, g.output_names = [y, gx], ["y", "grad"]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    yv, grad = sess.run(None, {"x": xv})
    ext = xv.max(1, keepdims=True) if op == "ReduceMax" else xv.min(1, keepdims=True)
    mask = (xv == ext).astype(float)
    np.testing.assert_allclose(grad, r[:, None] * mask / mask.sum(1, keepdims=True))
    np.testing.assert_allclose(yv, ext[:, 0])


def test_binary_max_tie_sends_the_whole_cotangent_to_one_side():
    """Max(x, z) at x == z: the gradient goes to one operand only (sum over operands stays g)."""
    g = Graph("t")
    x = g.add_input("x", TensorType((3,), "float64"))
    z = g.add_input("z", TensorType((3,), "float64"))
    b = Builder(g, "t")
    gx, gz = gradients(g, b.ReduceSum(b.Max(x, z), keepdims=0), [x, z])
    g.outputs, g.output_names = [gx, gz], ["gx", "gz"]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    a, c = sess.run(None, {"x": np.array([1.0, 2.0, 3.0]), "z": np.array([1.0, 5.0, 0.0])})
    np.testing.assert_array_equal(a + c, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(a[1:], [0.0, 1.0])


def test_the_check_catches_a_wrong_vjp(monkeypatch):
    """Sensitivity of the harness itself: a tanh whose vjp forgets the derivative must fail."""
    import dataclasses

    wrong = dataclasses.replace(primitives.OPS["Tanh"], vjp=lambda b, n, gs: [gs[0]])
    monkeypatch.setitem(primitives.OPS, "Tanh", wrong)
    with pytest.raises(AssertionError, match="finite difference"):
        _gradcheck(CASES["Tanh"][0][1])
    # and a broadcast operand whose cotangent is not reduced to its shape
    bad_add = dataclasses.replace(primitives.OPS["Add"], vjp=lambda b, n, gs: [gs[0], b.Mul(gs[0], 2.0)])
    monkeypatch.setitem(primitives.OPS, "Add", bad_add)
    with pytest.raises(AssertionError):
        _gradcheck(dict(CASES["Add"])["lead_and_ones"])
