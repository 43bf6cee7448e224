"""``keras.ops`` numpy-style ops: elementwise math, comparisons, reductions, linear algebra.

Each op is one builder function over primitives (see core.py), used both when recording on
symbolic tensors and when computing on arrays.
"""
from __future__ import annotations

import numpy as np

from fgc.ir.types import FLOAT_DTYPES, canonical_dtype

from .core import apply, as_float, promote



def _axes(axis):
    if axis is None:
        return None
    return (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)


# ---------------------------------------------------------------- binary elementwise (numpy broadcasting)
def add(x1, x2):
    return apply("add", lambda b, x, y: b.Add(*promote(b, x, y)), x1, x2)


def subtract(x1, x2):
    return apply("subtract", lambda b, x, y: b.Sub(*promote(b, x, y)), x1, x2)


def multiply(x1, x2):
    return apply("multiply", lambda b, x, y: b.Mul(*promote(b, x, y)), x1, x2)


def _true_div(b, x, y):
    x, y = promote(b, x, y)
    if b.type(x).dtype not in FLOAT_DTYPES:  # Keras: int / int is float32 (float64 for int64 in numpy; JAX 32-bit)
        x, y = b.Cast(x, to="float32"), b.Cast(y, to="float32")
    return b.Div(x, y)


def divide(x1, x2):
    return apply("divide", _true_div, x1, x2)


true_divide = divide


def _floor_div(b, x, y):
    x, y = promote(b, x, y)
    dtype = b.type(x).dtype
    if dtype in FLOAT_DTYPES:
        return b.Floor(b.Div(x, y))
    # ONNX integer Div truncates towards zero; numpy floors: divide exactly in float64, floor, cast back
    q = b.Floor(b.Div(b.Cast(x, to="float64"), b.Cast(y, to="float64")))
    return b.Cast(q, to=dtype)


def floor_divide(x1, x2):
    return apply("floor_divide", _floor_div, x1, x2)


def _mod(b, x, y):
    x, y = promote(b, x, y)
    return b.Sub(x, b.Mul(_floor_div(b, x, y), y))  # numpy's sign convention: the result takes y's sign


def mod(x1, x2):
    return apply("mod", _mod, x1, x2)


def power(x1, x2):
    return apply("power", lambda b, x, y: b.Pow(*promote(b, x, y)), x1, x2)


def maximum(x1, x2):
    return apply("maximum", lambda b, x, y: b.Max(*promote(b, x, y)), x1, x2)


def minimum(x1, x2):
    return apply("minimum", lambda b, x, y: b.Min(*promote(b, x, y)), x1, x2)


def _compare(name, op):
    def compare(x1, x2):
        return apply(name, lambda b, x, y, op: b.emit(op, *promote(b, x, y)), x1, x2, op=op)
    compare.__name__ = name
    return compare


equal = _compare("equal", "Equal")
greater = _compare("greater", "Greater")
greater_equal = _compare("greater_equal", "GreaterOrEqual")
less = _compare("less", "Less")
less_equal = _compare("less_equal", "LessOrEqual")


def not_equal(x1, x2):
    return apply("not_equal", lambda b, x, y: b.Not(b.Equal(*promote(b, x, y))), x1, x2)


def logical_and(x1, x2):
    return apply("logical_and", lambda b, x, y: b.And(*promote(b, x, y, dtype="bool")), x1, x2)


def logical_or(x1, x2):
    return apply("logical_or", lambda b, x, y: b.Or(*promote(b, x, y, dtype="bool")), x1, x2)


def logical_not(x):
    return apply("logical_not", lambda b, v: b.Not(promote(b, v, dtype="bool")[0]), x)


def where(condition, x1, x2):
    def build(b, c, x, y):
        c = promote(b, c, dtype="bool")[0]
        return b.Where(c, *promote(b, x, y))
    return apply("where", build, condition, x1, x2)


# ---------------------------------------------------------------- unary elementwise
def _float_unary(prim):
    return lambda b, x, prim: b.emit(prim, as_float(b, x))


def _float_op(name, prim):
    def op(x):
        return apply(name, _float_unary(None), x, prim=prim)
    op.__name__ = name
    return op


exp = _float_op("exp", "Exp")
log = _float_op("log", "Log")
sqrt = _float_op("sqrt", "Sqrt")
tanh = _float_op("tanh", "Tanh")
reciprocal = _float_op("reciprocal", "Reciprocal")
erf = _float_op("erf", "Erf")


def negative(x):
    return apply("negative", lambda b, v: b.Neg(promote(b, v)[0]), x)


def absolute(x):
    return apply("absolute", lambda b, v: b.Abs(promote(b, v)[0]), x)


abs = absolute  # noqa: A001  (Keras' name)


def square(x):
    return apply("square", lambda b, v: b.Mul(v, v), x)


def sign(x):
    return apply("sign", lambda b, v: b.Sign(v), x)


