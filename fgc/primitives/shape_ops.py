"""Primitives that move data without arithmetic: reshape, transpose, concat, slice, gather."""
from __future__ import annotations

import numpy as np

from fgc.ir.types import ShapeError, TensorType, dims_compatible, fresh_symbol, normalize_axis, product

from .registry import primitive

INT_MAX = 2**62


# ---------------------------------------------------------------- reshape family
def _solve_minus_one(in_shape, out_dims):
    """The dim that -1 stands for: the input's dims left after cancelling the known output dims."""
    syms = [d for d in in_shape if isinstance(d, str)]
    known = int(np.prod([d for d in in_shape if isinstance(d, int)], dtype=np.int64))
    for d in out_dims:
        if isinstance(d, str):
            if d not in syms:
                return fresh_symbol("R")
            syms.remove(d)
        elif d != -1:
            if known % d:
                raise ShapeError(f"cannot reshape {in_shape} into {tuple(out_dims)}")
            known //= d
    return product([known, *syms])


def _reshape_infer(types, attrs):
    x = types[0]
    out = [x.shape[i] if d == 0 else d for i, d in enumerate(attrs["shape"])]
    if out.count(-1) > 1:
        raise ShapeError("reshape target has more than one -1")
    if -1 in out:
        out[out.index(-1)] = _solve_minus_one(x.shape, out)
    elif x.numel() is not None and TensorType(tuple(out)).numel() not in (None, x.numel()):
        raise ShapeError(f"cannot reshape {x.shape} ({x.numel()} elements) into {tuple(out)}")
    return [x.with_shape(out)]


def _reshape_like_vjp(b, n, gs):
    return [b.ReshapeLike(gs[0], n.inputs[0])] + [None] * (len(n.inputs) - 1)


def _reshape_target(in_type, out_type):
    """``out_type``'s shape as a Reshape target of constants: symbols that ``in_type`` has at the same
    index are copied (0), one other symbol is -1; None when more are unknown (or a dim is 0, which
    Reshape would read as a copy)."""
    target = [0 if isinstance(d, str) and i < in_type.rank and d == in_type.shape[i]
              else (-1 if isinstance(d, str) else d) for i, d in enumerate(out_type.shape)]
    if target.count(-1) > 1 or any(d == 0 for d in out_type.shape):
        return None
    return target


def _reshape_emit(e, n, ins, outs):
    # Symbols must not reach ONNX as literals: copied dims are 0, one unknown is -1.
    target = _reshape_target(n.in_types[0], n.out_types[0]) or list(n.attrs["shape"])
    e.node("Reshape", [ins[0], e.const(np.array(target, np.int64))], outs)


primitive("Reshape", _reshape_infer, _reshape_like_vjp, emit=_reshape_emit)


def _like_infer(types, attrs):
    return [types[1].with_dtype(types[0].dtype)]


def _shape_of(e, name):
    return e.node("Shape", [name], [e.fresh("shape")])[0]


def _expand_target(in_type, out_type):
    """``out_type``'s shape as an Expand target of constants: a symbol that ``in_type`` has at the same
    (right-aligned) position broadcasts from the input as 1; None when another symbol remains."""
    lead = out_type.rank - in_type.rank
    if lead < 0:
        return None
    target = [1 if isinstance(d, str) and i >= lead and in_type.shape[i - lead] == d else d
              for i, d in enumerate(out_type.shape)]
    return None if any(isinstance(d, str) for d in target) else target


def _like_emit(op, static_target):
    """Reshape or Expand to the shape of ``ins[1]``: a constant target where the types give it (a
    train step's ReshapeLike and ExpandLike mostly differ from it in the batch dim only), else Shape."""
    def emit(e, n, ins, outs):
        target = static_target(n.in_types[0], n.in_types[1])
        shape = _shape_of(e, ins[1]) if target is None else e.const(np.array(target, np.int64))
        e.node(op, [ins[0], shape], outs)
    return emit


primitive("ReshapeLike", _like_infer, lambda b, n, gs: [b.ReshapeLike(gs[0], n.inputs[0]), None],
          emit=_like_emit("Reshape", _reshape_target))
# ExpandLike's cotangent keeps the broadcast shape: the autodiff driver reduces it.
primitive("ExpandLike", _like_infer, lambda b, n, gs: [gs[0], None], emit=_like_emit("Expand", _expand_target))


def _unsqueeze_infer(types, attrs):
    shape = list(types[0].shape)
    rank = len(shape) + len(attrs["axes"])
    for ax in sorted(normalize_axis(a, rank) for a in attrs["axes"]):
        shape.insert(ax, 1)
    return [types[0].with_shape(shape)]


def _squeeze_infer(types, attrs):
    x = types[0]
    axes = {normalize_axis(a, x.rank) for a in attrs["axes"]}
    for a in axes:
        if x.shape[a] != 1 and isinstance(x.shape[a], int):
            raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]}")
    return [x.with_shape([d for i, d in enumerate(x.shape) if i not in axes])]


