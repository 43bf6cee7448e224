"""Functions in layer configs, as Keras 3 stores them (``Lambda``'s function and output_shape).

A named function is stored by reference (``{"module", "class_name": "function", "config": name,
"registered_name": name}``) and found again by importing its module (or in ``custom_objects``).
A Python lambda has no name to look up: its bytecode is stored (``{"class_name": "__lambda__",
"config": {"code", "defaults", "closure"}}``, base64 of ``marshal``), and loading it runs
arbitrary code, so it is refused unless the caller passes ``safe_mode=False`` (Keras' rule).
"""
from __future__ import annotations

import codecs
import importlib
import marshal
import types


def serialize_function(fn) -> dict:
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        code = codecs.encode(marshal.dumps(fn.__code__), "base64").decode("ascii")
        closure = tuple(c.cell_contents for c in fn.__closure__) if fn.__closure__ else None
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": fn.__defaults__, "closure": closure}}
    if not callable(fn) or not hasattr(fn, "__name__"):
        raise ValueError(f"cannot serialize {fn!r} ({type(fn).__name__}): expected a named function or a lambda")
    return {"module": fn.__module__, "class_name": "function", "config": fn.__name__, "registered_name": fn.__name__}


def deserialize_function(config, custom_objects=None, safe_mode=True):
    if callable(config):
        return config
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"not a serialized function: {config!r}")
    if config["class_name"] == "__lambda__":
        if safe_mode:
            raise ValueError("this Lambda layer config holds a Python lambda, stored as bytecode; loading it can run arbitrary "
                             "code, so it is refused by default. If you trust the file, pass safe_mode=False")
        inner = config["config"]
        code = marshal.loads(codecs.decode(inner["code"].encode("ascii"), "base64"))
        closure = inner.get("closure")
        cells = tuple(types.CellType(v) for v in closure) if closure else None
        defaults = tuple(inner["defaults"]) if inner.get("defaults") else None
        return types.FunctionType(code, _lambda_globals(), None, defaults, cells)
    name = config["config"]
    for key in (config.get("registered_name"), name):
        if custom_objects and key in custom_objects:
            return custom_objects[key]
    try:
        return getattr(importlib.import_module(config["module"]), name)
    except (ImportError, AttributeError):
        raise ValueError(f"function '{name}' from module '{config.get('module')}' cannot be found; import it or "
                         f"pass it in custom_objects={{'{name}': {name}}}") from None


def _lambda_globals() -> dict:
    # what a stored lambda most likely refers to: fgc and its ops, as Keras gives its own namespace
    import fgc
    from fgc import ops

    return {"fgc": fgc, "ops": ops, "__builtins__": __builtins__}
