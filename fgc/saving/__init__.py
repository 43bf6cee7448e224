"""``fgc.saving``: model and weights files in Keras 3's formats (``.keras``, ``.weights.h5``) and fgc's ``.npz``,
and Keras 3's object serialization (configs, custom objects)."""
from .serialization import (CustomObjectScope, custom_object_scope, deserialize_keras_object, get_custom_objects,
                            get_registered_name, get_registered_object, register_keras_serializable,
                            serialize_keras_object)

__all__ = ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_name", "get_registered_object", "register_keras_serializable", "serialize_keras_object"]
