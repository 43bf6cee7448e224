"""``fgc.utils``: seeding, label and plotting helpers, PyDataset / Sequence for batch sources."""
from __future__ import annotations

import numpy as np

from .initializers import set_random_seed
from .naming import reset_names
from .plotting import model_to_dot, plot_ir, plot_model
from .py_dataset import PyDataset, Sequence
from .saving.serialization import (CustomObjectScope, custom_object_scope, deserialize_keras_object,  # noqa: F401
                                   get_custom_objects, get_registered_name, get_registered_object,
                                   register_keras_serializable, serialize_keras_object)


def clear_session(free_memory=True) -> None:
    """Start automatic layer names from scratch and reset the global dtype policy to float32, as
    Keras' ``clear_session`` does (it drops all of Keras' global state)."""
    from . import dtype_policies

    reset_names()
    dtype_policies.reset_global_policy()
    if free_memory:
        import gc

        gc.collect()


def to_categorical(x, num_classes=None, dtype="float32"):
    """Class ids -> one-hot rows (Keras' ``to_categorical``)."""
    ids = np.asarray(x)
    if ids.dtype.kind == "f":
        if not np.all(ids == np.round(ids)):
            raise ValueError("to_categorical expects integer class ids, got floats with fractions")
        ids = ids.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError(f"to_categorical expects class ids >= 0, got {ids.min()}")
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    n = int(num_classes if num_classes is not None else (ids.max() + 1 if ids.size else 0))
    if ids.size and ids.max() >= n:
        raise ValueError(f"class id {ids.max()} does not fit num_classes={n}")
    out = np.zeros(ids.shape + (n,), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


__all__ = ["set_random_seed", "to_categorical", "PyDataset", "Sequence", "clear_session", "plot_model", "model_to_dot", "plot_ir",
           "CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "register_keras_serializable", "serialize_keras_object"]
