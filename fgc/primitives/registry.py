"""The primitive registry: one entry per op, holding its shape rule, its vjp and its emission.

Primitives are ONNX ops (same names, same attributes) plus a few pseudo-ops with a custom
emission (``ReshapeLike``, ``ExpandLike``, ``SizeOf``). Attributes stay static in the IR;
the emitter turns the ones that opset 18 takes as inputs (``axes``, ``shape``, ...) into
int64 constants, listed in ``attr_inputs``.

vjp signature: ``vjp(b, n, gs) -> list`` with ``b`` a Builder, ``n`` an OpView of the node and
``gs`` one cotangent (Value or None for zero) per output; returns one cotangent per input
(None where no gradient flows). Cotangents may keep the broadcast output shape: the autodiff
driver reduces them to the input's shape once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from fgc.ir.types import TensorType


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: Callable[[list[TensorType], dict], list[TensorType]]
    vjp: Callable | None = None
    nondiff: str | None = None          # why the op carries no gradient
    emit: Callable | None = None        # (emitter, view, in_names, out_names); default 1:1
    attr_inputs: tuple[str, ...] = ()   # attrs that become int64 inputs in ONNX, in order
    onnx_attrs: Callable | None = None  # attrs -> ONNX attributes (default: attrs minus attr_inputs)


OPS: dict[str, OpDef] = {}


def primitive(name, infer, vjp=None, nondiff=None, emit=None, attr_inputs=(), onnx_attrs=None) -> OpDef:
    if name in OPS:
        raise ValueError(f"primitive {name!r} registered twice")
    if vjp is None and nondiff is None:
        raise ValueError(f"primitive {name!r} needs a vjp or a non-differentiable reason")
    OPS[name] = OpDef(name, infer, vjp, nondiff, emit, tuple(attr_inputs), onnx_attrs)
    return OPS[name]


def get(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown primitive {name!r}") from None


@dataclass
class OpView:
    """What a vjp or an emitter sees of one node."""

    name: str
    op: str
    inputs: tuple
    outputs: tuple          # Values of the outputs
    in_types: tuple
    out_types: tuple
    attrs: dict
    layer: object = None
    extra: dict = field(default_factory=dict)

    @property
    def out(self):
        return self.outputs[0]


def view(graph, name: str) -> OpView:
    from fgc.ir.graph import Value

    d = graph.node(name)
    outs = tuple(Value(name, i) for i in range(len(d["outputs"])))
    return OpView(name, d["op"], d["inputs"], outs, tuple(graph.type_of(v) for v in d["inputs"]),
                  d["outputs"], d["attrs"], d["layer"])
