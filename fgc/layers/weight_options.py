"""The ``<weight>_regularizer`` / ``<weight>_constraint`` arguments of built-in layers.

A layer's constructor hands them to ``take_weight_options``; ``add_weight`` then attaches each to
the weight it names (``kernel_regularizer`` -> the weight ``kernel``, ``recurrent_constraint`` ->
``recurrent_kernel``, ...), and ``get_config`` writes them serialized, as Keras does. The options
are attributes of the layer too (``layer.kernel_regularizer``), as in Keras.
"""
from __future__ import annotations

# argument prefix -> the weight it applies to
WEIGHT_OF = {"kernel": "kernel", "bias": "bias", "recurrent": "recurrent_kernel", "depthwise": "depthwise_kernel",
             "pointwise": "pointwise_kernel", "embeddings": "embeddings", "gamma": "gamma", "beta": "beta",
             "alpha": "alpha"}


def take_weight_options(layer, **options) -> None:
    """Resolve and store ``<prefix>_regularizer`` / ``<prefix>_constraint`` (and ``activity_regularizer``,
    for the layers whose Keras config always writes it)."""
    from fgc import constraints, regularizers

    where = f"{type(layer).__name__}()"
    stored = layer.__dict__.setdefault("_weight_options", {})
    for key, value in options.items():
        prefix, _, kind = key.rpartition("_")
        if key != "activity_regularizer" and (prefix not in WEIGHT_OF or kind not in ("regularizer", "constraint")):
            raise AssertionError(f"{where}: unknown weight option {key!r}")   # a bug in the layer, not user input
        getter = constraints.get if kind == "constraint" else regularizers.get
        try:
            resolved = getter(value)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{where}: {key}: {e}") from None
        stored[key] = resolved
        setattr(layer, key, resolved)


def weight_options(layer, weight_name: str, regularizer, constraint):
    """The regularizer and constraint of a new weight: ``add_weight``'s own, else the layer's option for it."""
    stored = layer.__dict__.get("_weight_options", {})
    weight_of = {**WEIGHT_OF, **getattr(layer, "option_weights", {})}   # a layer may name its weights otherwise
    base_name = weight_name.rsplit("/", 1)[-1]   # MultiHeadAttention's "query/kernel" is a kernel
    prefix = next((p for p, w in weight_of.items() if w == base_name and (
        f"{p}_regularizer" in stored or f"{p}_constraint" in stored)), None)
    if prefix is not None:
        regularizer = regularizer if regularizer is not None else stored.get(f"{prefix}_regularizer")
        constraint = constraint if constraint is not None else stored.get(f"{prefix}_constraint")
    return regularizer, constraint


def weight_options_config(layer) -> dict:
    """The options as Keras writes them in a layer config (None, or a serialized object)."""
    from fgc.saving.serialization import serialize_keras_object

    stored = layer.__dict__.get("_weight_options", {})
    return {key: None if value is None else serialize_keras_object(value) for key, value in stored.items()}
