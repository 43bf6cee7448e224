"""Random primitives (never merged by CSE)."""
from __future__ import annotations

import numpy as np

from .registry import primitive


def _dropout_infer(types, attrs):
    return [types[0], types[0].with_dtype("bool")]


def _dropout_vjp(b, n, gs):
    # The mask output says which units were kept; kept units were scaled by 1/(1-ratio).
    keep = b.Cast(n.outputs[1], to=n.in_types[0].dtype)
    return [b.Mul(gs[0], b.Mul(keep, 1.0 / (1.0 - n.attrs["ratio"])))]


def _dropout_emit(e, n, ins, outs):
    dt = np.dtype(n.in_types[0].dtype)
    e.node("Dropout", [ins[0], e.const(np.array(n.attrs["ratio"], dt)), e.const(np.array(True))], outs)


primitive("Dropout", _dropout_infer, _dropout_vjp, emit=_dropout_emit)
