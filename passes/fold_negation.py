"""Negation folded into a constant: a Neg whose value only flows, reader by reader, through ops odd in
it into a multiplication by a constant disappears, and the constant changes sign.

    Neg(a) -> f1 -> ... -> fk -> Mul(., c)    ==   a -> f1 -> ... -> fk -> Mul(., -c)
    Neg(a) -> f1 -> ... -> fk -> Neg          ==   a -> f1 -> ... -> fk

where each f is the only reader of the value before it and odd in it (Mul, Div's numerator, ReduceSum,
ReduceMean, Reshape, Squeeze, Unsqueeze, Transpose): f(-x) = -f(x) holds bit for bit in floating
point (rounding is symmetric), so the step's numbers do not change. The crossentropy's minus
(-sum(y * log p)) moves into the loss scale this way. Runs after DCE: a dead reader (the gradient of a
sample weight, say) would otherwise make a value look shared.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgc.ir import Value

from .manager import Pass

# ops odd in the operand at these positions: op(..., -x, ...) == -op(..., x, ...)
_ODD_IN = {"Mul": (0, 1), "Div": (0,), "ReduceSum": (0,), "ReduceMean": (0,), "Reshape": (0,), "ReshapeLike": (0,),
           "Squeeze": (0,), "Unsqueeze": (0,), "Transpose": (0,), "Identity": (0,)}
_CHAIN_LIMIT = 8


@dataclass(frozen=True)
class FoldNegation(Pass):
    name = "fold_negation"

    def run(self, graph) -> bool:
        modified = False
        for name in graph.nodes_with_op("Neg"):
            if name in graph and not graph.is_graph_output(Value(name)) and _move_sign_down(graph, name):
                graph.replace_uses(Value(name), graph.node(name)["inputs"][0])
                graph.remove_node(name)
                modified = True
        return modified


def _constant(graph, v: Value):
    if graph.op(v.node) != "constant":
        return None
    value = np.asarray(graph.node(v.node)["attrs"]["value"])
    return value if np.issubdtype(value.dtype, np.floating) else None


def _move_sign_down(graph, neg: str) -> bool:
    """Whether the chain of single readers from ``neg`` ends in a Mul by a constant or a Neg; if so that
    end takes the sign (the caller then drops ``neg``)."""
    current = neg
    for _ in range(_CHAIN_LIMIT):
        users = graph.users(current)
        if len(users) != 1 or len(graph.node(current)["outputs"]) != 1 or \
                (current != neg and graph.is_graph_output(Value(current))):
            return False
        user, pos = users[0]
        op, ins = graph.op(user), graph.node(user)["inputs"]
        if ins.count(Value(current)) != 1:
            return False
        if op == "Neg":
            if graph.is_graph_output(Value(user)):
                return False
            graph.replace_uses(Value(user), Value(current))
            graph.remove_node(user)
            return True
        if op == "Mul":
            c = _constant(graph, ins[1 - pos])
            if c is not None:
                flipped = graph.add_node(f"{ins[1 - pos].node}/negated", "constant",
                                         outputs=graph.node(ins[1 - pos].node)["outputs"], attrs={"value": -c})
                graph.set_inputs_of(user, tuple(Value(flipped) if i == 1 - pos else v for i, v in enumerate(ins)))
                _drop_if_unused(graph, ins[1 - pos].node)
                return True
        if pos not in _ODD_IN.get(op, ()):
            return False
        current = user
    return False


def _drop_if_unused(graph, name: str) -> None:
    if not graph.users(name) and not graph.is_graph_output(Value(name)):
        graph.remove_node(name)
