"""ONNX's native LSTM / GRU / RNN ops: the inference form of recurrent layers (fast, and what a
deployed model should contain). Training lowers the same layers to Scan, which has a gradient."""
from __future__ import annotations

from onnx import TensorProto

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


def _native_emit(op):
    """The op itself; in float16 (mixed precision) it runs in float32 between Casts: onnxruntime's CPU
    provider has no float16 kernels for these ops (and crashes on some), and a long recurrence keeps
    more of its precision in float32 (as the float16 export pass does)."""
    def emit(e, n, ins, outs):
        attrs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in n.attrs.items() if not k.startswith("_")}
        if n.in_types[0].dtype != "float16":
            e.node(op, ins, outs, **attrs)
            return
        wide = [e.node("Cast", [name], [e.fresh("rnn_f32")], to=TensorProto.FLOAT)[0] if t.dtype == "float16"
                else name for name, t in zip(ins, n.in_types)]
        results = [e.fresh("rnn_f32") for _ in outs]
        e.node(op, wide, results, **attrs)
        for result, out in zip(results, outs):
            e.node("Cast", [result], [out], to=TensorProto.FLOAT16)
    return emit


for _op in _GATES:
    primitive(_op, _native_infer(_op), nondiff="inference form; training lowers recurrent layers to Scan",
              emit=_native_emit(_op))
