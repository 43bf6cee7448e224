"""Scan (a loop over the leading axis with a primitive body), If, Split and BatchFill.

A Scan node's inputs are ``states..., scanned..., closures...``; its ``body`` (an IR Graph)
takes the same values, one time step of the scanned ones, and returns ``new states...,
per-step outputs...``. With ``save_states`` the forward Scan also stacks the states each step
started from, which is what its gradient needs.

The gradient of a Scan is another Scan, running the other way (``scan_grad.py``).

An If node's inputs are ``cond, closures...``; ``then_body`` and ``else_body`` (IR Graphs) take
the closures and return the same number of values. Gradient rules use it to pick, at run time,
between two formulations whose speed depends on a size the compiler does not know (a sequence
length), so it carries no gradient itself. ``SizeBelow(x, start, limit)`` is its usual condition:
the product of x's dims from ``start`` on is below ``limit``.
"""
from __future__ import annotations

import numpy as np

from fgc.ir import Graph, TensorType
from fgc.ir.types import ShapeError, normalize_axis

from .registry import primitive


def _scan_infer(types, attrs):
    body: Graph = attrs["body"]
    ns, nx = attrs["num_states"], attrs["num_scan"]
    steps = types[ns].shape[0]
    for t in types[ns:ns + nx]:
        if t.shape[0] != steps and isinstance(t.shape[0], int) and isinstance(steps, int):
            raise ShapeError(f"scanned inputs differ in length: {steps} vs {t.shape[0]}")
    outs = [body.type_of(v) for v in body.outputs]
    result = outs[:ns] + [t.with_shape((steps, *t.shape)) for t in outs[ns:]]
    if attrs.get("save_states"):
        result += [types[i].with_shape((steps, *types[i].shape)) for i in range(ns)]
    result += [body.type_of(v).with_shape((steps, *body.type_of(v).shape)) for v in attrs.get("saved_values", ())]
    return result


def _scan_emit(e, n, ins, outs):
    from fgc.export.onnx import subgraph

    body, ns, nx = n.attrs["body"], n.attrs["num_states"], n.attrs["num_scan"]
    n_out = len(body.outputs) - ns
    closure_inputs = body.inputs[ns + nx:]
    bound = dict(zip(closure_inputs, ins[ns + nx:]))
    names = [f"{outs[0]}/in{i}" for i in range(ns + nx)]
    extra = (list(body.inputs[:ns]) if n.attrs.get("save_states") else []) + list(n.attrs.get("saved_values", ()))
    if extra:
        # Stack each step's starting states and the saved intermediates as extra per-step outputs.
        g = Graph(body.name)
        g.nx, g.inputs, g.params = body.nx, body.inputs, body.params
        g.outputs = list(body.outputs) + extra
        g.output_names = list(body.output_names) + [f"saved{i}" for i in range(len(extra))]
        body = g
    proto = subgraph(body, bound, f"{outs[0]}/", names)
    dirs = list(n.attrs.get("directions") or (0,) * nx)
    out_dirs = list(n.attrs.get("out_directions") or (0,) * n_out) + [0] * len(extra)
    # A Scan may have no per-step outputs (an RNN returning only its last state): onnx.helper cannot
    # type an empty list attribute, and an absent one means the same.
    dir_attrs = {"scan_output_directions": out_dirs} if out_dirs else {}
    e.node("Scan", ins[:ns + nx], outs, body=proto, num_scan_inputs=nx, scan_input_directions=dirs, **dir_attrs)


def _scan_vjp(b, n, gs):
    from .scan_grad import scan_vjp

    return scan_vjp(b, n, gs)


primitive("Scan", _scan_infer, _scan_vjp, emit=_scan_emit)


def _if_infer(types, attrs):
    if types[0].dtype != "bool" or types[0].rank:
        raise ShapeError(f"If needs a bool scalar condition, got {types[0]}")
    then, other = attrs["then_body"], attrs["else_body"]
    outs = [then.type_of(v) for v in then.outputs]
    alt = [other.type_of(v) for v in other.outputs]
    if [(t.rank, t.dtype) for t in outs] != [(t.rank, t.dtype) for t in alt]:
        raise ShapeError(f"If branches disagree: {', '.join(map(str, outs))} vs {', '.join(map(str, alt))}")
    return outs


def _if_emit(e, n, ins, outs):
    from fgc.export.onnx import subgraph

    branches = {}
    for key in ("then", "else"):
        body = n.attrs[f"{key}_body"]
        # no formal inputs: ONNX branches read the closures from the enclosing scope by name
        branches[f"{key}_branch"] = subgraph(body, dict(zip(body.inputs, ins[1:])), f"{outs[0]}/{key}/", [])
    e.node("If", ins[:1], outs, **branches)


