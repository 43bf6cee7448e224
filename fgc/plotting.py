"""``plot_model`` (Keras 3's arguments) and ``plot_ir``: graphs as Graphviz DOT text.

DOT is written with no dependency; ``.png`` / ``.svg`` / ``.pdf`` / ... are rendered by Graphviz's ``dot``
program when it is installed (no pydot). One DOT writer serves both the layer graph and the IR.
"""
from __future__ import annotations

import os
import shutil
import subprocess


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(name: str, nodes: list[tuple[str, str]], edges: list[tuple[str, str]], rankdir: str = "TB",
           dpi: int = 200, clusters: dict | None = None) -> str:
    """``nodes``: (id, label); ``edges``: (from id, to id); ``clusters``: title -> node ids drawn in a box."""
    lines = [f"digraph {_quote(name)} {{", f"  graph [rankdir={rankdir}, dpi={int(dpi)}];",
             "  node [shape=record, fontname=Helvetica, fontsize=10];"]
    in_cluster = {n for ids in (clusters or {}).values() for n in ids}
    labels = dict(nodes)
    for k, (title, ids) in enumerate((clusters or {}).items()):
        lines.append(f"  subgraph cluster_{k} {{ label={_quote(title)}; style=dashed;")
        lines += [f"    {_quote(n)} [label={_quote(labels[n])}];" for n in ids]
        lines.append("  }")
    lines += [f"  {_quote(n)} [label={_quote(label)}];" for n, label in nodes if n not in in_cluster]
    lines += [f"  {_quote(a)} -> {_quote(b)};" for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _shape_text(shapes) -> str:
    text = ", ".join(str(tuple(s)) for s in shapes)
    return text.replace("None", "None")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, **kwargs) -> str:
    """The model's layer graph as DOT text (Keras returns a pydot object; fgc returns the text)."""
    from fgc.functional import Model
    from fgc.naming import check_kwargs

    check_kwargs("model_to_dot()", kwargs, ("subgraph",))
    if not model.built:
        raise ValueError(f"model '{model.name}' is not built yet: call it on data first")
    nodes, edges, clusters = [], [], {}
    output_ids: dict[int, str] = {}

    def label(layer, node) -> str:
        parts = [f"{layer.name} ({layer.keras_class()})" if show_layer_names else layer.keras_class()]
        if show_layer_activations and isinstance(getattr(layer, "activation", None), str):
            parts.append(f"activation: {layer.activation}")
        if show_trainable:
            parts.append(f"trainable: {layer.trainable}")
        if show_shapes:
            parts.append(f"in: {_shape_text([t.shape for t in node.inputs]) or '-'} | "
                         f"out: {_shape_text([t.shape for t in node.outputs])}")
        if show_dtype:
            parts.append(f"dtype: {node.outputs[0].dtype}")
        return "\\n".join(parts) if not show_shapes else "{" + "|".join(parts) + "}"

    def add(m, prefix: str, inputs_of: dict) -> None:
        for t in m.inputs:
            node_id = inputs_of.get(id(t))
            if node_id is None:
                layer = t._keras_history[0]
                node_id = prefix + layer.name
                nodes.append((node_id, label(layer, layer._inbound_nodes[0])))
            output_ids[id(t)] = node_id
        for node in m._nodes:
            layer = node.layer
            sources = [output_ids[id(t)] for t in node.inputs if id(t) in output_ids]
            if expand_nested and isinstance(layer, Model):
                inner = {id(t): s for t, s in zip(layer.inputs, sources)}
                before = len(nodes)
                add(layer, f"{prefix}{layer.name}/", inner)
                clusters[f"{prefix}{layer.name}"] = [n for n, _ in nodes[before:]]
                for t, inner_out in zip(node.outputs, layer.outputs):
                    output_ids[id(t)] = output_ids[id(inner_out)]
                continue
            node_id = prefix + layer.name   # one box per layer, as Keras draws it; a shared layer has several edges in
            if node_id not in dict(nodes):
                nodes.append((node_id, label(layer, node)))
            edges.extend((s, node_id) for s in dict.fromkeys(sources))
            for t in node.outputs:
                output_ids[id(t)] = node_id

    add(model, "", {})
    return to_dot(model.name, nodes, edges, rankdir, dpi, clusters)


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               **kwargs) -> str:
    """Draw the model's layer graph to ``to_file``: ``.dot`` always; other formats through Graphviz."""
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable, **kwargs)
    return write_dot(dot, to_file)


def plot_ir(model, to_file="ir.dot", pipeline="inference") -> str:
    """Draw the compiled graph (``model.ir(pipeline)``'s graph: 'layers' or 'inference'), one box per op."""
    from fgc.compiler import inference_graph

    graph = model.to_graph() if pipeline == "layers" else inference_graph(model)
    nodes, edges = [], []
    for name in graph.topo_order():
        d = graph.node(name)
        types = ", ".join(f"{t.dtype}{list(t.shape)}" for t in d["outputs"])
        nodes.append((name, f"{name}\\n{d['op']} : {types}"))
        edges.extend((v.node, name) for v in d["inputs"])
    return write_dot(to_dot(f"{model.name} ({pipeline})", nodes, edges), to_file)


def write_dot(dot: str, to_file) -> str:
    """Write DOT text, or render it with Graphviz for any other extension; returns the path."""
    from fgc.export.files import atomic_write_bytes

    path = os.fspath(to_file)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or "dot"
    if fmt in ("dot", "gv"):
        atomic_write_bytes(path, dot.encode())
        return path
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(f"plot_model('{path}'): rendering .{fmt} needs Graphviz's 'dot' program, which is not "
                           f"installed (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
                           f"conda: conda install graphviz); a .dot file needs nothing")
    done = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"plot_model('{path}'): Graphviz could not render .{fmt}: "
                           f"{done.stderr.decode(errors='replace').strip()}")
    atomic_write_bytes(path, done.stdout)
    return path
