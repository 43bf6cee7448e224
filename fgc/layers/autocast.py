"""Keras 3 autocasting: a layer computes in its policy's compute dtype.

A layer's floating inputs are cast to its compute dtype and its float weights (those made with
``add_weight(autocast=True)``, the default) are read in that dtype; the weights themselves keep the
variable dtype, so gradients flow back through the Casts (Cast's vjp casts the cotangent back) to
float32 variables. Layers that Keras runs in float32 under a half-precision policy (the
normalizations: ``computes_in_float32``) get float32 inputs and weights and cast their outputs to the
compute dtype. A layer whose policy is float32 and whose inputs are float32 is lowered untouched.
"""
from __future__ import annotations

from fgc.ir.types import TensorType

HALF_DTYPES = ("float16", "bfloat16")
_BFLOAT16 = ("computing in bfloat16 (the 'mixed_bfloat16' and 'bfloat16' policies) is not supported by fgc yet: "
             "onnxruntime's CPU provider has almost no bfloat16 kernels. Use 'mixed_float16' or 'float32'")


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float") or dtype == "bfloat16"


def inner_dtype(layer) -> str | None:
    """The dtype ``layer.lower`` reads its float inputs and weights in, or None where nothing is cast in
    (models and fgc.ops calls, which Keras never casts; layers with a non-float policy; layers with
    ``autocast = False``, such as Embedding, whose outputs alone are cast to the compute dtype)."""
    if not getattr(layer, "_convert_input_args", True):
        return None
    compute = layer.compute_dtype
    if not _is_float(compute):
        return None
    if compute in HALF_DTYPES and getattr(layer, "computes_in_float32", False):
        return "float32"
    return compute if getattr(layer, "autocast", True) else None


def _casts_outputs(layer) -> bool:
    """Whether float outputs come out in the compute dtype: always for a layer with a float policy (Keras'
    symbolic outputs have the compute dtype, whatever ``autocast`` says)."""
    return getattr(layer, "_convert_input_args", True) and _is_float(layer.compute_dtype)


def _retyped(types, dtype: str) -> list[TensorType]:
    return [t.with_dtype(dtype) if _is_float(t.dtype) and t.dtype != dtype else t for t in types]


def _output_dtype(layer) -> str | None:
    """The dtype float outputs are cast to, or None (a subclassed model returns what its call returns)."""
    return layer.compute_dtype if _casts_outputs(layer) and getattr(layer, "_outputs_in_compute_dtype", True) \
        else None


def output_types(layer, in_types, call_args) -> list[TensorType]:
    """``layer.compute_output_types`` for inputs as the layer sees them after autocasting; float outputs
    come out in the compute dtype."""
    if _casts_outputs(layer) and layer.compute_dtype == "bfloat16":
        raise NotImplementedError(f"layer '{layer.name}': {_BFLOAT16}")
    inner = inner_dtype(layer)
    outs = layer.compute_output_types(in_types if inner is None else _retyped(in_types, inner), node_attrs=call_args)
    out_dtype = _output_dtype(layer)
    return outs if out_dtype is None else _retyped(outs, out_dtype)


def cast_to(b, v, dtype: str):
    t = b.type(v)
    return b.Cast(v, to=dtype) if _is_float(t.dtype) and t.dtype != dtype else v


def lower(layer, b, inputs, params: dict, training: bool, call_args):
    """``layer.lower`` with Keras' autocasting around it (see the module docstring)."""
    if not _casts_outputs(layer):
        return layer.lower(b, inputs, params, training, call_args)
    if layer.compute_dtype == "bfloat16":
        raise NotImplementedError(f"layer '{layer.name}': {_BFLOAT16}")
    from .masks import mask_input_count

    inner = inner_dtype(layer)
    if inner is not None:
        n_data = len(inputs) - mask_input_count(call_args)
        inputs = [cast_to(b, v, inner) for v in inputs[:n_data]] + list(inputs[n_data:])
        params = _autocast_params(b, params, inner)
    outs = layer.lower(b, inputs, params, training, call_args)
    out_dtype = _output_dtype(layer)
    return outs if out_dtype is None else [cast_to(b, v, out_dtype) for v in outs]


def _autocast_params(b, params: dict, dtype: str) -> dict:
    """The weights as the layer reads them: autocast ones in ``dtype`` (one Cast per weight; a weight
    is keyed both by its Variable and by its name, and both keys get the same Cast)."""
    from fgc.variables import Variable

    cast_of = {}
    for key, value in params.items():
        if isinstance(key, Variable) and getattr(key, "autocast", True) and value not in cast_of:
            cast_of[value] = cast_to(b, value, dtype)
    return {key: cast_of.get(value, value) for key, value in params.items()}


def autocast_param_dtype(layer, var) -> str:
    """The dtype ``layer``'s lowering reads weight ``var`` in (used by traces of subclassed layers)."""
    inner = inner_dtype(layer)
    if inner is None or not getattr(var, "autocast", True) or not _is_float(var.dtype):
        return var.dtype
    return inner
