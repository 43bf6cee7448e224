"""The IR graph: typed SSA values on a networkx MultiDiGraph.

A node is one op. Its data: ``op`` (registered name), ``inputs`` (ordered tuple of Value:
the source of truth), ``outputs`` (tuple of TensorType), ``attrs`` (dict, treated as
immutable), ``layer`` (the frontend object it came from, for errors and lowering),
``meta`` (analysis results) and ``order`` (insertion index, for deterministic order).
Edges mirror ``inputs`` (one edge per use, keyed by input position) so networkx
traversals work. Only the methods below mutate the graph.

Three ops are sources: ``input`` (a graph input), ``param`` (reads a weight named in
``Graph.params``) and ``constant`` (a numpy value in ``attrs['value']``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, NamedTuple

import networkx as nx
import numpy as np

from .types import TensorType


class Value(NamedTuple):
    node: str
    index: int = 0


@dataclass
class ParamSpec:
    """A weight the graph reads. ``variable`` is the frontend object that holds its value."""

    shape: tuple[int, ...]
    dtype: str
    trainable: bool = True
    variable: Any = None
    # the graph reads the weight stored as np.transpose(variable value, layout) (see passes/param_layouts.py)
    layout: tuple[int, ...] | None = None

    @property
    def type(self) -> TensorType:
        return TensorType(tuple(self.shape), self.dtype)


class Graph:
    def __init__(self, name: str = "graph"):
        self.name = name
        self.nx = nx.MultiDiGraph()
        self.inputs: list[Value] = []
        self.input_names: list[str] = []
        self.outputs: list[Value] = []
        self.output_names: list[str] = []
        self.params: dict[str, ParamSpec] = {}
        # Run-time checks: with ``guarded`` set, layers may add outputs ``check/<name>`` counting bad
        # values (out-of-range ids); ``checks`` maps each to the error message the host raises.
        self.guarded = False
        self.checks: dict[str, str] = {}
        # Keras masks a loss with the mask its output carries: ``output_masks`` maps an output name to
        # (its leaf outputs ``mask/<output>/<i>``, the mask's spec), see Model.to_graph(output_masks=True).
        self.output_masks: dict[str, tuple] = {}
        self._order = itertools.count()

    # ---------------------------------------------------------------- queries
    def __contains__(self, name: str) -> bool:
        return name in self.nx

    def node(self, name: str) -> dict:
        return self.nx.nodes[name]

    def op(self, name: str) -> str:
        return self.nx.nodes[name]["op"]

    def type_of(self, v: Value) -> TensorType:
        return self.nx.nodes[v.node]["outputs"][v.index]

    def users(self, name: str) -> list[tuple[str, int]]:
        """(user node, input position) for every use of any output of ``name``, in order."""
        uses = [(dst, key) for _, dst, key in self.nx.out_edges(name, keys=True)]
        return sorted(uses, key=lambda u: (self.nx.nodes[u[0]]["order"], u[1]))

    def value_users(self, v: Value) -> list[tuple[str, int]]:
        return [(n, i) for n, i in self.users(v.node) if self.node(n)["inputs"][i] == v]

    def is_graph_output(self, v: Value) -> bool:
        return v in self.outputs

    def topo_order(self) -> list[str]:
        order = self.nx.nodes(data="order")
        key = dict(order).__getitem__
        return list(nx.lexicographical_topological_sort(self.nx, key=key))

    def nodes_with_op(self, op: str) -> list[str]:
        return [n for n in self.topo_order() if self.op(n) == op]

    def unique_name(self, hint: str) -> str:
        if hint not in self.nx:
            return hint
        for i in itertools.count(1):
            if f"{hint}_{i}" not in self.nx:
                return f"{hint}_{i}"

    # ---------------------------------------------------------------- mutation
    def add_node(self, hint: str, op: str, inputs=(), outputs=(), attrs=None, layer=None) -> str:
        name = self.unique_name(hint)
        inputs = tuple(Value(*v) for v in inputs)
        for v in inputs:
            if v.node not in self.nx:
                raise KeyError(f"internal: {name} ({op}) reads missing value {v}")
        self.nx.add_node(name, op=op, inputs=inputs, outputs=tuple(outputs), attrs=dict(attrs or {}),
                         layer=layer, meta={}, order=next(self._order))
        for pos, v in enumerate(inputs):
            self.nx.add_edge(v.node, name, key=pos)
        return name

    def add_input(self, name: str, ttype: TensorType) -> Value:
        node = self.add_node(name, "input", outputs=(ttype,), attrs={"name": name})
        self.inputs.append(Value(node))
        self.input_names.append(name)
        return Value(node)

    def remove_input(self, v: Value) -> None:
        """Drop a graph input nothing reads any more (a loop body's unused state, say)."""
        if any(True for _ in self.nx.out_edges(v.node)):
            raise ValueError(f"internal: input {v.node} still has users")
        index = self.inputs.index(v)
        del self.inputs[index], self.input_names[index]
        self.nx.remove_node(v.node)

    def add_param(self, name: str, spec: ParamSpec) -> None:
        self.params[name] = spec

    def set_inputs_of(self, node: str, inputs) -> None:
        """Rewire the inputs of ``node`` (keeps edges mirroring inputs)."""
        for pos in range(len(self.node(node)["inputs"])):
            src = self.node(node)["inputs"][pos].node
            self.nx.remove_edge(src, node, key=pos)
        inputs = tuple(Value(*v) for v in inputs)
        self.node(node)["inputs"] = inputs
        for pos, v in enumerate(inputs):
            self.nx.add_edge(v.node, node, key=pos)

    def replace_uses(self, old: Value, new: Value) -> None:
        """Every reader of ``old`` (ops and graph outputs) reads ``new`` instead."""
        for user in {u for u, _ in self.value_users(old)}:
            ins = tuple(new if v == old else v for v in self.node(user)["inputs"])
            self.set_inputs_of(user, ins)
        self.outputs = [new if v == old else v for v in self.outputs]

    def remove_node(self, name: str) -> None:
        if any(True for _ in self.nx.out_edges(name)):
            raise ValueError(f"internal: cannot remove {name}: it still has users")
        if self.op(name) == "input":
            raise ValueError(f"internal: {name} is a graph input and cannot be removed")
        self.nx.remove_node(name)

    def copy(self) -> "Graph":
        other = Graph(self.name)
        other.nx = self.nx.copy()
        for n in other.nx.nodes:
            d = other.nx.nodes[n]
            d["attrs"], d["meta"] = dict(d["attrs"]), dict(d["meta"])
        other.inputs, other.input_names = list(self.inputs), list(self.input_names)
        other.outputs, other.output_names = list(self.outputs), list(self.output_names)
        other.params = dict(self.params)
        other.output_masks = dict(self.output_masks)
        other._order = itertools.count(max((d for _, d in self.nx.nodes(data="order")), default=-1) + 1)
        return other

    def __str__(self) -> str:
        from .printer import print_graph

        return print_graph(self)


def attrs_key(attrs: dict) -> tuple:
    """A hashable, order-independent key for an attrs dict (numpy arrays by content)."""
    items = []
    for k in sorted(attrs):
        v = attrs[k]
        if isinstance(v, np.ndarray):
            v = ("ndarray", v.dtype.str, v.shape, v.tobytes())
        elif isinstance(v, list):
            v = tuple(v)
        items.append((k, v))
    return tuple(items)
