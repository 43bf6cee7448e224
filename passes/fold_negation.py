"""Negation folded into a constant: a Neg whose value only flows, reader by reader, through ops odd in
it into a multiplication by a constant disappears, and the constant changes sign.

    Neg(a) -> f1 -> ... -> fk -> Mul(., c)    ==   a -> f1 -> ... -> fk -> Mul(., -c)
    Neg(a) -> f1 -> ... -> fk -> Neg          ==   a -> f1 -> ... -> fk

where each f is the only reader of the value before it and odd in it (Mul, Dot, Div's numerator, ReduceSum,
ReduceMean, Reshape, Squeeze, Unsqueeze, Transpose): f(-x) = -f(x) holds bit for bit in floating
point (rounding is symmetric), so the step's numbers do not change. The crossentropy's minus
(-sum(y * log p)) moves into the loss scale this way. Runs after DCE: a dead reader (the gradient of a
sample weight, say) would otherwise make a value look shared.

The negated value may also fan out and join again (``FOLD_THROUGH_JOINS``): every value reached from the
Neg is negated, and each reader either passes the sign on (an odd op with one negated operand, an Add of
two, a Where choosing between a negated value and a constant 0, ScatterElements of negated updates into
zeros) or ends it: a Mul by a constant (the constant flips), a Neg (it goes), an Add of one negated
operand (``x + (-y)`` is ``x - y``), a Sub of two (``(-x) - (-y) == y - x`` exactly: the operands swap),
a Mul, Dot or Div of two (``(-x) * (-y) == x * y``: nothing to do). The crossentropy's gradient takes
this shape: ``-w`` flows through the clip's mask into log-softmax's vjp ``g - exp(l) * sum(g)``, whose Sub
reads it twice. Where(m, -x, 0) holds +0 where -Where(m, x, 0) holds -0: only zeros' signs can differ.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from fgc.ir import Value

from .manager import Pass

# ops odd in the operand at these positions: op(..., -x, ...) == -op(..., x, ...)
_ODD_IN = {"Mul": (0, 1), "Dot": (0, 1), "Div": (0,), "ReduceSum": (0,), "ReduceMean": (0,), "Reshape": (0,),
           "ReshapeLike": (0,), "ExpandLike": (0,), "Squeeze": (0,), "Unsqueeze": (0,), "Transpose": (0,),
           "Identity": (0,)}
_CHAIN_LIMIT = 8
_REGION_LIMIT = 32
FOLD_THROUGH_JOINS = True   # False: single-reader chains only (the A/B and exactness tests switch it)


@dataclass(frozen=True)
class FoldNegation(Pass):
    name = "fold_negation"

    def run(self, graph) -> bool:
        modified = False
        for name in graph.nodes_with_op("Neg"):
            if name in graph and not graph.is_graph_output(Value(name)) and _fold(graph, name):
                graph.replace_uses(Value(name), graph.node(name)["inputs"][0])
                graph.remove_node(name)
                modified = True
        return modified


def _constant(graph, v: Value):
    if graph.op(v.node) != "constant":
        return None
    value = np.asarray(graph.node(v.node)["attrs"]["value"])
    return value if np.issubdtype(value.dtype, np.floating) else None


def _fold(graph, neg: str) -> bool:
    if not FOLD_THROUGH_JOINS:
        return _move_sign_down(graph, neg)
    actions = _sign_ends(graph, neg)
    if actions is None:
        return False
    for action, node, positions in actions:
        action(graph, node, positions)
    return True


def _sign_ends(graph, neg: str):
    """The readers where the negation starting at ``neg`` ends, each with the rewrite that absorbs it, or None
    when some value it reaches is read by an op that is neither odd nor an end (or is a graph output).
    Readers are judged in topological order, so a join sees all its negated operands at once."""
    order = {name: i for i, name in enumerate(graph.topo_order())}
    negated, queued, pending, ends = {neg}, set(), [], []

    def enqueue_readers(name):
        for user, _ in graph.users(name):
            if user not in queued:
                queued.add(user)
                heapq.heappush(pending, (order[user], user))

    enqueue_readers(neg)
    while pending:
        _, user = heapq.heappop(pending)
        positions = [i for i, v in enumerate(graph.node(user)["inputs"]) if v.node in negated]
        kind = _reader_kind(graph, user, positions)
        if kind is None:
            return None
        if kind == "odd":
            if len(negated) >= _REGION_LIMIT or len(graph.node(user)["outputs"]) != 1 or \
                    graph.is_graph_output(Value(user)):
                return None
            negated.add(user)
            enqueue_readers(user)
        else:
            ends.append((kind, user, positions))
    return ends


def _reader_kind(graph, user: str, positions: list[int]):
    """How ``user`` treats negated operands at ``positions``: "odd" (its output is negated too), an end's
    rewrite, or None (it cannot take the sign)."""
    d = graph.node(user)
    op, ins = d["op"], d["inputs"]
    if op == "Neg":
        return None if graph.is_graph_output(Value(user)) else _drop_neg
    if op in ("Mul", "Dot", "Div") and len(positions) == 2:
        return _keep
    if op == "Mul":
        return _flip_constant if _constant(graph, ins[1 - positions[0]]) is not None else "odd"
    if op == "Sub":
        return _swap_operands if len(positions) == 2 else None
    if op == "Add":
        if len(positions) == 2:
            return "odd"
        return None if graph.is_graph_output(Value(user)) else _add_as_sub
    if op == "Where":
        chosen = (1, 2)
        others = [i for i in chosen if i not in positions]
        return "odd" if set(positions) <= set(chosen) and all(_is_zero(graph, ins[i]) for i in others) else None
    if op == "ScatterElements":   # a gather's gradient: the updates scattered into zeros
        return "odd" if positions == [2] and graph.op(ins[0].node) in ("ZerosLike", "Zeros") else None
    return "odd" if len(positions) == 1 and positions[0] in _ODD_IN.get(op, ()) else None


def _is_zero(graph, v: Value) -> bool:
    c = _constant(graph, v)
    return c is not None and not np.any(c)


def _drop_neg(graph, node: str, positions) -> None:
    graph.replace_uses(Value(node), graph.node(node)["inputs"][0])
    graph.remove_node(node)


def _keep(graph, node: str, positions) -> None:
    pass


def _swap_operands(graph, node: str, positions) -> None:
    a, b = graph.node(node)["inputs"]
    graph.set_inputs_of(node, (b, a))


def _add_as_sub(graph, node: str, positions) -> None:
    """x + (-y) -> x - y: IEEE subtraction is that sum."""
    d = graph.node(node)
    y = d["inputs"][positions[0]]
    x = d["inputs"][1 - positions[0]]
    sub = graph.add_node(f"{node}/sub", "Sub", (x, y), d["outputs"], {}, d["layer"])
    graph.replace_uses(Value(node), Value(sub))
    graph.remove_node(node)


def _flip_constant(graph, node: str, positions) -> None:
    ins = graph.node(node)["inputs"]
    pos = 1 - positions[0]
    c = _constant(graph, ins[pos])
    flipped = graph.add_node(f"{ins[pos].node}/negated", "constant", outputs=graph.node(ins[pos].node)["outputs"],
                             attrs={"value": -c})
    graph.set_inputs_of(node, tuple(Value(flipped) if i == pos else v for i, v in enumerate(ins)))
    _drop_if_unused(graph, ins[pos].node)


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