primitive("If", _if_infer, nondiff="built by gradient rules only", emit=_if_emit)


def _size_below_emit(e, n, ins, outs):
    dims = e.node("Shape", [ins[0]], [e.fresh("shape")], start=n.attrs["start"])[0]
    size = e.node("ReduceProd", [dims], [e.fresh("size")], keepdims=0)[0]
    e.node("Less", [size, e.const(np.array(n.attrs["limit"], np.int64))], outs)


primitive("SizeBelow", lambda types, attrs: [TensorType((), "bool")], nondiff="shape metadata",
          emit=_size_below_emit)


def _split_infer(types, attrs):
    x = types[0]
    axis = normalize_axis(attrs["axis"], x.rank)
    sizes = attrs["sizes"]
    if isinstance(x.shape[axis], int) and sum(sizes) != x.shape[axis]:
        raise ShapeError(f"split sizes {sizes} do not add up to dim {x.shape[axis]}")
    return [x.with_shape(x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]


def _split_vjp(b, n, gs):
    parts = [g if g is not None else b.ZerosLike(o) for g, o in zip(gs, n.outputs)]
    return [b.Concat(*parts, axis=n.attrs["axis"])]


def _split_emit(e, n, ins, outs):
    import numpy as np

    e.node("Split", [ins[0], e.const(np.array(n.attrs["sizes"], np.int64))], outs, axis=n.attrs["axis"])


primitive("Split", _split_infer, _split_vjp, emit=_split_emit)


def _batch_fill_emit(e, n, ins, outs):
    """A (batch of x, *dims) tensor filled with ``value``: the batch size is read from x at run time."""
    import numpy as np
    import onnx

    from fgc.ir.types import onnx_dtype

    shape = e.node("Shape", [ins[0]], [e.fresh("shape")], start=0, end=1)[0]
    full = e.node("Concat", [shape, e.const(np.array(n.attrs["dims"], np.int64))], [e.fresh("fshape")], axis=0)[0]
    value = onnx.helper.make_tensor("value", onnx_dtype(n.attrs["dtype"]), [1], [n.attrs.get("value", 0)])
    e.node("ConstantOfShape", [full], outs, value=value)


primitive("BatchFill", lambda types, attrs: [TensorType((types[0].shape[0], *attrs["dims"]), attrs["dtype"])],
          nondiff="constant", emit=_batch_fill_emit)


def _split_equal_infer(types, attrs):
    """``parts`` equal pieces along ``axis``. A symbolic dim must be the sum that Concat wrote for
    ``parts`` equal dims ("N+N"), so each piece gets the summand back."""
    x, parts = types[0], attrs["parts"]
    axis = normalize_axis(attrs["axis"], x.rank)
    dim = x.shape[axis]
    if isinstance(dim, int):
        if dim % parts:
            raise ShapeError(f"dim {dim} does not split into {parts} equal parts")
        piece = dim // parts
    else:
        terms = dim.split("+")
        if len(terms) != parts or len(set(terms)) != 1:
            raise ShapeError(f"dim {dim} is not a sum of {parts} equal dims")
        piece = int(terms[0]) if terms[0].isdigit() else terms[0]
    return [x.with_shape(x.shape[:axis] + (piece,) + x.shape[axis + 1:])] * parts


def _split_equal_vjp(b, n, gs):
    parts = [g if g is not None else b.ZerosLike(o) for g, o in zip(gs, n.outputs)]
    return [b.Concat(*parts, axis=n.attrs["axis"])]


def _split_equal_emit(e, n, ins, outs):
    e.node("Split", ins[:1], outs, axis=n.attrs["axis"], num_outputs=n.attrs["parts"])


# Undoes a Concat of equally long pieces (the batch halves of fused Scans, passes/fuse_scans.py)
primitive("SplitEqual", _split_equal_infer, _split_equal_vjp, emit=_split_equal_emit)


def _concat_equal_infer(types, attrs):
    if len(set(types)) != 1:
        raise ShapeError(f"ConcatEqual joins pieces of one type, got {', '.join(map(str, types))}")
    from .shape_ops import _concat_infer

    return _concat_infer(types, attrs)


# Concat of pieces of one type: its gradient is one SplitEqual, where Concat's must read the run-time
# lengths of symbolic pieces (SplitLike: Shape, Concat and Split nodes, per step inside a loop body)
primitive("ConcatEqual", _concat_equal_infer,
          lambda b, n, gs: list(b.SplitEqual(gs[0], axis=n.attrs["axis"], parts=len(n.inputs))),
          emit=lambda e, n, ins, outs: e.node("Concat", ins, outs, axis=n.attrs["axis"]))
