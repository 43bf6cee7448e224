"""``keras.ops`` shape ops: reshape, transpose, expand_dims, squeeze, concatenate, stack, split,
take, take_along_axis, tile, repeat, pad, flip, slicing (``__getitem__``), shape / ndim / size."""
from __future__ import annotations

import builtins

import numpy as np

from fgc.layers.base import KerasTensor

from .core import apply, convert_to_tensor, promote

INT_MAX = 2**62


def _rank(b, v) -> int:
    return b.type(v).rank


def _norm_axis(axis, rank, op):
    if not -rank <= axis < rank:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of rank {rank} "
                         f"(valid: {-rank}..{rank - 1})")
    return axis % rank


def shape(x) -> tuple:
    """The static shape; None for dims only known at run time (the batch)."""
    return tuple(x.shape) if isinstance(x, KerasTensor) else tuple(np.shape(convert_to_tensor(x)))


def ndim(x) -> int:
    return len(shape(x))


def size(x):
    dims = shape(x)
    return None if None in dims else int(np.prod(dims, dtype=np.int64))


def reshape(x, newshape):
    newshape = (int(newshape),) if isinstance(newshape, (int, np.integer)) else \
        tuple(-1 if d is None else int(d) for d in newshape)
    if builtins.sum(d == -1 for d in newshape) > 1:
        raise ValueError(f"reshape: at most one dimension may be -1 (or None), got {newshape}")
    return apply("reshape", lambda b, v, newshape: b.Reshape(v, shape=newshape), x, newshape=newshape)


def transpose(x, axes=None):
    def build(b, v, axes):
        r = _rank(b, v)
        perm = tuple(reversed(range(r))) if axes is None else tuple(_norm_axis(a, r, "transpose") for a in axes)
        if sorted(perm) != list(range(r)):
            raise ValueError(f"transpose: axes {axes} is not a permutation of the {r} axes")
        return b.Transpose(v, perm=perm)
    return apply("transpose", build, x, axes=None if axes is None else tuple(axes))


def moveaxis(x, source, destination):
    r = ndim(x)
    src, dst = _norm_axis(source, r, "moveaxis"), _norm_axis(destination, r, "moveaxis")
    order = [a for a in range(r) if a != src]
    order.insert(dst, src)
    return transpose(x, order)


def expand_dims(x, axis):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)

    def build(b, v, axes):
        r = _rank(b, v) + len(axes)
        return b.Unsqueeze(v, axes=tuple(sorted(_norm_axis(a, r, "expand_dims") for a in axes)))
    return apply("expand_dims", build, x, axes=tuple(int(a) for a in axes))


