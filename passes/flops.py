"""FLOP count of a graph: an analysis, not a transformation (it never changes the graph).

``matmul_flops(graph, sizes)`` returns {node name: FLOPs} for the ops that do the arithmetic of a
deep-learning step: MatMul, Gemm, Conv, ConvTranspose, LSTM / GRU / RNN (2 FLOPs per multiply-add, the usual
convention for GEMM peaks), with symbolic dims resolved through ``sizes`` (e.g. {"N": 32}). A Scan
counts its body once per step of its scanned axis; an If counts its costlier branch. Elementwise
ops, reductions and data movement are not counted: they are cheap in FLOPs and what they cost is
time, which a profile shows.
"""
from __future__ import annotations

from math import prod

from fgc.ir import Graph


def _dims(shape, sizes: dict, where: str) -> tuple[int, ...]:
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
        else:   # a symbol, or a product of symbols and numbers such as "16384*N"
            out.append(prod(_factor(f.strip(), sizes, where) for f in str(d).split("*")))
    return tuple(out)


def _factor(f: str, sizes: dict, where: str) -> int:
    if f.isdigit():
        return int(f)
    if f in sizes:
        return int(sizes[f])
    raise ValueError(f"matmul_flops: dim {f!r} of {where} has no size; pass it in sizes, e.g. {{{f!r}: 32}}")


def input_sizes(graph: Graph, arrays: dict) -> dict:
    """{symbol: size} read off the graph inputs' types and the arrays fed to them (by input name)."""
    sizes = {}
    for value, name in zip(graph.inputs, graph.input_names):
        if name in arrays:
            for d, n in zip(graph.type_of(value).shape, arrays[name].shape):
                if isinstance(d, str) and "*" not in d:
                    sizes[d] = int(n)
    return sizes


def _node_flops(graph: Graph, name: str, sizes: dict) -> float:
    node = graph.node(name)
    op = node["op"]
    shapes = [_dims(graph.type_of(v).shape, sizes, f"input {i} of {name}") for i, v in enumerate(node["inputs"])]
    if op in ("MatMul", "Gemm"):
        a, b = shapes[0], shapes[1]
        a = (1, *a) if len(a) == 1 else a
        b = (*b, 1) if len(b) == 1 else b
        attrs = node["attrs"]
        m, k = (a[-1], a[-2]) if attrs.get("transA") else (a[-2], a[-1])
        n = b[-2] if attrs.get("transB") else b[-1]
        out = _dims(node["outputs"][0].shape, sizes, f"output of {name}")
        batch = prod(out[:-2]) if len(out) > 2 else 1
        return 2.0 * batch * m * k * n
    if op == "Conv":
        w, y = shapes[1], _dims(node["outputs"][0].shape, sizes, f"output of {name}")
        return 2.0 * prod(y) * prod(w[1:])              # each output: C/group * kernel multiply-adds
    if op == "ConvTranspose":
        x, w = shapes[0], shapes[1]
        return 2.0 * prod(x) * prod(w[1:])              # each input element scatters into (O/group) * kernel
    if op in ("LSTM", "GRU", "RNN"):   # every step, both directions: each gate's input and recurrent products
        x, w, r = shapes[0], shapes[1], shapes[2]   # x (T, N, I) or (N, T, I), w (D, gates*H, I), r (D, gates*H, H)
        return 2.0 * x[0] * x[1] * w[0] * w[1] * (w[2] + r[2])
    if op == "Scan":
        attrs = node["attrs"]
        steps = shapes[attrs["num_states"]][0]
        return steps * sum(matmul_flops(attrs["body"], sizes).values())
    if op == "If":   # inputs: cond, then the closures each branch takes as its inputs
        attrs = node["attrs"]
        counts = []
        for key in ("then_body", "else_body"):
            body = attrs[key]
            inner = dict(sizes)
            for v, outer in zip(body.inputs, shapes[1:]):
                for d, n in zip(body.type_of(v).shape, outer):
                    if isinstance(d, str) and "*" not in d:
                        inner[d] = n
            counts.append(sum(matmul_flops(body, inner).values()))
        return max(counts)
    return 0.0


def _resolved(shape, sizes) -> bool:
    return all(isinstance(d, int) or all(f.strip().isdigit() or f.strip() in sizes for f in str(d).split("*"))
               for d in shape)


def _bind_symbols(graph: Graph, name: str, sizes: dict) -> None:
    """Ops over dims of unknown size (a Slice or a window op over a sequence) get fresh output symbols
    (S12) that no graph input names: size them by running the op's own shape rule on the now-known
    input sizes."""
    from fgc import primitives
    from fgc.ir import TensorType

    node = graph.node(name)
    if node["op"] in ("input", "param", "constant") or all(_resolved(t.shape, sizes) for t in node["outputs"]):
        return
    try:
        types = [TensorType(_dims(graph.type_of(v).shape, sizes, name), graph.type_of(v).dtype)
                 for v in node["inputs"]]
        concrete = primitives.get(node["op"]).infer(types, node["attrs"])
    except Exception:  # noqa: BLE001 - an input still unsized, or an op whose rule needs more: left to _dims
        return
    for symbolic, known in zip(node["outputs"], concrete):
        for d, n in zip(symbolic.shape, known.shape):
            if isinstance(d, str) and "*" not in d and isinstance(n, int):
                sizes.setdefault(d, n)


def matmul_flops(graph: Graph, sizes: dict | None = None) -> dict[str, float]:
    """{node name: FLOPs} over MatMul / Gemm / Conv / ConvTranspose (Scan and If bodies included).
    ``sizes`` gains the sizes of the symbols that ops over unknown dims introduce."""
    sizes = sizes if sizes is not None else {}
    out = {}
    for name in graph.topo_order():
        _bind_symbols(graph, name, sizes)
        flops = _node_flops(graph, name, sizes)
        if flops:
            out[name] = flops
    return out
