"""The order of a train step's nodes in its ONNX file, chosen for peak memory.

A tensor's buffer is reused only after its last reader ran, so the run order decides how many
activations are alive at once. onnxruntime's CPU executor (ExecutionOrder.DEFAULT) does not run the
file's order: it runs the post-order of its own depth-first walk (GraphViewer, Graph::ReverseDFSFrom)
that starts from the leaf node with the highest index and visits a node's producers highest index
first, a node's index being its position in the file. Whatever the file's order, that walk runs each
node right after the inputs it needs, so side computations (a weight gradient's per-tap slices of a
forward activation) run next to their consumer; the file's order decides which input's subtree runs
first.

What matters most is the Concat of a train step's weight gradients, in parameter order (first layer
first), while the backward pass produces them last layer first. Walked first input first, the first
layer's weight gradient is asked for first: it needs the output gradients of every layer, so the
whole chain of input gradients runs first and every layer's output gradient stays alive until its
weight gradient runs. Walked last input first, each layer's weight gradient runs as soon as its output
gradient exists, and frees it before the layer below.

So the file holds the post-order of a depth-first walk from the outputs (last to first) that visits
inputs first-first: then each node's last input has the highest index, and onnxruntime's walk visits
inputs last-first. (Nodes onnxruntime's optimizer creates, fusions, get new, higher indices; that the
order survives them is checked by measurement and by tests/runtime/test_schedule.py.)

Measured (VmHWM of fit, ``benchmarks/speed.py: fit_memory``, growth over the RSS before fit, one thread)
against the previous file order, which meant the opposite and so made onnxruntime walk the gradients'
Concat first-first: resnet_block batch 256 1240 -> 952 MB, batch 64 334 -> 263, batch 16 108 -> 90;
inception 32 247 -> 202; U-Net 16 53 -> 46; three_heads 64 541 -> 536; the recurrent and dense models
unchanged. Making onnxruntime visit other nodes' inputs first-first instead gained nothing on the conv
models and cost three_heads 80 MB (617: where its arena's chunks fall). Any topological order computes
the same values: only when buffers are freed changes."""
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
    onnxruntime walks every node's inputs last-first (module docstring)."""
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
            for j in reversed(feeding):   # the stack pops last-pushed first: inputs visited first-first
                if j not in done:
                    stack.append((j, False))
    unreached = [i for i in range(len(nodes)) if i not in done]   # nothing reads them; keep them first
    del proto.graph.node[:]
    proto.graph.node.extend(nodes[i] for i in unreached + order)
