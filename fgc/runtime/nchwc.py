"""onnxruntime's blocked-layout (NCHWc) conv kernels for convs whose filter the graph computes.

onnxruntime's CPU provider runs a Conv in its NCHWc layout only when the filter is a constant: its
NchwcTransformer reorders constant filters once, when the session is made. In a train step every filter
is a graph input (the weights change each step) or computed from one (the input gradient's flipped
kernel), so every Conv there runs the generic im2col + GEMM kernel. The blocked kernel itself reads its
filter as an ordinary input each run, so this module rewrites such a Conv, in the bytes given to a CPU
session only, into what the transformer would have made, with the filter reordered by the graph:

    Reshape + Transpose + Reshape of W     (OIHW -> OIHWBiBo, or OIHWBo where C < the block)
    com.microsoft.nchwc ReorderInput(X)    (not where C < the block: the kernel reads NCHW then)
    com.microsoft.nchwc Conv               (a Relu that is the conv's only reader fused into it)
    com.microsoft.nchwc ReorderOutput      -> the Conv's (or the Relu's) own output name

A conv whose input an earlier blocked conv made reads that conv's blocked output (one reorder fewer).
Measured per conv (the seed models' step shapes, onnxruntime 1.31 on a 2-vCPU AMD EPYC, AVX2: blocks of 8,
1 thread, median of interleaved runs, reorders included): 3x3 C64 O64 32x32 batch 32 36.6 -> 30.9 ms; 3x3
C128 O128 16x16 32.1 -> 29.2; the U-Net's 3x3 C8-C32 maps 0.63-0.79x; a 1x1 C64 O128 conv 1.48x slower (its
reorders cost more than its arithmetic), so 1x1 kernels keep the generic Conv, as do Conv1Ds (three_heads'
shapes as 1xk 2-D convs: 0.94-1.05x). Whole train steps, paired A/B: U-Net 0.78-0.87x at 1 thread, 0.84x
at 2; resnet_block 0.91x / 0.93x; inception 0.97x / 0.93x. On an AVX-512 AMD EPYC (blocks of 16), 1 thread,
paired over 40 s each: U-Net 0.91x, resnet_block 0.87x, inception 0.93x.

The exported files stay standard ONNX: only the session's copy is rewritten. ``ENABLED = False`` turns it
off (the A/B and the tests)."""
from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import helper, numpy_helper

ENABLED = True
DOMAIN = "com.microsoft.nchwc"
_CONV_ATTRS = ("auto_pad", "dilations", "kernel_shape", "pads", "strides")


@functools.lru_cache(maxsize=None)
def block_size() -> int:
    """The channel block of this onnxruntime's NCHWc kernels (8 with AVX2, 16 with AVX-512), read from what
    ReorderInput makes of 4 channels; 0 where this build has no NCHWc kernels."""
    import onnxruntime as ort

    from fgc.export.onnx import IR_VERSION, OPSET

    g = helper.make_graph([helper.make_node("ReorderInput", ["x"], ["y"], domain=DOMAIN)], "probe",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, 1, 1])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, 1)])
    m.ir_version = IR_VERSION
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        block = int(s.run(None, {"x": np.zeros((1, 4, 1, 1), np.float32)})[0].shape[1])
    except Exception:  # noqa: BLE001 - a build without the kernels: nothing is rewritten
        return 0
    return block if block >= 4 else 0


def session_bytes(proto: onnx.ModelProto, device: str) -> bytes:
    """What onnxruntime gets for ``proto`` on ``device``: the proto itself, or on the CPU a copy whose
    eligible Convs run the NCHWc kernels (module docstring). ``proto`` is never changed."""
    if not ENABLED or device != "cpu" or not _has_conv(proto.graph):
        return proto.SerializeToString()
    block = block_size()
    if not block:
        return proto.SerializeToString()
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    return model.SerializeToString() if lower_convs(model, block) else proto.SerializeToString()


def _has_conv(graph) -> bool:
    return any((n.op_type == "Conv" and not n.domain) or
               any(_has_conv(a.g) for a in n.attribute if a.type == onnx.AttributeProto.GRAPH) for n in graph.node)


