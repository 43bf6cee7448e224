"""Scan (a loop over the leading axis with a primitive body), Split and BatchFill.

A Scan node's inputs are ``states..., scanned..., closures...``; its ``body`` (an IR Graph)
takes the same values, one time step of the scanned ones, and returns ``new states...,
per-step outputs...``. With ``save_states`` the forward Scan also stacks the states each step
started from, which is what its gradient needs.

The gradient of a Scan is another Scan, running the other way, whose body is the forward body
(recomputed from the saved states) followed by that body's vjp, built by the same autodiff
algorithm. It carries the state cotangents and accumulates the closures' gradients.
"""
from __future__ import annotations

from fgc.ir import Graph, TensorType, Value
from fgc.ir.types import ShapeError, is_float, normalize_axis

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
    return result


def inline(dst: Graph, src: Graph, inputs: list[Value], prefix: str) -> list[Value]:
    """Copy ``src``'s nodes into ``dst`` reading ``inputs`` for src's inputs; returns its outputs there."""
    mapping = dict(zip(src.inputs, inputs))
    for name in src.topo_order():
        d = src.node(name)
        if d["op"] == "input":
            continue
        new = dst.add_node(f"{prefix}{name}", d["op"], [mapping[v] for v in d["inputs"]], d["outputs"],
                           d["attrs"], d["layer"])
        for i in range(len(d["outputs"])):
            mapping[Value(name, i)] = Value(new, i)
    return [mapping[v] for v in src.outputs]


def _scan_vjp(b, n, gs):
    from .autodiff import backprop
    from .builder import Builder

    body, ns, nx = n.attrs["body"], n.attrs["num_states"], n.attrs["num_scan"]
    if not n.attrs.get("save_states"):
        raise NotImplementedError("this Scan was lowered for inference (no saved states)")
    n_out = len(body.outputs) - ns
    ins = list(n.inputs)
    states0, xs, closures = ins[:ns], ins[ns:ns + nx], ins[ns + nx:]
    saved = list(n.outputs[ns + n_out:])
    diff_closures = [i for i, c in enumerate(closures) if is_float(b.type(c).dtype)]

    # Backward body: (dstate..., dclosure_acc..., saved state_t..., x_t..., dy_t..., closures...)
    g = Graph(f"{n.name}_grad_body")
    d_states = [g.add_input(f"d_state{i}", body.type_of(body.inputs[i])) for i in range(ns)]
    d_acc = [g.add_input(f"d_closure{i}", b.type(closures[i])) for i in diff_closures]
    s_prev = [g.add_input(f"state{i}", body.type_of(body.inputs[i])) for i in range(ns)]
    x_t = [g.add_input(f"x{i}", body.type_of(body.inputs[ns + i])) for i in range(nx)]
    dy_t = [g.add_input(f"dy{i}", body.type_of(body.outputs[ns + i])) for i in range(n_out)]
    inner_closures = [g.add_input(f"closure{i}", b.type(c)) for i, c in enumerate(closures)]
    outs = inline(g, body, s_prev + x_t + inner_closures, "fwd/")
    wrt = s_prev + x_t + [inner_closures[i] for i in diff_closures]
    cots = backprop(g, outs, d_states + dy_t, wrt)
    gb = Builder(g, "bwd")
    zeros = [c if c is not None else gb.ZerosLike(v) for c, v in zip(cots, wrt)]
    d_prev, d_x, d_c = zeros[:ns], zeros[ns:ns + nx], zeros[ns + nx:]
    new_acc = [gb.Add(a, c) for a, c in zip(d_acc, d_c)]
    g.outputs = d_prev + new_acc + d_x
    g.output_names = [f"out{i}" for i in range(len(g.outputs))]

    # Outer reverse Scan: zeros where no cotangent reached an output.
    final_cots = [gs[i] if gs[i] is not None else b.ZerosLike(n.outputs[i]) for i in range(ns)]
    y_cots = [gs[ns + i] if gs[ns + i] is not None else b.ZerosLike(n.outputs[ns + i]) for i in range(n_out)]
    acc0 = [b.ZerosLike(closures[i]) for i in diff_closures]
    dirs = n.attrs.get("directions") or (0,) * nx
    out_dirs = n.attrs.get("out_directions") or (0,) * n_out
    back = b.Scan(*final_cots, *acc0, *saved, *xs, *y_cots, *closures, body=g,
                  num_states=ns + len(diff_closures), num_scan=ns + nx + n_out,
                  directions=(1,) * ns + tuple(1 - d for d in dirs) + tuple(1 - d for d in out_dirs),
                  out_directions=tuple(1 - d for d in dirs))
    back = list(back) if isinstance(back, tuple) else [back]
    d_states0 = back[:ns]
    d_closures = dict(zip(diff_closures, back[ns:ns + len(diff_closures)]))
    d_xs = back[ns + len(diff_closures):]
    return d_states0 + d_xs + [d_closures.get(i) for i in range(len(closures))]


def _scan_emit(e, n, ins, outs):
    from fgc.export.onnx import subgraph

    body, ns, nx = n.attrs["body"], n.attrs["num_states"], n.attrs["num_scan"]
    n_out = len(body.outputs) - ns
    closure_inputs = body.inputs[ns + nx:]
    bound = dict(zip(closure_inputs, ins[ns + nx:]))
    names = [f"{outs[0]}/in{i}" for i in range(ns + nx)]
    if n.attrs.get("save_states"):
        # Stack each step's starting states: the body passes its state inputs through as extra outputs.
        g = Graph(body.name)
        g.nx, g.inputs, g.params = body.nx, body.inputs, body.params
        g.outputs = list(body.outputs) + list(body.inputs[:ns])
        g.output_names = list(body.output_names) + [f"saved{i}" for i in range(ns)]
        body = g
    proto = subgraph(body, bound, f"{outs[0]}/", names)
    dirs = list(n.attrs.get("directions") or (0,) * nx)
    out_dirs = list(n.attrs.get("out_directions") or (0,) * n_out) + ([0] * ns if n.attrs.get("save_states") else [])
    e.node("Scan", ins[:ns + nx], outs, body=proto, num_scan_inputs=nx, scan_input_directions=dirs,
           scan_output_directions=out_dirs)


primitive("Scan", _scan_infer, _scan_vjp, emit=_scan_emit)


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
