"""Elementwise primitives: one line per unary op (its derivative), then the binary family.

A cotangent that is zero where a condition fails is Where(cond, g, 0.0): the scalar 0 broadcasts, so no
Mul(g, 0) node is needed for the zeros.

Unary rules take (b, x, y, g, attrs) and return dx; ``y`` is the op's own output, reused
where the derivative is cheaper from it (sigmoid, tanh, exp).
"""
from __future__ import annotations

import math

from fgc.ir.types import ShapeError, broadcast_shapes, estimated_size

from .registry import primitive


def same_type(types, attrs):
    return [types[0]]


def _unary(name, grad):
    def vjp(b, n, gs):
        return [grad(b, n.inputs[0], n.out, gs[0], n.attrs)]

    primitive(name, same_type, vjp)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805

_unary("Identity", lambda b, x, y, g, a: g)
_unary("Neg", lambda b, x, y, g, a: b.Neg(g))
RELU_MASK_PRODUCT = True   # False: Relu's gradient is Where(y > 0, g, 0) (the A/B and tests switch it)
# From this many elements (a symbolic batch counted as 32) the product form is no slower at one thread; below
# it the extra Cast is a node more where the step is bound by node count (the seed MLP's (N, 32) activations)
RELU_MASK_PRODUCT_FROM = 8192


def _relu_grad(b, x, y, g, a):
    """g where y > 0, else 0, as g * float(y > 0): onnxruntime's Where with a broadcast scalar runs a slow
    element-by-element path on one thread (2M floats: 3.3 ms at 1 and at 2 threads), while Cast + Mul
    take 1.1 + 0.7 ms, and Mul splits across threads (0.4 ms at 2); Greater + Cast + Mul is no slower
    than Greater + Where from 8k elements up (benchmarks/conv_threads.py). Sign(y) * g would be as slow
    as Where (onnxruntime's Sign is one-threaded too). g * 1 is g bit for bit; g * 0 is 0 up to its sign
    (NaN where g is not finite, which Where would have zeroed)."""
    mask = b.Greater(y, 0.0)
    if not RELU_MASK_PRODUCT or estimated_size(b.type(g).shape) < RELU_MASK_PRODUCT_FROM:
        return b.Where(mask, g, 0.0)
    return b.Mul(g, b.Cast(mask, to=b.type(g).dtype))


_unary("Relu", _relu_grad)
_unary("Sigmoid", lambda b, x, y, g, a: b.Mul(g, b.Mul(y, b.Sub(1.0, y))))
_unary("Tanh", lambda b, x, y, g, a: b.Mul(g, b.Sub(1.0, b.Mul(y, y))))
_unary("Exp", lambda b, x, y, g, a: b.Mul(g, y))
_unary("Log", lambda b, x, y, g, a: b.Div(g, x))
_unary("Sqrt", lambda b, x, y, g, a: b.Div(g, b.Mul(y, 2.0)))
_unary("Abs", lambda b, x, y, g, a: b.Mul(g, b.Sign(x)))
_unary("Reciprocal", lambda b, x, y, g, a: b.Neg(b.Mul(g, b.Mul(y, y))))
_unary("Softplus", lambda b, x, y, g, a: b.Mul(g, b.Sigmoid(x)))
_unary("Softsign", lambda b, x, y, g, a: b.Div(g, b.Mul(s := b.Add(b.Abs(x), 1.0), s)))
_unary("Erf", lambda b, x, y, g, a: b.Mul(g, b.Mul(b.Exp(b.Neg(b.Mul(x, x))), 2.0 / math.sqrt(math.pi))))
_unary("Elu", lambda b, x, y, g, a: b.Where(b.Greater(x, 0.0), g, b.Mul(g, b.Add(y, a.get("alpha", 1.0)))))
_unary("Selu", lambda b, x, y, g, a: b.Mul(g, b.Where(b.Greater(x, 0.0), b.const(_SELU_SCALE, b.type(x).dtype),
                                                        b.Add(y, _SELU_SCALE * _SELU_ALPHA))))
