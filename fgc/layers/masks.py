"""Masks (Keras' ``_keras_mask``): which steps of a sequence count, as one small expression.

A symbolic tensor may carry a ``Mask``: a boolean (batch, steps...) tensor that the graph
computes from other tensors when a layer needs it. Its leaves read tensors of the graph:

    nonzero  ids != 0                       Embedding(mask_zero=True)
    value    any(vectors != value, -1)      Masking(mask_value)
    tensor   m != 0                         an explicit ``layer(x, mask=m)``
and three combinations:
    or       m1 | m2 | ...                  the element-wise merge layers
    steps    any(m, axes after time)        TimeDistributed's output (a step counts if any of it does)
    concat   Keras' Concatenate rule: each mask broadcast to its input's shape (ones where
             missing), concatenated on the axis, then any() over the last axis

A layer that reads masks (``consumes_mask``) gets the leaves' tensors as extra node inputs
after its data inputs and the expression, with leaves numbered, in its call args under
``_mask``: ``(number of extra inputs, spec)``. ``split_mask`` turns that back into the data
inputs and one float keep-tensor (1 keep, 0 skip), however the mask was made.

A nested model reads the masks of the tensors it is called on (like a consuming layer) and, when
it is inlined, its layers see them: their masks are recomputed with the call's masks, whose leaves
are ``Placeholder`` s for the model node's extra inputs. Its output masks are its inner masks with the
inner Inputs replaced by the tensors it was called on; a mask that reads a tensor inside the model
cannot be expressed outside it and becomes a 'lost' mask, an error only if a layer would read it.

The same functions compute masks of numpy arrays, so a layer's public ``compute_mask`` works
on symbolic tensors and on data alike.
"""
from __future__ import annotations

import warnings

import numpy as np

from fgc.ir.types import dims_compatible

MASK_KEY = "_mask"


class Mask:
    """A boolean keep-mask of a symbolic tensor (see the module docstring for the kinds)."""

    dtype = "bool"

    def __init__(self, kind: str, source=None, value: float = 0.0, parts=(), likes=(), axis: int = -1,
                 reason: str = ""):
        self.kind, self.source, self.value = kind, source, float(value)
        self.parts, self.likes, self.axis = tuple(parts), tuple(likes), int(axis)
        self.reason = reason  # for a 'lost' mask: where it came from

    def lost(self):
        """The first part of this mask that cannot be computed here (see ``substitute``), or None."""
        if self.kind == "lost":
            return self
        found = (p.lost() for p in self.parts if p is not None)
        return next((m for m in found if m is not None), None)

    def substitute(self, replace: dict, inside: set, reason: str) -> "Mask":
        """This mask with leaf tensors swapped by ``replace`` (id -> tensor); a leaf among ``inside``
        (ids) without a replacement makes it a 'lost' mask."""
        def swap(t):
            return replace.get(id(t), _LOST if id(t) in inside else t)
        if self.kind == "lost":
            return self
        if self.kind in ("or", "steps"):
            return _lost_or(Mask(self.kind, parts=[p.substitute(replace, inside, reason) for p in self.parts]), reason)
        if self.kind == "concat":
            parts = [None if p is None else p.substitute(replace, inside, reason) for p in self.parts]
            return _lost_or(Mask("concat", parts=parts, likes=[swap(t) for t in self.likes], axis=self.axis), reason)
        return _lost_or(Mask(self.kind, swap(self.source), self.value), reason)

    @property
    def shape(self) -> tuple:
        if self.kind == "lost":
            return None
        if self.kind in ("nonzero", "tensor"):
            return self.source.shape
        if self.kind == "value":
            return self.source.shape[:-1]
        if self.kind == "or":
            return self.parts[0].shape
        if self.kind == "steps":
            return self.parts[0].shape[:2]
        sizes = [like.shape for like in self.likes]
        axis = self.axis % len(sizes[0])
        along = [s[axis] for s in sizes]
        total = None if None in along else sum(along)
        return tuple(total if i == axis else d for i, d in enumerate(sizes[0]))[:-1]

    def leaves(self) -> list:
        """The tensors the mask reads, each once, in a stable order."""
        if self.kind == "lost":
            found = []
        elif self.kind in ("or", "steps"):
            found = [t for p in self.parts for t in p.leaves()]
        elif self.kind == "concat":
            found = [t for p in self.parts if p is not None for t in p.leaves()] + list(self.likes)
        else:
            found = [self.source]
        unique = {}
        for t in found:
            unique.setdefault(id(t), t)
        return list(unique.values())

    def spec(self, index: dict) -> tuple:
        """The expression with each leaf tensor replaced by its position among the extra inputs."""
        if self.kind in ("or", "steps"):
            return (self.kind, tuple(p.spec(index) for p in self.parts))
        if self.kind == "concat":
            return ("concat", self.axis, tuple((None if p is None else p.spec(index), index[id(like)])
                                              for p, like in zip(self.parts, self.likes)))
        if self.kind == "value":
            return ("value", index[id(self.source)], self.value)
        return (self.kind, index[id(self.source)])

    def __repr__(self) -> str:
        return f"<Mask kind={self.kind}>"


