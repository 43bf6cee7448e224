"""Conv / ConvTranspose + Add(bias broadcast over channels) -> the same op with its bias input.

    Add(Conv(x, W), c)  ==  Conv(x, W, B)      for c of shape (O, 1, ..., 1) or (1, O, 1, ..., 1), B = c as (O,)
    Add(ConvTranspose(x, W), c)  ==  ConvTranspose(x, W, B)     likewise (O: the output channels)

Conv and Conv*DTranspose layers lower their bias as ``Add(Conv(x, W), Reshape(bias, (O, 1, 1)))`` (the NCHW
form); the Reshape's source is used as B directly when it is the (O,) vector, else c is reshaped to (O,). The
fusion refuses (and records why in the Conv's meta) when the Conv result has another user or is a
graph output (the fused Conv would no longer produce it), or when the Conv already has a bias.
"""
from __future__ import annotations

from dataclasses import dataclass

from fgc.ir import Value
from fgc.primitives import Builder

from .manager import Pass

# False: leave a ConvTranspose's bias Add alone (the A/B and the rewrite harness switch it). Fused, the U-Net's
# up-samplings save their Add (0.07 + 0.05 ms of its ~21 ms train step, one thread)
TRANSPOSED = True


def _channel_bias(graph, conv_type, c):
    """True if ``c`` adds one value per output channel and leaves the conv's shape as it is."""
    shape, rank, o = graph.type_of(c).shape, conv_type.rank, conv_type.shape[1]
    if shape == (o,) + (1,) * (rank - 2):
        return True
    return shape == (1, o) + (1,) * (rank - 2)


@dataclass(frozen=True)
class FuseConvBias(Pass):
    name = "fuse_conv_bias"

    def run(self, graph) -> bool:
        modified = False
        for conv in [*graph.nodes_with_op("Conv"), *(graph.nodes_with_op("ConvTranspose") if TRANSPOSED else [])]:
            d = graph.node(conv)
            users = graph.users(conv)
            adds = [(u, p) for u, p in users if graph.op(u) == "Add"]
            if len(d["inputs"]) != 2 or not adds:
                continue
            if len(users) != 1 or graph.is_graph_output(Value(conv)):
                d["meta"]["fuse_conv_bias"] = f"refused: the {d['op']} result has other users"
                continue
            add, pos = adds[0]
            c = graph.node(add)["inputs"][1 - pos]
            if c == Value(conv) or not _channel_bias(graph, d["outputs"][0], c) \
                    or graph.node(add)["outputs"][0] != d["outputs"][0]:
                continue
            o = d["outputs"][0].shape[1]
            src = graph.node(c.node)
            if src["op"] == "Reshape" and graph.type_of(src["inputs"][0]).shape == (o,):
                bias = src["inputs"][0]
            else:
                bias = Builder(graph, conv, d["layer"]).Reshape(c, shape=(o,))
            graph.set_inputs_of(conv, (*d["inputs"], bias))   # the Conv keeps its name and type
            graph.replace_uses(Value(add), Value(conv))
            graph.remove_node(add)
            if src["op"] == "Reshape" and c.node in graph and not graph.users(c.node) \
                    and not graph.is_graph_output(c):
                graph.remove_node(c.node)
            modified = True
        return modified