def squeeze(x, axis=None):
    def build(b, v, axes):
        dims = b.type(v).shape
        if axes is None:
            axes = tuple(i for i, d in enumerate(dims) if d == 1)
        axes = tuple(_norm_axis(a, len(dims), "squeeze") for a in axes)
        for a in axes:
            if dims[a] != 1:
                raise ValueError(f"squeeze: axis {a} has size {dims[a]}, not 1 (shape {dims})")
        return b.Squeeze(v, axes=axes) if axes else v
    axes = None if axis is None else ((axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    return apply("squeeze", build, x, axes=axes)


def concatenate(xs, axis=0):
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate needs at least one tensor")

    def build(b, *vs, axis):
        vs = promote(b, *vs)
        return b.Concat(*vs, axis=_norm_axis(axis, _rank(b, vs[0]), "concatenate")) if len(vs) > 1 else vs[0]
    return apply("concatenate", build, *xs, axis=int(axis))


def stack(x, axis=0):
    xs = list(x)
    if not xs:
        raise ValueError("stack needs at least one tensor")

    def build(b, *vs, axis):
        vs = promote(b, *vs)
        a = _norm_axis(axis, _rank(b, vs[0]) + 1, "stack")
        parts = [b.Unsqueeze(v, axes=(a,)) for v in vs]
        return b.Concat(*parts, axis=a) if len(parts) > 1 else parts[0]
    return apply("stack", build, *xs, axis=int(axis))


def _slice(b, v, axis, start, stop):
    return b.Slice(v, starts=(start,), ends=(stop,), axes=(axis,))


def split(x, indices_or_sections, axis=0):
    """numpy.split: ``n`` equal parts, or cut points; returns a list."""
    dims = shape(x)
    a = _norm_axis(axis, len(dims), "split")
    length = dims[a]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        if length is None or n <= 0 or length % n:
            raise ValueError(f"split: axis {axis} of length {length} cannot be split into {n} equal parts")
        cuts = [length // n * i for i in range(1, n)]
    else:
        cuts = [int(c) for c in indices_or_sections]
    bounds = list(zip([0, *cuts], [*cuts, INT_MAX]))
    return list(apply("split", lambda b, v, axis, bounds: tuple(_slice(b, v, axis, s, e) for s, e in bounds),
                      x, axis=a, bounds=tuple(bounds), multi_output=True))


def _take(b, v, ids, axis):
    if axis is None:
        v, axis = b.Reshape(v, shape=(-1,)), 0
    r = _rank(b, v)
    axis = _norm_axis(axis, r, "take")
    n = b.type(v).shape[axis]
    ids = ids if b.type(ids).dtype == "int64" else b.Cast(ids, to="int64")
    if isinstance(n, int):  # negative ids count from the end, as in numpy
        ids = b.Where(b.Less(ids, 0), b.Add(ids, n), ids)
    # Gather's gradient is written for axis 0: bring the axis to the front and back again
    front = v if axis == 0 else b.Transpose(v, perm=(axis, *[i for i in range(r) if i != axis]))
    out = b.Gather(front, ids)
    if axis == 0:
        return out
    k = _rank(b, ids)
    rest = list(range(k, k + r - 1))
    perm = rest[:axis] + list(range(k)) + rest[axis:]
    return b.Transpose(out, perm=tuple(perm))


def take(x, indices, axis=None):
    return apply("take", _take, x, indices, axis=axis)


def take_along_axis(x, indices, axis=None):
    def build(b, v, ids, axis):
        if axis is None:
            v, axis = b.Reshape(v, shape=(-1,)), 0
        ids = ids if b.type(ids).dtype == "int64" else b.Cast(ids, to="int64")
        if _rank(b, ids) != _rank(b, v):
            raise ValueError(f"take_along_axis: indices must have the rank of x ({_rank(b, v)}), "
                             f"got rank {_rank(b, ids)}")
        return b.GatherElements(v, ids, axis=_norm_axis(axis, _rank(b, v), "take_along_axis"))
    return apply("take_along_axis", build, x, indices, axis=axis)


def repeat(x, repeats, axis=None):
    def build(b, v, repeats, axis):
        if axis is None:
            v, axis = b.Reshape(v, shape=(-1,)), 0
        axis = _norm_axis(axis, _rank(b, v), "repeat")
        n = b.type(v).shape[axis]
        if not isinstance(n, int):
            raise ValueError(f"repeat: axis {axis} has no static length; repeat along a known-size axis")
        ids = np.repeat(np.arange(n, dtype=np.int64), repeats)
        return _take(b, v, b.const(ids), axis)
    return apply("repeat", build, x, repeats=int(repeats), axis=axis)


def tile(x, repeats):
    def build(b, v, repeats):
        reps = (1,) * (_rank(b, v) - len(repeats)) + repeats
        if len(reps) > _rank(b, v):
            v = b.Reshape(v, shape=(1,) * (len(reps) - _rank(b, v)) + tuple(d if isinstance(d, int) else 0
                                                                          for d in b.type(v).shape))
        for a, k in enumerate(reps):
            if k != 1:
                v = b.Concat(*([v] * k), axis=a)
        return v
    reps = (int(repeats),) if isinstance(repeats, (int, np.integer)) else tuple(int(r) for r in repeats)
    return apply("tile", build, x, repeats=reps)


def pad(x, pad_width, mode="constant", constant_values=None):
    if mode != "constant":
        raise ValueError(f"pad: mode={mode!r} is not supported by fgc; only 'constant' (its gradient is a slice)")
    r = ndim(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (r, 2))
    pads = tuple(int(p) for p in widths[:, 0]) + tuple(int(p) for p in widths[:, 1])

    def build(b, v, pads, value):
        if not value:
            return b.Pad(v, pads=pads)
        # ONNX Pad fills zeros here: shift, pad, shift back
        return b.Add(b.Pad(b.Sub(v, value), pads=pads), value)
    return apply("pad", build, x, pads=pads, value=constant_values or 0)


def flip(x, axis=None):
    def build(b, v, axes):
        r = _rank(b, v)
        axes = tuple(range(r)) if axes is None else tuple(_norm_axis(a, r, "flip") for a in axes)
        return b.Slice(v, starts=(-1,) * len(axes), ends=(-INT_MAX,) * len(axes), axes=axes, steps=(-1,) * len(axes))
    axes = None if axis is None else ((axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    return apply("flip", build, x, axes=axes)


# ---------------------------------------------------------------- x[key]
def _index_plan(key, rank):
    """(slices as (axis, start, stop, step), axes of ints to squeeze, positions of new axes) for a basic index."""
    key = key if isinstance(key, tuple) else (key,)
    if builtins.sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if used > rank:
        raise IndexError(f"too many indices: tensor of rank {rank}, {used} indexed")
    if Ellipsis not in key:
        key = key + (Ellipsis,)
    expanded = []
    for k in key:
        expanded += [slice(None)] * (rank - used) if k is Ellipsis else [k]
    slices, squeeze, new_axes, axis, out_pos = [], [], [], 0, 0
    for k in expanded:
        if k is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        if isinstance(k, slice):
            if k != slice(None):
                step = 1 if k.step is None else int(k.step)
                if step == 0:
                    raise ValueError("slice step cannot be zero")
                start = (0 if step > 0 else -1) if k.start is None else int(k.start)
                stop = (INT_MAX if step > 0 else -INT_MAX) if k.stop is None else int(k.stop)
                slices.append((axis, start, stop, step))
            out_pos += 1
        elif isinstance(k, (int, np.integer)):
            i = int(k)
            slices.append((axis, i, i + 1 if i != -1 else INT_MAX, 1))
            squeeze.append(axis)
        else:
            raise TypeError(f"unsupported index {k!r} ({type(k).__name__}); use ints, slices, None, ... or "
                            f"fgc.ops.take for an array of indices")
        axis += 1
    return tuple(slices), tuple(squeeze), tuple(new_axes)


def _getitem(b, v, plan):
    slices, squeeze, new_axes = plan
    # unit-step slices go in one Slice; other steps (a reversal has its own gradient rule) one per axis
    unit = [s for s in slices if s[3] == 1]
    if unit:
        axes, starts, stops, _ = zip(*unit)
        v = b.Slice(v, starts=starts, ends=stops, axes=axes)
    for axis, start, stop, step in (s for s in slices if s[3] != 1):
        v = b.Slice(v, starts=(start,), ends=(stop,), axes=(axis,), steps=(step,))
    if squeeze:
        v = b.Squeeze(v, axes=squeeze)
    if new_axes:
        v = b.Unsqueeze(v, axes=new_axes)
    return v


def getitem(x, key):
    """``x[key]`` with ints, slices, None and ``...``; an int array or tensor indexes axis 0."""
    if isinstance(key, (KerasTensor, np.ndarray, list)):
        return take(x, key, axis=0)
    plan = _index_plan(key, ndim(x))
    return apply("getitem", _getitem, x, plan=plan)
