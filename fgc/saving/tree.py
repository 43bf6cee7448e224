"""Where Keras 3 keeps each weight in its files: the object tree of ``keras/src/saving/saving_lib.py``.

A model's weights file addresses a layer by its *class*, not its name (names change every time
the same code builds a model): ``layers/dense``, ``layers/dense_1``, ... in the order of
``model.layers``, nested models under their own ``layers/``, a recurrent layer's weights under
its ``cell``, a wrapper's under ``layer`` / ``forward_layer`` / ``backward_layer``. Each group
``<path>/vars`` holds the layer's own variables as datasets ``0, 1, ...`` (those created trainable
first) and an attribute ``name`` with the layer's name. A layer reached twice (shared between
nested models) is stored at the first path only.
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
    if isinstance(layer, Model):
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


def _own(layer) -> list:
    """A layer's variables as Keras lists them: created trainable first, then the others."""
    weights = list(layer.weights)
    return [w for w in weights if w.trainable] + [w for w in weights if not w.trainable]


def _unique(name: str, used: dict[str, int]) -> str:
    """Keras' ``_get_unique_name``: dense, dense_1, dense_2, ... within one container."""
    k = used.get(name, 0)
    used[name] = k + 1
    return name if k == 0 else f"{name}_{k}"
