"""Embedding: integer ids -> rows of a (input_dim, output_dim) table.

Ids outside [0, input_dim) are caught on the host before every run (onnxruntime's CPU Gather
raises a bare message and its CUDA Gather returns zeros), naming the layer, the input, the
value and its position, and pointing out swapped Embedding(output_dim, input_dim) arguments."""
from __future__ import annotations

import numpy as np

from fgc.ir.types import INT_DTYPES, ShapeError

from .base import Layer
from .masks import ids_mask
from .weight_options import take_weight_options


class Embedding(Layer):
    keras_only_config = {"quantization_config": None}

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False, input_length=None,
                 embeddings_regularizer=None, activity_regularizer=None, embeddings_constraint=None, **kwargs):
        super().__init__(**kwargs)
        take_weight_options(self, embeddings_regularizer=embeddings_regularizer,
                            activity_regularizer=activity_regularizer, embeddings_constraint=embeddings_constraint)
        for what, v in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Embedding {what} must be a positive int, got {v!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer, self.mask_zero = embeddings_initializer, mask_zero
        self.supports_masking = bool(mask_zero)  # as in Keras: only mask_zero=True makes a mask (id 0 is padding)
        self.input_length = input_length
        # Keras: ids are never cast, the rows are gathered from the float32 table and cast afterwards
        self.autocast = False

    def build(self, input_types):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer)

    def compute_output_types(self, input_types, node_attrs=None):
        (ids,) = input_types
        if ids.dtype not in INT_DTYPES and not ids.dtype.startswith("float"):
            raise ShapeError(f"Embedding takes integer ids, got {ids.dtype}")
        return [ids.with_shape(ids.shape + (self.output_dim,)).with_dtype(self.dtype)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        ids = inputs[0]
        if b.type(ids).dtype not in ("int32", "int64"):
            ids = b.Cast(ids, to="int64")
        if b.graph.guarded and b.graph.node(ids.node)["op"] != "input":
            # Ids computed inside the model (a Reshape, a slice) cannot be checked on the host before the run:
            # count the bad ones in the graph, look up row 0 instead, and let the host refuse the result.
            valid = b.And(b.GreaterOrEqual(ids, 0), b.Less(ids, self.input_dim))
            bad = b.ReduceSum(b.Cast(b.Not(valid), to="int64"), keepdims=0)
            b.add_check(self.name, bad, f"Embedding layer '{self.name}' (input_dim={self.input_dim}) got {{count}} "
                                        f"id(s) outside [0, {self.input_dim}) from the layers before it; ids are row "
                                        f"numbers of the embedding table. Nothing was returned or changed: fix the ids "
                                        f"or make input_dim at least the vocabulary size.")
            ids = b.Where(valid, ids, b.const(0, b.type(ids).dtype))
        return [b.Gather(params["embeddings"], ids, axis=0)]

    def compute_mask(self, inputs, mask=None):
        return ids_mask(inputs) if self.mask_zero else None

    def check_ids(self, ids: np.ndarray, input_name: str) -> None:
        if ids.size == 0:
            return
        lo, hi = ids.min(), ids.max()
        if lo >= 0 and hi < self.input_dim:
            return
        bad = int(hi) if hi >= self.input_dim else int(lo)
        pos = tuple(int(i) for i in np.argwhere(ids == bad)[0])
        msg = (f"Embedding layer '{self.name}' (input_dim={self.input_dim}) got id {bad} at position {pos} of input "
               f"'{input_name}'; ids must be in [0, {self.input_dim}).")
        if lo >= 0 and hi < self.output_dim:
            msg += (f" The ids go up to {int(hi)}, which fits output_dim={self.output_dim}: the arguments look "
                    f"swapped. The signature is Embedding(input_dim, output_dim): use Embedding({self.output_dim}, "
                    f"{self.input_dim}) (vocabulary size first).")
        elif bad < 0:
            msg += " Ids are row numbers of the embedding table, so they cannot be negative: fix the ids."
        else:
            msg += f" Make input_dim at least {int(hi) + 1} (the vocabulary size) or fix the ids."
        raise ValueError(msg)

    def get_config(self):
        from .config import initializer_config

        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializer_config(self.embeddings_initializer),
                "mask_zero": self.mask_zero}


CASES = [
    (Embedding, dict(input_dim=10, output_dim=4), [("N", 3)], ("N", 3, 4), 40, {"dtype": "int32"}),
]
