"""Convolution and pooling primitives (ONNX layout: NCW / NCHW, kernels OIW / OIHW) and their vjps.

Attributes are ONNX's: ``strides``, ``pads`` (all begins, then all ends), ``dilations``, ``group``,
``kernel_shape``, ``auto_pad`` (only ``SAME_UPPER``, for a 'same' padding over a spatial dim of
unknown size with stride > 1), ``output_padding`` (ConvTranspose), ``count_include_pad``
(AveragePool). An attribute whose name starts with ``_`` stays in the IR only: ``_spatial`` pins the
output's spatial dims where the shape rule cannot derive them (a gradient has its primal's shape),
``_indices=1`` asks MaxPool for its Indices output as well.

Gradients follow DESIGN.md §8, with k the kernel, s the stride, d the dilation, pb/pe the pads and
r = (H + pb + pe - ((k-1)d+1)) mod s the input rows the last window does not reach:

    Conv          dX = ConvTranspose(dY, W, s, d, pads, output_padding=r); at stride 1 (no groups) the
                       same as Conv(dY, flip(W)^T, pads=d(k-1) - pads), which onnxruntime runs faster
                  dW = sum over samples and output positions P of dY x im2col(X), one kernel tap
                       at a time (one strided Slice per kernel offset, ending where the last window
                       ends, and its product; the taps' (O, C) results are concatenated, never
                       their columns, which would cost taps x the input in memory):
                       - 1x1 kernel at stride 1: one MatMul per sample (N, O, P) x (N, P, C) on
                         the input itself, summed over N;
                       - stride > 1, or at most 32 input or output channels, or P < O: per tap one
                         MatMul (O, N*P) x (N*P, C) over channels-last columns (thin per-sample
                         products and their (N, O, C) sums would cost more; strided NCHW slices
                         gather single floats);
                       - otherwise per tap one MatMul per sample, summed over N; when the stride is
                         1 and O < C the shifted copies are of dY instead (dY padded per kernel
                         offset, the smaller copy), one MatMul per sample with X;
                       - P unknown at compile time: an If picks between the last two at run time.
                       The choice is measured per seed-model shape (_dense_weight_grad's docstring).
                       The batch <-> channel swap Conv(X^T, dY^T, strides=d, dilations=s)^T lost on
                       every one (2-8x: its kernel as large as the whole output makes onnxruntime
                       run very narrow products); grouped convs keep it.
                  dB = ReduceSum(dY) over batch and space
    MaxPool       dX = ScatterElements(0, Indices, dY, reduction='add') on the flat tensor (overlapping
                       windows that pick the same input add up); windows apart (kernel <= stride, no
                       padding or dilation, float32, not on CUDA): MaxUnpool(dY, Indices), the same
                       without additions; windows side by side (kernel == stride, no padding or
                       dilation, float32): no Indices at all (_tiled_max_pool_grad)
    AveragePool   dX = ConvTranspose(dY / count, ones[C,1,k], group=C, output_padding=r)  (count: the
                       window's element count, padding excluded unless count_include_pad)

A spatial dim of unknown size works wherever the rule needs no r (stride 1, and MaxPool always);
elsewhere the vjp raises NotImplementedError, which autodiff reports as 'no gradient rule'.

Two reshape pseudo-ops for wrappers live here too: ``FoldTime`` (A, B, ...) -> (A*B, ...) and
``UnfoldTimeLike(y, x)`` (A*B, ...) -> (A, B, ...) with A, B read from x, both correct for
symbolic A and B (TimeDistributed folds the time axis into the batch with them).
"""
from __future__ import annotations

import numpy as np

from fgc.ir.types import INT_DTYPES, ShapeError, TensorType, dims_compatible, fresh_symbol, numpy_dtype, product

from .registry import primitive


# ---------------------------------------------------------------- shared helpers
def out_dim(h, k: int, s: int = 1, d: int = 1, pb: int = 0, pe: int = 0):
    """One spatial output dim of a window op with explicit pads (a fresh symbol when h is unknown)."""
    span = (k - 1) * d + 1
    if isinstance(h, int):
        n = h + pb + pe - span
        if n < 0:
            raise ShapeError(f"the window spans {span} elements (kernel {k}, dilation {d}) but the padded input "
                             f"has only {h + pb + pe} (size {h}, pads {pb}+{pe})")
        return n // s + 1
    if s == 1 and pb + pe == span - 1:
        return h
    return fresh_symbol("S")


