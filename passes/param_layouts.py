"""Store a weight in the layout its ops read, when every reader transposes it the same way.

A channels-last Conv1D reads its Keras kernel (k, C, O) through Transpose(perm=(2, 1, 0)) into
ONNX's (O, C, k): in a training step the weights are inputs, so that transpose runs every step
(2 ms for a (5, 256, 256) kernel on this machine: the permutation has no fast path in onnxruntime),
and its gradient transposes back. Stored as (O, C, k) instead, both go away; the optimizer is
elementwise and does not care. The permutation is recorded on the graph's ParamSpec
(``layout``: stored = np.transpose(keras value, layout)) and the runtime converts on the host when
it loads or reads back the weights, so ``get_weights`` keeps Keras' layout.

``ParamLayouts()`` chooses (a weight read only by Transposes of one permutation); ``ParamLayouts(
given)`` applies layouts chosen on another graph of the same model (the evaluation step shares the
train step's device state, so it must read the same layout): it rewires every reader through a
Transpose back to the Keras layout, which CancelTransposes then merges with the readers' own."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fgc.ir import TensorType, Value

from .manager import Pass


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


@dataclass(frozen=True)
class ParamLayouts(Pass):
    name = "param_layouts"
    given: tuple | None = None    # ((weight name, perm), ...): apply exactly these instead of choosing

    def run(self, graph) -> bool:
        nodes = {graph.node(n)["attrs"]["name"]: n for n in graph.nodes_with_op("param")}
        chosen = self._choose(graph, nodes) if self.given is None else dict(self.given)
        modified = False
        for pname, perm in chosen.items():
            if pname in nodes and graph.params[pname].layout is None:
                self._store(graph, nodes[pname], pname, tuple(perm))
                modified = True
        return modified

    @staticmethod
    def _choose(graph, nodes) -> dict:
        out = {}
        for pname, node in nodes.items():
            users = graph.users(node)
            perms = {tuple(graph.node(u)["attrs"]["perm"]) for u, _ in users if graph.op(u) == "Transpose"}
            if users and len(perms) == 1 and all(graph.op(u) == "Transpose" for u, _ in users) \
                    and not graph.is_graph_output(Value(node)):
                out[pname] = perms.pop()
        return out

    @staticmethod
    def _store(graph, node, pname, perm) -> None:
        spec = graph.params[pname]
        stored = TensorType(tuple(spec.shape[p] for p in perm), spec.dtype)
        graph.params[pname] = dataclasses.replace(spec, shape=stored.shape, layout=perm)
        logical = graph.node(node)["outputs"][0]
        graph.node(node)["outputs"] = (stored,)
        back = graph.add_node(f"{pname}/keras_layout", "Transpose", (Value(node),), (logical,),
                              {"perm": _inverse(perm)})
        for user, pos in list(graph.users(node)):
            if user != back:
                inputs = list(graph.node(user)["inputs"])
                inputs[pos] = Value(back)
                graph.set_inputs_of(user, inputs)
