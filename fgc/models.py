"""``fgc.models``: Model and Sequential, and Keras' model helpers (load_model, save_model, model_from_json,
clone_model)."""
from __future__ import annotations

import json

from .functional import Model, Sequential
from .saving.keras_file import load_model, save_model  # noqa: F401  (Keras' fgc.models.load_model / save_model)
from .saving.serialization import deserialize_keras_object


def model_from_json(json_string, custom_objects=None):
    """The model (fresh weights) that ``model.to_json()`` (from fgc or Keras) describes."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json expects the JSON string model.to_json() returns: {e}") from None
    model = deserialize_keras_object(config, custom_objects=custom_objects)
    if not isinstance(model, Model):
        raise ValueError(f"the JSON describes a {type(model).__name__}, not a model")
    return model


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with ``model``'s architecture and freshly initialized weights (Keras' clone_model).

    Each layer is rebuilt by ``clone_function(layer)`` (default: ``layer.__class__.from_config(
    layer.get_config())``) once, so a layer shared by several calls stays shared in the clone, and a
    nested model is cloned as one layer (recursively when ``recursive=True`` and no clone_function)."""
    from .naming import check_kwargs

    check_kwargs("clone_model()", kwargs, ())
    if call_function is not None:
        raise ValueError("clone_model(call_function=...) is not supported by fgc")
    if not isinstance(model, Model):
        raise TypeError(f"clone_model expects a Model or Sequential, got {type(model).__name__}")
    clone = clone_function or _default_clone(recursive)
    if isinstance(model, Sequential):
        return _clone_sequential(model, input_tensors, clone)
    return _clone_functional(model, input_tensors, clone)


def _default_clone(recursive):
    def clone(layer):
        if recursive and isinstance(layer, Model):
            return clone_model(layer, recursive=True)
        return layer.__class__.from_config(layer.get_config())
    return clone


def _clone_sequential(model, input_tensors, clone):
    from .layers.base import KerasTensor

    layers = [clone(layer) for layer in model.layers]
    clone_seq = Sequential(name=model.name, trainable=model.trainable)
    if input_tensors is not None:
        tensors = input_tensors if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        if len(tensors) != 1 or not isinstance(tensors[0], KerasTensor):
            raise ValueError(f"clone_model of a Sequential takes one input tensor, got {input_tensors!r}")
        clone_seq.add(tensors[0])
    elif model._input is not None:
        clone_seq.add(model._input._keras_history[0].__class__.from_config(model._input._keras_history[0].get_config()))
    for layer in layers:
        clone_seq.add(layer)
    return clone_seq


def _clone_functional(model, input_tensors, clone):
    from .layers.base import InputLayer, KerasTensor

    if input_tensors is None:
        new_inputs = [InputLayer.from_config(t._keras_history[0].get_config())._inbound_nodes[0].outputs[0]
                      for t in model.inputs]
    else:
        new_inputs = list(input_tensors.values()) if isinstance(input_tensors, dict) else \
            list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        if len(new_inputs) != len(model.inputs) or not all(isinstance(t, KerasTensor) for t in new_inputs):
            raise ValueError(f"clone_model: input_tensors must be {len(model.inputs)} symbolic tensor(s) (one per "
                             f"model input {model.input_names}), got {input_tensors!r}")
    tensors = {id(old): new for old, new in zip(model.inputs, new_inputs)}
    clones = {}
    for node in _replay_order(model):
        layer = node.layer
        if id(layer) not in clones:   # one clone per layer: a shared layer stays shared
            clones[id(layer)] = clone(layer)
        outputs = _call_clone(clones[id(layer)], node, tensors)
        for old, new in zip(node.outputs, outputs):
            tensors[id(old)] = new
    inputs = _restructure(model, new_inputs, model._input_keys, model._single_input)
    outputs = _restructure(model, [tensors[id(t)] for t in model.outputs], model._output_keys, model._single_output)
    return Model(inputs, outputs, name=model.name, trainable=model.trainable)


def _replay_order(model) -> list:
    """The model's calls in an order that keeps each layer's calls in their original order (so a shared
    layer's node indices match) and calls every layer after the ones it reads from."""
    kept = {id(node) for node in model._nodes}
    pending = {id(layer): [n for n in layer._inbound_nodes if id(n) in kept] for layer in model._layers}
    available = {id(t) for t in model.inputs}
    order = []
    while any(pending.values()):
        progressed = False
        for layer in model._layers:
            queue = pending[id(layer)]
            while queue and all(id(t) in available for t in queue[0].inputs):
                node = queue.pop(0)
                order.append(node)
                available.update(id(t) for t in node.outputs)
                progressed = True
        assert progressed, "internal: a model's calls cannot be ordered"
    return order


def _call_clone(layer, node, tensors):
    from .functional import _call_inputs

    args = [tensors[id(t)] for t in _call_inputs(node)]
    kwargs = {k: v for k, v in node.call_args.items() if not k.startswith("_")}
    given = getattr(node, "mask_given", None)
    if given is not None and getattr(given, "source", None) is not None and id(given.source) in tensors:
        kwargs["mask"] = tensors[id(given.source)]
    out = layer(args if getattr(node, "args_is_list", len(args) > 1) else args[0], **kwargs)
    return out if isinstance(out, list) else [out]


def _restructure(model, tensors, keys, single):
    if keys is not None:
        return dict(zip(keys, tensors))
    return tensors[0] if single else list(tensors)


__all__ = ["Model", "Sequential", "model_from_json", "clone_model"]
