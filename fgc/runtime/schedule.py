"""The order of a train step's nodes in its ONNX file, chosen for peak memory.

onnxruntime's CPU executor derives its run order from the file's node order, and a tensor's buffer is
reused only after its last reader ran, so the order decides how many activations are alive at once.
``memory_schedule`` puts the nodes in post-order of a depth-first walk from the graph outputs: each node
right after the inputs it needs, so side computations (a weight gradient's per-tap slices of a
forward activation) run next to their consumer instead of wherever they became ready. The walk visits
a Concat's inputs last-first: a train step concatenates its weight gradients in parameter order
(first layer first), while the backward pass produces them last layer first; walking them in reverse
computes each layer's weight gradient as soon as its output gradient exists, and frees it.

Measured (VmHWM growth of one train step at batch 64, one thread): resnet_block 7.54 -> 6.66 MB per
sample, inception 12.2 -> 11.5, the U-Net of examples/unet.py 1.60 -> 1.20; a plain depth-first order
without the reversed Concat gave 7.85 on resnet_block. Any topological order computes the same values:
only when buffers are freed changes."""
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
    """Reorder ``proto.graph.node`` in place (top-level graph only; subgraphs keep their order)."""
    nodes = list(proto.graph.node)
    producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
    done: set[int] = set()
    order: list[int] = []
    for out in proto.graph.output:
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
            # the stack pops last-pushed first: push reversed to visit inputs first-first, as is to visit
            # a Concat's inputs last-first
            for j in (feeding if nodes[i].op_type == "Concat" else feeding[::-1]):
                if j not in done:
                    stack.append((j, False))
    unreached = [i for i in range(len(nodes)) if i not in done]   # nothing reads them; keep them first
    del proto.graph.node[:]
    proto.graph.node.extend(nodes[i] for i in unreached + order)
