"""MultiHeadAttention, Attention (Luong, dot-product) and AdditiveAttention (Bahdanau), Keras 3.

MultiHeadAttention keeps Keras' weight layout and order: the EinsumDense kernels
``query/kernel (d_q, heads, key_dim)``, ``query/bias (heads, key_dim)``, then ``key/...``,
``value/... (d_v, heads, value_dim)``, and ``attention_output/kernel (heads, value_dim, d_out)``,
``attention_output/bias (d_out,)``. As primitives, for (batch, T, d) inputs:

    Q = (query @ Wq + bq) as (B, H, T, key_dim), likewise K and V
    P = softmax(Q K^T / sqrt(key_dim) masked) (B, H, T, S);  out = concat_heads(P V) @ Wo + bo

Inputs of rank > 3 attend over ``attention_axes`` (default: every axis between batch and features):
the other axes fold into a second batch axis and the attended ones into one, as Keras' einsums do.

The mask is the AND of ``attention_mask`` (B, T, S), the causal mask (``use_causal_mask``, position i
sees j <= i) and the Keras masks of query (B, T, 1), value and key (B, 1, S). Masked scores become
-1e9 before the softmax. Keras computes the scores two ways, and a row that is masked everywhere
(a padded query) comes out differently: with ``return_attention_scores=True`` or dropout > 0 its
Softmax layer zeroes the row; otherwise the backend's dot_product_attention leaves a uniform row.
fgc follows each path. (ONNX's ``Attention`` op needs opset 23; fgc exports opset 18, so attention
exports as MatMul / Softmax.)
"""
from __future__ import annotations

import math

import numpy as np

from fgc.ir.types import ShapeError, dims_compatible, is_float
from fgc.primitives import Builder  # noqa: F401

from .base import Layer, flatten
from .activation_layers import large_negative
from .masks import explicit_mask, split_mask
from .weight_options import take_weight_options

_ROLES = "_roles"


