"""LayerNormalization as one primitive, so an export is ONNX's own ``LayerNormalization`` node.

Semantics (ONNX opset 17+, Keras 3 ``LayerNormalization`` on trailing axes): with the axes
``A = [axis, rank)``,

    mean = mean_A(x),   var = mean_A((x - mean)^2),   y = (x - mean) / sqrt(var + epsilon) * scale + bias

With ``_stats=1`` (float32 only; the layer asks for it in training graphs) the node also outputs
ONNX's optional ``Mean`` and ``InvStdDev`` (x's shape with the normalized axes at 1), so the backward
reads them instead of recomputing the moments: 8 nodes fewer per layer in a train step.

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
    if not attrs.get("_stats"):
        return [x]
    if x.dtype != "float32":   # ONNX stashes the statistics in float32 (stash_type=1)
        raise ShapeError(f"LayerNormalization outputs its statistics for float32 inputs only, got {x.dtype}")
    stats = x.with_shape(tuple(1 if a in axes else d for a, d in enumerate(x.shape)))
    return [x, stats, stats]


def _normalized(b, n):
    """(xhat, inv): from the forward's Mean and InvStdDev outputs when it has them, else recomputed."""
    x = n.inputs[0]
    if len(n.outputs) == 3:
        inv = n.outputs[2]
        return b.Mul(b.Sub(x, n.outputs[1]), inv), inv
    axes = _axes(n.attrs, n.in_types[0].rank)
    centered = b.Sub(x, b.ReduceMean(x, axes=axes, keepdims=1))
    variance = b.ReduceMean(b.Mul(centered, centered), axes=axes, keepdims=1)
    inv = b.Reciprocal(b.Sqrt(b.Add(variance, float(n.attrs.get("epsilon", 1e-5)))))
    return b.Mul(centered, inv), inv


def _layer_norm_vjp(b, n, gs):
    if any(g is not None for g in gs[1:]):
        raise NotImplementedError("gradient through LayerNormalization's Mean or InvStdDev outputs")
    scale, g = n.inputs[1], gs[0]
    axes = _axes(n.attrs, n.in_types[0].rank)
    xhat, inv = _normalized(b, n)
    gh = b.Mul(g, scale)
    inner = b.Sub(b.Sub(gh, b.ReduceMean(gh, axes=axes, keepdims=1)),
                  b.Mul(xhat, b.ReduceMean(b.Mul(gh, xhat), axes=axes, keepdims=1)))
    return [b.Mul(inv, inner), b.Mul(g, xhat), g]


primitive("LayerNormalization", _layer_norm_infer, _layer_norm_vjp)
