"""LayerNormalization as one primitive, so an export is ONNX's own ``LayerNormalization`` node.

Semantics (ONNX opset 17+, Keras 3 ``LayerNormalization`` on trailing axes): with the axes
``A = [axis, rank)``,

    mean = mean_A(x),   var = mean_A((x - mean)^2),   y = (x - mean) / sqrt(var + epsilon) * scale + bias

vjp, with ``xhat = (x - mean) * inv`` and ``gh = g * scale`` (n = the number of normalized values):

    dx = inv * (gh - mean_A(gh) - xhat * mean_A(gh * xhat)),   dscale = g * xhat,   dbias = g

(``dscale`` and ``dbias`` keep the broadcast shape; the autodiff driver sums them to the weight's.)
"""
from __future__ import annotations

from fgc.ir.types import ShapeError, broadcast_shapes, normalize_axis

from .registry import primitive


def _axes(n_or_attrs, rank):
    first = normalize_axis(n_or_attrs.get("axis", -1), rank)
    return tuple(range(first, rank))


def _layer_norm_infer(types, attrs):
    x, scale, bias = types
    axes = _axes(attrs, x.rank)
    block = tuple(x.shape[a] for a in axes)
    for what, t in (("scale", scale), ("bias", bias)):
        if t.dtype != x.dtype:
            raise ShapeError(f"LayerNormalization {what} is {t.dtype}, the input {x.dtype}")
        if broadcast_shapes(block, t.shape) != block:
            raise ShapeError(f"LayerNormalization {what} of shape {t.shape} does not broadcast to the normalized "
                             f"block {block}")
    return [x]


def _layer_norm_vjp(b, n, gs):
    x, scale, _ = n.inputs
    g = gs[0]
    axes = _axes(n.attrs, n.in_types[0].rank)
    mean = b.ReduceMean(x, axes=axes, keepdims=1)
    centered = b.Sub(x, mean)
    variance = b.ReduceMean(b.Mul(centered, centered), axes=axes, keepdims=1)
    inv = b.Reciprocal(b.Sqrt(b.Add(variance, float(n.attrs.get("epsilon", 1e-5)))))
    xhat = b.Mul(centered, inv)
    gh = b.Mul(g, scale)
    inner = b.Sub(b.Sub(gh, b.ReduceMean(gh, axes=axes, keepdims=1)),
                  b.Mul(xhat, b.ReduceMean(b.Mul(gh, xhat), axes=axes, keepdims=1)))
    return [b.Mul(inv, inner), b.Mul(g, xhat), g]


primitive("LayerNormalization", _layer_norm_infer, _layer_norm_vjp)
