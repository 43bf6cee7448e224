"""The order of a train step's nodes in its ONNX file, chosen for peak memory.

A tensor's buffer is reused only after its last reader ran, so the run order decides how many
activations are alive at once. The order we want is the post-order of a depth-first walk from the graph
outputs that visits a node's inputs first-first, except a Concat's, last-first: each node runs right
after the inputs it needs, so side computations (a weight gradient's per-tap slices of a forward
activation) run next to their consumer instead of wherever they became ready; and a train step
concatenates its weight gradients in parameter order (first layer first) while the backward pass
produces them last layer first, so walking them in reverse computes each layer's weight gradient as soon
as its output gradient exists, and frees that gradient before the next layer's.

onnxruntime's CPU executor (ExecutionOrder.DEFAULT, GraphViewer) does not run the file's order: it
runs the post-order of its own depth-first walk (Graph::ReverseDFSFrom) that starts from the leaf node
with the highest index and visits a node's producers highest index first, an index being the node's
position in the file. So the file holds the mirror walk (inputs last-first, a Concat's first-first,
outputs last to first): the input we want visited first then has the highest index, and onnxruntime's
walk runs the order we want. Nodes its optimizer creates (fusions) get new, higher indices; that the
order survives them is checked by measurement, not assumed.

Measured (VmHWM of fit, ``benchmarks/speed.py: fit_memory``, growth over the RSS before fit, one thread)
against the file holding the intended walk itself (which onnxruntime ran mirrored: every layer's
output gradient alive until the first layer's weight gradient): resnet_block batch 256 1240 -> 953 MB,
batch 64 334 -> 262, batch 16 108 -> 90; inception 32 247 -> 203; U-Net 16 53 -> 46; the recurrent and
dense models unchanged; three_heads 64 541 -> 615 (its step's live tensors peak lower, 265 -> 207 MB
by onnxruntime's profiler, but its arena's chunks fall worse). Any topological order computes the
same values: only when buffers are freed changes."""
from __future__ import annotations


def _reads(node) -> list[str]:
    """The names a node reads: its inputs, then the outer-scope names its subgraphs (a Scan, Loop or If
    body) read, which are dependencies too although they are not listed as inputs."""
    names = list(node.input)
    for attr in node.attribute:
        for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            inner = {o for n in graph.node for o in n.output} | {i.name for i in graph.input} \
                | {t.name for t in graph.initializer}
            names += [name for n in graph.node for name in _reads(n) if name not in inner]
    return names


def memory_schedule(proto) -> None:
    """Reorder ``proto.graph.node`` in place (top-level graph only; subgraphs keep their order) so that
    onnxruntime runs the intended walk (module docstring): the file holds its mirror."""
    nodes = list(proto.graph.node)
    producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
    done: set[int] = set()
    order: list[int] = []
    for out in reversed(proto.graph.output):
        if out.name not in producer:
            continue
        stack = [(producer[out.name], False)]
        while stack:
            i, inputs_done = stack.pop()
            if inputs_done:
                if i not in done:
                    done.add(i)
                    order.append(i)
                continue
            if i in done:
                continue
            stack.append((i, True))
            feeding = list(dict.fromkeys(producer[name] for name in _reads(nodes[i]) if name in producer))
            # the stack pops last-pushed first: pushed as is, the inputs are visited last-first (the
            # mirror of first-first); a Concat's pushed reversed, first-first (the mirror of last-first)
            for j in (feeding[::-1] if nodes[i].op_type == "Concat" else feeding):
                if j not in done:
                    stack.append((j, False))
    unreached = [i for i in range(len(nodes)) if i not in done]   # nothing reads them; keep them first
    del proto.graph.node[:]
    proto.graph.node.extend(nodes[i] for i in unreached + order)
