"""Builder: appends primitives to a graph, inferring each output type as it goes.

Used by layer lowering, the autodiff pass, losses and optimizers, so all of them write
``b.MatMul(x, w)`` or ``b.Mul(g, 0.5)``; a Python number next to a Value becomes a scalar
constant of that Value's dtype.
"""
from __future__ import annotations

import numbers

import numpy as np

from fgc.ir.graph import Graph, Value
from fgc.ir.types import ShapeError, TensorType, canonical_dtype, numpy_dtype

from . import registry


class Builder:
    def __init__(self, graph: Graph, prefix: str, layer=None):
        self.graph = graph
        self.prefix = prefix
        self.layer = layer
        self._consts: dict = {}

    def type(self, v: Value) -> TensorType:
        return self.graph.type_of(v)

    def shape(self, v: Value) -> tuple:
        return self.graph.type_of(v).shape

    # ------------------------------------------------------------------ sources
    def const(self, value, dtype: str | None = None) -> Value:
        arr = np.asarray(value, dtype=numpy_dtype(dtype) if dtype else None)
        if arr.dtype == np.float64 and dtype is None:
            arr = arr.astype(np.float32)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.graph.add_node(f"{self.prefix}/const", "constant",
                                       outputs=(TensorType(arr.shape, canonical_dtype(arr.dtype)),),
                                       attrs={"value": arr})
            self._consts[key] = Value(name)
        return self._consts[key]

    def param(self, name: str) -> Value:
        spec = self.graph.params[name]
        node = self.graph.add_node(f"{name}", "param", outputs=(spec.type,), attrs={"name": name})
        return Value(node)

    def update_param(self, param: Value, value: Value) -> None:
        """Record a new value for a non-trainable weight (BatchNorm's moving statistics): a training
        graph output ``new/<param>`` that the runtime writes back after each step."""
        name = self.graph.node(param.node)["attrs"]["name"]
        self.graph.outputs.append(value)
        self.graph.output_names.append(f"new/{name}")

    def add_check(self, name: str, count: Value, message: str) -> None:
        """A graph output ``check/<name>`` counting bad values; the host raises ``message`` (with
        ``{count}`` filled in) when it is not zero, before anything is committed."""
        out, k = f"check/{name}", 1
        while out in self.graph.checks:
            out, k = f"check/{name}#{k}", k + 1
        self.graph.outputs.append(count)
        self.graph.output_names.append(out)
        self.graph.checks[out] = message

    # ------------------------------------------------------------------ ops
    def emit(self, op: str, *inputs, hint: str | None = None, **attrs):
        opdef = registry.get(op)
        # a Python number takes the dtype of the first non-bool operand (Where's condition is bool)
        dtypes = [self.type(v).dtype for v in inputs if isinstance(v, Value)]
        dtype = next((d for d in dtypes if d != "bool"), dtypes[0] if dtypes else "float32")
        vals = tuple(self.const(v, dtype) if _is_number(v) else v for v in inputs)
        types = [self.type(v) for v in vals]
        try:
            outs = opdef.infer(types, attrs)
        except ShapeError as e:
            where = f" in layer '{self.layer.name}'" if self.layer is not None else ""
            raise ShapeError(f"{op}{where}: {e} (input types: {', '.join(map(str, types))})") from None
        name = self.graph.add_node(f"{self.prefix}/{hint or op}", op, vals, outs, attrs, self.layer)
        if len(outs) == 1:
            return Value(name)
        return tuple(Value(name, i) for i in range(len(outs)))

    def __getattr__(self, op: str):
        if op in registry.OPS:
            return lambda *inputs, **attrs: self.emit(op, *inputs, **attrs)
        raise AttributeError(op)


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Number, np.ndarray, np.generic)) and not isinstance(v, Value)