_unary("LeakyRelu", lambda b, x, y, g, a: b.Where(b.Greater(x, 0.0), g, b.Mul(g, a.get("alpha", 0.01))))
_unary("HardSigmoid", lambda b, x, y, g, a: b.Where(b.And(b.Greater(y, 0.0), b.Less(y, 1.0)),
                                                    b.Mul(g, a.get("alpha", 0.2)), 0.0))


def _clip_emit(e, n, ins, outs):
    import numpy as np

    from fgc.ir.types import numpy_dtype

    dt = numpy_dtype(n.in_types[0].dtype)
    bounds = [e.const(np.array(n.attrs[k], dt)) if k in n.attrs else "" for k in ("min", "max")]
    e.node("Clip", [ins[0], *bounds], outs)


primitive("Clip", same_type, lambda b, n, gs: [b.Where(b.Equal(n.inputs[0], n.out), gs[0], 0.0)],
          emit=_clip_emit)

for _name in ("Sign", "Floor", "Ceil", "Round", "Not"):
    primitive(_name, same_type, nondiff="piecewise constant")


def _cast_infer(types, attrs):
    return [types[0].with_dtype(attrs["to"])]


def _cast_vjp(b, n, gs):
    src = n.in_types[0].dtype
    return [b.Cast(gs[0], to=src) if src.startswith("float") else None]


def _cast_onnx_attrs(attrs):
    from fgc.ir.types import onnx_dtype

    return {"to": onnx_dtype(attrs["to"])}


primitive("Cast", _cast_infer, _cast_vjp, onnx_attrs=_cast_onnx_attrs)


# ---------------------------------------------------------------- binary (numpy broadcasting)
def broadcast_infer(types, attrs):
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ShapeError(f"operands have different dtypes {sorted(dtypes)}")
    return [types[0].with_shape(broadcast_shapes(*(t.shape for t in types)))]


def _compare_infer(types, attrs):
    return [broadcast_infer(types, attrs)[0].with_dtype("bool")]


def _binary(name, grads):
    primitive(name, broadcast_infer, lambda b, n, gs: grads(b, *n.inputs, n.out, gs[0]))


_binary("Add", lambda b, x, z, y, g: [g, g])
_binary("Sub", lambda b, x, z, y, g: [g, b.Neg(g)])
_binary("Mul", lambda b, x, z, y, g: [b.Mul(g, z), b.Mul(g, x)])
_binary("Div", lambda b, x, z, y, g: [b.Div(g, z), b.Neg(b.Div(b.Mul(g, y), z))])
_binary("Pow", lambda b, x, z, y, g: [b.Mul(g, b.Mul(z, b.Pow(x, b.Sub(z, 1.0)))), b.Mul(g, b.Mul(y, b.Log(x)))])
_binary("Max", lambda b, x, z, y, g: [b.Where(b.GreaterOrEqual(x, z), g, 0.0), b.Where(b.GreaterOrEqual(x, z), 0.0, g)])
_binary("Min", lambda b, x, z, y, g: [b.Where(b.LessOrEqual(x, z), g, 0.0), b.Where(b.LessOrEqual(x, z), 0.0, g)])

for _name in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or"):
    primitive(_name, _compare_infer, nondiff="boolean result")


def _where_infer(types, attrs):
    cond, x, y = types
    if cond.dtype != "bool":
        raise ShapeError(f"Where condition must be bool, got {cond.dtype}")
    return [broadcast_infer([x, y], attrs)[0].with_shape(broadcast_shapes(cond.shape, x.shape, y.shape))]


def _where_vjp(b, n, gs):
    c, g = n.inputs[0], gs[0]
    return [None, b.Where(c, g, 0.0), b.Where(c, 0.0, g)]


primitive("Where", _where_infer, _where_vjp)

# fgc.ops.stop_gradient: the identity with no gradient
primitive("StopGradient", same_type, nondiff="stop_gradient", emit=lambda e, n, ins, outs: e.node("Identity", ins, outs))
