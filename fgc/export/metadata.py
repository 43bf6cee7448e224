"""What a deployment needs to know about an exported file, in its ``metadata_props``.

Keys (values are strings; the structured ones are JSON):

- ``fgc_version``: the fgc that wrote the file.
- ``keras_class``: the model's Keras class (``Functional``, ``Sequential``).
- ``keras_layers``: ``[[layer name, Keras class name], ...]`` in the model's layer order.
- ``inputs`` / ``outputs``: ``[{"name", "dtype", "shape", "keras_dtype"}, ...]`` in the file's order;
  ``shape`` holds ints and the names of symbolic dims (``"N"`` is the batch), ``dtype`` what the
  file takes or gives, ``keras_dtype`` what the model declared (an int32 input is taken as int64).
- ``precision``: ``float32`` or ``float16`` (weights and compute); ``quantize``: ``none``, ``int8``
  (dynamic) or ``int8-static``; ``optimized_for``: the onnxruntime version and provider whose
  offline optimizations the file holds (absent when it holds none: then any onnxruntime runs it).
"""
from __future__ import annotations

import json

import onnx
from onnx import helper

import fgc


def _keras_class(obj) -> str:
    name = type(obj).__name__
    return "Functional" if name == "Model" else name


def _tensor_entries(infos, declared: dict[str, str]) -> list[dict]:
    entries = []
    for info in infos:
        ttype = info.type.tensor_type
        shape = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in ttype.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(ttype.elem_type).name
        entries.append({"name": info.name, "dtype": dtype, "shape": shape,
                        "keras_dtype": declared.get(info.name, dtype)})
    return entries


def deployment_metadata(model, proto: onnx.ModelProto, declared: dict[str, str], variant: dict[str, str]) -> dict:
    """The metadata entries for ``proto``, the export of ``model``; ``declared`` maps each input and
    output name to the dtype the model gives it; ``variant`` adds precision / quantize / optimized_for."""
    return {
        "fgc_version": fgc.__version__,
        "keras_class": _keras_class(model),
        "keras_layers": json.dumps([[layer.name, _keras_class(layer)] for layer in model.layers]),
        "inputs": json.dumps(_tensor_entries(proto.graph.input, declared)),
        "outputs": json.dumps(_tensor_entries(proto.graph.output, declared)),
        **variant,
    }


def set_metadata(proto: onnx.ModelProto, entries: dict) -> None:
    """Replace ``proto``'s metadata_props with ``entries`` (sorted, so files are byte-stable)."""
    del proto.metadata_props[:]
    for key in sorted(entries):
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, str(entries[key])