def same_pads(h, k: int, s: int = 1, d: int = 1):
    """(begin, end) pads of TF/Keras 'same' (extra at the end = ONNX SAME_UPPER); None if h is unknown and s > 1."""
    span = (k - 1) * d + 1
    if isinstance(h, int):
        total = max((-(-h // s) - 1) * s + span - h, 0)
    elif s == 1:
        total = span - 1
    else:
        return None
    return total // 2, total - total // 2


class _Attrs:
    """The window attributes of a node, with ONNX defaults filled in."""

    def __init__(self, attrs: dict, nd: int, kernel=None):
        self.nd = nd
        self.k = tuple(attrs.get("kernel_shape") or kernel)
        self.s = tuple(attrs.get("strides") or (1,) * nd)
        self.d = tuple(attrs.get("dilations") or (1,) * nd)
        self.pads = tuple(attrs.get("pads") or (0,) * (2 * nd))
        self.group = int(attrs.get("group", 1))
        self.auto_pad = attrs.get("auto_pad", "NOTSET")
        if self.auto_pad not in ("NOTSET", "SAME_UPPER", "VALID"):
            raise ShapeError(f"auto_pad {self.auto_pad!r} is not supported (use explicit pads or SAME_UPPER)")
        if self.auto_pad != "NOTSET" and attrs.get("pads"):
            raise ShapeError("auto_pad and pads cannot both be given")
        for name, v in (("strides", self.s), ("dilations", self.d), ("kernel_shape", self.k)):
            if len(v) != nd:
                raise ShapeError(f"{name} {v} has {len(v)} entries for {nd} spatial dims")
        if len(self.pads) != 2 * nd:
            raise ShapeError(f"pads {self.pads} must have {2 * nd} entries (begins, then ends)")

    def spatial(self, dims):
        out = []
        for i, h in enumerate(dims):
            k = self.k[i]
            if not isinstance(k, int):
                out.append(fresh_symbol("S"))
            elif self.auto_pad == "SAME_UPPER":
                out.append(-(-h // self.s[i]) if isinstance(h, int) else h if self.s[i] == 1 else fresh_symbol("S"))
            else:
                out.append(out_dim(h, k, self.s[i], self.d[i], self.pads[i], self.pads[i + self.nd]))
        return out

    def explicit_pads(self, dims, what: str):
        """The pads as numbers (auto_pad resolved), for a gradient rule."""
        if self.auto_pad == "NOTSET":
            return self.pads
        if self.auto_pad == "VALID":
            return (0,) * (2 * self.nd)
        pairs = [same_pads(h, k, s, d) for h, k, s, d in zip(dims, self.k, self.s, self.d)]
        if any(p is None for p in pairs):
            raise NotImplementedError(f"gradient of {what} with 'same' padding and stride > 1 over a spatial dim "
                                      f"of unknown size {tuple(dims)}; give the input a fixed size")
        return tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)

    def remainders(self, dims, pads, what: str):
        """r per spatial axis: input rows beyond the last window (0 whenever the stride is 1)."""
        out = []
        for i, h in enumerate(dims):
            s = self.s[i]
            if s == 1:
                out.append(0)
            elif isinstance(h, int):
                out.append((h + pads[i] + pads[i + self.nd] - ((self.k[i] - 1) * self.d[i] + 1)) % s)
            else:
                raise NotImplementedError(f"gradient of {what} with stride {s} over a spatial dim of unknown size "
                                          f"{h}; give the input a fixed size (or use stride 1)")
        return tuple(out)


def _check_input(x: TensorType, op: str):
    if x.rank < 3:
        raise ShapeError(f"{op} needs an input of rank >= 3 (batch, channels, space...), got {x}")
    if x.dtype in INT_DTYPES or x.dtype == "bool":
        raise ShapeError(f"{op} needs a float input, got {x.dtype}")


def _pinned(attrs, spatial):
    """The ``_spatial`` hint wins over a derived dim (it is the primal's shape of a gradient)."""
    pin = attrs.get("_spatial")
    if pin is None:
        return list(spatial)
    out = []
    for got, want in zip(spatial, pin):
        if isinstance(got, int) and isinstance(want, int) and got != want:
            raise ShapeError(f"internal: spatial size {got} computed where {want} was pinned")
        out.append(want)
    return out


def _swap01(b, v):
    r = b.type(v).rank
    return b.Transpose(v, perm=(1, 0, *range(2, r)))


# ---------------------------------------------------------------- Conv
def _conv_infer(types, attrs):
    x, w = types[0], types[1]
    _check_input(x, "Conv")
    if w.rank != x.rank or w.dtype != x.dtype:
        raise ShapeError(f"Conv kernel {w} does not fit input {x} (same rank and dtype expected)")
    a = _Attrs(attrs, x.rank - 2, w.shape[2:])
    if not all(dims_compatible(k, d) for k, d in zip(a.k, w.shape[2:])):
        raise ShapeError(f"Conv kernel_shape {a.k} does not match the kernel {w.shape}")
    if not dims_compatible(x.shape[1], product([w.shape[1], a.group])) and isinstance(w.shape[1], int):
        raise ShapeError(f"Conv input has {x.shape[1]} channels but the kernel {w.shape} with group {a.group} "
                         f"expects {w.shape[1] * a.group}")
    if isinstance(w.shape[0], int) and w.shape[0] % a.group:
        raise ShapeError(f"Conv output channels {w.shape[0]} are not divisible by group {a.group}")
    if len(types) > 2 and types[2].shape != (w.shape[0],):
        raise ShapeError(f"Conv bias must have shape ({w.shape[0]},), got {types[2]}")
    return [x.with_shape((x.shape[0], w.shape[0], *_pinned(attrs, a.spatial(x.shape[2:]))))]


def weight_grad(b, x, gy, kernel, strides, pads, dilations, group, what="Conv"):
    """dW (O, C/group, *kernel) of ``y = Conv(x, W)`` from x (N, C, *H) and dY (N, O, *Ho):
    dW[o, c, j] = sum_{n,i} dY[n, o, i] x[n, c, i*s + j*d], by the rule measured fastest for the shape
    (see _dense_weight_grad); grouped convs take the batch <-> channel swap Conv."""
    if (group == 1 and all(s == 1 for s in strides) and b.type(gy).shape[1] < b.type(x).shape[1]
            and not _narrow(b, x, gy)):
        return _shifted_dy_weight_grad(b, x, gy, kernel, pads, dilations)
    if group == 1:  # needs no remainder, so any stride works over spatial dims of unknown size too
        return _dense_weight_grad(b, x, gy, kernel, strides, pads, dilations)
    return _batch_swap_weight_grad(b, x, gy, kernel, strides, pads, dilations, group, what)


def _batch_swap_weight_grad(b, x, gy, kernel, strides, pads, dilations, group=1, what="Conv"):
    """dW as one Conv of x^T (batch C/group, channels group*N) with dY^T (O, N, *Ho) as its kernel,
    strides and dilations exchanged; static spatial dims only (the remainder r must be known)."""
    nd = len(kernel)
    xt, gt = b.type(x), b.type(gy)
    dims = xt.shape[2:]
    a = _Attrs({"strides": strides, "dilations": dilations, "pads": pads}, nd, kernel)
    r = a.remainders(dims, pads, what)
    end = []
    for i, h in enumerate(dims):
        pe = pads[nd + i]
        if pe - r[i] < 0:  # the rows past the last window do not touch W: slice them off
            x = b.Slice(x, starts=(0,), ends=(h - (r[i] - pe),), axes=(2 + i,))
        end.append(max(pe - r[i], 0))
    conv_attrs = dict(strides=tuple(dilations), dilations=tuple(strides), pads=tuple(pads[:nd]) + tuple(end),
                      group=group, _spatial=tuple(kernel))
    hs, hos = b.type(x).shape[2:], gt.shape[2:]
    if not all(isinstance(d, int) for d in (*hs, *hos)):
        raise NotImplementedError(f"gradient of a grouped {what} over a spatial dim of unknown size")
    c, o = xt.shape[1], gt.shape[1]
    sp = tuple(range(3, 3 + nd))
    # x (N, C, H) -> (C/g, g*N, H): batch = channel within group, channels = (group, sample)
    xs = b.Reshape(b.Transpose(b.Reshape(x, shape=(0, group, c // group, *hs)), perm=(2, 1, 0, *sp)),
                   shape=(c // group, -1, *hs))
    # dY (N, O, Ho) -> (O, N, Ho), grouped so that group g's output channels read group g's samples
    ks = b.Reshape(b.Transpose(b.Reshape(gy, shape=(0, group, o // group, *hos)), perm=(1, 2, 0, *sp)),
                   shape=(o, -1, *hos))
    return _swap01(b, b.Conv(xs, ks, **conv_attrs))


def _pad_spatial(b, x, pads):
    nd = len(pads) // 2
    return b.Pad(x, pads=(0, 0, *pads[:nd], 0, 0, *pads[nd:])) if any(pads) else x


def _window_slices(b, x, kernel, strides, dilations, first_axis: int):
    """One strided Slice per kernel offset over the spatial axes starting at ``first_axis``: the
    input element each output position reads at that offset (im2col's columns, tap-major).

    A generator: each Slice is emitted only when the caller asks for it, so each tap's columns have
    one reader, that tap's product; onnxruntime runs a node right after the inputs it needs (a
    depth-first order, fgc/runtime/schedule.py) and reuses a buffer once its last reader ran, so it
    holds one tap's columns at a time, not all taps'."""
    import itertools

    from .shape_ops import INT_MAX

    axes = tuple(range(first_axis, first_axis + len(kernel)))
    if all(k == 1 for k in kernel) and all(s == 1 for s in strides):
        yield x   # a 1x1 kernel at stride 1 reads every position: a Slice would only copy the input
        return
    for offset in itertools.product(*(range(k) for k in kernel)):
        # window position j*d, then every stride up to where the last window starts for this offset
        ends = tuple(-(k - 1 - j) * d if k - 1 - j else INT_MAX for j, k, d in zip(offset, kernel, dilations))
        yield b.Slice(x, starts=tuple(j * d for j, d in zip(offset, dilations)), ends=ends, axes=axes,
                      steps=tuple(strides))


def _tap_major_to_kernel(b, dw, outs, channels, kernel):
    """(O, taps*C) with tap-major columns -> the kernel layout (O, C, *kernel)."""
    dw = b.Transpose(b.Reshape(dw, shape=(outs, -1, channels)), perm=(0, 2, 1))
    return b.Reshape(dw, shape=(outs, channels, *kernel))


def _im2col_weight_grad(b, x, gy, kernel, strides, pads, dilations):
    """dW[o, c, j] = sum_{n,i} dY[n, o, i] * Xpad[n, c, i*s + j*d], one kernel tap j at a time:
    per tap, one product per sample (N, O, P) x (N, P, C) summed over N into (O, C).

    The taps' columns are never concatenated (a full im2col is taps x the input: 9 x 4 MB per
    sample for a 3x3 conv on a 32x32x64 map, the bulk of resnet_block's training memory); measured
    on that shape at batch 64: 43 instead of 613 MB extra, at the same speed (108 vs 108-150 ms)."""
    x = _pad_spatial(b, x, pads)
    channels, outs = b.type(x).shape[1], b.type(gy).shape[1]
    dy = b.Reshape(gy, shape=(0, 0, -1))                                       # (N, O, P)
    per_tap = []
    for piece in _window_slices(b, x, kernel, strides, dilations, first_axis=2):
        cols = b.Reshape(piece, shape=(0, channels, -1))                        # (N, C, P)
        # onnxruntime folds the last-two-axes Transpose into the MatMul: no copy of the columns
        per_sample = b.MatMul(dy, b.Transpose(cols, perm=(0, 2, 1)))           # (N, O, C)
        per_tap.append(b.ReduceSum(per_sample, axes=(0,), keepdims=0))
    dw = b.Concat(*per_tap, axis=1) if len(per_tap) > 1 else per_tap[0]        # (O, taps*C)
    return _tap_major_to_kernel(b, dw, outs, channels, kernel)


SMALL_CHANNELS = 32   # at most this many input or output channels: dW takes the one-product rule


def _narrow(b, x, gy) -> bool:
    """Few input or output channels (both static): per-sample or per-tap products (O, P) x (P, C)
    would be too thin for the GEMM, while one product over all samples has K = N*P."""
    c, o = b.type(x).shape[1], b.type(gy).shape[1]
    return isinstance(c, int) and isinstance(o, int) and min(c, o) <= SMALL_CHANNELS


def _dense_weight_grad(b, x, gy, kernel, strides, pads, dilations):
    """Which per-tap rule, from interleaved timings of each rule on the seed models' conv shapes (ms, one
    onnxruntime thread, median of 9; N 32 for resnet_block / inception, 16 for the U-Net, 64 for
    three_heads' Conv1Ds):
    - stride > 1: one product over all samples; slicing channels-last copies whole C-vectors, strided
      NCHW slices gather single floats (inception 3x3/2 C128: 39 vs 57 per sample). For a 1x1 kernel
      per sample is 0.3-0.4 ms faster (resnet's and inception's 1x1/2) but raised resnet_block's peak
      RSS in fit at batch 64 by 36 MB (606 -> 642), so the one product stays;
    - a 1x1 kernel at stride 1: per sample on the input itself, no copy at all (inception's 1x1 C64
      O128: 5.9 vs 6.9 with the Slice copy it had; the U-Net's 1x1 C8 O1: 0.03 vs 0.07 for one product);
    - few channels (``_narrow``, min(C, O) <= 32): one product (U-Net 3x3 C16 O16 16x16: 0.62 vs 1.21 for
      the whole im2col it had; C32 O32 8x8: 0.37 vs 0.65 per sample; C32 O16: 1.14 vs 1.77 for shifted dY);
    - fewer positions P than output channels: one product (the per-sample (N, O, C) sums would be
      bigger than the columns; three_heads' deep Conv1Ds: P 10-95, O 256);
    - otherwise one product per sample (resnet 3x3 C64 32x32: 36.5 vs 41.8; inception 3x3 C128: 145 vs 164).
    With P unknown at compile time (a sequence of any length) an If picks between the last two at
    run time. The batch <-> channel swap Conv (``_batch_swap_weight_grad``) lost on every shape (2-8x)."""
    from fgc.ir import Graph

    from .builder import Builder

    args = (kernel, strides, pads, dilations)
    outs, positions = b.type(gy).shape[1], product(b.type(gy).shape[2:])
    if any(s > 1 for s in strides):
        return _one_gemm_weight_grad(b, x, gy, *args)
    if all(k == 1 for k in kernel):
        return _im2col_weight_grad(b, x, gy, *args)
    if _narrow(b, x, gy):
        return _one_gemm_weight_grad(b, x, gy, *args)
    if isinstance(positions, int):
        return (_one_gemm_weight_grad if positions < outs else _im2col_weight_grad)(b, x, gy, *args)
    bodies = []
    for rule in (_one_gemm_weight_grad, _im2col_weight_grad):
        g = Graph(rule.__name__.strip("_"))
        ins = [g.add_input(f"in{i}", b.type(v)) for i, v in enumerate((x, gy))]
        g.outputs, g.output_names = [rule(Builder(g, b.prefix, b.layer), *ins, *args)], ["dw"]
        bodies.append(g)
    return b.If(b.SizeBelow(gy, start=2, limit=outs), x, gy, then_body=bodies[0], else_body=bodies[1])


def _one_gemm_weight_grad(b, x, gy, kernel, strides, pads, dilations):
    """Per kernel tap, dW_j (O, C) = dY (O, N*P) @ cols_j (N*P, C): the input made channels-last
    once, so that samples and positions are one axis in both operands; one tap's columns at a time."""
    nd = len(kernel)
    channels, outs = b.type(x).shape[1], b.type(gy).shape[1]
    # made channels-last before the padding: where x is a layer's input transposed from channels-last,
    # the two Transposes cancel and no copy is made
    xl = b.Transpose(x, perm=(0, *range(2, 2 + nd), 1))                       # (N, *H, C)
    if any(pads):
        xl = b.Pad(xl, pads=(0, *pads[:nd], 0, 0, *pads[nd:], 0))
    dy = b.Reshape(b.Transpose(gy, perm=(1, 0, *range(2, 2 + nd))), shape=(outs, -1))
    per_tap = [b.MatMul(dy, b.Reshape(piece, shape=(-1, channels)))
               for piece in _window_slices(b, xl, kernel, strides, dilations, first_axis=1)]
    dw = b.Concat(*per_tap, axis=1) if len(per_tap) > 1 else per_tap[0]        # (O, taps*C)
    return _tap_major_to_kernel(b, dw, outs, channels, kernel)


def _shifted_dy_weight_grad(b, x, gy, kernel, pads, dilations):
    """Stride 1, fewer output than input channels: dW[o, c, j] = sum_{n,u} dY_j[n, o, u] Xpad[n, c, u]
    with dY_j = dY padded j*d in front, so the copies are of dY (O channels) instead of X (C channels).
    On seed 000's first Conv1D (C 256, O 128) 70 instead of 80 ms at 2 threads. One tap at a time."""
    import itertools

    x = _pad_spatial(b, x, pads)
    channels, outs = b.type(x).shape[1], b.type(gy).shape[1]
    xt = b.Transpose(b.Reshape(x, shape=(0, channels, -1)), perm=(0, 2, 1))   # (N, Hpad, C)
    per_tap = []
    for offset in itertools.product(*(range(k) for k in kernel)):
        front = tuple(j * d for j, d in zip(offset, dilations))
        back = tuple((k - 1 - j) * d for j, k, d in zip(offset, kernel, dilations))
        shifted = b.Reshape(_pad_spatial(b, gy, front + back), shape=(0, outs, -1))   # (N, O, Hpad)
        per_tap.append(b.ReduceSum(b.MatMul(shifted, xt), axes=(0,), keepdims=0))    # (O, C)
    dw = b.Concat(*per_tap, axis=1) if len(per_tap) > 1 else per_tap[0]        # (O, taps*C)
    return _tap_major_to_kernel(b, dw, outs, channels, kernel)


def _conv_vjp(b, n, gs):
    g = gs[0]
    x, w = n.inputs[0], n.inputs[1]
    xt, wt = n.in_types[0], n.in_types[1]
    a = _Attrs(n.attrs, xt.rank - 2, wt.shape[2:])
    if not all(isinstance(k, int) for k in a.k):
        raise NotImplementedError("gradient of a Conv whose kernel has a spatial dim of unknown size")
    pads = a.explicit_pads(xt.shape[2:], "Conv")
    nd = len(a.k)
    full = [dd * (k - 1) for k, dd in zip(a.k, a.d)]
    if all(st == 1 for st in a.s) and a.group == 1 and all(f >= p for f, p in zip(full * 2, pads)):
        # stride 1: dX is a plain Conv of dY with the kernel flipped and in/out swapped ("full" padding
        # minus the forward pads); onnxruntime's Conv is far faster than its ConvTranspose here.
        flipped = b.Transpose(w, perm=(1, 0, *range(2, 2 + nd)))
        flipped = b.Slice(flipped, starts=(-1,) * nd, ends=(-(2 ** 62),) * nd, axes=tuple(range(2, 2 + nd)),
                          steps=(-1,) * nd)
        back_pads = tuple(f - p for f, p in zip(full * 2, pads))
        dx = b.Conv(g, flipped, strides=a.s, pads=back_pads, dilations=a.d, group=1, _spatial=tuple(xt.shape[2:]))
    else:
        r = a.remainders(xt.shape[2:], pads, "Conv")
        dx = b.ConvTranspose(g, w, strides=a.s, pads=pads, dilations=a.d, group=a.group, output_padding=r,
                             _spatial=tuple(xt.shape[2:]))
    return _with_bias_grad(b, n, g, [dx, weight_grad(b, x, g, a.k, a.s, pads, a.d, a.group)])


def _with_bias_grad(b, n, g, grads):
    """Append dB = ReduceSum(dY) over batch and space when the op has a bias input."""
    if len(n.inputs) > 2:
        grads.append(b.ReduceSum(g, axes=(0, *range(2, b.type(g).rank)), keepdims=0))
    return grads


primitive("Conv", _conv_infer, _conv_vjp)


# ---------------------------------------------------------------- ConvTranspose
def _conv_transpose_infer(types, attrs):
    x, w = types[0], types[1]
    _check_input(x, "ConvTranspose")
    if w.rank != x.rank or w.dtype != x.dtype:
        raise ShapeError(f"ConvTranspose kernel {w} does not fit input {x}")
    nd = x.rank - 2
    a = _Attrs({k: v for k, v in attrs.items() if k != "output_padding"}, nd, w.shape[2:])
    if a.auto_pad != "NOTSET":
        raise ShapeError("ConvTranspose takes explicit pads here")
    if not dims_compatible(x.shape[1], w.shape[0]):
        raise ShapeError(f"ConvTranspose input has {x.shape[1]} channels, the kernel {w.shape} expects {w.shape[0]}")
    op = tuple(attrs.get("output_padding") or (0,) * nd)
    spatial = []
    for i, h in enumerate(x.shape[2:]):
        k = a.k[i]
        if isinstance(h, int) and isinstance(k, int):
            spatial.append((h - 1) * a.s[i] + op[i] + (k - 1) * a.d[i] + 1 - a.pads[i] - a.pads[nd + i])
        else:
            spatial.append(fresh_symbol("S"))
    cout = product([w.shape[1], a.group])
    if len(types) > 2 and not dims_compatible(types[2].shape[0], cout):
        raise ShapeError(f"ConvTranspose bias must have shape ({cout},), got {types[2]}")
    return [x.with_shape((x.shape[0], cout, *_pinned(attrs, spatial)))]


def _conv_transpose_vjp(b, n, gs):
    # y = ConvTranspose(x, W) is the adjoint of Conv(., W): dX = Conv(dY, W); dW by the same swap trick
    # with dY in the role of the conv's input and x in the role of its output gradient.
    g = gs[0]
    x, w = n.inputs[0], n.inputs[1]
    xt, wt = n.in_types[0], n.in_types[1]
    nd = xt.rank - 2
    a = _Attrs({k: v for k, v in n.attrs.items() if k in ("strides", "pads", "dilations", "group")}, nd, wt.shape[2:])
    if not all(isinstance(k, int) for k in a.k):
        raise NotImplementedError("gradient of a ConvTranspose whose kernel has a spatial dim of unknown size")
    dx = b.Conv(g, w, strides=a.s, pads=a.pads, dilations=a.d, group=a.group, _spatial=tuple(xt.shape[2:]))
    return _with_bias_grad(b, n, g, [dx, weight_grad(b, g, x, a.k, a.s, a.pads, a.d, a.group, what="ConvTranspose")])


primitive("ConvTranspose", _conv_transpose_infer, _conv_transpose_vjp)


# ---------------------------------------------------------------- pooling
def _pool_attrs(attrs, nd):
    if attrs.get("ceil_mode"):
        raise ShapeError("ceil_mode is not supported")
    if "kernel_shape" not in attrs:
        raise ShapeError("pooling needs kernel_shape")
    return _Attrs(attrs, nd)


def _max_pool_infer(types, attrs):
    x = types[0]
    _check_input(x, "MaxPool")
    a = _pool_attrs(attrs, x.rank - 2)
    y = x.with_shape((x.shape[0], x.shape[1], *_pinned(attrs, a.spatial(x.shape[2:]))))
    return [y, y.with_dtype("int64")] if attrs.get("_indices") else [y]


UNPOOL = True   # False: every MaxPool gradient scatters with ScatterElements (the A/B and tests switch it)
TILED = True    # False: tiling windows take the Indices forms too (the A/B and tests switch it)


def _windows_apart(a: _Attrs, pads) -> bool:
    """No two windows share an input (kernel <= stride, no dilation) and no padding: each input element is
    the maximum of at most one window, so scattering dY needs no additions."""
    return (all(k <= s for k, s in zip(a.k, a.s)) and all(d == 1 for d in a.d) and not any(pads)
            and a.auto_pad in ("NOTSET", "VALID"))


def _unpool_runs_on_the_device() -> bool:
    """onnxruntime's CUDA provider has no MaxUnpool kernel: a CUDA step would run it on the CPU and copy dY, the
    indices and the gradient across. Where models run on CUDA (fgc's device now), the scatter form stays."""
    from fgc.runtime.session import get_device

    return get_device() != "cuda"


def _max_pool_vjp(b, n, gs):
    # Indices are offsets into the whole flattened input (batch and channels included, padding not).
    x = n.inputs[0]
    a = _pool_attrs(n.attrs, n.in_types[0].rank - 2)
    if TILED and _windows_tile(a, n.in_types[0]) and not n.attrs.get("storage_order"):
        return [_tiled_max_pool_grad(b, n, a, gs[0])]
    if len(n.outputs) > 1:
        idx = n.outputs[1]
    else:
        attrs = {**n.attrs, "_indices": 1, "_spatial": tuple(n.out_types[0].shape[2:])}
        idx = b.MaxPool(x, **attrs)[1]
    from .shape_ops import accumulation_dtype

    dtype = n.in_types[0].dtype
    if (UNPOOL and dtype == "float32" and not n.attrs.get("storage_order") and _windows_apart(a, a.pads)
            and _unpool_runs_on_the_device()):
        # windows apart (the U-Net's 2x2 / 2): MaxUnpool writes dY at the indices into zeros, what the
        # scatter-add below computes, in one node (16x8x32x32: 0.05 vs 0.16 ms, one thread)
        return [b.MaxUnpoolLike(gs[0], idx, x, kernel_shape=a.k, strides=a.s)]
    acc = accumulation_dtype(dtype)
    flat = b.Reshape(x, shape=(-1,))
    flat = flat if acc == dtype else b.Cast(flat, to=acc)
    dy = b.Reshape(gs[0], shape=(-1,))
    dy = dy if acc == dtype else b.Cast(dy, to=acc)
    grad = b.ScatterElements(b.ZerosLike(flat), b.Reshape(idx, shape=(-1,)), dy, axis=0, reduction="add")
    grad = grad if acc == dtype else b.Cast(grad, to=dtype)
    return [b.ReshapeLike(grad, x)]


primitive("MaxPool", _max_pool_infer, _max_pool_vjp)


def _windows_tile(a: _Attrs, x: TensorType) -> bool:
    """2x2 windows side by side, MaxPooling2D(2)'s: kernel == stride == (2, 2), no dilation or padding (a
    remainder row or column past the last window gets no gradient), float32. onnxruntime's Resize has a fast
    kernel for exactly this upsampling (4-D, 2x2); others run 6-20x slower per element (a 1-D x5 of
    three_heads' (64, 128, 99): 4.7 ms; 3x3: 5.7 ms against 0.37 ms for 2x2 on (32, 64, 16, 16)), and there
    this form measured no faster than the Indices (three_heads' step 1.04x)."""
    return (x.dtype == "float32" and a.k == a.s == (2, 2) and all(d == 1 for d in a.d) and not any(a.pads)
            and a.auto_pad in ("NOTSET", "VALID"))


def _tiled_max_pool_grad(b, n, a: _Attrs, dy):
    """dX of a MaxPool whose windows tile x, without its Indices: dY goes to each window's first maximum in
    row-major order, the element Keras (TensorFlow's and JAX's max-pool gradients) and PyTorch pick on ties
    (a window of ReLU zeros, a flat patch of an image). One node, TiledMaxPoolGrad(x, y, dY); its ONNX:

        first   = (x == up(y)) * rank      rank: 1 .. window size, larger for earlier elements of a window
        chosen  = first == up(MaxPool(first))
        dX      = chosen * up(dY)          up: nearest upsampling by the kernel (Resize, integer scales)

    onnxruntime computes MaxPool's Indices in a scalar loop with a data-dependent branch per element, ~5 ns
    per input element; these ops are vectorized: (32, 64, 32, 32), 2x2 / 2 at 1 thread (resnet_block),
    MaxPool with Indices + MaxUnpool 10.1-10.6 ms, this 5.9-6.4 ms; the U-Net's (16, 8, 32, 32) 0.64-0.69
    against 0.29-0.34 ms. A window whose maximum is NaN gives dY to all of its elements. Where the windows
    leave a remainder (an odd size), x is sliced to the windows and dX padded back with zeros; sizes unknown
    until run time are read from the tensors' shapes."""
    return b.TiledMaxPoolGrad(n.inputs[0], n.outputs[0], dy, kernel_shape=a.k)


def _tiled_grad_infer(types, attrs):
    x, y, dy = types
    if not (x.rank == y.rank == dy.rank == len(attrs["kernel_shape"]) + 2):
        raise ShapeError(f"TiledMaxPoolGrad needs x, y and dY of rank {len(attrs['kernel_shape']) + 2}, got {types}")
    return [x]


def _tiled_grad_emit(e, n, ins, outs):
    x, y, dy = ins
    k = tuple(n.attrs["kernel_shape"])
    full = n.in_types[0].shape[2:]
    axes = list(range(2, 2 + len(k)))
    static = all(isinstance(d, int) for d in full)
    if static:
        tiled = [d - d % w for d, w in zip(full, k)]
        ends = e.const(np.array(tiled, np.int64))
        position = np.indices(tiled)
    else:   # the windowed sizes, pooled size * kernel, at run time
        pooled_sizes = e.node("Shape", [y], [e.fresh("pooled")], start=2)[0]
        ends = e.node("Mul", [pooled_sizes, e.const(np.array(k, np.int64))], [e.fresh("ends")])[0]
        position = np.indices(k)
    remainder = not static or tiled != list(full)
    if remainder:
        zeros = e.const(np.zeros(len(k), np.int64))
        x = e.node("Slice", [x, zeros, ends, e.const(np.array(axes, np.int64))], [e.fresh("windows")])[0]
    # a window's elements in row-major order 0 .. K-1, as K .. 1
    order = sum((position[i] % w) * int(np.prod(k[i + 1:])) for i, w in enumerate(k))
    rank = (int(np.prod(k)) - order).astype(np.float32).reshape((1, 1, *order.shape))
    if static:
        rank = e.const(rank)
    else:
        repeats = e.node("Concat", [e.const(np.ones(2, np.int64)), pooled_sizes], [e.fresh("repeats")], axis=0)[0]
        rank = e.node("Tile", [e.const(rank), repeats], [e.fresh("rank")])[0]
    scales = e.const(np.array((1, 1, *k), np.float32))

    def up(v):
        # asymmetric + floor: onnxruntime's fast path for integer scales (0.32 ms for a 2x2 upsampling of a
        # (32, 64, 16, 16) map, against 2.4 ms with the default half_pixel + round_prefer_floor, same values)
        return e.node("Resize", [v, "", scales], [e.fresh("up")], mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")[0]

    def mask(a, b):
        hit = e.node("Equal", [a, b], [e.fresh("hit")])[0]
        return e.node("Cast", [hit], [e.fresh("mask")], to=1)[0]   # 1: float32

    first = e.node("Mul", [mask(x, up(y)), rank], [e.fresh("first")])[0]
    best = e.node("MaxPool", [first], [e.fresh("best")], kernel_shape=list(k), strides=list(k))[0]
    chosen = mask(first, up(best))
    if not remainder:
        e.node("Mul", [chosen, up(dy)], outs)
        return
    dx = e.node("Mul", [chosen, up(dy)], [e.fresh("dx")])[0]
    tail = e.const(np.array([d - t for d, t in zip(full, tiled)], np.int64)) if static else \
        e.node("Sub", [e.node("Shape", [ins[0]], [e.fresh("full")], start=2)[0], ends], [e.fresh("tail")])[0]
    pads = e.node("Concat", [e.const(np.zeros(2 + len(k) + 2, np.int64)), tail], [e.fresh("pads")], axis=0)[0]
    e.node("Pad", [dx, pads], outs)


# TiledMaxPoolGrad(x, y, dY): the gradient of y = MaxPool(x) with kernel == stride (_tiled_max_pool_grad)
primitive("TiledMaxPoolGrad", _tiled_grad_infer, nondiff="a MaxPool gradient, made by autodiff", emit=_tiled_grad_emit)


def _max_unpool_infer(types, attrs):
    dy, idx, like = types
    if idx.dtype != "int64" or dy.rank != like.rank:
        raise ShapeError(f"MaxUnpoolLike needs int64 indices and dY of the input's rank, got {dy}, {idx}, {like}")
    return [like.with_dtype(dy.dtype)]


def _max_unpool_emit(e, n, ins, outs):
    shape = e.node("Shape", [ins[2]], [e.fresh("shape")])[0]
    e.node("MaxUnpool", [ins[0], ins[1], shape], outs, kernel_shape=list(n.attrs["kernel_shape"]),
           strides=list(n.attrs["strides"]))


# MaxUnpoolLike(dy, indices, x): ONNX MaxUnpool of dy at MaxPool's indices into zeros shaped like x (x's shape
# is the output_shape input, so a remainder row past the last window is kept)
primitive("MaxUnpoolLike", _max_unpool_infer, nondiff="a MaxPool gradient, made by autodiff", emit=_max_unpool_emit)


def _avg_pool_infer(types, attrs):
    x = types[0]
    _check_input(x, "AveragePool")
    a = _pool_attrs(attrs, x.rank - 2)
    return [x.with_shape((x.shape[0], x.shape[1], *_pinned(attrs, a.spatial(x.shape[2:]))))]


def window_counts(dims, a: _Attrs, pads):
    """Elements of each window inside the unpadded input, shape (1, 1, *out) (static dims only)."""
    counts = []
    for i, h in enumerate(dims):
        k, s, pb = a.k[i], a.s[i], pads[i]
        n_out = out_dim(h, k, s, 1, pb, pads[a.nd + i])
        starts = np.arange(n_out) * s - pb
        counts.append(np.minimum(starts + k, h) - np.maximum(starts, 0))
    grid = np.ones((), np.float64)
    for c in counts:
        grid = np.multiply.outer(grid, c)
    return grid.reshape((1, 1, *grid.shape))


def _avg_pool_vjp(b, n, gs):
    x, g = n.inputs[0], gs[0]
    xt = n.in_types[0]
    nd = xt.rank - 2
    a = _pool_attrs(n.attrs, nd)
    dims = xt.shape[2:]
    if not isinstance(xt.shape[1], int):
        raise NotImplementedError("gradient of AveragePool over an unknown number of channels")
    pads = a.explicit_pads(dims, "AveragePool")
    r = a.remainders(dims, pads, "AveragePool")
    size = float(np.prod(a.k))
    if n.attrs.get("count_include_pad", 0) or not any(pads):
        scaled = b.Mul(g, 1.0 / size)
    elif all(isinstance(h, int) for h in dims):
        inv = (1.0 / window_counts(dims, a, pads)).astype(numpy_dtype(xt.dtype))
        scaled = b.Mul(g, b.const(inv, xt.dtype))
    else:  # the counts at run time: average of ones with the padding counted = count / size
        one = b.Add(b.ZerosLike(b.Slice(x, starts=(0,), ends=(1,), axes=(1,))), 1.0)
        frac = b.AveragePool(one, kernel_shape=a.k, strides=a.s, pads=pads, count_include_pad=1,
                             _spatial=tuple(n.out_types[0].shape[2:]))
        scaled = b.Div(g, b.Mul(frac, size))
    ones = b.const(np.ones((xt.shape[1], 1, *a.k)), xt.dtype)
    return [b.ConvTranspose(scaled, ones, strides=a.s, pads=pads, group=xt.shape[1], output_padding=r,
                            _spatial=tuple(dims))]


primitive("AveragePool", _avg_pool_infer, _avg_pool_vjp)


# ---------------------------------------------------------------- fold / unfold a time axis into the batch
def _fold_infer(types, attrs):
    x = types[0]
    if x.rank < 2:
        raise ShapeError(f"FoldTime needs rank >= 2, got {x}")
    return [x.with_shape((product(x.shape[:2]), *x.shape[2:]))]


def _fold_emit(e, n, ins, outs):
    rest = n.in_types[0].shape[2:]
    if all(isinstance(d, int) for d in rest):
        e.node("Reshape", [ins[0], e.const(np.array([-1, *rest], np.int64))], outs)
        return
    tail = e.node("Shape", [ins[0]], [e.fresh("shape")], start=2)[0]
    target = e.node("Concat", [e.const(np.array([-1], np.int64)), tail], [e.fresh("target")], axis=0)[0]
    e.node("Reshape", [ins[0], target], outs)


def _unfold_infer(types, attrs):
    y, like = types
    if like.rank < 2 or y.rank < 1:
        raise ShapeError(f"UnfoldTimeLike needs y of rank >= 1 and like of rank >= 2, got {y} and {like}")
    return [y.with_shape((like.shape[0], like.shape[1], *y.shape[1:]))]


def _unfold_emit(e, n, ins, outs):
    t, rest = n.in_types[1].shape[1], n.in_types[0].shape[1:]
    if isinstance(t, int) and all(isinstance(d, int) for d in rest):
        e.node("Reshape", [ins[0], e.const(np.array([-1, t, *rest], np.int64))], outs)
        return
    head = e.node("Shape", [ins[1]], [e.fresh("shape")], start=0, end=2)[0]
    tail = e.node("Shape", [ins[0]], [e.fresh("shape")], start=1)[0]
    target = e.node("Concat", [head, tail], [e.fresh("target")], axis=0)[0]
    e.node("Reshape", [ins[0], target], outs)


primitive("FoldTime", _fold_infer, lambda b, n, gs: [b.UnfoldTimeLike(gs[0], n.inputs[0])], emit=_fold_emit)
primitive("UnfoldTimeLike", _unfold_infer, lambda b, n, gs: [b.FoldTime(gs[0]), None], emit=_unfold_emit)