_LOST = object()  # a leaf that only exists inside a nested model


def _lost_or(mask: Mask, reason: str) -> Mask:
    leaves = [mask.source] if mask.kind not in ("or", "steps", "concat") else list(mask.likes)
    if any(t is _LOST for t in leaves) or mask.lost() is not None:
        return Mask("lost", reason=reason)
    return mask


def _symbolic(x) -> bool:
    return hasattr(x, "_keras_history") or isinstance(x, Mask)


# ---------------------------------------------------------------------- the mask algebra (symbolic or numpy)
def ids_mask(ids):
    """Embedding(mask_zero=True): id 0 is padding."""
    return Mask("nonzero", ids) if _symbolic(ids) else np.asarray(ids) != 0


def value_mask(x, value: float):
    """Masking: a step is kept when any of its features differs from ``value``."""
    return Mask("value", x, value) if _symbolic(x) else np.any(np.asarray(x) != value, axis=-1)


def explicit_mask(m):
    """A user's ``mask=`` argument: nonzero / True means keep."""
    if m is None or isinstance(m, Mask):
        return m
    return Mask("tensor", m) if _symbolic(m) else np.asarray(m) != 0


def any_mask(masks):
    """Element-wise OR (Keras 3's merge layers)."""
    if _symbolic(masks[0]):
        return masks[0] if len(masks) == 1 else Mask("or", parts=masks)
    return np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks])


def steps_mask(mask):
    """A (batch, time, ...) mask reduced to (batch, time): a step counts when any of its entries does."""
    if mask is None:
        return None
    if isinstance(mask, Mask):
        return mask if len(mask.shape) <= 2 else Mask("steps", parts=[mask])
    mask = np.asarray(mask, bool)
    return mask if mask.ndim <= 2 else mask.any(axis=tuple(range(2, mask.ndim)))


def concat_mask(inputs, masks, axis: int):
    """Keras 3's Concatenate.compute_mask: masks broadcast to their inputs (all True where missing),
    concatenated on ``axis``, any() over the last axis."""
    if any(_symbolic(x) for x in inputs):
        return Mask("concat", parts=masks, likes=inputs, axis=axis)
    full = [np.ones(np.shape(x), bool) if m is None else
            np.broadcast_to(np.asarray(m, bool)[..., None], np.shape(x)) for x, m in zip(inputs, masks)]
    return np.concatenate(full, axis=axis).any(axis=-1)


# ---------------------------------------------------------------------- recording and lowering
def encode(mask, reader: str = "this layer") -> tuple[list, tuple]:
    """(leaf tensors, spec) of a consumed mask: one Mask, or a list with one Mask or None per input."""
    masks = mask if isinstance(mask, (list, tuple)) else [mask]
    lost = next((m.lost() for m in masks if m is not None and m.lost() is not None), None)
    if lost is not None:
        raise ValueError(f"{reader} would read the mask of {lost.reason}, and that mask is computed from tensors "
                         f"inside the nested model, which fgc cannot carry out of it. Apply the masking layers "
                         f"(Embedding(mask_zero=True), Masking) to the nested model's inputs, or call its layers "
                         f"directly in the outer model")
    leaves = list({id(t): t for m in masks if m is not None for t in m.leaves()}.values())
    index = {id(t): i for i, t in enumerate(leaves)}
    specs = tuple(None if m is None else m.spec(index) for m in masks)
    return leaves, (("list", specs) if isinstance(mask, (list, tuple)) else specs[0])


class Placeholder:
    """The i-th mask leaf of a recorded call, standing for a tensor known only as that call's input."""

    def __init__(self, index: int):
        self.index = index


