"""ONNX's native LSTM / GRU / RNN ops: the inference form of recurrent layers (fast, and what a
deployed model should contain). Training lowers the same layers to Scan, which has a gradient."""
from __future__ import annotations

from fgc.ir.types import ShapeError

from .registry import primitive

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _native_infer(op):
    def infer(types, attrs):
        x, w = types[0], types[1]
        if x.rank != 3:
            raise ShapeError(f"{op} takes a time-major (T, N, features) input, got {x}")
        h = attrs["hidden_size"]
        if w.shape[1] != _GATES[op] * h:
            raise ShapeError(f"{op} W has {w.shape[1]} rows, expected {_GATES[op] * h}")
        seq = x.with_shape((x.shape[0], 1, x.shape[1], h))
        last = x.with_shape((1, x.shape[1], h))
        return [seq, last, last] if op == "LSTM" else [seq, last]
    return infer


for _op in _GATES:
    primitive(_op, _native_infer(_op), nondiff="inference form; training lowers recurrent layers to Scan")