def _rounding(name, prim):
    def op(x):
        return apply(name, lambda b, v, prim: v if b.type(v).dtype not in FLOAT_DTYPES else b.emit(prim, v), x,
                     prim=prim)
    op.__name__ = name
    return op


floor = _rounding("floor", "Floor")
ceil = _rounding("ceil", "Ceil")
round = _rounding("round", "Round")  # noqa: A001  (ONNX Round rounds half to even, as numpy does)


def log1p(x):
    return apply("log1p", lambda b, v: b.Log(b.Add(as_float(b, v), 1.0)), x)


def expm1(x):
    return apply("expm1", lambda b, v: b.Sub(b.Exp(as_float(b, v)), 1.0), x)


def rsqrt(x):
    return apply("rsqrt", lambda b, v: b.Reciprocal(b.Sqrt(as_float(b, v))), x)


def clip(x, x_min, x_max):
    return apply("clip", lambda b, v, lo, hi: b.Min(*promote(b, b.Max(*promote(b, v, lo)), hi)), x, x_min, x_max)


def stop_gradient(variable):
    return apply("stop_gradient", lambda b, v: b.StopGradient(v), variable)


def cast(x, dtype):
    to = canonical_dtype(dtype)
    return apply("cast", lambda b, v, to: v if b.type(v).dtype == to else b.Cast(v, to=to), x, to=to)


# ---------------------------------------------------------------- reductions
def _reduce(name, prim, int_to_float=False):
    def op(x, axis=None, keepdims=False):
        def build(b, v, prim, axes, keepdims):
            v = as_float(b, v) if int_to_float else (b.Cast(v, to="int32") if b.type(v).dtype == "bool" else v)
            return b.emit(prim, v, axes=axes, keepdims=int(keepdims))
        return apply(name, build, x, prim=prim, axes=_axes(axis), keepdims=bool(keepdims))
    op.__name__ = name
    return op


sum = _reduce("sum", "ReduceSum")  # noqa: A001
mean = _reduce("mean", "ReduceMean", int_to_float=True)
max = _reduce("max", "ReduceMax")  # noqa: A001
min = _reduce("min", "ReduceMin")  # noqa: A001
amax, amin = max, min


def _var(b, v, axes, keepdims):
    v = as_float(b, v)
    centered = b.Sub(v, b.ReduceMean(v, axes=axes, keepdims=1))
    return b.ReduceMean(b.Mul(centered, centered), axes=axes, keepdims=int(keepdims))


def var(x, axis=None, keepdims=False):
    return apply("var", _var, x, axes=_axes(axis), keepdims=bool(keepdims))


def std(x, axis=None, keepdims=False):
    return apply("std", lambda b, v, axes, keepdims: b.Sqrt(_var(b, v, axes, keepdims)), x, axes=_axes(axis),
                 keepdims=bool(keepdims))


def _any_all(name, prim):
    def op(x, axis=None, keepdims=False):
        def build(b, v, prim, axes, keepdims):
            as_int = b.Cast(promote(b, v, dtype="bool")[0], to="int32")
            return b.Cast(b.emit(prim, as_int, axes=axes, keepdims=int(keepdims)), to="bool")
        return apply(name, build, x, prim=prim, axes=_axes(axis), keepdims=bool(keepdims))
    op.__name__ = name
    return op


any = _any_all("any", "ReduceMax")  # noqa: A001
all = _any_all("all", "ReduceMin")  # noqa: A001


def _flat(b, v):
    return b.Reshape(v, shape=(-1,))


def _arg(b, v, axis, keepdims, negate):
    if axis is None:
        v, axis = _flat(b, v), 0
    v = b.Neg(v) if negate else v
    out = b.ArgMax(v, axis=axis, keepdims=int(keepdims))
    return b.Cast(out, to="int32")


def argmax(x, axis=None, keepdims=False):
    return apply("argmax", _arg, x, axis=axis, keepdims=bool(keepdims), negate=False)


def argmin(x, axis=None, keepdims=False):
    return apply("argmin", _arg, x, axis=axis, keepdims=bool(keepdims), negate=True)


def _logsumexp(b, v, axes, keepdims):
    v = as_float(b, v)
    # shift by the (gradient-free) max for stability; the shift cancels in value and gradient
    top = b.StopGradient(b.ReduceMax(v, axes=axes, keepdims=1))
    out = b.Add(b.Log(b.ReduceSum(b.Exp(b.Sub(v, top)), axes=axes, keepdims=1)), top)
    if not keepdims:
        out = b.Squeeze(out, axes=axes if axes is not None else tuple(range(b.type(v).rank)))
    return out


def logsumexp(x, axis=None, keepdims=False):
    return apply("logsumexp", _logsumexp, x, axes=_axes(axis), keepdims=bool(keepdims))


