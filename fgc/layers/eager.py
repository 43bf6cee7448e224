"""A layer called on arrays (``layer(np_array)``), as Keras runs it eagerly
(``training=True``: in training form, see eager_training.py).

The layer is built (on first use) and called on Inputs shaped like the arrays, the one-layer model
that makes is compiled and run on the arrays (cached per input signature, so later calls reuse the
session and see the current weights), and numpy arrays come back. As in Keras, such a call is not
a call event: the layer keeps no node for it, and no automatic names are used up.
"""
from __future__ import annotations

import numpy as np

from fgc import naming

from .base import Input, KerasTensor, flatten


def is_array_data(inputs) -> bool:
    """Whether ``inputs`` are arrays (one, or a list / tuple / dict of them), with nothing symbolic."""
    leaves = flatten(inputs)
    return bool(leaves) and all(isinstance(a, (np.ndarray, np.generic)) for a in leaves)




def _map(fn, x):
    if isinstance(x, (list, tuple)):
        return type(x)(_map(fn, item) for item in x)
    if isinstance(x, dict):
        return {k: _map(fn, v) for k, v in x.items()}
    return fn(x)


def _standardize(layer, a):
    """float arrays take the layer's float dtype (as Keras casts them); ints and bools keep theirs."""
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError(f"layer '{layer.name}' was called on a scalar; call it on a batch (an array whose first "
                         f"axis is the batch)")
    if a.dtype.kind == "f":
        return a.astype(layer.dtype if layer.dtype.startswith("float") else "float32", copy=False)
    if a.dtype.kind not in "biu":
        raise TypeError(f"layer '{layer.name}' was called on an array of dtype {a.dtype}; expected numbers")
    return a


def call_on_arrays(layer, inputs, kwargs):
    if kwargs.get("mask") is not None:
        raise NotImplementedError(f"layer '{layer.name}' called on arrays with mask=: pass masks in a model "
                                  f"built on fgc.Input tensors")
    arrays = _map(lambda a: _standardize(layer, a), inputs)
    key = repr(_map(lambda a: (a.shape[1:], a.dtype.str), arrays))
    models = layer.__dict__.setdefault("_eager_models", {})
    if key not in models:
        models[key] = _one_layer_model(layer, arrays)
    model = models[key]
    data = list(flatten(arrays)) if len(model.inputs) > 1 else flatten(arrays)[0]
    if kwargs.get("training"):   # Dropout / noise active, BatchNormalization on batch statistics (and updated)
        from .eager_training import call_in_training_mode

        result = call_in_training_mode(model, data, cache_owner=layer)
    else:
        result = model.predict_on_batch(data)
    from .layer_losses import record_eager_activity

    record_eager_activity(layer, result)
    return result


def _one_layer_model(layer, arrays):
    from fgc.functional import Model

    names = dict(naming._counts)
    nodes = len(layer._inbound_nodes)
    try:
        symbolic = _map(lambda a: Input(shape=a.shape[1:], dtype=a.dtype.name), arrays)
        outputs = layer(symbolic)
        flat_inputs = [t for t in flatten(symbolic) if isinstance(t, KerasTensor)]
        return Model(flat_inputs if len(flat_inputs) > 1 else flat_inputs[0], outputs)
    finally:
        del layer._inbound_nodes[nodes:]
        naming._counts.clear()
        naming._counts.update(names)
