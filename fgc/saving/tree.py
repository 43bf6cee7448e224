"""Where Keras 3 keeps each weight in its files: the object tree of ``keras/src/saving/saving_lib.py``.

A model's weights file addresses a layer by its *class*, not its name (names change every time
the same code builds a model): ``layers/dense``, ``layers/dense_1``, ... in the order of
``model.layers``, nested models under their own ``layers/``, a recurrent layer's weights under
its ``cell``, a wrapper's under ``layer`` / ``forward_layer`` / ``backward_layer``. Each group
``<path>/vars`` holds the layer's own variables as datasets ``0, 1, ...`` (those created trainable
first) and an attribute ``name`` with the layer's name. A layer reached twice (shared between
nested models) is stored at the first path only.

Subclassed layers and models (classes with their own ``call``) are addressed by *attribute*, as
Keras' ``_walk_saveable`` does: their own variables in ``<path>/vars``, then each layer held in an
attribute at ``<path>/<attribute>`` (a list or dict of layers at ``<path>/<attribute>/<class>``,
``<class>_1``, ...), attributes in name order with private ones (``_x``) last. A subclassed model
also has Keras' ``layers`` property among them, so a layer reached first through it (an attribute
sorting after ``layers``) is stored under ``layers/<class>``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fgc.naming import snake_case


@dataclass
class Entry:
    """One ``<path>/vars`` group: the layer name it records and its variables in file order."""

    path: str
    name: str
    variables: list = field(default_factory=list)


def join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def model_entries(model) -> list[Entry]:
    """Every group of ``model``'s weights file, in Keras' walk order."""
    entries: list[Entry] = []
    _walk(model, "", entries, set())
    return entries


def _walk(layer, path: str, entries: list[Entry], visited: set) -> None:
    from fgc.functional import Model
    from fgc.layers.recurrent import Bidirectional, _RNN
    from fgc.layers.wrappers import TimeDistributed

    if id(layer) in visited:
        return
    visited.add(id(layer))
    if _is_subclassed(layer):
        entries.append(Entry(path, layer.name, _own(layer, layer._weights)))
        for attribute, value in _saveable_attributes(layer):
            _walk_value(value, join(path, attribute), entries, visited)
    elif isinstance(layer, Model):
        entries.append(Entry(path, layer.name))
        used: dict[str, int] = {}
        for sub in layer.layers:
            _walk(sub, join(path, "layers", _unique(snake_case(sub.keras_class()), used)), entries, visited)
    elif isinstance(layer, _RNN):
        entries.append(Entry(path, layer.name))
        entries.append(Entry(join(path, "cell"), f"{snake_case(layer.keras_class())}_cell", _own(layer)))
    elif isinstance(layer, Bidirectional):
        entries.append(Entry(path, layer.name))
        _walk(layer.forward_layer, join(path, "forward_layer"), entries, visited)
        _walk(layer.backward_layer, join(path, "backward_layer"), entries, visited)
    elif isinstance(layer, TimeDistributed):
        entries.append(Entry(path, layer.name))
        _walk(layer.layer, join(path, "layer"), entries, visited)
    else:
        entries.append(Entry(path, layer.name, _own(layer)))


def _is_subclassed(layer) -> bool:
    from fgc.layers.op_layer import defines_call

    return defines_call(type(layer))


# Attributes of fgc's own bookkeeping (layers it holds for itself), never user attributes
_INTERNAL = {"_inbound_nodes", "_traces", "_eager_models", "_call_structure", "_layers", "_stack", "_call_wrapper",
             "_nodes", "_trainer", "_runners", "optimizer", "inputs", "outputs"}


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name   # Keras: private attributes come last


def _saveable_attributes(layer) -> list:
    """(attribute, value) pairs that hold layers, in Keras' walk order."""
    from fgc.functional import Model

    items = {k: v for k, v in vars(layer).items() if k not in _INTERNAL and _holds_layers(v)}
    if isinstance(layer, Model):
        items["layers"] = layer.layers   # Keras' Model.layers property is one of the walked attributes
    return [(k, items[k]) for k in sorted(items, key=_name_key)]


def _holds_layers(value) -> bool:
    from fgc.layers.base import Layer

    if isinstance(value, Layer):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_layers(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_layers(v) for v in value.values())
    return False


def _walk_value(value, path: str, entries: list[Entry], visited: set) -> None:
    """A layer at ``path``, or a container whose layers go under ``path/<class>`` (Keras' container state)."""
    from fgc.layers.base import Layer

    if isinstance(value, Layer):
        _walk(value, path, entries, visited)
        return
    items = list(value.values()) if isinstance(value, dict) else list(value)
    used: dict[str, int] = {}
    for item in items:
        if isinstance(item, Layer):
            _walk(item, join(path, _unique(snake_case(item.keras_class()), used)), entries, visited)
        elif isinstance(item, (list, tuple, dict)):
            _walk_value(item, join(path, _unique("container", used)), entries, visited)


def _own(layer, weights=None) -> list:
    """A layer's variables as Keras lists them: created trainable first, then the others."""
    weights = list(layer.weights if weights is None else weights)
    return [w for w in weights if w.trainable] + [w for w in weights if not w.trainable]


def _unique(name: str, used: dict[str, int]) -> str:
    """Keras' ``_get_unique_name``: dense, dense_1, dense_2, ... within one container."""
    k = used.get(name, 0)
    used[name] = k + 1
    return name if k == 0 else f"{name}_{k}"