def _norm(b, v, ord, axes, keepdims):
    v = as_float(b, v)
    if ord is None or ord == 2 or ord == "fro":
        return b.Sqrt(b.ReduceSum(b.Mul(v, v), axes=axes, keepdims=int(keepdims)))
    if ord == 1:
        return b.ReduceSum(b.Abs(v), axes=axes, keepdims=int(keepdims))
    return b.ReduceMax(b.Abs(v), axes=axes, keepdims=int(keepdims))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms (ord None/2, 1, inf) over ``axis``, or the Frobenius norm (ord None or 'fro')."""
    from .shape import ndim

    axes = _axes(axis)
    if axes is None and ord is not None and ndim(x) == 1:  # numpy: a vector norm of a 1-D x
        axes = (0,)
    vector = axes is not None and len(axes) == 1
    allowed = (None, 1, 2, float("inf")) if vector else (None, "fro")
    if ord not in allowed:
        raise ValueError(f"norm: ord={ord!r} is not supported for a "
                         f"{'vector' if vector else 'matrix'} norm by fgc (spectral and nuclear norms are not "
                         f"computed); use one of {allowed}")
    return apply("norm", _norm, x, ord=ord, axes=axes, keepdims=bool(keepdims))


def cumsum(x, axis=None, dtype=None):
    def build(b, v, axis, dtype):
        if dtype is not None:
            v = b.Cast(v, to=dtype) if b.type(v).dtype != dtype else v
        if axis is None:
            v, axis = _flat(b, v), 0
        return b.CumSum(v, axis=axis)
    return apply("cumsum", build, x, axis=axis, dtype=canonical_dtype(dtype) if dtype else None)


# ---------------------------------------------------------------- linear algebra
def _matmul(b, x, y):
    x, y = promote(b, x, y)
    rx, ry = b.type(x).rank, b.type(y).rank
    # numpy's rule for vectors: a 1-D operand gets a unit axis, removed again after the product
    if rx == 1:
        x = b.Unsqueeze(x, axes=(0,))
    if ry == 1:
        y = b.Unsqueeze(y, axes=(1,))
    out = b.MatMul(x, y)
    squeeze = tuple(a for a, vec in ((-2, rx == 1), (-1, ry == 1)) if vec)
    if squeeze:
        rank = b.type(out).rank
        out = b.Squeeze(out, axes=tuple(a % rank for a in squeeze))
    return out


def matmul(x1, x2):
    return apply("matmul", _matmul, x1, x2)


def dot(x1, x2):
    """numpy.dot: products for scalars, matmul up to 2-D, contraction of x1's last axis with x2's
    second-to-last otherwise (x2 of rank <= 2)."""
    def build(b, x, y):
        rx = b.type(x).rank if not isinstance(x, (int, float)) else 0
        ry = b.type(y).rank if not isinstance(y, (int, float)) else 0
        if rx == 0 or ry == 0:
            return b.Mul(*promote(b, x, y))
        if ry > 2:
            raise ValueError(f"dot: x2 of rank {ry} is not supported (only rank <= 2); use einsum or tensordot "
                             f"ordering with transpose and matmul")
        return _matmul(b, x, y)
    return apply("dot", build, x1, x2)


def einsum(subscripts, *operands):
    """numpy.einsum over letters; the output is implicit (numpy's rule: indices used once, sorted) or after '->'.
    '...' is not supported."""
    if "." in subscripts:
        raise ValueError(f"einsum: '...' in {subscripts!r} is not supported by fgc; name every axis with a letter")
    lhs, arrow, out = subscripts.replace(" ", "").partition("->")
    if not arrow:
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(lhs.split(",")) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(lhs.split(','))} operands, got {len(operands)}")
    return apply("einsum", lambda b, *vs, equation: b.Einsum(*promote(b, *vs), equation=equation), *operands,
                 equation=f"{lhs}->{out}")


# ---------------------------------------------------------------- constants (no tensor inputs: plain arrays)
def zeros(shape, dtype=None):
    return np.zeros(shape, np.dtype(canonical_dtype(dtype or "float32")))


def ones(shape, dtype=None):
    return np.ones(shape, np.dtype(canonical_dtype(dtype or "float32")))


def full(shape, fill_value, dtype=None):
    return np.full(shape, fill_value, np.dtype(canonical_dtype(dtype or "float32")))


def eye(N, M=None, k=0, dtype=None):
    return np.eye(N, M, k, dtype=np.dtype(canonical_dtype(dtype or "float32")))


def arange(start, stop=None, step=1, dtype=None):
    values = np.arange(start, stop, step)
    if dtype is None:
        dtype = "float32" if values.dtype.kind == "f" else "int32"
    return values.astype(np.dtype(canonical_dtype(dtype)))


def zeros_like(x, dtype=None):
    return apply("zeros_like", lambda b, v, dtype: b.ZerosLike(v if dtype is None else b.Cast(v, to=dtype)), x,
                 dtype=canonical_dtype(dtype) if dtype else None)


def _ones_like(b, v, dtype):
    v = v if dtype is None else b.Cast(v, to=dtype)
    return b.Add(b.ZerosLike(v), b.const(np.ones((), np.dtype(b.type(v).dtype))))


def ones_like(x, dtype=None):
    return apply("ones_like", _ones_like, x, dtype=canonical_dtype(dtype) if dtype else None)
