"""Keras 3's object serialization format, read and written by fgc.

``serialize_keras_object(obj)`` gives the dict Keras 3 writes into a ``.keras`` file's config.json::

    {"module": "keras.layers", "class_name": "Dense", "config": {...}, "registered_name": None,
     "build_config": {"input_shape": [None, 4]}}

and ``deserialize_keras_object`` reads it back (written by Keras or by fgc). A class is found, in
this order, in ``custom_objects``, the active ``custom_object_scope``s, the objects registered with
``register_keras_serializable`` and fgc's own classes for the Keras module named in the config.
Nothing is ever unpickled or evaluated: serialized Python bytecode (a Lambda's function) is refused
unless ``safe_mode=False``.
"""
from __future__ import annotations

import contextlib
import importlib
import threading

import numpy as np

_GLOBAL_CUSTOM_OBJECTS: dict[str, object] = {}   # registered name ("Package>Name") -> class or function
_GLOBAL_CUSTOM_NAMES: dict[object, str] = {}     # class or function -> its registered name
_scopes = threading.local()

# Keras module of each fgc package whose classes serialize (the "module" key of a config).
_KERAS_MODULES = {
    "keras.layers": "fgc.layers",
    "keras.initializers": "fgc.initializers",
    "keras.regularizers": "fgc.regularizers",
    "keras.constraints": "fgc.constraints",
    "keras.optimizers": "fgc.optimizers",
    "keras.optimizers.schedules": "fgc.training.schedules",
    "keras.losses": "fgc.losses",
    "keras.metrics": "fgc.metrics",
    "keras.models": "fgc.models",
    "keras": "fgc.models",
    "keras.src.models.functional": "fgc.models",
    "keras.src.models.sequential": "fgc.models",
    "keras.src.models.model": "fgc.models",
}
# Class names Keras writes that fgc implements under another name.
_CLASS_ALIASES = {"Functional": "Model"}


# ---------------------------------------------------------------------------------------------- registry
def register_keras_serializable(package="Custom", name=None):
    """Decorator: register a class or function as ``"package>name"`` (name defaults to its ``__name__``),
    so configs that mention it deserialize without ``custom_objects``."""
    def decorator(obj):
        registered = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"cannot register {obj.__name__} as '{registered}': a serializable class needs a "
                             f"get_config() method (and from_config(), unless its __init__ takes get_config()'s keys)")
        if registered in _GLOBAL_CUSTOM_OBJECTS and _GLOBAL_CUSTOM_OBJECTS[registered] is not obj:
            raise ValueError(f"'{registered}' is already registered to {_GLOBAL_CUSTOM_OBJECTS[registered]!r}; "
                             f"pass another package= or name= to register_keras_serializable")
        _GLOBAL_CUSTOM_OBJECTS[registered] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered
        return obj
    return decorator


def get_registered_name(obj) -> str:
    """``"package>name"`` for a registered object, else its ``__name__``."""
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_custom_objects() -> dict:
    """The live dict of globally registered objects (Keras' ``get_custom_objects``)."""
    return _GLOBAL_CUSTOM_OBJECTS


def _scope_stack() -> list:
    if not hasattr(_scopes, "stack"):
        _scopes.stack = []
    return _scopes.stack


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}):`` makes those names deserializable inside."""

    def __init__(self, custom_objects=None):
        if custom_objects is not None and not isinstance(custom_objects, dict):
            raise TypeError(f"custom_object_scope takes a dict of name -> class or function, "
                            f"got {type(custom_objects).__name__}")
        self.custom_objects = dict(custom_objects or {})

    def __enter__(self):
        _scope_stack().append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _scope_stack().pop()


custom_object_scope = CustomObjectScope


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered (or passed, or in scope) under ``name``, or None."""
    for table in [custom_objects or {}, *reversed(_scope_stack()), _GLOBAL_CUSTOM_OBJECTS, module_objects or {}]:
        if name in table:
            return table[name]
    return None