primitive("Unsqueeze", _unsqueeze_infer, _reshape_like_vjp, attr_inputs=("axes",))
primitive("Squeeze", _squeeze_infer, _reshape_like_vjp, attr_inputs=("axes",))
primitive("Shape", lambda types, attrs: [TensorType((types[0].rank,), "int64")], nondiff="shape metadata")


# ---------------------------------------------------------------- transpose, concat, slice
def _transpose_infer(types, attrs):
    x, perm = types[0], attrs["perm"]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"perm {perm} is not a permutation of the {x.rank} axes")
    return [x.with_shape([x.shape[p] for p in perm])]


def _transpose_vjp(b, n, gs):
    inverse = [0] * len(n.attrs["perm"])
    for i, p in enumerate(n.attrs["perm"]):
        inverse[p] = i
    return [b.Transpose(gs[0], perm=inverse)]


primitive("Transpose", _transpose_infer, _transpose_vjp)


def _concat_infer(types, attrs):
    first = types[0]
    axis = normalize_axis(attrs["axis"], first.rank)
    for t in types[1:]:
        if t.rank != first.rank or t.dtype != first.dtype:
            raise ShapeError(f"cannot concatenate {first} and {t}: ranks or dtypes differ")
        for i, (a, c) in enumerate(zip(first.shape, t.shape)):
            if i != axis and not dims_compatible(a, c):
                raise ShapeError(f"cannot concatenate {first} and {t} on axis {axis}: axis {i} differs "
                                 f"({a} vs {c}); all dims but the concat axis must match")
    dims = [t.shape[axis] for t in types]
    size = sum(dims) if all(isinstance(d, int) for d in dims) else "+".join(map(str, dims))
    shape = [first.shape[i] if i != axis else size for i in range(first.rank)]
    for t in types[1:]:  # a known dim beats a symbol
        shape = [c if isinstance(a, str) and isinstance(c, int) and i != axis else a
                 for i, (a, c) in enumerate(zip(shape, t.shape))]
    return [first.with_shape(shape)]


def _concat_vjp(b, n, gs):
    axis = normalize_axis(n.attrs["axis"], n.in_types[0].rank)
    sizes = [t.shape[axis] for t in n.in_types]
    if not all(isinstance(s, int) for s in sizes):  # lengths known only at run time: split like the inputs
        parts = b.SplitLike(gs[0], *n.inputs, axis=axis)
        return [parts] if len(n.inputs) == 1 else list(parts)
    if len(sizes) == 1:
        return [gs[0]]
    return list(b.Split(gs[0], axis=axis, sizes=tuple(sizes)))   # one node, not a Slice per input (control.py)


primitive("Concat", _concat_infer, _concat_vjp)


def _slice_dims(dim, start, end, step):
    if isinstance(dim, int):
        return len(range(*slice(start, end, step).indices(dim)))
    if (start, step) == (0, 1) and end >= INT_MAX or _is_reversal(start, end, step):
        return dim  # the whole axis, forwards or reversed
    return fresh_symbol("S")


def _slice_infer(types, attrs):
    x = types[0]
    shape = list(x.shape)
    steps = attrs.get("steps") or (1,) * len(attrs["axes"])
    for s, e, a, st in zip(attrs["starts"], attrs["ends"], attrs["axes"], steps):
        a = normalize_axis(a, x.rank)
        shape[a] = _slice_dims(x.shape[a], s, e, st)
    return [x.with_shape(shape)]


def _is_reversal(s, e, st) -> bool:
    return (s, st) == (-1, -1) and e <= -INT_MAX


def _slice_vjp(b, n, gs):
    x = n.in_types[0]
    steps = n.attrs.get("steps") or (1,) * len(n.attrs["axes"])
    if all(_is_reversal(s, e, st) for s, e, st in zip(n.attrs["starts"], n.attrs["ends"], steps)):
        return [b.Slice(gs[0], **n.attrs)]  # reversing is its own inverse
    pads = [0] * (2 * x.rank)
    steps = n.attrs.get("steps") or (1,) * len(n.attrs["axes"])
    for s, e, a, st in zip(n.attrs["starts"], n.attrs["ends"], n.attrs["axes"], steps):
        a, dim = normalize_axis(a, x.rank), x.shape[normalize_axis(a, x.rank)]
        if st != 1 or not isinstance(dim, int):
            raise NotImplementedError("gradient of a strided slice or a slice of an unknown-length axis")
        lo, hi, _ = slice(s, e).indices(dim)
        pads[a], pads[a + x.rank] = lo, dim - hi
    return [b.Pad(gs[0], pads=tuple(pads))]


primitive("Slice", _slice_infer, _slice_vjp, attr_inputs=("starts", "ends", "axes", "steps"))


def _pad_infer(types, attrs):
    x, pads = types[0], attrs["pads"]
    r = x.rank
    return [x.with_shape([d + pads[i] + pads[i + r] if isinstance(d, int) else fresh_symbol("P")
                          if pads[i] + pads[i + r] else d for i, d in enumerate(x.shape)])]


def _pad_vjp(b, n, gs):
    r, pads = n.in_types[0].rank, n.attrs["pads"]
    starts = tuple(pads[:r])
    ends = tuple(-p if p else INT_MAX for p in pads[r:])
    return [b.Slice(gs[0], starts=starts, ends=ends, axes=tuple(range(r)))]


