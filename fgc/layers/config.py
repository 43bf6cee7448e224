"""Reading a layer's Keras 3 config back into constructor arguments (``Layer.from_config``).

Keras writes values in serialized form: the dtype as a DTypePolicy dict, initializers as config
dicts, regularizers and constraints as config dicts, wrapped layers as full layer configs. Keras
keys for features fgc does not implement (quantization, renorm...) are accepted only at Keras' default value, so a
model that relies on one is refused with a clear error instead of silently changing meaning.
"""
from __future__ import annotations

from fgc import initializers


def dtype_from_config(value, where: str):
    """A policy name from Keras' dtype entry (a name, or a serialized DTypePolicy)."""
    from fgc import dtype_policies

    if isinstance(value, dict):
        try:
            return dtype_policies.deserialize(value).name
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return value


def init_arguments(cls, config: dict) -> dict:
    """The keyword arguments ``cls(**...)`` takes for a Keras config of class ``cls``."""
    from fgc.saving.serialization import deserialize_keras_object

    where = f"{cls.__name__}.from_config"
    args = dict(config)
    if "dtype" in args:
        args["dtype"] = dtype_from_config(args["dtype"], where)
    for key, accepted in cls.keras_only_config.items():
        if key in args:
            value = args.pop(key)
            if value != accepted:
                raise ValueError(f"{where}: '{key}'={value!r} is not supported by fgc; only {accepted!r} "
                                 f"(Keras' default) is")
    for key, value in args.items():
        if key.endswith("_initializer") and isinstance(value, dict):
            args[key] = initializers.get(value)
        elif isinstance(value, dict) and "class_name" in value:
            # a wrapped layer is built by its wrapper, for the wrapper's input: not from its own build_config
            args[key] = deserialize_keras_object({k: v for k, v in value.items() if k != "build_config"})
    return args


def initializer_config(identifier):
    """An initializer as Keras writes it in a layer config (a serialized initializer)."""
    return initializers.serialize(identifier)


def activation_config(name: str, fn):
    """An activation as Keras writes it in a layer config: its name, or a registered function's config."""
    from fgc import activations
    from fgc.saving.serialization import serialize_keras_object

    return name if name in activations.ACTIVATIONS else serialize_keras_object(fn)