# ---------------------------------------------------------------------------------------------- writing
def serialize_keras_object(obj):
    """``obj`` as Keras 3's JSON-ready dict (plain values pass through)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.bool_, np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, slice):
        return {"class_name": "__slice__", "config": {"start": serialize_keras_object(obj.start),
                                                      "stop": serialize_keras_object(obj.stop),
                                                      "step": serialize_keras_object(obj.step)}}
    if obj is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(obj, (list, tuple)):   # tuples stay tuples, as in Keras (JSON writes both as lists)
        return type(obj)(serialize_keras_object(x) for x in obj)
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "get_config")):
        return _serialize_function(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"cannot serialize {obj!r} ({type(obj).__name__}): it has no get_config()")
    return _serialize_configurable(obj)


def _serialize_function(fn):
    registered = _GLOBAL_CUSTOM_NAMES.get(fn)
    if registered is None and getattr(fn, "__name__", "<lambda>") == "<lambda>":
        raise ValueError(f"cannot serialize the lambda {fn!r}: register a named function with "
                         f"fgc.saving.register_keras_serializable()")
    name = registered or fn.__name__
    kind = "class" if isinstance(fn, type) else "function"
    return {"module": "builtins" if registered is None else fn.__module__, "class_name": kind, "config": name,
            "registered_name": kind if registered is None else registered}


def function_wrapper_config(fn, fn_kwargs: dict) -> dict:
    """The config keys of Keras' LossFunctionWrapper and MeanMetricWrapper: the function, then its kwargs."""
    return {"fn": serialize_keras_object(fn), **{k: serialize_keras_object(v) for k, v in fn_kwargs.items()}}


def function_wrapper_from_config(cls, config):
    config = dict(config)
    if "fn" in config:
        config["fn"] = deserialize_keras_object(config["fn"])
    return cls(**config)


def get_callable(identifier, names: dict, kind: str, base: str):
    """Keras' ``get`` of a regularizer or constraint: None, a name in ``names``, a config dict, a class
    (instantiated with its defaults), an instance or a plain function of one tensor."""
    import inspect

    from fgc.naming import near

    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize_keras_object(identifier)
    elif isinstance(identifier, str):
        if identifier not in names:
            raise ValueError(f"could not interpret {kind} identifier {identifier!r}{near(identifier, names)}; "
                             f"expected one of {sorted(names)}, a config dict or a callable")
        obj = names[identifier]
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise ValueError(f"could not interpret {kind} identifier {identifier!r}: expected a name, a config "
                         f"dict, a {base} or a function of one tensor")
    return obj


@contextlib.contextmanager
def _sharing_scope():
    """One top-level (de)serialization: an object met twice (a model both called directly and wrapped in
    TimeDistributed) is written once more with a ``shared_object_id`` and read back as one object."""
    outermost = getattr(_scopes, "shared", None) is None
    if outermost:
        _scopes.shared = {}
    try:
        yield _scopes.shared
    finally:
        if outermost:
            _scopes.shared = None


def _serialize_configurable(obj):
    from fgc.layers.base import Layer

    if not isinstance(obj, Layer):
        return _serialize_new(obj)
    with _sharing_scope() as shared:
        if id(obj) in shared:
            first = shared[id(obj)][1]
            if "shared_object_id" not in first:   # Keras marks the first occurrence too
                # numbered in order (Keras uses id(), any int works), so the same model writes the same JSON
                first["shared_object_id"] = sum(1 for v in shared.values() if "shared_object_id" in v[1]) + 1
            return {**first}
        out = _serialize_new(obj)
        shared[id(obj)] = (obj, out)   # the object is kept alive, so its id stays unique meanwhile
        return out


def _serialize_new(obj):
    cls = type(obj)
    registered = _GLOBAL_CUSTOM_NAMES.get(cls)
    config = {k: serialize_keras_object(v) for k, v in obj.get_config().items()}
    out = {"module": _keras_module_of(obj) if registered is None else cls.__module__,
           "class_name": _keras_class_name(cls), "config": config, "registered_name": registered}
    if registered is None and out["class_name"] == "Functional":
        out["registered_name"] = "Functional"   # what Keras 3 writes for its functional models
    _add_build_and_compile_config(obj, out)
    return out


def _keras_class_name(cls) -> str:
    getter = getattr(cls, "keras_class", None)
    return getter() if callable(getter) else cls.__name__


def _keras_module_of(obj) -> str:
    """The Keras module an fgc class saves under; a user's own class keeps its Python module."""
    from fgc.functional import Model, Sequential
    from fgc.layers.base import Layer

    if not type(obj).__module__.startswith("fgc."):
        return type(obj).__module__
    if isinstance(obj, Sequential):
        return "keras"
    if isinstance(obj, Model):
        return "keras.src.models.functional"
    if isinstance(obj, Layer):
        return "keras.layers"
    module = type(obj).__module__
    for keras_module, fgc_module in (("keras.optimizers.schedules", "fgc.training.schedules"),
                                     ("keras.optimizers", "fgc.training.optimizers"),
                                     ("keras.optimizers", "fgc.training.loss_scale"),
                                     ("keras.losses", "fgc.training.losses"),
                                     ("keras.losses", "fgc.training.losses_extra"),
                                     ("keras.losses", "fgc.training.loss_functions"),
                                     ("keras.losses", "fgc.training.loss_ctc"),
                                     ("keras.metrics", "fgc.training.metrics"),
                                     ("keras.initializers", "fgc.initializers"),
                                     ("keras.regularizers", "fgc.regularizers"),
                                     ("keras.constraints", "fgc.constraints")):
        if module == fgc_module or module.startswith(f"{fgc_module}."):   # a package's modules too
            return keras_module
    return module


