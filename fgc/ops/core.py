"""How an ``fgc.ops`` call runs: recorded on symbolic tensors, computed on arrays, one definition.

Every op is a builder function ``fn(b, *operands, **static)`` that emits primitives with a
Builder. On symbolic tensors the call becomes an ``OpLayer`` node (shape rule, vjp and ONNX
emission come from the primitives); on arrays the same function is emitted into a one-op graph,
exported and run in an onnxruntime session cached per (op, static attributes, input signature).
Static attributes must be hashable (tuples, not lists); builder functions must not close over
anything else, since the cache key is their code plus the static attributes.
"""
from __future__ import annotations

import numbers

import numpy as np

from fgc.ir import Graph, TensorType, Value
from fgc.ir.types import FLOAT_DTYPES, canonical_dtype
from fgc.layers.base import KerasTensor
from fgc.layers.op_layer import OpLayer, active_trace
from fgc.variables import Variable

_SESSIONS: dict = {}


def is_tensor(x) -> bool:
    """Whether ``x`` is symbolic (a KerasTensor)."""
    return isinstance(x, KerasTensor)


def convert_to_tensor(x, dtype=None):
    """An array of ``x`` (float64 becomes float32, Keras' floatx; Python ints int32); symbolic stays symbolic."""
    if isinstance(x, Variable):
        trace = active_trace()
        x = trace.read(x) if trace is not None else x.numpy()
    if isinstance(x, KerasTensor):
        return x if dtype is None or canonical_dtype(dtype) == x.dtype else _cast_symbolic(x, dtype)
    if dtype is not None:
        return np.asarray(x, dtype=np.dtype(canonical_dtype(dtype)))
    arr = np.asarray(x)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu" and not isinstance(x, np.ndarray) and arr.dtype == np.int64:
        return arr.astype(np.int32)  # Python ints and lists of them, as Keras gives int32
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"cannot convert {type(x).__name__} of dtype {arr.dtype} to a tensor; expected numbers")
    return arr


def _cast_symbolic(x, dtype):
    return apply("cast", lambda b, v, to: b.Cast(v, to=to), x, to=canonical_dtype(dtype))


def _operand(x):
    """A KerasTensor, an array, or a Python scalar (kept weak, as Keras/JAX treat Python numbers)."""
    if isinstance(x, (KerasTensor, Variable)):
        return convert_to_tensor(x)
    if isinstance(x, (bool, numbers.Number)) and not isinstance(x, np.generic):
        return x
    return convert_to_tensor(x)


def apply(op_name: str, fn, *args, multi_output: bool = False, **static):
    """Run op ``fn`` on ``args``: record it when any is symbolic, else compute it now."""
    if active_trace() is None and any(isinstance(a, Variable) for a in args) and \
            any(isinstance(a, KerasTensor) for a in args):
        raise ValueError(f"ops.{op_name}: a layer's weight is used with a symbolic tensor outside that layer's call(); "
                         f"it would be frozen into the graph as a constant. Read weights inside a subclassed layer's "
                         f"call() instead")
    operands = [_operand(a) for a in args]
    if any(isinstance(a, KerasTensor) for a in operands):
        return _record(op_name, fn, operands, multi_output, static)
    return _eager(op_name, fn, operands, multi_output, static)


def _record(op_name, fn, operands, multi_output, static):
    positions = [i for i, a in enumerate(operands) if isinstance(a, KerasTensor)]
    constants = {i: a for i, a in enumerate(operands) if i not in positions}

    def build(b, *values):
        full = [None] * len(operands)
        for i, v in zip(positions, values):
            full[i] = v
        for i, c in constants.items():
            full[i] = b.const(c, canonical_dtype(c.dtype)) if isinstance(c, np.ndarray) else c
        return fn(b, *full, **static)

    layer = OpLayer(op_name, build, multi_output)
    return layer([operands[i] for i in positions])


def _signature(a):
    if isinstance(a, np.ndarray):
        return ("array", a.dtype.str, a.shape)
    return ("scalar", type(a).__name__, a)


def _eager(op_name, fn, operands, multi_output, static):
    from fgc.export.onnx import to_onnx
    from fgc.primitives import Builder

    key = (op_name, fn.__code__, tuple(sorted(static.items())), tuple(_signature(a) for a in operands))
    entry = _SESSIONS.get(key)
    if entry is None:
        g = Graph(op_name)
        b = Builder(g, op_name)
        values = [g.add_input(f"x{i}", TensorType(a.shape, canonical_dtype(a.dtype)))
                  if isinstance(a, np.ndarray) else a for i, a in enumerate(operands)]
        out = fn(b, *values, **static)
        outs = [out] if isinstance(out, Value) else list(out)
        g.outputs, g.output_names = outs, [f"y{i}" for i in range(len(outs))]
        entry = _SESSIONS[key] = (_session(to_onnx(g)), [f"x{i}" for i, a in enumerate(operands)
                                                         if isinstance(a, np.ndarray)])
    session, names = entry
    feed = dict(zip(names, (a for a in operands if isinstance(a, np.ndarray))))
    results = session.run(None, feed)
    return tuple(results) if multi_output else results[0]


def _session(model):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- dtype rules used by the builder functions
def _is_value(x) -> bool:
    return isinstance(x, Value)


_FLOAT_RANK = {"float16": 0, "float32": 1, "float64": 2}
_INT_RANK = {"bool": 0, "uint8": 1, "int8": 1, "int32": 2, "int64": 3}


def result_dtype(dtypes, scalars=()) -> str:
    """numpy-style promotion as Keras 3 does it: tensors decide, Python scalars are weak (a Python
    float lifts ints and bools to float32, a Python int lifts bools to int32)."""
    floats = [d for d in dtypes if d in FLOAT_DTYPES]
    if floats:
        return max(floats, key=_FLOAT_RANK.__getitem__)
    if any(isinstance(s, float) for s in scalars):
        return "float32"
    ints = [d for d in dtypes if d != "bool"]
    if ints:
        return max(ints, key=_INT_RANK.__getitem__)
    if any(isinstance(s, int) and not isinstance(s, bool) for s in scalars):
        return "int32"
    return "bool" if dtypes else "float32"


def promote(b, *xs, dtype: str | None = None):
    """Operands as Values of one dtype (``dtype`` or the promoted one)."""
    target = dtype or result_dtype([b.type(x).dtype for x in xs if _is_value(x)], [x for x in xs if not _is_value(x)])
    out = []
    for x in xs:
        if _is_value(x):
            out.append(x if b.type(x).dtype == target else b.Cast(x, to=target))
        else:
            out.append(b.const(np.asarray(x, dtype=np.dtype(target)), target))
    return out


def as_float(b, x):
    """x as a float Value (ints and bools become float32, as Keras' float-valued ops return)."""
    x = promote(b, x)[0]
    return x if b.type(x).dtype in FLOAT_DTYPES else b.Cast(x, to="float32")
