"""Deterministic MLIR-like text form: one line per op, in topological order.

    %dense = layer.Dense(%x) {units=32} [dense/kernel f32[64,32], dense/bias f32[32]] : f32[N,32]
    %dense/MatMul = MatMul(%x, %dense/kernel) : f32[N,32]
"""
from __future__ import annotations

import numpy as np


def _value(v) -> str:
    return f"%{v.node}" if v.index == 0 else f"%{v.node}#{v.index}"


def _attr(v) -> str:
    if isinstance(v, np.ndarray):
        return f"dense<{v.tolist()}>" if v.size <= 4 else f"dense<{v.dtype}{list(v.shape)}>"
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, (tuple, list)):
        return "[" + ",".join(_attr(x) for x in v) + "]"
    return str(v) if not isinstance(v, str) else repr(v)


def op_label(d: dict) -> str:
    if d["op"] in ("layer", "model"):
        return f"{d['op']}.{type(d['layer']).__name__}"
    return d["op"]


def print_node(graph, name: str) -> str:
    d = graph.node(name)
    attrs = {k: v for k, v in d["attrs"].items() if not k.startswith("_")}
    text = f"%{name} = {op_label(d)}({', '.join(_value(v) for v in d['inputs'])})"
    if attrs:
        text += " {" + ", ".join(f"{k}={_attr(attrs[k])}" for k in sorted(attrs)) + "}"
    params = d["attrs"].get("_params")
    if params:
        text += " [" + ", ".join(f"{p} {graph.params[p].type}" for p in params) + "]"
    return text + " : " + ", ".join(str(t) for t in d["outputs"])


def print_graph(graph) -> str:
    ins = ", ".join(f"%{v.node}: {graph.type_of(v)}" for v in graph.inputs)
    lines = [f"graph @{graph.name}({ins}) {{"]
    lines += ["  " + print_node(graph, n) for n in graph.topo_order() if graph.op(n) != "input"]
    outs = ", ".join(f"{name}={_value(v)}" for name, v in zip(graph.output_names, graph.outputs))
    lines.append(f"  return {outs}")
    lines.append("}")
    return "\n".join(lines)


def op_path(graph, start=None) -> str:
    """Ops along the first-user chain from ``start`` (default: the first input), e.g. 'MatMul -> Add -> Relu'."""
    node = start or graph.inputs[0].node
    path = []
    while True:
        users = graph.users(node)
        if not users:
            break
        node = users[0][0]
        if graph.op(node) not in ("param", "constant"):
            path.append(graph.op(node))
    return " -> ".join(path)
