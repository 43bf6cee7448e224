"""Integer graph inputs taken as int64, the dtype numpy gives integer arrays by default.

An ONNX input has one dtype, and onnxruntime refuses any other ("expected tensor(int32)"), so a
file whose ids input is int32 fails on ``np.array([[3, 1, 4]])``. Exported files take int64 and
narrow inside the graph to the width the model declared:

    x: int32 input   ->   x: int64 input;  x32 = Cast(Clip(x, INT32_MIN, INT32_MAX), int32)

The Clip keeps an id too big for int32 too big (an Embedding still rejects it) instead of
letting the Cast wrap it around into a valid, wrong id.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgc.ir import TensorType, Value

from .manager import Pass

_NARROW = ("int32",)


@dataclass(frozen=True)
class Int64Inputs(Pass):
    name = "int64_inputs"

    def run(self, graph) -> bool:
        modified = False
        for v in list(graph.inputs):
            d = graph.node(v.node)
            declared = d["outputs"][0]
            if declared.dtype not in _NARROW:
                continue
            info = np.iinfo(declared.dtype)
            users = graph.value_users(v)
            outputs_here = [i for i, o in enumerate(graph.outputs) if o == v]
            d["outputs"] = (TensorType(declared.shape, "int64"),)
            clip = graph.add_node(f"{v.node}/clip", "Clip", (v,), (d["outputs"][0],),
                                  {"min": int(info.min), "max": int(info.max)})
            cast = Value(graph.add_node(f"{v.node}/narrow", "Cast", (Value(clip),), (declared,),
                                        {"to": declared.dtype}))
            for user in {u for u, _ in users}:
                graph.set_inputs_of(user, tuple(cast if i == v else i for i in graph.node(user)["inputs"]))
            for i in outputs_here:
                graph.outputs[i] = cast
            modified = True
        return modified
