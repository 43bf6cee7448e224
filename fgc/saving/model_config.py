"""Functional and Sequential model configs in Keras 3's format.

A functional config lists the model's layers (each a serialized layer plus its ``name`` and the
``inbound_nodes`` that call it inside this model) and refers to tensors as
``[layer_name, node_index, tensor_index]``. Node indices count only the calls that belong to this
model. One quirk of Keras 3 kept for compatibility: in ``input_layers`` / ``output_layers`` (not in
``inbound_nodes``) the calls of a nested functional model count from 1, because Keras reckons it a
node 0 of its own there (``functional.py``: ``get_tensor_config`` adds it, ``get_tensor`` removes it).
"""
from __future__ import annotations

from .serialization import deserialize_keras_object, serialize_keras_object


# ---------------------------------------------------------------------------------------------- writing
def functional_config(model) -> dict:
    from fgc.layers.op_layer import OpLayer

    kept = {id(node) for node in model._nodes}
    index = _node_indices(model, kept)
    layers = []
    for layer in model._layers:
        if isinstance(layer, OpLayer):
            if getattr(layer, "keras_call", None) is not None:
                layers.append(_op_entry(layer, index))
            continue   # a helper step of another op, which the config replays from that op's arguments
        entry = serialize_keras_object(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [_node_config(node, index) for node in layer._inbound_nodes if id(node) in kept]
        layers.append(entry)
    config = {"name": model.name, "trainable": model.trainable, "layers": layers,
              "input_layers": _structure(model.inputs, model._input_keys, model._single_input, index),
              "output_layers": _structure(model.outputs, model._output_keys, model._single_output, index)}
    _check_refs_written(model, config)
    return config


def _op_entry(layer, index) -> dict:
    """An ``fgc.ops`` call as Keras writes an operation node (module ``keras.src.ops.*``)."""
    call = layer.keras_call
    tensors = {}

    def arg(value):
        from fgc.layers.base import KerasTensor

        if isinstance(value, KerasTensor):
            tensors[id(value)] = value
            return _keras_tensor(value, index)
        if isinstance(value, (list, tuple)):
            return type(value)(arg(v) for v in value)
        return serialize_keras_object(value)

    return {"module": call.module, "class_name": call.class_name,
            "config": {"name": layer.name, **serialize_keras_object(call.config)},
            "registered_name": call.class_name, "name": layer.name,
            "inbound_nodes": [{"args": [arg(a) for a in call.args], "kwargs": {}}]}


def _check_refs_written(model, config) -> None:
    """Every tensor the config refers to comes from a layer or operation it writes (an fgc.ops call that has
    no Keras operation is not written, see functional_config)."""
    from fgc.layers.op_layer import OpLayer

    written = {entry["name"] for entry in config["layers"]}
    uses = [(f"'{entry['name']}'", name)
            for entry in config["layers"] for name, _, _ in _refs_in(entry["inbound_nodes"])]
    for key in ("input_layers", "output_layers"):
        refs = config[key]
        refs = list(refs.values()) if isinstance(refs, dict) else [refs] if refs and isinstance(refs[0], str) else refs
        uses += [(f"the model's {key[:-7]}s", ref[0]) for ref in refs]
    for user, name in uses:
        if name not in written:
            layer = next((lay for lay in model._layers if lay.name == name), None)
            what = f"an fgc.ops call ({layer.op_name})" if isinstance(layer, OpLayer) else "a layer"
            raise TypeError(f"model '{model.name}' cannot be written to a config: {user} read(s) the output of "
                            f"'{name}', {what} that has no Keras operation to save it as; wrap the computation "
                            f"in a Lambda or a subclassed layer")


def _structure_offset(layer) -> int:
    """1 for a nested functional model in input_layers / output_layers (see the module doc), else 0."""
    from fgc.functional import Model, Sequential

    return 1 if isinstance(layer, Model) and not isinstance(layer, Sequential) else 0


def _node_indices(model, kept) -> dict:
    """id(node) -> its index in this model's config."""
    index = {}
    for layer in model._layers:
        k = 0
        for node in layer._inbound_nodes:
            if id(node) in kept:
                index[id(node)] = k
                k += 1
    return index


def _tensor_ref(t, index) -> list:
    from fgc.layers.base import InputLayer

    layer, node_index, tensor_index = t._keras_history
    if isinstance(layer, InputLayer):
        return [layer.name, 0, tensor_index]
    return [layer.name, index[id(layer._inbound_nodes[node_index])], tensor_index]


def _keras_tensor(t, index) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": tuple(t.shape), "dtype": t.dtype, "keras_history": _tensor_ref(t, index)}}


def _node_config(node, index) -> dict:
    from fgc.functional import Model, _call_inputs

    tensors = [_keras_tensor(t, index) for t in _call_inputs(node)]
    args = [tensors] if getattr(node, "args_is_list", len(tensors) > 1) else tensors
    kwargs = {k: v for k, v in node.call_args.items() if not k.startswith("_")}
    mask = getattr(node, "mask_given", None)
    if mask is not None:
        kwargs["mask"] = _mask_config(mask, index)
    elif node.layer.consumes_mask:
        kwargs["mask"] = None   # Keras records the (absent) mask argument of a layer whose call takes one
    return {"args": args, "kwargs": kwargs}


def _mask_config(mask, index):
    from fgc.layers.base import KerasTensor

    if isinstance(mask, KerasTensor):
        return _keras_tensor(mask, index)
    if isinstance(mask, (list, tuple)):
        return [_mask_config(m, index) for m in mask]
    source = getattr(mask, "source", None)
    if isinstance(source, KerasTensor) and getattr(mask, "kind", None) == "tensor":
        return _keras_tensor(source, index)
    raise ValueError(f"cannot write the explicit mask {mask!r} into a model config: pass masks as symbolic tensors")


def _structure(tensors, keys, single, index):
    refs = []
    for t in tensors:
        name, node, tensor = _tensor_ref(t, index)
        refs.append([name, node + _structure_offset(t._keras_history[0]), tensor])
    if keys is not None:
        return dict(zip(keys, refs))
    return refs[0] if single else refs


def sequential_config(model) -> dict:
    from fgc.layers.base import dtype_policy

    layers = list(model.layers)
    if model._input is not None:
        layers.insert(0, model._input._keras_history[0])
    config = {"name": model.name, "trainable": model.trainable, "dtype": dtype_policy(model.dtype_policy),
              "layers": [serialize_keras_object(layer) for layer in layers]}
    if model.built:
        config["build_input_shape"] = tuple(model._input.shape)
    return config


# ---------------------------------------------------------------------------------------------- reading
def functional_from_config(cls, config, custom_objects=None):
    created = {}
    pending = {}
    for layer_data in config["layers"]:
        data = {k: v for k, v in layer_data.items() if k not in ("name", "inbound_nodes", "build_config")}
        keras_op = str(data.get("module", "")).startswith("keras.src.ops.")
        layer = KerasOp(data) if keras_op else deserialize_keras_object(data, custom_objects)
        name = layer_data.get("name", layer.name)
        created[name] = layer
        pending[name] = list(layer_data.get("inbound_nodes", []))
    tensors = {}
    for name, layer in created.items():
        if _is_input_layer(layer):
            tensors[(name, 0)] = layer._inbound_nodes[0].outputs
    made = {name: 0 for name in created}
    while any(pending.values()):
        progressed = False
        for name, layer in created.items():
            while pending[name] and _ready(pending[name][0], tensors):
                outputs = _call_node(layer, pending[name].pop(0), tensors)
                tensors[(name, made[name])] = outputs
                made[name] += 1
                progressed = True
        if not progressed:
            stuck = {n: len(p) for n, p in pending.items() if p}
            raise ValueError(f"model config '{config.get('name')}' cannot be rebuilt: the calls of layers {stuck} "
                             f"refer to tensors no layer makes (a broken or hand-edited config)")
    inputs = _resolve_structure(config["input_layers"], tensors, created)
    outputs = _resolve_structure(config["output_layers"], tensors, created)
    return cls(inputs=inputs, outputs=outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _is_input_layer(layer) -> bool:
    from fgc.layers.base import InputLayer

    return isinstance(layer, InputLayer)


def _refs_in(value):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        yield tuple(value["config"]["keras_history"])
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _refs_in(v)


def _ready(node_data, tensors) -> bool:
    return all((name, node) in tensors for name, node, _ in _refs_in(_node_parts(node_data)))


def _node_parts(node_data):
    if isinstance(node_data, dict):
        return [node_data.get("args", []), node_data.get("kwargs", {})]
    return node_data   # Keras 2's [[name, node, tensor, kwargs], ...]


_PLAIN_VALUES = ("__numpy__", "__slice__", "__ellipsis__", "__tuple__", "__bytes__")


def _resolve(value, tensors):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node, index = value["config"]["keras_history"]
        return tensors[(name, node)][index]
    if isinstance(value, dict) and value.get("class_name") in _PLAIN_VALUES:
        return deserialize_keras_object(value)
    if isinstance(value, dict):
        return {k: _resolve(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, tensors) for v in value]
    return value


class KerasOp:
    """A ``keras.src.ops`` operation in a Keras functional config (Keras records, for instance, the mask
    ``NotEqual(ids, 0)`` of an ``Embedding(mask_zero=True)`` that feeds an LSTM), replayed as the
    ``fgc.ops`` function of the same name with the operation's attributes."""

    def __init__(self, data: dict):
        import inspect

        from fgc import ops
        from fgc.naming import snake_case
        from fgc.ops.records import FGC_OP_OF_CLASS, KERAS_OPS

        config = _resolve(dict(data.get("config") or {}), {})
        class_name = data["class_name"]
        self.name = config.pop("name", snake_case(class_name))
        self.op = FGC_OP_OF_CLASS.get(class_name, snake_case(class_name))
        self.function = getattr(ops, self.op, None)
        if self.function is None:
            raise ValueError(f"the model calls Keras' operation {data.get('module')}.{class_name}, which "
                             f"fgc.ops does not have")
        self.call_names = KERAS_OPS.get(self.op, (None, None, ()))[2]
        accepted = inspect.signature(self.function).parameters
        for key in [k for k in config if k not in accepted]:
            if config[key] not in (None, False, 0):   # Keras' defaults of the arguments fgc has no use for
                raise NotImplementedError(f"operation '{self.name}' ({class_name}) has {key}={config[key]!r}, "
                                          f"which fgc.ops.{self.op} does not support")
            del config[key]
        self.attributes = config

    def __call__(self, *args, **kwargs):
        if self.op == "getitem" and len(args) == 2 and isinstance(args[1], list):
            args = (args[0], tuple(args[1]))   # JSON turned the index tuple x[a, b] into a list
        if self.call_names == ("operands",):   # einsum(subscripts, *operands)
            return self.function(self.attributes["subscripts"], *args, **kwargs)
        if self.call_names and len(args) <= len(self.call_names):
            # by name: Keras' call arguments need not be the function's first parameters (Pad's constant_values)
            return self.function(**dict(zip(self.call_names, args)), **self.attributes, **kwargs)
        return self.function(*args, **self.attributes, **kwargs)


def _call_node(layer, node_data, tensors):
    if not isinstance(node_data, dict):
        raise ValueError(f"layer '{layer.name}': inbound_nodes in the Keras 2 list format are not supported; "
                         f"re-save the model with Keras 3")
    args = _resolve(node_data.get("args", []), tensors)
    kwargs = {k: v for k, v in _resolve(node_data.get("kwargs", {}), tensors).items()
              if not (k == "mask" and v is None)}
    if isinstance(layer, KerasOp):
        out = layer(*args, **kwargs)
        return list(out) if isinstance(out, (list, tuple)) else [out]
    if len(args) != 1:
        raise ValueError(f"layer '{layer.name}' is called with {len(args)} positional arguments in the config; "
                         f"fgc layers take their inputs as one argument")
    out = layer(args[0], **kwargs)
    return out if isinstance(out, list) else [out]


def _resolve_structure(refs, tensors, created):
    def one(ref):
        name, node, index = ref
        if name not in created:
            raise ValueError(f"the model's inputs or outputs name a layer '{name}' the config does not have")
        return tensors[(name, node - _structure_offset(created[name]))][index]

    if isinstance(refs, dict):
        return {k: one(v) for k, v in refs.items()}
    if refs and isinstance(refs[0], str):
        return one(refs)
    return [one(r) for r in refs]


def sequential_from_config(cls, config, custom_objects=None):
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for layer_data in config["layers"]:
        layer = deserialize_keras_object(layer_data, custom_objects)
        model.add(layer)
    shape = config.get("build_input_shape")
    if not model.built and shape is not None:
        model.build(tuple(shape))
    return model