primitive("Pad", _pad_infer, _pad_vjp, attr_inputs=("pads",))


# ---------------------------------------------------------------- gather / scatter
def _gather_infer(types, attrs):
    data, idx = types
    if idx.dtype not in ("int32", "int64"):
        raise ShapeError(f"Gather indices must be integers, got {idx.dtype}")
    a = normalize_axis(attrs.get("axis", 0), data.rank)
    return [data.with_shape(data.shape[:a] + idx.shape + data.shape[a + 1:])]


def _gather_vjp(b, n, gs):
    data = n.in_types[0]
    if n.attrs.get("axis", 0) != 0 or data.numel() is None:
        raise NotImplementedError("gradient of Gather is implemented for axis 0 of a fixed-shape table")
    ids = b.Unsqueeze(b.Cast(n.inputs[1], to="int64"), axes=(-1,))
    acc = accumulation_dtype(data.dtype)
    zeros = b.Zeros(shape=tuple(data.shape), dtype=acc)
    grad = b.ScatterND(zeros, ids, _cast(b, gs[0], acc), reduction="add")
    return [_cast(b, grad, data.dtype), None]


def accumulation_dtype(dtype: str) -> str:
    """The dtype a scatter-add of gradients sums in: float32 for float16 (many float16 terms lose their low
    bits, and onnxruntime's CPU provider has no float16 scatter-add), else the dtype itself."""
    return "float32" if dtype == "float16" else dtype


def _cast(b, v, dtype: str):
    return v if b.type(v).dtype == dtype else b.Cast(v, to=dtype)


primitive("Gather", _gather_infer, _gather_vjp)


def _scatter_nd_infer(types, attrs):
    return [types[0]]


def _scatter_nd_vjp(b, n, gs):
    reduction = n.attrs.get("reduction", "none")
    if reduction == "add":
        d_data = gs[0]
    elif reduction == "none":  # overwritten entries of data do not reach the output
        d_data = b.ScatterND(gs[0], n.inputs[1], b.ZerosLike(n.inputs[2]))
    else:
        raise NotImplementedError(f"gradient of ScatterND with reduction '{reduction}'")
    return [d_data, None, b.GatherND(gs[0], n.inputs[1])]


primitive("ScatterND", _scatter_nd_infer, _scatter_nd_vjp)
primitive("GatherND", lambda types, attrs: [types[0].with_shape(types[1].shape[:-1] + types[0].shape[types[1].shape[-1]:])]
          if isinstance(types[1].shape[-1], int) else [types[0]], nondiff="used only inside gradients")


def _zeros_emit(e, n, ins, outs):
    e.node("ConstantOfShape", [e.const(np.array(n.attrs["shape"], np.int64))], outs,
           value=_zero_tensor(n.attrs["dtype"]))


primitive("Zeros", lambda types, attrs: [TensorType(tuple(attrs["shape"]), attrs["dtype"])],
          nondiff="constant", emit=_zeros_emit)


def _gather_elements_vjp(b, n, gs):
    dtype = n.in_types[0].dtype
    acc = accumulation_dtype(dtype)
    zeros = b.ZerosLike(_cast(b, n.inputs[0], acc))
    grad = b.ScatterElements(zeros, n.inputs[1], _cast(b, gs[0], acc), axis=n.attrs.get("axis", 0), reduction="add")
    return [_cast(b, grad, dtype), None]


primitive("GatherElements", lambda types, attrs: [types[0].with_shape(types[1].shape)], _gather_elements_vjp)
primitive("ScatterElements", lambda types, attrs: [types[0]], nondiff="used only inside gradients")
primitive("ZerosLike", lambda types, attrs: [types[0]], nondiff="constant",
          emit=lambda e, n, ins, outs: e.node("ConstantOfShape", [_shape_of(e, ins[0])], outs,
                                              value=_zero_tensor(n.in_types[0].dtype)))


def _zero_tensor(dtype: str):
    import onnx

    from fgc.ir.types import onnx_dtype

    return onnx.helper.make_tensor("value", onnx_dtype(dtype), [1], [0])


def _split_like_infer(types, attrs):
    axis = normalize_axis(attrs["axis"], types[0].rank)
    return [types[0].with_shape(types[0].shape[:axis] + (t.shape[axis],) + types[0].shape[axis + 1:])
            for t in types[1:]]


def _split_like_emit(e, n, ins, outs):
    """Split ``g`` along ``axis`` into pieces as long as each of the other inputs (sizes read at run time)."""
    axis = normalize_axis(n.attrs["axis"], n.in_types[0].rank)
    sizes = [e.node("Shape", [like], [e.fresh("len")], start=axis, end=axis + 1)[0] for like in ins[1:]]
    joined = e.node("Concat", sizes, [e.fresh("sizes")], axis=0)[0]
    e.node("Split", [ins[0], joined], outs, axis=axis)


primitive("SplitLike", _split_like_infer, nondiff="used only inside gradients", emit=_split_like_emit)
