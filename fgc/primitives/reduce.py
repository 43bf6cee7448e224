"""Reductions over static axes (ONNX opset 18 takes them as an int64 input)."""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, TensorType, normalize_axis

from .registry import primitive


def _axes(attrs, rank):
    axes = attrs.get("axes")
    return tuple(range(rank)) if axes is None else tuple(sorted(normalize_axis(a, rank) for a in axes))


def _reduce_infer(types, attrs):
    x = types[0]
    axes, keep = _axes(attrs, x.rank), attrs.get("keepdims", 1)
    shape = [1 if i in axes else d for i, d in enumerate(x.shape)] if keep else \
        [d for i, d in enumerate(x.shape) if i not in axes]
    return [x.with_shape(shape)]


def _expand_back(b, n, g):
    """The cotangent of a reduction, broadcast back to the input's shape."""
    axes = _axes(n.attrs, n.in_types[0].rank)
    if not n.attrs.get("keepdims", 1):
        g = b.Unsqueeze(g, axes=axes)
    return b.ExpandLike(g, n.inputs[0])


def _sum_vjp(b, n, gs):
    return [_expand_back(b, n, gs[0])]


def _mean_vjp(b, n, gs):
    axes = _axes(n.attrs, n.in_types[0].rank)
    dims = [n.in_types[0].shape[a] for a in axes]
    count = float(np.prod(dims)) if all(isinstance(d, int) for d in dims) else b.SizeOf(n.inputs[0], axes=axes)
    # divide the reduced cotangent, then broadcast it: the same quotients, count times fewer divisions
    return [_expand_back(b, n, b.Div(gs[0], count))]


def _max_vjp(b, n, gs):
    # Ties share the gradient equally, as TensorFlow and JAX do.
    y = n.out if n.attrs.get("keepdims", 1) else b.Unsqueeze(n.out, axes=_axes(n.attrs, n.in_types[0].rank))
    mask = b.Cast(b.Equal(n.inputs[0], y), to=n.in_types[0].dtype)
    count = b.ReduceSum(mask, axes=_axes(n.attrs, n.in_types[0].rank), keepdims=1)
    return [b.Mul(_expand_back(b, n, gs[0]), b.Div(mask, count))]


def _onnx_reduce_attrs(attrs):
    return {"keepdims": attrs.get("keepdims", 1)}


def _reduce_emit(e, n, ins, outs):
    axes = _axes(n.attrs, n.in_types[0].rank)
    e.node(n.op, [ins[0], e.const(np.array(axes, np.int64))], outs, keepdims=n.attrs.get("keepdims", 1))


primitive("ReduceSum", _reduce_infer, _sum_vjp, emit=_reduce_emit)
primitive("ReduceMean", _reduce_infer, _mean_vjp, emit=_reduce_emit)
primitive("ReduceMax", _reduce_infer, _max_vjp, emit=_reduce_emit)
primitive("ReduceMin", _reduce_infer, _max_vjp, emit=_reduce_emit)
primitive("ArgMax", lambda types, attrs: [_reduce_infer(types, {"axes": (attrs.get("axis", 0),),
                                                                 "keepdims": attrs.get("keepdims", 1)})[0]
                                          .with_dtype("int64")], nondiff="integer result")


def _size_of_emit(e, n, ins, outs):
    """Number of elements of ``x`` over ``axes`` as a scalar of x's dtype, computed at run time."""
    from fgc.ir.types import onnx_dtype

    axes = _axes(n.attrs, n.in_types[0].rank)
    shape = e.node("Shape", [ins[0]], [e.fresh("shape")])[0]
    picked = e.node("Gather", [shape, e.const(np.array(axes, np.int64))], [e.fresh("dims")])[0]
    count = e.node("ReduceProd", [picked], [e.fresh("count")], keepdims=0)[0]
    e.node("Cast", [count], outs, to=onnx_dtype(n.out_types[0].dtype))


primitive("SizeOf", lambda types, attrs: [TensorType((), types[0].dtype)], nondiff="shape metadata",
          emit=_size_of_emit)


# ---------------------------------------------------------------- scans and selections (fgc.ops.cumsum, top_k)
def _cumsum_infer(types, attrs):
    normalize_axis(attrs["axis"], types[0].rank)
    return [types[0]]


def _cumsum_vjp(b, n, gs):
    # d(cumsum)/dx sums the cotangent over every later position: a reversed cumulative sum
    return [b.CumSum(gs[0], axis=n.attrs["axis"], reverse=1 - n.attrs.get("reverse", 0))]


primitive("CumSum", _cumsum_infer, _cumsum_vjp, attr_inputs=("axis",))


def _top_k_infer(types, attrs):
    x = types[0]
    if not isinstance(x.shape[-1], int) or not 1 <= attrs["k"] <= x.shape[-1]:
        raise ShapeError(f"top_k needs 1 <= k <= the last dim, got k={attrs['k']} for shape {x.shape}")
    shape = x.shape[:-1] + (attrs["k"],)
    return [x.with_shape(shape), x.with_shape(shape).with_dtype("int64")]


def _top_k_emit(e, n, ins, outs):
    e.node("TopK", [ins[0], e.const(np.array([n.attrs["k"]], np.int64))], outs, axis=-1, largest=1,
           sorted=n.attrs.get("sorted", 1))


# The values are re-read with GatherElements by fgc.ops.top_k, so gradients flow through that.
primitive("TopK", _top_k_infer, nondiff="selection; differentiate the gathered values", emit=_top_k_emit)