def _add_build_and_compile_config(obj, out) -> None:
    from fgc.functional import Model, Sequential
    from fgc.layers.base import InputLayer, Layer

    if not isinstance(obj, Layer) or isinstance(obj, InputLayer):
        return
    build_config = obj.get_build_config()
    if build_config is not None:
        out["build_config"] = build_config
    if isinstance(obj, Model):
        out["compile_config"] = obj.get_compile_config() or {}


def layer_build_config(layer):
    """Keras' ``get_build_config()``: the shape a layer was built for, or None where Keras writes none."""
    from fgc.functional import Model, Sequential

    if isinstance(layer, Model) and not isinstance(layer, Sequential):
        from fgc.layers.op_layer import defines_call
        from fgc.model_subclass import input_shapes

        if defines_call(type(layer)):   # a subclassed model rebuilds by build(shape), as Keras' build_from_config
            return {"input_shape": input_shapes(layer)} if layer.built else None
        return {"input_shape": None}   # a functional model rebuilds from its config
    if not type(layer).writes_build_config or not layer.built:
        return None
    if layer._inbound_nodes or hasattr(layer, "_config_build_shape") or isinstance(layer, Sequential):
        return {"input_shape": build_input_shape(layer)}
    return None


def build_input_shape(layer):
    """The input shape a layer was first built for, in Keras' form (None for unknown dims)."""
    from fgc.functional import Sequential

    if isinstance(layer, Sequential):
        return list(layer._input.shape)
    if not layer._inbound_nodes:   # built from a config's build_config, never called
        return layer._config_build_shape
    inputs = layer._inbound_nodes[0].inputs
    n = len(inputs) - (layer._inbound_nodes[0].call_args.get("_mask", (0,))[0] if
                       "_mask" in layer._inbound_nodes[0].call_args else 0)
    shapes = [list(t.shape) for t in inputs[:n]]
    return shapes[0] if len(shapes) == 1 and not getattr(layer._inbound_nodes[0], "args_is_list", False) else shapes


# ---------------------------------------------------------------------------------------------- reading
def deserialize_keras_object(config, custom_objects=None, safe_mode=None, **kwargs):
    """The object a Keras 3 config describes (see the module doc for where classes are looked up).

    ``safe_mode`` None inherits the enclosing call's (True at the top level), so a model loaded with
    ``safe_mode=False`` passes it down to the layers inside it."""
    if config is None or isinstance(config, (bool, int, float)):
        return config
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects)
        return found if found is not None else config
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(x, custom_objects, safe_mode) for x in config]
    if not isinstance(config, dict):
        raise TypeError(f"cannot deserialize a {type(config).__name__}: expected a config dict, got {config!r}")
    if "class_name" not in config:
        return {k: deserialize_keras_object(v, custom_objects, safe_mode) for k, v in config.items()}
    from fgc.layers.base import Layer

    class_name, inner = config["class_name"], config.get("config")
    special = _deserialize_special(class_name, inner, safe_mode)
    if special is not _NOT_SPECIAL:
        return special
    if class_name in ("function", "class"):
        return _find_object(inner, config.get("registered_name"), config.get("module"), custom_objects, class_name)
    cls = _find_object(class_name, config.get("registered_name"), config.get("module"), custom_objects)
    if not hasattr(cls, "from_config"):
        raise TypeError(f"'{class_name}' resolved to {cls!r}, which has no from_config()")
    with _sharing_scope() as shared:
        shared_id = config.get("shared_object_id")
        if shared_id is not None and ("load", shared_id) in shared:
            return shared[("load", shared_id)]
        with CustomObjectScope(custom_objects or {}), _safe_mode_scope(safe_mode):
            obj = cls.from_config({k: v for k, v in (inner or {}).items()})
        if shared_id is not None:
            shared[("load", shared_id)] = obj
    if isinstance(obj, Layer) and config.get("build_config") and not obj.built:
        obj.build_from_config(config["build_config"])
    compile_config = config.get("compile_config")
    if compile_config and hasattr(obj, "compile_from_config"):
        with CustomObjectScope(custom_objects or {}):
            obj.compile_from_config(compile_config)
    return obj


_NOT_SPECIAL = object()


