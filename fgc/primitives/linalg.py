"""MatMul, Gemm and the softmax family."""
from __future__ import annotations

from fgc.ir.types import ShapeError, broadcast_shapes, dims_compatible, normalize_axis

from .elementwise import same_type
from .registry import primitive


def _matmul_infer(types, attrs):
    a, b = types
    if a.dtype != b.dtype:
        raise ShapeError(f"MatMul operands have different dtypes {a.dtype} and {b.dtype}")
    if a.rank < 2 or b.rank < 2:
        raise ShapeError(f"MatMul needs rank >= 2 operands, got {a} and {b}")
    if not dims_compatible(a.shape[-1], b.shape[-2]):
        raise ShapeError(f"MatMul inner dims differ: {a} @ {b} ({a.shape[-1]} vs {b.shape[-2]})")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return [a.with_shape(batch + (a.shape[-2], b.shape[-1]))]


def _swap_last(b, v):
    r = b.type(v).rank
    return b.Transpose(v, perm=tuple(range(r - 2)) + (r - 1, r - 2))


def _matmul_vjp(b, n, gs):
    x, w = n.inputs
    g = gs[0]
    # dW for a batched x and a 2-D w: fold the batch into rows (one big MatMul, no reduction).
    xt, wt = n.in_types
    if xt.rank > 2 and wt.rank == 2:
        rows = b.Reshape(x, shape=(-1, xt.shape[-1]))
        grows = b.Reshape(g, shape=(-1, wt.shape[-1]))
        return [b.MatMul(g, _swap_last(b, w)), b.MatMul(_swap_last(b, rows), grows)]
    return [b.MatMul(g, _swap_last(b, w)), b.MatMul(_swap_last(b, x), g)]


primitive("MatMul", _matmul_infer, _matmul_vjp)


def _gemm_infer(types, attrs):
    a, b = types[0], types[1]
    m = a.shape[1] if attrs.get("transA") else a.shape[0]
    k = b.shape[0] if attrs.get("transB") else b.shape[1]
    return [a.with_shape((m, k))]


# Gemm is produced by the fusion pass, which runs after autodiff: it never needs a gradient.
primitive("Gemm", _gemm_infer, nondiff="created by fusion after autodiff")


def _softmax_vjp(b, n, gs):
    y, g = n.out, gs[0]
    dot = b.ReduceSum(b.Mul(g, y), axes=(n.attrs.get("axis", -1),), keepdims=1)
    return [b.Mul(y, b.Sub(g, dot))]


def _log_softmax_vjp(b, n, gs):
    g = gs[0]
    total = b.ReduceSum(g, axes=(n.attrs.get("axis", -1),), keepdims=1)
    return [b.Sub(g, b.Mul(b.Exp(n.out), total))]


def _softmax_infer(types, attrs):
    normalize_axis(attrs.get("axis", -1), types[0].rank)
    return same_type(types, attrs)


primitive("Softmax", _softmax_infer, _softmax_vjp)
primitive("LogSoftmax", _softmax_infer, _log_softmax_vjp)
