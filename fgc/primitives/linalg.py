"""MatMul, Gemm and the softmax family."""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, TensorType, broadcast_shapes, dims_compatible, normalize_axis

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


def _dot_infer(types, attrs):
    a, b = types
    if a.rank != 1 or b.rank != 1 or a.dtype != b.dtype or not dims_compatible(a.shape[0], b.shape[0]):
        raise ShapeError(f"Dot takes two vectors of one length and dtype, got {a} and {b}")
    return [a.with_shape(())]


# ONNX MatMul of two vectors (numpy's matmul: a scalar): Simplify's form of ReduceSum(Mul(a, b)).
primitive("Dot", _dot_infer, nondiff="created by Simplify after autodiff",
          emit=lambda e, n, ins, outs: e.node("MatMul", list(ins), outs))


def _vec_mat_infer(types, attrs):
    v, m = types
    if v.rank != 1 or m.rank != 2 or v.dtype != m.dtype or not dims_compatible(v.shape[0], m.shape[0]):
        raise ShapeError(f"VecMat takes a vector and a matrix of its length in rows, got {v} and {m}")
    return [m.with_shape(m.shape[1:])]


# ONNX MatMul of a (R,) vector and a (R, C) matrix: passes/row_sums.py's form of a sum over rows (ones @ x).
primitive("VecMat", _vec_mat_infer, nondiff="created after autodiff",
          emit=lambda e, n, ins, outs: e.node("MatMul", list(ins), outs))


def _row_ones_emit(e, n, ins, outs):
    import onnx

    from fgc.ir.types import onnx_dtype

    rows = n.out_types[0].shape[0]
    length = e.const(np.array([rows], np.int64)) if isinstance(rows, int) else \
        e.node("Shape", [ins[0]], [e.fresh("rows")], start=0, end=1)[0]
    one = onnx.helper.make_tensor("value", onnx_dtype(n.attrs["dtype"]), [1], [1])
    e.node("ConstantOfShape", [length], outs, value=one)


# A vector of ones as long as x's first axis, in ``dtype``: the left operand of a VecMat that sums x's rows.
# A static length is a constant shape (onnxruntime folds the node); a symbolic one reads x's shape at run time.
primitive("RowOnes", lambda types, attrs: [TensorType(types[0].shape[:1], attrs["dtype"])],
          nondiff="constant", emit=_row_ones_emit)


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


# ---------------------------------------------------------------- Einsum (fgc.ops.einsum)
def _einsum_terms(equation: str):
    """('ij,jk', 'ik') -> (['ij', 'jk'], 'ik'); explicit output, letters only (no '...')."""
    lhs, _, out = equation.replace(" ", "").partition("->")
    return lhs.split(","), out


def _einsum_infer(types, attrs):
    terms, out = _einsum_terms(attrs["equation"])
    if len(terms) != len(types):
        raise ShapeError(f"einsum '{attrs['equation']}' names {len(terms)} operands, got {len(types)}")
    sizes: dict = {}
    for term, t in zip(terms, types):
        if len(term) != t.rank:
            raise ShapeError(f"einsum '{attrs['equation']}': '{term}' has {len(term)} indices for a rank-{t.rank} operand")
        for letter, dim in zip(term, t.shape):
            known = sizes.setdefault(letter, dim)
            if not dims_compatible(known, dim):
                raise ShapeError(f"einsum '{attrs['equation']}': index '{letter}' is {known} in one operand, {dim} in another")
            if isinstance(dim, int) and dim != 1 or not isinstance(known, int):
                sizes[letter] = dim if isinstance(dim, int) else known
    if len({t.dtype for t in types}) != 1:
        raise ShapeError(f"einsum operands have different dtypes {[t.dtype for t in types]}")
    return [types[0].with_shape(tuple(sizes[c] for c in out))]


def _einsum_vjp(b, n, gs):
    # d/dA_i of sum(g * einsum(terms -> out)) is einsum(out, other terms -> term_i); an index summed only
    # inside term_i is left out of that einsum and broadcast back (its entries all get the same cotangent).
    terms, out = _einsum_terms(n.attrs["equation"])
    grads = []
    for i, term in enumerate(terms):
        others = [t for j, t in enumerate(terms) if j != i]
        if len(set(term)) != len(term):
            raise NotImplementedError(f"gradient of einsum '{n.attrs['equation']}' (an index repeated in operand {i})")
        kept = "".join(c for c in term if c in set(out).union(*others))
        eq = ",".join([out, *others]) + "->" + kept
        g = b.Einsum(gs[0], *[v for j, v in enumerate(n.inputs) if j != i], equation=eq)
        if kept != term:
            g = b.ExpandLike(b.Unsqueeze(g, axes=tuple(k for k, c in enumerate(term) if c not in kept)), n.inputs[i])
        grads.append(g)
    return grads


primitive("Einsum", _einsum_infer, _einsum_vjp)