def _positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def _rate(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 <= value < 1:
        raise ValueError(f"{what} must be a number in [0, 1), got {value!r}")
    return float(value)


def _sequence(t, what):
    if t.rank != 3:
        raise ShapeError(f"{what} must have shape (batch, steps, features), got {t.keras_shape()} "
                         f"(fgc's attention layers take rank-3 inputs)")
    if not is_float(t.dtype):
        raise ShapeError(f"{what} must be a float tensor, got {t.dtype}")
    if not isinstance(t.shape[-1], int):
        raise ShapeError(f"the feature dim of {what} must be known, got shape {t.keras_shape()}")
    return t


def _tensor(t, what):
    """A float (batch, ..., features) tensor of rank >= 3 with a known feature size."""
    if t.rank < 3:
        raise ShapeError(f"{what} must have shape (batch, steps, features), got {t.keras_shape()}")
    if not is_float(t.dtype):
        raise ShapeError(f"{what} must be a float tensor, got {t.dtype}")
    if not isinstance(t.shape[-1], int):
        raise ShapeError(f"the feature dim of {what} must be known, got shape {t.keras_shape()}")
    return t


def _swap(b, x, i, j):
    """``x`` with axes i and j exchanged."""
    perm = list(range(b.type(x).rank))
    perm[i], perm[j] = perm[j], perm[i]
    return b.Transpose(x, perm=tuple(perm))


def _keep_bool(b, keep):
    return None if keep is None else b.Cast(keep, to="bool")


def _and(b, a, c):
    return c if a is None else a if c is None else b.And(a, c)


def _causal(b, scores):
    """Lower-triangular (position i sees j <= i) boolean mask shaped like ``scores``' last two axes."""
    ones = b.Add(b.ZerosLike(scores), 1.0)
    return b.Cast(b.Trilu(ones, upper=0), to="bool")


def _band(b, scores, window):
    """|i - j| < window (Keras' sliding_window mask) shaped like ``scores``' last two axes."""
    ones = b.Add(b.ZerosLike(scores), 1.0)
    band = b.Trilu(b.Trilu(ones, upper=0, k=window - 1), upper=1, k=1 - window)
    return b.Cast(band, to="bool")


def masked_softmax(b, scores, keep, zero_masked_rows: bool):
    """softmax over the last axis with masked scores at -1e9 (Keras' Softmax layer also zeroes them after)."""
    if keep is None:
        return b.Softmax(scores, axis=-1)
    dtype = b.type(scores).dtype
    p = b.Softmax(b.Where(keep, scores, b.const(large_negative(dtype), dtype)), axis=-1)
    return b.Where(keep, p, b.const(0.0, dtype)) if zero_masked_rows else p


class MultiHeadAttention(Layer):
    """``MultiHeadAttention(num_heads, key_dim)(query, value, key=None, attention_mask=None,
    return_attention_scores=False, use_causal_mask=False)`` on (batch, steps, features) tensors."""

    call_kwargs = ("training", "mask", "return_attention_scores", "use_causal_mask", _ROLES)
    supports_masking = consumes_input_masks = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, use_gate=False, sliding_window=None, seed=None, flash_attention=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _positive_int(num_heads, "MultiHeadAttention num_heads")
        self.key_dim = _positive_int(key_dim, "MultiHeadAttention key_dim")
        self.value_dim = self.key_dim if value_dim is None else _positive_int(value_dim, "MultiHeadAttention value_dim")
        self.dropout = _rate(dropout, "MultiHeadAttention dropout")
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (int, np.integer)):
            output_shape = (int(output_shape),)
        if output_shape is not None:
            output_shape = tuple(_positive_int(d, "MultiHeadAttention output_shape entries") for d in output_shape)
        self.output_shape_arg = output_shape or None
        axes = (attention_axes,) if isinstance(attention_axes, (int, np.integer)) else attention_axes
        if axes is not None and (not isinstance(axes, (list, tuple)) or not axes or not all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)):
            raise ValueError(f"MultiHeadAttention attention_axes must be an int or a tuple of ints, got "
                             f"{attention_axes!r}")
        self.attention_axes = None if axes is None else tuple(int(a) for a in axes)
        take_weight_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        from fgc import regularizers

        # Keras hands it to each projection (query, key, value, gate, output), not to the layer's own output
        self.projection_activity_regularizer = regularizers.get(activity_regularizer)
        if flash_attention:
            raise ValueError("MultiHeadAttention(flash_attention=True) is a backend kernel choice fgc does not have; "
                             "leave it None")
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.use_gate = bool(use_gate)
        self.sliding_window = None if sliding_window is None else \
            _positive_int(sliding_window, "MultiHeadAttention sliding_window")
        from fgc.initializers import layer_seed

        self.seed = seed
        self._seed = layer_seed(seed, f"MultiHeadAttention '{self.name}'")
        self._build_roles = ("query", "value")

    # ------------------------------------------------------------------ calling
    def __call__(self, query, value=None, key=None, attention_mask=None, return_attention_scores=False,
                 use_causal_mask=False, **kwargs):
        if value is None:
            raise TypeError(f"layer '{self.name}' (MultiHeadAttention) needs a value: call it as "
                            f"mha(query, value) (self-attention: mha(x, x))")
        named = [("query", query), ("value", value), ("key", key), ("attention_mask", attention_mask)]
        roles = tuple(role for role, t in named if t is not None)
        self._build_roles = roles
        flags = {"return_attention_scores": bool(return_attention_scores), "use_causal_mask": bool(use_causal_mask)}
        return super().__call__([t for _, t in named if t is not None], **flags, **{_ROLES: roles}, **kwargs)

    def compute_mask(self, inputs, mask=None):
        # the output carries the query's mask (Keras); the scores, when returned, carry none
        query_mask = mask[0] if isinstance(mask, list) else mask
        masked = mask is not None and (not isinstance(mask, list) or any(m is not None for m in mask))
        if masked and flatten(inputs)[0].type.rank > 3:
            raise ValueError(f"MultiHeadAttention '{self.name}': fgc reads Keras masks for (batch, steps, features) "
                             f"inputs only; these are of rank {flatten(inputs)[0].type.rank}")
        return [query_mask, None] if self._pending_flags.get("return_attention_scores") else query_mask

    # ------------------------------------------------------------------ shapes and weights
    def _typed(self, input_types, roles, flags=None):
        if len(input_types) != len(roles):
            raise ShapeError(f"MultiHeadAttention got {len(input_types)} inputs for {roles}")
        t = dict(zip(roles, input_types))
        query, value = _tensor(t["query"], "query"), _tensor(t["value"], "value")
        key = _tensor(t["key"], "key") if "key" in t else value
        if not query.rank == value.rank == key.rank:
            raise ShapeError(f"query, value and key must have the same rank, got {query.keras_shape()}, "
                             f"{value.keras_shape()} and {key.keras_shape()}")
        mask = t.get("attention_mask")
        if query.rank > 3:
            self._check_folding(query, value, key, mask, flags or {})
            return query, value, key, mask
        if self._attention_axes(3) != (1,):
            raise ShapeError(f"attention_axes={self.attention_axes} does not fit inputs of rank 3, whose only "
                             f"attention axis is 1")
        if not dims_compatible(key.shape[1], value.shape[1]):
            raise ShapeError(f"key and value must have the same number of steps, got key {key.keras_shape()} and "
                             f"value {value.keras_shape()}")
        if mask is not None:
            want = (query.shape[1], value.shape[1])
            if mask.rank != 3 or not all(dims_compatible(a, c) or a == 1 for a, c in zip(mask.shape[1:], want)):
                raise ShapeError(f"attention_mask must have shape (batch, {query.keras_shape()[1]}, "
                                 f"{value.keras_shape()[1]}) (query steps, value steps), got {mask.keras_shape()}")
        return query, value, key, mask

    def _attention_axes(self, rank):
        """The attention axes of an input of ``rank`` (Keras' default: every axis between batch and features)."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        axes = tuple(sorted({a % rank if -rank <= a < rank else -1 for a in self.attention_axes}))
        if any(a < 1 or a > rank - 2 for a in axes):
            raise ShapeError(f"attention_axes={self.attention_axes} must name axes between the batch and the "
                             f"features of inputs of rank {rank}")
        return axes

    def _check_folding(self, query, value, key, mask, flags):
        """Inputs of rank > 3: the non-attention axes fold into the batch, the attention axes into one."""
        if mask is not None or flags.get("use_causal_mask") or self.sliding_window is not None:
            raise ShapeError(f"fgc applies attention_mask, use_causal_mask and sliding_window to (batch, steps, "
                             f"features) inputs only; these are of rank {query.rank}")
        axes = self._attention_axes(query.rank)
        for what, x in (("query", query), ("value", value), ("key", key)):
            if not all(isinstance(d, int) for d in x.shape[1:]):
                raise ShapeError(f"{what} of rank {x.rank} needs known sizes (except the batch), got {x.keras_shape()}")
        others = [a for a in range(1, query.rank - 1) if a not in axes]
        if any(query.shape[a] != value.shape[a] or key.shape[a] != value.shape[a] for a in others) or \
                any(key.shape[a] != value.shape[a] for a in axes):
            raise ShapeError(f"query {query.keras_shape()}, value {value.keras_shape()} and key {key.keras_shape()} "
                             f"must agree on the non-attention axes, and key with value on the attention axes "
                             f"{axes}")

    def build(self, input_types):
        query, value, key, _ = self._typed(input_types, self._build_roles)
        h = self.num_heads
        projections = [("query", query, self.key_dim), ("key", key, self.key_dim)]
        if self.use_gate:  # Keras builds the gate between key and value
            projections.append(("gate", query, self.value_dim))
        for name, source, dim in projections + [("value", value, self.value_dim)]:
            self.add_weight(f"{name}/kernel", (source.shape[-1], h, dim), self.kernel_initializer)
            if self.use_bias:
                self.add_weight(f"{name}/bias", (h, dim), self.bias_initializer)
        out = self.output_shape_arg or (query.shape[-1],)
        self.add_weight("attention_output/kernel", (h, self.value_dim, *out), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("attention_output/bias", out, self.bias_initializer)
        self._sizes = {"query": query.shape[-1], "key": key.shape[-1], "value": value.shape[-1]}

    def compute_output_types(self, input_types, node_attrs=None):
        node_attrs = node_attrs or {}
        self._pending_flags = node_attrs
        query, value, key, _ = self._typed(input_types, node_attrs.get(_ROLES, ("query", "value")), node_attrs)
        for role, t in (("query", query), ("key", key), ("value", value)):
            if t.shape[-1] != self._sizes[role]:
                raise ShapeError(f"expected a {role} with {self._sizes[role]} features (the size this layer was built "
                                 f"for), got shape {t.keras_shape()}")
        out = self.output_shape_arg or (query.shape[-1],)
        result = [query.with_shape((*query.shape[:-1], *out))]
        if node_attrs.get("return_attention_scores"):
            axes = self._attention_axes(query.rank)
            others = [query.shape[a] for a in range(1, query.rank - 1) if a not in axes]
            result.append(query.with_shape((query.shape[0], *others, self.num_heads, *[query.shape[a] for a in axes],
                                            *[value.shape[a] for a in axes])))
        return result

    # ------------------------------------------------------------------ lowering
    def lower(self, b, inputs, params, training=False, call_args=None):
        call_args = call_args or {}
        roles = call_args.get(_ROLES, ("query", "value"))
        data, keeps = split_mask(b, inputs, call_args, b.type(inputs[0]).dtype)
        t = dict(zip(roles, data))
        keep = dict(zip(roles, keeps)) if isinstance(keeps, list) else {}
        rank = b.type(t["query"]).rank
        if rank > 3:
            return self._lower_folded(b, t, params, training, call_args)
        return self._lower_sequences(b, t, keep, params, training, call_args)

    def _lower_folded(self, b, t, params, training, call_args):
        """Rank > 3: (B, other..., attended..., F) -> (B * others, attended, F), the rank-3 attention, back."""
        query = t["query"]
        shape, rank = b.shape(query), b.type(query).rank
        axes = self._attention_axes(rank)
        others = [a for a in range(1, rank - 1) if a not in axes]
        perm = (0, *others, *axes, rank - 1)

        rest = int(np.prod([shape[a] for a in others]))

        def fold(x):   # (B, others..., attended..., F) -> (B, prod(others), prod(attended), F)
            attended = int(np.prod([b.shape(x)[a] for a in axes]))
            return b.Reshape(b.Transpose(x, perm=perm), shape=(0, rest, attended, b.shape(x)[-1]))

        folded = {role: fold(x) for role, x in t.items()}
        outs = self._lower_sequences(b, folded, {}, params, training, call_args)
        out_dims = self.output_shape_arg or (shape[-1],)
        y = b.Reshape(outs[0], shape=(0, *[shape[a] for a in others], *[shape[a] for a in axes], *out_dims))
        back = tuple(int(i) for i in np.argsort(perm[:-1])) + tuple(range(rank - 1, rank - 1 + len(out_dims)))
        y = b.Transpose(y, perm=back)
        if len(outs) == 1:
            return [y]
        value_shape = b.shape(t["value"])
        scores = b.Reshape(outs[1], shape=(0, *[shape[a] for a in others], self.num_heads,
                                           *[shape[a] for a in axes], *[value_shape[a] for a in axes]))
        return [y, scores]

    def _lower_sequences(self, b, t, keep, params, training, call_args):
        """Attention over axis -2 of (lead..., T, F) inputs: lead is (B,), or (B, folded axes) for rank > 3."""
        query, value = t["query"], t["value"]
        lead = b.type(query).rank - 2
        if self._fusable(t):
            q, k, v = self._project_together(b, query, params)
        else:
            q = self._project(b, query, params, "query", self.key_dim)
            k = self._project(b, t.get("key", value), params, "key", self.key_dim)
            v = self._project(b, value, params, "value", self.value_dim)
        q = b.Mul(q, 1.0 / math.sqrt(float(self.key_dim)))
        scores = b.MatMul(q, _swap(b, k, -1, -2))                            # (lead..., H, T, S)
        allowed = self._allowed(b, scores, t, keep, call_args.get("use_causal_mask", False), self.sliding_window)
        returns_scores = bool(call_args.get("return_attention_scores"))
        # Keras zeroes fully masked rows only on its Softmax-layer path (scores returned or dropout)
        probs = masked_softmax(b, scores, allowed, zero_masked_rows=returns_scores or self.dropout > 0)
        weights = probs
        if training and self.dropout > 0:
            from fgc.primitives.random_ops import dropout

            weights = dropout(b, probs, self.dropout, self._seed)
        heads = _swap(b, b.MatMul(weights, v), -3, -2)                     # (lead..., T, H, value_dim)
        if self.use_gate:
            gate = _swap(b, b.Sigmoid(self._project(b, query, params, "gate", self.value_dim)), -3, -2)
            self._projection_penalty(b, gate)                              # Keras' gate is sigmoid(EinsumDense)
            heads = b.Mul(heads, gate)
        out = self.output_shape_arg or (b.shape(query)[-1],)
        flat = b.Reshape(heads, shape=(0,) * (lead + 1) + (self.num_heads * self.value_dim,))
        y = b.MatMul(flat, b.Reshape(params["attention_output/kernel"], shape=(self.num_heads * self.value_dim, -1)))
        if self.use_bias:
            y = b.Add(y, b.Reshape(params["attention_output/bias"], shape=(-1,)))
        if len(out) > 1:
            y = b.Reshape(y, shape=(0,) * (lead + 1) + tuple(out))
        self._projection_penalty(b, y)
        return [y, probs] if returns_scores else [y]

    def _projection_penalty(self, b, projected):
        """The activity penalty of one projection's output (B, T, ...), as Keras' EinsumDense sublayers pay it."""
        if self.projection_activity_regularizer is not None and getattr(b.graph, "collect_losses", False):
            from .layer_losses import activity_penalty, add_graph_loss

            add_graph_loss(b, activity_penalty(b, self.projection_activity_regularizer, projected))

    def _fusable(self, t):
        """Self-attention (query, key and value one tensor) with no per-projection activity penalty."""
        return t["query"] == t["value"] == t.get("key", t["value"]) and \
            self.projection_activity_regularizer is None

    def _project_together(self, b, x, params):
        """Self-attention's query, key and value projections as one MatMul on the kernels concatenated
        along the output axis, then one head split and one Split into (lead..., H, T, dim) each. Keras keeps
        three weights, so the two Concats (kernels, biases) cost a node each per step; they replace two
        MatMuls, two bias Adds, two Reshapes and two Transposes. Same numbers: each output column is the
        same dot product."""
        h, dims = self.num_heads, (self.key_dim, self.key_dim, self.value_dim)
        names = ("query", "key", "value")
        widths = tuple(h * d for d in dims)
        kernel = b.Concat(*[b.Reshape(params[f"{n}/kernel"], shape=(-1, w)) for n, w in zip(names, widths)], axis=1)
        y = b.MatMul(x, kernel)
        if self.use_bias:
            y = b.Add(y, b.Concat(*[b.Reshape(params[f"{n}/bias"], shape=(w,)) for n, w in zip(names, widths)],
                                  axis=0))
        kept = (0,) * (b.type(x).rank - 1)
        if self.key_dim == self.value_dim:   # one head split for all three: (..., T, 3H, dim) -> (..., 3H, T, dim)
            heads = _swap(b, b.Reshape(y, shape=kept + (3 * h, self.key_dim)), -3, -2)
            return b.Split(heads, axis=-3, sizes=(h, h, h))
        parts = b.Split(y, axis=-1, sizes=widths)
        return [_swap(b, b.Reshape(p, shape=kept + (h, d)), -3, -2) for p, d in zip(parts, dims)]

    def _project(self, b, x, params, name, dim):
        """(lead..., T, d) -> (lead..., H, T, dim) through the EinsumDense kernel (d, H, dim)."""
        width = self.num_heads * dim
        y = b.MatMul(x, b.Reshape(params[f"{name}/kernel"], shape=(-1, width)))
        if self.use_bias:
            y = b.Add(y, b.Reshape(params[f"{name}/bias"], shape=(width,)))
        kept = (0,) * (b.type(x).rank - 1)
        projected = b.Reshape(y, shape=kept + (self.num_heads, dim))            # Keras' (B, T, H, dim)
        if name != "gate":   # the gate pays on its sigmoid (see _lower_sequences)
            self._projection_penalty(b, projected)
        return _swap(b, projected, -3, -2)

    @staticmethod
    def _allowed(b, scores, tensors, keep, causal, window):
        allowed = None
        if keep.get("query") is not None:                                    # (B, T) -> (B, 1, T, 1)
            allowed = b.Unsqueeze(_keep_bool(b, keep["query"]), axes=(1, 3))
        for role in ("value", "key"):
            if keep.get(role) is not None:                                   # (B, S) -> (B, 1, 1, S)
                allowed = _and(b, allowed, b.Unsqueeze(_keep_bool(b, keep[role]), axes=(1, 2)))
        if causal:
            allowed = _and(b, allowed, _causal(b, scores))
        if window is not None:
            allowed = _and(b, allowed, _band(b, scores, window))
        if "attention_mask" in tensors:
            m = tensors["attention_mask"]
            m = m if b.type(m).dtype == "bool" else b.Cast(m, to="bool")     # nonzero is True, as Keras' cast
            allowed = _and(b, allowed, b.Unsqueeze(m, axes=(1,)))
        return allowed

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg, "attention_axes": self.attention_axes,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer,
                "activity_regularizer": _serialized(self.projection_activity_regularizer), "use_gate": self.use_gate,
                "sliding_window": self.sliding_window, "seed": self.seed}


def _serialized(regularizer):
    from fgc import regularizers

    return None if regularizer is None else regularizers.serialize(regularizer)


class _BaseDenseAttention(Layer):
    """What Attention and AdditiveAttention share: ``layer([query, value(, key)])``, scores masked by the
    value's Keras mask and the causal mask (masked scores minus 1e9), softmax, dropout, weights @ value,
    and outputs zeroed where the query is masked."""

    call_kwargs = ("training", "mask", "return_attention_scores", "use_causal_mask")
    supports_masking = consumes_input_masks = True

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        from fgc.initializers import layer_seed

        self.dropout = _rate(dropout, f"{type(self).__name__} dropout")
        self.seed = seed
        self._seed = layer_seed(seed, f"{type(self).__name__} '{self.name}'")
        self._flags = {}

    def __call__(self, inputs, **kwargs):
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' must be called on a list [query, value] or "
                             f"[query, value, key], got {type(inputs).__name__}"
                             f"{' of length ' + str(len(inputs)) if isinstance(inputs, (list, tuple)) else ''}")
        mask = kwargs.pop("mask", None)
        kwargs = {k: bool(v) if k in ("return_attention_scores", "use_causal_mask") else v for k, v in kwargs.items()}
        self._flags = kwargs
        self._explicit_masks = self._given_masks(mask, len(inputs))
        try:
            return super().__call__(list(inputs), **kwargs)
        finally:
            self._explicit_masks = None

    def _given_masks(self, mask, n_inputs):
        """``mask=[query_mask, value_mask]`` (Keras): symbolic (batch, steps) tensors, replacing the inputs' masks."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' mask must be a list [query_mask, value_mask], "
                             f"got {mask!r}")
        for i, m in enumerate(mask):
            if m is not None and not hasattr(m, "_keras_history"):
                raise TypeError(f"{type(self).__name__} layer '{self.name}': mask[{i}] must be a symbolic boolean or "
                                f"0/1 tensor of shape (batch, steps), got {type(m).__name__}")
        masks = [explicit_mask(m) for m in mask[:2]] + [None] * (n_inputs - 2)
        return None if all(m is None for m in masks) else masks

    def _previous_mask(self, masks, given):
        explicit = getattr(self, "_explicit_masks", None)
        return explicit if explicit is not None else super()._previous_mask(masks, given)

    def compute_mask(self, inputs, mask=None):
        query_mask = mask[0] if isinstance(mask, list) else None
        return [query_mask, None] if self._flags.get("return_attention_scores") else query_mask

    def _typed(self, input_types):
        query, value = _sequence(input_types[0], "query"), _sequence(input_types[1], "value")
        key = _sequence(input_types[2], "key") if len(input_types) > 2 else value
        if not dims_compatible(key.shape[1], value.shape[1]):
            raise ShapeError(f"key and value must have the same number of steps, got key {key.keras_shape()} and "
                             f"value {value.keras_shape()}")
        if query.shape[-1] != key.shape[-1]:
            raise ShapeError(f"query and key must have the same number of features, got query "
                             f"{query.keras_shape()} and key {key.keras_shape()}")
        return query, value, key

    def compute_output_types(self, input_types, node_attrs=None):
        query, value, key = self._typed(input_types)
        out = [query.with_shape((query.shape[0], query.shape[1], value.shape[-1]))]
        if (node_attrs or {}).get("return_attention_scores"):
            out.append(query.with_shape((query.shape[0], query.shape[1], value.shape[1])))
        return out

    def lower(self, b, inputs, params, training=False, call_args=None):
        call_args = call_args or {}
        data, keeps = split_mask(b, inputs, call_args, b.type(inputs[0]).dtype)
        keeps = keeps if isinstance(keeps, list) else [None] * len(data)
        query, value = data[0], data[1]
        key = data[2] if len(data) > 2 else value
        scores = self._scores(b, query, key, params)                        # (B, Tq, Tv)
        allowed = None if keeps[1] is None else b.Unsqueeze(_keep_bool(b, keeps[1]), axes=(1,))
        if call_args.get("use_causal_mask"):
            allowed = _and(b, allowed, _causal(b, scores))
        if allowed is not None:
            # Keras subtracts float16's largest value under float16 (1e9 would overflow to inf)
            scores = b.Where(allowed, scores, b.Sub(scores, 65504.0 if b.type(scores).dtype == "float16" else 1e9))
        probs = b.Softmax(scores, axis=-1)
        weights = probs
        if training and self.dropout > 0:
            from fgc.primitives.random_ops import dropout

            weights = dropout(b, probs, self.dropout, self._seed)
        out = b.MatMul(weights, value)
        if keeps[0] is not None:
            out = b.Mul(out, b.Unsqueeze(keeps[0], axes=(2,)))
        return [out, probs] if call_args.get("return_attention_scores") else [out]