def lower_convs(model: onnx.ModelProto, block: int) -> int:
    """Rewrite the eligible Convs of the model's graph and of its subgraphs (a Loop of train steps) in place;
    returns how many. Shapes come from onnx's shape inference, each graph seeing its own values and those of
    the graphs around it; the inferred value_info is not kept."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - without shapes nothing is rewritten
        return 0
    count = _lower_graph(inferred.graph, {}, set(), block)
    if count:
        _drop_value_info(inferred.graph)
        model.CopyFrom(inferred)
        if not any(o.domain == DOMAIN for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    return count


def _lower_graph(graph, outer_shapes: dict, outer_constants: set, block: int) -> int:
    shapes = {**outer_shapes, **_static_shapes(graph)}
    constant = outer_constants | {t.name for t in graph.initializer} | \
        {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    count = sum(_lower_graph(a.g, shapes, constant, block) for n in graph.node for a in n.attribute
                if a.type == onnx.AttributeProto.GRAPH)
    readers: dict[str, list] = {}
    for n in graph.node:
        for name in _reads(n):
            readers.setdefault(name, []).append(n)
    outputs = {o.name for o in graph.output}
    new_nodes, dropped, rewritten = [], set(), 0
    blocked: dict[str, str] = {}   # an NCHW output of a blocked conv -> that conv's blocked output
    for node in graph.node:
        if id(node) in dropped:
            continue
        w_shape = shapes.get(node.input[1]) if node.op_type == "Conv" and not node.domain else None
        if w_shape is None or not _eligible(node, w_shape, block) or node.input[1] in constant:
            new_nodes.append(node)
            continue
        relu = _only_relu_reader(node.output[0], readers, outputs)
        if relu is not None:
            dropped.add(id(relu))
        new_nodes.extend(_blocked_conv(graph, node, w_shape, block, relu, blocked))
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(new_nodes)
    return count + rewritten


def _reads(node) -> set:
    """The names a node reads: its inputs and, for a node with subgraphs, every name read inside them."""
    names = set(node.input)
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            for inner in a.g.node:
                names |= _reads(inner)
    return names


def _eligible(node, w_shape, block: int) -> bool:
    """A 2-D, ungrouped float conv with a kernel larger than 1x1 and input channels the kernels take: a
    multiple of the block or fewer than it. Output channels short of a whole block are padded with zero filters
    where that at most doubles the arithmetic (the U-Net's 8 channels at blocks of 16: its step 0.96x)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if len(w_shape) != 4 or attrs.get("group", 1) != 1 or tuple(w_shape[2:]) == (1, 1):
        return False
    outs, ins = w_shape[:2]
    padded = -(-outs // block) * block
    return (ins % block == 0 or ins < block) and padded <= 2 * outs


def _only_relu_reader(name: str, readers: dict, outputs: set):
    """The Relu that is the only reader of ``name`` (fused into the blocked conv), or None."""
    found = readers.get(name, [])
    if name in outputs or len(found) != 1 or found[0].op_type != "Relu" or found[0].domain:
        return None
    return found[0]


def _blocked_conv(graph, node, w_shape, block: int, relu, blocked: dict) -> list:
    """The nodes replacing ``node`` (and ``relu``): filter reorder, input reorder, blocked conv, output reorder.
    An input that an earlier blocked conv made is read in its blocked form (no reorder); ``blocked`` learns
    this conv's output."""
    outs, ins, kh, kw = w_shape
    base = f"nchwc/{node.name or node.output[0]}"

    def const(suffix, values):
        name = f"{base}/{suffix}"
        graph.initializer.append(numpy_helper.from_array(np.array(values, np.int64), name))
        return name

    # output channels short of a whole block (the U-Net's 8 with AVX-512's blocks of 16): zero filters and biases
    # fill the last block, and ReorderOutput keeps the real channels (what onnxruntime's NchwcTransformer does)
    w, bias, padded = node.input[1], node.input[2] if len(node.input) > 2 and node.input[2] else None, outs
    nodes = []
    if outs % block:
        padded = -(-outs // block) * block
        nodes.append(helper.make_node("Pad", [w, const("w_pads", [0, 0, 0, 0, padded - outs, 0, 0, 0])],
                                      [f"{base}/w_padded"], name=f"{base}/w_padded"))
        w = f"{base}/w_padded"
        if bias is not None:
            nodes.append(helper.make_node("Pad", [bias, const("b_pads", [0, padded - outs])], [f"{base}/b_padded"],
                                          name=f"{base}/b_padded"))
            bias = f"{base}/b_padded"
    # OIHW -> (O/b, C/b, H, W, b_in, b_out), or (O/b, C, H, W, b_out) where the conv reads NCHW input
    if ins % block == 0:
        split, perm = (padded // block, block, ins // block, block, kh, kw), (0, 2, 4, 5, 3, 1)
    else:
        split, perm = (padded // block, block, ins, kh, kw), (0, 2, 3, 4, 1)
    nodes += [helper.make_node("Reshape", [w, const("split", split)], [f"{base}/w_split"], name=f"{base}/w_split"),
              helper.make_node("Transpose", [f"{base}/w_split"], [f"{base}/w_blocks"], name=f"{base}/w_blocks",
                               perm=perm),
              helper.make_node("Reshape", [f"{base}/w_blocks", const("shape", (padded, ins, kh, kw))], [f"{base}/w"],
                               name=f"{base}/w")]
    x = node.input[0]
    if ins % block == 0 and x in blocked:
        x = blocked[x]
    elif ins % block == 0:
        nodes.append(helper.make_node("ReorderInput", [x], [f"{base}/x"], name=f"{base}/x", domain=DOMAIN))
        x = f"{base}/x"
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name in _CONV_ATTRS}
    if relu is not None:
        attrs["activation"] = "Relu"
    inputs = [x, f"{base}/w"] + ([bias] if bias is not None else [])
    nodes.append(helper.make_node("Conv", inputs, [f"{base}/y"], name=f"{base}/conv", domain=DOMAIN, **attrs))
    out = relu.output[0] if relu is not None else node.output[0]
    nodes.append(helper.make_node("ReorderOutput", [f"{base}/y"], [out], name=f"{base}/out", domain=DOMAIN,
                                  channels=outs))
    if padded == outs:   # a padded output is read in NCHW only: its extra channels are no input's
        blocked[out] = f"{base}/y"
    return nodes


def _static_shapes(graph) -> dict:
    """Value name -> shape, for the graph's own float values whose every dim is known."""
    shapes = {}
    for v in list(graph.input) + list(graph.value_info):
        t = v.type.tensor_type
        if t.elem_type == onnx.TensorProto.FLOAT and t.HasField("shape") and \
                all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[v.name] = tuple(d.dim_value for d in t.shape.dim)
    return shapes


def _drop_value_info(graph) -> None:
    del graph.value_info[:]
    for n in graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _drop_value_info(a.g)