def decode(spec, leaves: list):
    """The Mask (or list of them) a spec describes, reading ``leaves`` for its leaf tensors."""
    kind = spec[0]
    if kind == "list":
        return [None if s is None else decode(s, leaves) for s in spec[1]]
    if kind in ("or", "steps"):
        return Mask(kind, parts=[decode(s, leaves) for s in spec[1]])
    if kind == "concat":
        _, axis, parts = spec
        return Mask("concat", parts=[None if p is None else decode(p, leaves) for p, _ in parts],
                    likes=[leaves[i] for _, i in parts], axis=axis)
    if kind == "value":
        return Mask("value", leaves[spec[1]], spec[2])
    return Mask(kind, leaves[spec[1]])


def mask_input_count(call_args) -> int:
    """How many extra node inputs (the mask's leaves) follow a node's data inputs."""
    return call_args[MASK_KEY][0] if call_args and MASK_KEY in call_args else 0


def split_mask(b, inputs, call_args, dtype: str):
    """(data inputs, keep) of a recorded call: keep is the float 0/1 mask, a list of them (one per
    data input, None where absent) for a layer that consumed one mask per input, or None."""
    n = mask_input_count(call_args)
    if not n:
        return list(inputs), None
    data, leaves = list(inputs[:-n]), list(inputs[-n:])
    spec = call_args[MASK_KEY][1]
    if spec[0] == "list":
        return data, [None if s is None else lower_spec(b, leaves, s, dtype) for s in spec[1]]
    return data, lower_spec(b, leaves, spec, dtype)


def lower_spec(b, leaves, spec, dtype: str):
    """The mask expression as primitives: a float tensor of ones (keep) and zeros (skip)."""
    kind = spec[0]
    if kind == "or":
        parts = [lower_spec(b, leaves, s, dtype) for s in spec[1]]
        out = parts[0]
        for p in parts[1:]:
            out = b.Max(out, p)
        return out
    if kind == "steps":
        keep = lower_spec(b, leaves, spec[1][0], dtype)
        return b.ReduceMax(keep, axes=tuple(range(2, b.type(keep).rank)), keepdims=0)
    if kind == "concat":
        return _lower_concat(b, leaves, spec, dtype)
    x = leaves[spec[1]]
    x_dtype = b.type(x).dtype
    if kind == "tensor" and x_dtype == "bool":
        return b.Cast(x, to=dtype)
    if kind in ("nonzero", "tensor"):
        keep = b.Not(b.Equal(x, b.const(0, x_dtype)))
    else:  # value: a step counts when any feature differs from the mask value
        differs = b.Cast(b.Not(b.Equal(x, b.const(spec[2], x_dtype))), to=x_dtype)
        keep = b.Greater(b.ReduceMax(differs, axes=(-1,), keepdims=0), b.const(0, x_dtype))
    return b.Cast(keep, to=dtype)


def _lower_concat(b, leaves, spec, dtype):
    _, axis, parts = spec
    full = []
    for part, like_index in parts:
        like = leaves[like_index]
        keep = b.const(1.0, dtype) if part is None else b.Unsqueeze(lower_spec(b, leaves, part, dtype), axes=(-1,))
        full.append(b.ExpandLike(keep, like))
    return b.ReduceMax(b.Concat(*full, axis=axis), axes=(-1,), keepdims=0)


# ---------------------------------------------------------------------- calls: the mask= argument, dropped masks
def check_given_mask(layer, mask, tensors):
    """An explicit ``layer(x, mask=m)``: only for layers that read masks, a symbolic (batch, steps) tensor.
    Returns it as a Mask."""
    if not layer.consumes_mask:
        raise TypeError(f"layer '{layer.name}' ({type(layer).__name__}) does not take a mask= argument: only "
                        f"layers that read masks do (recurrent layers, Bidirectional, TimeDistributed, "
                        f"GlobalAveragePooling1D, BatchNormalization, models). To mask what follows, put Masking or "
                        f"Embedding(mask_zero=True) before it")
    if not hasattr(mask, "_keras_history"):
        raise TypeError(f"layer '{layer.name}' got mask={type(mask).__name__}; pass a symbolic boolean or 0/1 "
                        f"tensor of shape (batch, timesteps), e.g. from fgc.Input(shape=(timesteps,), dtype='bool')")
    want, got = layer._mask_shape(tensors[0].type), mask.type.shape
    if len(got) != len(want) or not all(dims_compatible(a, b) for a, b in zip(got[1:], want[1:])):
        raise ValueError(f"layer '{layer.name}' got a mask of shape {mask.shape} for an input of shape "
                         f"{tensors[0].shape}; the mask must have the shape "
                         f"{tuple(None if isinstance(d, str) else d for d in want)} (one value per step)")
    return explicit_mask(mask)