class Attention(_BaseDenseAttention):
    """Luong attention: scores = query @ key^T (times a learned scalar ``scale`` if use_scale), or with
    score_mode='concat' ``concat_score_weight * sum(tanh(scale * (q + k)))``."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention score_mode must be 'dot' or 'concat', got {score_mode!r}")
        self.use_scale, self.score_mode = bool(use_scale), score_mode

    def build(self, input_types):
        self._typed(input_types)
        if self.use_scale:
            self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.add_weight("concat_score_weight", (), "ones")

    def _scores(self, b, query, key, params):
        if self.score_mode == "dot":
            scores = b.MatMul(query, b.Transpose(key, perm=(0, 2, 1)))
            return b.Mul(scores, params["scale"]) if self.use_scale else scores
        total = b.Add(b.Unsqueeze(query, axes=(2,)), b.Unsqueeze(key, axes=(1,)))   # (B, Tq, Tv, d)
        if self.use_scale:
            total = b.Mul(total, params["scale"])
        return b.Mul(b.ReduceSum(b.Tanh(total), axes=(-1,), keepdims=0), params["concat_score_weight"])

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(_BaseDenseAttention):
    """Bahdanau attention: scores = sum(scale * tanh(q + k)) over features, ``scale`` a learned (dim,) vector."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(dropout=dropout, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_types):
        query, _, _ = self._typed(input_types)
        if self.use_scale:
            self.add_weight("scale", (query.shape[-1],), "glorot_uniform")

    def _scores(self, b, query, key, params):
        tanh = b.Tanh(b.Add(b.Unsqueeze(query, axes=(2,)), b.Unsqueeze(key, axes=(1,))))   # (B, Tq, Tv, d)
        if self.use_scale:
            tanh = b.Mul(tanh, params["scale"])
        return b.ReduceSum(tanh, axes=(-1,), keepdims=0)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "dropout": self.dropout, "seed": self.seed}


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (Attention, dict(), [("N", 3, 4), ("N", 5, 4)], ("N", 3, 4), 0),
    (Attention, dict(use_scale=True, score_mode="concat"), [("N", 3, 4), ("N", 5, 6), ("N", 5, 4)], ("N", 3, 6), 2),
    (AdditiveAttention, dict(), [("N", None, 4), ("N", None, 4)], ("N", None, 4), 4),
]