def _deserialize_special(class_name, inner, safe_mode):
    if class_name == "__tuple__":
        return tuple(inner["value"])
    if class_name == "__numpy__":
        return np.asarray(inner["value"], dtype=inner["dtype"])
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__slice__":
        return slice(*(deserialize_keras_object(inner[k]) for k in ("start", "stop", "step")))
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__lambda__":
        if in_safe_mode() if safe_mode is None else safe_mode:
            raise ValueError("the config holds a Python lambda (serialized bytecode); loading it could run "
                             "arbitrary code, so fgc refuses it in safe mode. If you trust the file, load it with "
                             "safe_mode=False")
        raise ValueError("fgc does not load serialized Python lambdas; rebuild the Lambda layer in code")
    if class_name == "__keras_tensor__":
        raise ValueError("a KerasTensor reference can only be read inside a functional model's config")
    return _NOT_SPECIAL


class UnknownObjectError(TypeError, ValueError):
    """A config names a class or function that is neither built in nor registered (Keras raises TypeError)."""


def _find_object(name, registered_name, module, custom_objects, kind="class"):
    for key in (registered_name, name):
        if key:
            found = get_registered_object(key, custom_objects)
            if found is not None:
                return found
    found = _builtin_object(name, module)
    if found is not None:
        return found
    known = sorted(set(custom_objects or {}) | set(_GLOBAL_CUSTOM_OBJECTS)
                   | {k for scope in _scope_stack() for k in scope})
    builtin = f" fgc does not implement Keras' {module}.{name}." if str(module).startswith("keras") else ""
    raise UnknownObjectError(
        f"could not locate {kind} '{name}' (module {module!r}, registered_name {registered_name!r}).{builtin} Custom "
        f"objects given or registered: {known or 'none'}. Pass custom_objects={{'{name}': {name}}} or decorate "
        f"the {kind} with @fgc.saving.register_keras_serializable() (and import it before loading)")


def _builtin_object(name, module):
    name = _CLASS_ALIASES.get(name, name)
    modules = [_KERAS_MODULES[module]] if module in _KERAS_MODULES else []
    modules += [m for m in dict.fromkeys(_KERAS_MODULES.values()) if m not in modules]
    for module_name in modules:
        found = getattr(importlib.import_module(module_name), name, None)
        if isinstance(found, type) and hasattr(found, "from_config"):
            return found
    if module == "builtins" or module is None:
        from fgc import activations, losses, metrics
        from fgc.training.metrics import _LOSS_METRICS

        names = {*activations.ACTIVATIONS, *losses.LOSSES, *metrics.METRICS, *_LOSS_METRICS, "accuracy", "acc"}
        if name in names:
            return name   # built-in functions travel by name: the ``get`` of their package resolves it
    return None


def build_layer_from_config(obj, build_config) -> None:
    """Keras' ``build_from_config``: build a standalone layer for the input shape Keras recorded (its
    weights then exist, for loading them)."""
    from fgc.functional import Model, Sequential

    if not build_config or obj.built:
        return
    if isinstance(obj, Sequential) and build_config.get("input_shape") is not None:
        obj.build(tuple(build_config["input_shape"]))
        return
    shape = build_config.get("input_shape")
    if isinstance(obj, Model) and shape is not None:
        from fgc.layers.op_layer import defines_call

        if defines_call(type(obj)):   # a subclassed model
            several = bool(shape) and isinstance(shape[0], (list, tuple))
            obj.build([tuple(s) for s in shape] if several else tuple(shape))
        return
    if isinstance(obj, Model) or shape is None:
        return
    from fgc.ir.types import BATCH, TensorType, fresh_symbol

    def tensor_type(dims):
        dims = [BATCH if i == 0 and d is None else (fresh_symbol("T") if d is None else int(d))
                for i, d in enumerate(dims)]
        return TensorType(tuple(dims), obj.dtype)

    nested = bool(shape) and isinstance(shape[0], (list, tuple))
    obj.build([tensor_type(s) for s in shape] if nested else [tensor_type(shape)])
    obj.built = True
    obj._config_build_shape = shape


# Whether the deserialization running now is in safe mode (layers such as Lambda ask).
def in_safe_mode() -> bool:
    stack = getattr(_scopes, "safe_mode", None)
    return True if not stack else stack[-1]


@contextlib.contextmanager
def _safe_mode_scope(safe_mode):
    if not hasattr(_scopes, "safe_mode"):
        _scopes.safe_mode = []
    _scopes.safe_mode.append(in_safe_mode() if safe_mode is None else bool(safe_mode))
    try:
        yield
    finally:
        _scopes.safe_mode.pop()


# Keras' short names for these two.
serialize = serialize_keras_object
deserialize = deserialize_keras_object