def warn_mask_dropped(layer) -> None:
    warnings.warn(f"Layer '{layer.name}' ({type(layer).__name__}) was called on a masked tensor, but it does not "
                  f"support masking, so the mask stops here: the layers after it see every step (as in Keras)",
                  UserWarning, stacklevel=3)


def output_mask_leaves(model, values: dict, names: set) -> dict:
    """Output name -> (leaf values, spec) of each output among ``names`` that carries a mask (Keras masks
    that output's loss and metrics with it); ``values`` maps id(tensor) -> value, from walk_with_call_masks."""
    found = {}
    for name, t in zip(model.output_names, model.outputs):
        if name in names and t._mask is not None:
            leaves, spec = encode(t._mask, f"the loss of output '{name}'")
            found[name] = ([values[id(leaf)] for leaf in leaves], spec)
    return found


# ---------------------------------------------------------------------- nested models
def inner_masks(model, input_masks):
    """A model's inner masks when its inputs carry ``input_masks``, as Keras computes them by running its
    layers: (id(inner tensor) -> its mask, id(node) -> the mask a mask-reading inner call sees)."""
    env = {id(t): m for t, m in zip(model.inputs, input_masks)}
    seen = {}
    for node in model._nodes:
        layer = node.layer
        data = node.inputs[:len(node.inputs) - mask_input_count(node.call_args)]
        previous = layer._previous_mask([env.get(id(t)) for t in data], getattr(node, "mask_given", None))
        if layer.consumes_mask or layer.consumes_input_masks:
            seen[id(node)] = previous
        out = layer.compute_mask(data[0] if len(data) == 1 else list(data), previous) \
            if layer.supports_masking else None
        per_output = out if isinstance(out, (list, tuple)) else [out] * len(node.outputs)
        for t, m in zip(node.outputs, per_output):
            env[id(t)] = m
    return env, seen


def nested_output_masks(model, outer: list, masks: list) -> list:
    """The masks of a nested model's outputs when called on ``outer`` tensors carrying ``masks``: the inner
    masks with the inner Inputs replaced by ``outer`` ('lost' where they read other inner tensors)."""
    inner, _ = inner_masks(model, masks)
    inside = set(inner) | {id(t) for t in model.inputs}
    replace = {id(t): o for t, o in zip(model.inputs, outer)}
    return [None if inner.get(id(t)) is None else
            inner[id(t)].substitute(replace, inside, f"output {i} of the nested model '{model.name}'")
            for i, t in enumerate(model.outputs)]


def walk_with_call_masks(model, inputs, call_args, emit, values: dict | None = None) -> list:
    """Emit a model's inner calls in order, ``emit(node, inputs, call_args) -> output values``, reading
    ``inputs`` and, after them, the leaves of the call's masks (``call_args``): the inner calls that read
    masks get them recomputed with the call's masks, as Keras runs a nested model's layers.
    ``values`` (optional) receives id(inner tensor) -> its value."""
    n = mask_input_count(call_args)
    data, outer_leaves = list(inputs[:len(inputs) - n]), list(inputs[len(inputs) - n:])
    remasked = _remasked_calls(model, call_args)
    values = {} if values is None else values
    values.update((id(t), v) for t, v in zip(model.inputs, data))

    def step(node, ins):
        call = node.call_args
        if id(node) in remasked:
            ins, call = _remasked_inputs(node, ins, remasked[id(node)], values, outer_leaves)
        outs = emit(node, ins, call)
        values.update((id(t), v) for t, v in zip(node.outputs, outs))
        return outs
    return model._walk(data, step)


def _remasked_calls(model, call_args) -> dict:
    """id(inner node) -> the mask that inner call reads once the model's call masks (``call_args``) are
    taken into account; their leaves are Placeholders for the call's extra (mask) inputs."""
    n = mask_input_count(call_args)
    if not n:
        return {}
    return inner_masks(model, decode(call_args[MASK_KEY][1], [Placeholder(i) for i in range(n)]))[1]


def _remasked_inputs(node, ins, previous, values: dict, outer_leaves: list):
    """(inputs, call args) of an inner call that reads ``previous``: its leaves are inner tensors
    (``values`` maps them to graph values) or Placeholders for ``outer_leaves``."""
    data = list(ins[:len(ins) - mask_input_count(node.call_args)])
    call = {k: v for k, v in node.call_args.items() if k != MASK_KEY}
    if previous is None:
        return data, call
    leaves, spec = encode(previous, f"layer '{node.layer.name}' ({type(node.layer).__name__})")
    data += [outer_leaves[t.index] if isinstance(t, Placeholder) else values[id(t)] for t in leaves]
    return data, {**call, MASK_KEY: (len(leaves), spec)}
