"""Layer, its weights (Variable), its call events (Node) and the symbolic tensors it returns.

A layer called k times owns one set of weights and k nodes, as in Keras' functional
engine. A subclass defines ``build`` (weights in Keras layout), ``compute_output_types``
(shape rule with user-facing errors) and ``lower`` (primitives); no gradient code.
"""
from __future__ import annotations

import inspect

import numpy as np

from fgc import dtype_policies, initializers
from fgc.ir.types import BATCH, ShapeError, TensorType, canonical_dtype, numpy_dtype
from fgc.naming import check_kwargs, snake_case, unique_name
from fgc.variables import Variable, tick

from .autocast import output_types as autocast_output_types
from .masks import Mask, check_given_mask, encode, mask_input_count, warn_mask_dropped  # noqa: F401  (Mask: re-exported)
from .subclassing import (auto_config, call_takes_mask, check_output_shape, check_weight_args, keras_shapes,
                          output_masks, overrides_compute_mask, own_get_config, takes_kwargs)
from .weight_options import weight_options, weight_options_config

BASE_KWARGS = ("name", "trainable", "dtype", "autocast", "input_shape", "batch_input_shape", "batch_size",
               "input_dim", "weights", "input_length", "activity_regularizer")




class KerasTensor:
    """A symbolic tensor: a type (with named symbolic dims) and the call event that made it."""

    def __init__(self, ttype: TensorType, history=None, name: str | None = None):
        self._mask = None
        self.type = ttype
        self._keras_history = history  # (layer, node_index, tensor_index)
        self.name = name or (f"{history[0].name}/output_{history[2]}" if history else "tensor")

    @property
    def shape(self) -> tuple:
        return self.type.keras_shape()

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.rank

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer: its input tensors, output tensors and call arguments."""

    def __init__(self, layer, inputs, outputs, call_args):
        self.layer = layer
        self.index = len(layer._inbound_nodes)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.call_args = dict(call_args)
        layer._inbound_nodes.append(self)


def flatten(x) -> list:
    if isinstance(x, (list, tuple)):
        return [t for item in x for t in flatten(item)]
    if isinstance(x, dict):
        return [t for k in x for t in flatten(x[k])]
    return [x]


def own_then_sublayer_weights(own, sublayers) -> list:
    """Keras' weight order for a subclassed layer or model: its own weights, then each tracked sublayer's,
    a weight shared between them listed once."""
    out, seen = list(own), {id(w) for w in own}
    for sub in sublayers:
        for w in sub.weights:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
    return out


def describe_tensor(t: KerasTensor) -> str:
    if t._keras_history is None:
        return f"tensor with shape {t.shape}"
    layer, node, idx = t._keras_history
    return f"'{layer.name}'[{node}][{idx}] with shape {t.shape}"


def layout_hint_of(tensors) -> str:
    """The layout advice a conv or pooling layer attached to a suspicious input (see conv.py); it travels
    to every tensor computed from it, so each later shape error repeats it."""
    return next((t._layout_hint for t in tensors if getattr(t, "_layout_hint", "")), "")


class Layer:
    """Base class of every layer (and of Model)."""

    call_kwargs: tuple[str, ...] = ("training", "mask")

    def __new__(cls, *args, **kwargs):
        # Keras 3 records a user class's constructor arguments, so one without get_config still saves
        obj = super().__new__(cls)
        obj._auto_config = auto_config(cls, args, kwargs)
        return obj

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, batch_input_shape=None,
                 batch_size=None, input_dim=None, weights=None, input_length=None, autocast=True,
                 activity_regularizer=None, **kwargs):
        check_kwargs(f"{type(self).__name__}()", kwargs, self._allowed_kwargs())
        from fgc import regularizers

        # Keras 3: every layer takes one; its penalty on each output, over the batch size, joins the loss
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"layer name must be a non-empty string, got {name!r}")
        self.trainable = trainable
        # a policy, its name, its serialized dict (get_config's form) or None: the global policy (Keras)
        self._dtype_policy = dtype_policies.get(dtype)
        self.autocast = bool(autocast)  # Keras: cast float inputs and weights to the compute dtype
        self._weights: list[Variable] = []
        self.built = False
        self._inbound_nodes: list[Node] = []
        self._initial_weights = weights
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,) if input_length is None else (input_length, input_dim)
        if batch_input_shape is not None:
            input_shape, batch_size = tuple(batch_input_shape[1:]), batch_input_shape[0]
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self._batch_size_arg = batch_size

    # ------------------------------------------------------------------ dtype policy (fgc/layers/autocast.py)
    # Keras casts a layer's float inputs and weights to its compute dtype; models do not (their layers do).
    _convert_input_args = True

    @property
    def dtype_policy(self):
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value) -> None:
        self._dtype_policy = dtype_policies.get(value)

    @property
    def dtype(self) -> str:
        """The dtype of the layer's weights (Keras: an alias of ``variable_dtype``)."""
        return self._dtype_policy.variable_dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype_policy.variable_dtype

    @property
    def compute_dtype(self) -> str:
        return self._dtype_policy.compute_dtype

    @property
    def input_dtype(self) -> str:
        """The dtype float inputs are cast to (Keras: the compute dtype)."""
        return self.compute_dtype

    @classmethod
    def _allowed_kwargs(cls) -> set:
        names = set(BASE_KWARGS)
        for klass in cls.__mro__:
            if "__init__" in vars(klass):
                names |= {p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "kwargs")}
        return names

    @classmethod
    def keras_class(cls) -> str:
        """The Keras 3 class name this layer saves as (a Keras 1 spelling saves as its Keras 3 class)."""
        return cls.__dict__.get("keras_class_name", cls.__name__)

    # ------------------------------------------------------------------ subclass hooks
    def build(self, input_types: list[TensorType]) -> None:
        """Create weights with ``add_weight`` (Keras layout and initializers)."""

    def compute_output_types(self, input_types: list[TensorType], node_attrs=None) -> list[TensorType]:
        if not _is_subclassed(self):
            raise NotImplementedError
        training = bool((node_attrs or {}).get("training"))
        trace = self._trace(input_types, training, self._mask_types(input_types, node_attrs))
        types = trace.output_types(input_types, self.weights)
        if hasattr(self, "compute_output_shape"):  # the user's own shape rule must agree with what call computes
            check_output_shape(self, input_types, types)
        return types

    def lower(self, b, inputs, params: dict, training: bool = False, call_args=None):
        """Emit primitives with builder ``b``; ``params`` maps weight name to its Value."""
        if not _is_subclassed(self):
            raise NotImplementedError
        from .masks import split_mask

        given = (call_args or {}).get("training")
        data, keep = split_mask(b, inputs, call_args, "float32")
        masks = [] if keep is None else [None if k is None else b.Cast(k, to="bool")
                                         for k in (keep if isinstance(keep, list) else [keep])]
        mask_types = None if keep is None else tuple(None if m is None else b.type(m) for m in masks) \
            + (isinstance(keep, list),)
        trace = self._trace([b.type(v) for v in data], bool(training if given is None else given), mask_types)
        return trace.lower(b, data + [m for m in masks if m is not None], params)

    # ------------------------------------------------------------------ subclassed layers (Keras' ``call``)
    def _mask_types(self, input_types, node_attrs):
        """The types of the masks a recorded call passes to call(): one per data input (None where it has
        none), shaped like the input without its last axis; None when the call sees no mask."""
        from .masks import MASK_KEY

        if not node_attrs or MASK_KEY not in node_attrs:
            return None
        spec = node_attrs[MASK_KEY][1]
        parts = spec[1] if spec[0] == "list" else [spec]
        types = tuple(None if part is None else TensorType(self._mask_shape(t), "bool")
                      for part, t in zip(parts, input_types))
        return types + (spec[0] == "list",)

    def _trace(self, input_types, training: bool, mask_types=None):
        """The trace of ``call`` for inputs of these types (Keras shapes), this training flag and, for a call
        that reads a mask, the mask's types (``(type or None per mask..., is_list)``), made once."""
        from .op_layer import Trace

        traces = self.__dict__.setdefault("_traces", {})
        masks_key = None if mask_types is None else tuple(
            m if isinstance(m, bool) or m is None else (m.keras_shape(), m.dtype) for m in mask_types)
        key = (tuple((t.keras_shape(), t.dtype) for t in input_types), training, masks_key)
        if key not in traces:
            trace = Trace(self, input_types, training, mask_types)
            trace.run(lambda args, mask: self._invoke_call(args, training, mask),
                      getattr(self, "_call_structure", None), with_mask=True)
            traces[key] = trace
        return traces[key]

    def lower_call(self, b, inputs, params: dict, training: bool = False, call_args=None):
        """``lower`` for one call event, with the policy's autocasting around it, plus the losses that call adds
        (activity penalty) in a step graph: what the lowering pass runs."""
        from .layer_losses import lower_call

        return lower_call(self, b, inputs, params, training, call_args)

    def add_loss(self, loss) -> None:
        """Keras' ``add_loss`` inside a subclassed layer's ``call``: the (summed) value joins the training loss."""
        from .layer_losses import record_add_loss

        record_add_loss(self, loss)

    @property
    def losses(self) -> list:
        """Keras' ``layer.losses``: the activity penalties of the last call on arrays, then the current penalty of
        each regularized trainable weight, as arrays. (``add_loss`` values live in the step graph: they are part of
        the loss fit and evaluate report, not of this list.)"""
        from .layer_losses import weight_losses

        return list(self.__dict__.get("_call_losses", [])) + weight_losses(self.trainable_weights)

    def _invoke_call(self, args, training: bool, mask=None):
        params = inspect.signature(self.call).parameters
        kwargs = {"training": training} if "training" in params or takes_kwargs(params) else {}
        if "mask" in params:
            kwargs["mask"] = mask
        return self.call(args, **kwargs)

    # Keras config keys of features fgc does not implement, with the one value fgc accepts (Keras'
    # default): get_config writes them so the keys match Keras', from_config refuses any other value.
    keras_only_config: dict = {}
    # Whether Keras writes a build_config for this layer (not for layers without a build step of their own).
    writes_build_config = True

    def get_config(self) -> dict:
        """Keras 3's base keys; each layer adds its own constructor arguments (see from_config)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy(self.dtype_policy),
                  **self.keras_only_config, **weight_options_config(self)}
        recorded = self.__dict__.get("_auto_config")
        if recorded is not None and not own_get_config(type(self)):
            config.update({k: v for k, v in recorded.items() if k not in ("trainable", "dtype")})
        if getattr(self, "activity_regularizer", None) is not None:   # Keras writes it only when set
            from fgc import regularizers

            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        """``cls(**config)`` after Keras' serialized values (dtype policies, initializers) are read back."""
        from fgc.layers.config import init_arguments

        return cls(**init_arguments(cls, config))

    def get_build_config(self):
        """Keras' build config: ``{"input_shape": ...}`` the layer was built for (None if none is written)."""
        from fgc.saving.serialization import layer_build_config

        return layer_build_config(self)

    def build_from_config(self, config) -> None:
        """Create the weights for the input shape of a build config, as loading a saved layer does."""
        from fgc.saving.serialization import build_layer_from_config

        build_layer_from_config(self, config)

    # ------------------------------------------------------------------ weights
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True, regularizer=None,
                   constraint=None, aggregation="none", overwrite_with_gradient=False, name=None) -> Variable:
        """Keras 3's signature; fgc's built-in layers also use ``add_weight(name, shape, initializer)``."""
        if isinstance(shape, str):  # fgc's positional form: add_weight(name, shape, initializer, trainable=...)
            name, shape, initializer, dtype = shape, initializer, dtype, None
        regularizer, constraint = check_weight_args(self, name, regularizer, constraint, overwrite_with_gradient)
        dtype = canonical_dtype(dtype or self.variable_dtype)
        if initializer is None:  # Keras: glorot_uniform for floats, zeros otherwise
            initializer = "glorot_uniform" if dtype.startswith("float") else "zeros"
        shape = () if shape is None else tuple(int(d) for d in shape)
        if name is None:
            name = f"variable_{len(self._weights)}" if self._weights else "variable"
        value = np.asarray(initializers.get(initializer)(shape), dtype=numpy_dtype(dtype))
        var = Variable(value.reshape(shape), name, self, bool(trainable))
        var.regularizer, var.constraint = weight_options(self, name, regularizer, constraint)
        var.autocast = bool(autocast)  # read in the compute dtype under a mixed policy (fgc/layers/autocast.py)
        self._weights.append(var)
        return var

    @property
    def weights(self) -> list[Variable]:
        if not _is_subclassed(self):
            return list(self._weights)
        # Keras: the layer's own weights, then those of the layers tracked as its attributes
        from .op_layer import tracked_layers

        return own_then_sublayer_weights(self._weights, tracked_layers(self))

    def _weight_trainable(self, w) -> bool:
        # a weight of a frozen sublayer (subclassed layers) is frozen too
        return w.trainable and self.trainable and (w.layer is self or getattr(w.layer, "trainable", True))

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if self._weight_trainable(w)]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if not self._weight_trainable(w)]

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        if len(weights) != len(self.weights):
            expected = ", ".join(f"{w.path} {w.shape}" for w in self.weights)
            raise ValueError(f"layer '{self.name}' expects {len(self.weights)} weight arrays ({expected}), "
                             f"got {len(weights)}")
        weights = [w.check_assignable(v) for w, v in zip(self.weights, weights)]  # all checked before any changes
        for w, v in zip(self.weights, weights):
            w.assign(v)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"layer '{self.name}' is not built yet: call it on an input first")
        return int(sum(np.prod(w.shape) for w in self.weights))

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        # A compiled model's step keeps the flags it was compiled with (Keras 3); moving the clock
        # lets its trainer notice the change and warn.
        self._trainable = bool(value)
        tick()

    def _trainable_state(self) -> dict:
        """This layer and the layers it wraps (attributes) -> their own trainable flags."""
        state = {self: self._trainable} if "_trainable" in vars(self) else {}
        for value in vars(self).values():
            if isinstance(value, Layer) and value is not self:
                state.update(value._trainable_state())
        return state

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs, **kwargs):
        check_kwargs(f"{self.name}.__call__()", kwargs, self.call_kwargs)
        from .eager import call_on_arrays, is_array_data

        if is_array_data(inputs):  # Keras runs a layer called on arrays at once
            return call_on_arrays(self, inputs, kwargs)
        given_mask = kwargs.pop("mask", None)
        tensors = flatten(inputs)
        for i, t in enumerate(tensors):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"layer '{self.name}' was called on {type(t).__name__} (input {i}); call layers on "
                                f"symbolic tensors from fgc.Input(...) or other layers, or on numpy arrays (all of "
                                f"its inputs) to compute it at once")
        if given_mask is not None:
            given_mask = check_given_mask(self, given_mask, tensors)
        in_types = [t.type for t in tensors]
        previous = self._previous_mask([t._mask for t in tensors], given_mask)
        mask_leaves = []
        if (self.consumes_mask or self.consumes_input_masks) and previous is not None:
            # the layer reads the mask's leaf tensors as extra last inputs
            mask_leaves, spec = encode(previous, f"layer '{self.name}' ({type(self).__name__})")
            kwargs = {**kwargs, "_mask": (len(mask_leaves), spec)}
        if _is_subclassed(self):
            _check_traceable(self)
            self._call_structure = inputs
        try:
            if not self.built:
                self.build(keras_shapes(inputs) if _is_subclassed(self) else in_types)
                self.built = True
                if self._initial_weights is not None:
                    self.set_weights(self._initial_weights)
            out_types = autocast_output_types(self, in_types, kwargs)
        except ShapeError as e:
            sources = "; ".join(f"input {i} is {describe_tensor(t)}" for i, t in enumerate(tensors))
            hint = layout_hint_of(tensors)
            hint = f" {hint}" if hint and "channels_first'" not in str(e) else ""
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}), call {len(self._inbound_nodes)}: {e}. "
                             f"({sources}){hint}") from None
        node_inputs = list(tensors) + mask_leaves
        outputs = [KerasTensor(t, (self, len(self._inbound_nodes), i)) for i, t in enumerate(out_types)]
        out_masks = output_masks(self, inputs, previous) if self.supports_masking else None
        if not self.supports_masking and any(t._mask is not None for t in tensors):
            warn_mask_dropped(self)
        layout_hint = layout_hint_of(tensors)
        for t, m in zip(outputs, out_masks if isinstance(out_masks, (list, tuple)) else [out_masks] * len(outputs)):
            t._mask = m
            t._layout_hint = layout_hint
        node = Node(self, node_inputs, outputs, kwargs)
        node.mask_given = given_mask
        node.args_is_list = isinstance(inputs, (list, tuple, dict))  # how the call's config lists its inputs
        return outputs[0] if len(outputs) == 1 and not self._returns_list() else outputs

    # ------------------------------------------------------------------ masks (Keras 3 masking)
    # Whether the layer's outputs carry a mask (compute_mask's) instead of dropping the input's.
    # (Keras 3: by default, whether the class defines its own compute_mask; built-in layers set it.)
    @property
    def supports_masking(self) -> bool:
        explicit = self.__dict__.get("_supports_masking")
        return overrides_compute_mask(type(self)) if explicit is None else explicit

    @supports_masking.setter
    def supports_masking(self, value) -> None:
        self.__dict__["_supports_masking"] = bool(value)

    # Whether the layer reads the mask (Keras: its call takes ``mask=``), so ``layer(x, mask=m)`` is allowed.
    @property
    def consumes_mask(self) -> bool:
        return _is_subclassed(self) and call_takes_mask(self)
    # A layer that consumes one mask per input (the merge layers) rather than its first input's.
    consumes_input_masks = False

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output(s) given its inputs and their mask (Keras' ``compute_mask``):
        by default the input mask passes through."""
        return mask

    def _previous_mask(self, masks: list, given):
        """The mask a call sees, from its inputs' masks: the explicit ``mask=`` argument, else the list of
        them for a layer that takes one per input, else the first input's; None when there is none."""
        if given is not None:
            return given
        if self.consumes_input_masks or (len(masks) > 1 and self.supports_masking):
            return None if all(m is None for m in masks) else list(masks)
        return masks[0] if masks else None

    def _mask_shape(self, x: TensorType) -> tuple:
        """The shape a mask of input ``x`` has: x's without the feature (last) axis."""
        return x.shape[:-1]

    def infer_node(self, in_types, call_args=None):
        """compute_output_types for a recorded call (drops the mask leaves a consuming layer reads)."""
        n = mask_input_count(call_args)
        if n:
            in_types = in_types[:-n]
        return autocast_output_types(self, in_types, call_args)

    def _returns_list(self) -> bool:
        traces = self.__dict__.get("_traces")
        return bool(traces) and next(iter(traces.values())).multi_output

    # ------------------------------------------------------------------ call events
    def _node(self, index: int) -> Node:
        if not self._inbound_nodes:
            raise AttributeError(f"layer '{self.name}' has never been called, so it has no input or output yet")
        if not -len(self._inbound_nodes) <= index < len(self._inbound_nodes):
            raise ValueError(f"layer '{self.name}' has {len(self._inbound_nodes)} node(s); asked for node {index}")
        return self._inbound_nodes[index]

    def _only(self, what: str, getter, accessor: str):
        values = [getter(n) for n in self._node_list()]
        first = values[0]
        if any(_describe(v) != _describe(first) for v in values[1:]) or (
                what in ("input", "output") and len(values) > 1):
            raise AttributeError(
                f"layer '{self.name}' has been called {len(values)} times, so it has several {what}s; "
                f"use {accessor}(node_index) instead (node 0 is the first call)")
        return first

    def _node_list(self):
        if not self._inbound_nodes:
            raise AttributeError(f"layer '{self.name}' has never been called, so it has no input or output yet")
        return self._inbound_nodes

    @staticmethod
    def _unwrap(ts):
        return ts[0] if len(ts) == 1 else list(ts)

    def get_input_at(self, node_index: int):
        return self._unwrap(self._node(node_index).inputs)

    def get_output_at(self, node_index: int):
        return self._unwrap(self._node(node_index).outputs)

    def get_input_shape_at(self, node_index: int):
        return self._unwrap([t.shape for t in self._node(node_index).inputs])

    def get_output_shape_at(self, node_index: int):
        return self._unwrap([t.shape for t in self._node(node_index).outputs])

    @property
    def input(self):
        return self._only("input", lambda n: self._unwrap(n.inputs), "get_input_at")

    @property
    def output(self):
        return self._only("output", lambda n: self._unwrap(n.outputs), "get_output_at")

    @property
    def input_shape(self):
        return self._only("input shape", lambda n: self._unwrap([t.shape for t in n.inputs]), "get_input_shape_at")

    @property
    def output_shape(self):
        return self._only("output shape", lambda n: self._unwrap([t.shape for t in n.outputs]),
                          "get_output_shape_at")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def dtype_policy(policy) -> dict:
    """A layer's dtype policy (or a dtype name) as Keras 3.15 writes it: a serialized DTypePolicy."""
    return dtype_policies.serialize(dtype_policies.get(policy))


def _is_subclassed(layer) -> bool:
    from .op_layer import defines_call

    return defines_call(type(layer))


def _check_traceable(layer) -> None:
    # a subclassed model is traced as a whole (fgc/model_subclass.py); only built-in layers are refused here
    builtin = next((k for k in type(layer).__mro__ if k is not Layer and "lower" in vars(k)
                    and k.__module__.startswith("fgc.layers.")), None)
    if builtin is not None:
        raise TypeError(f"{type(layer).__name__} overrides call() of the built-in layer {builtin.__name__}, which fgc "
                        f"lowers without a call(); subclass fgc.layers.Layer instead and use "
                        f"layers.{builtin.__name__}(...) as a sublayer inside call()")


def _describe(v):
    return v if not isinstance(v, list) else tuple(_describe(x) for x in v)


class InputLayer(Layer):
    """The layer behind ``fgc.Input``: a graph input with a named symbolic batch dim."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, sparse=None, batch_shape=None,
                 input_tensor=None, **kwargs):
        # Keras: an Input is float32 unless told otherwise, whatever the global policy
        super().__init__(name=name, dtype=dtype if dtype is not None else "float32", **kwargs)
        if batch_shape is not None:
            shape, batch_size = tuple(batch_shape[1:]), batch_shape[0]
        if shape is None:
            raise ValueError("Input needs a shape, e.g. Input(shape=(64,)) for vectors of 64 features")
        if isinstance(shape, int):
            shape = (shape,)
        dims = []
        for i, d in enumerate(shape):
            if d is None:
                from fgc.ir.types import fresh_symbol

                dims.append(fresh_symbol("T"))
            elif isinstance(d, (int, np.integer)) and d > 0:
                dims.append(int(d))
            else:
                raise ValueError(f"Input shape {tuple(shape)}: dim {i} must be a positive int or None, got {d!r}")
        self.batch_size = batch_size
        batch = batch_size if batch_size is not None else BATCH
        self.built = True
        out = KerasTensor(TensorType((batch, *dims), self.dtype), (self, 0, 0), name=self.name)
        Node(self, [], [out], {})

    def compute_output_types(self, input_types, node_attrs=None):
        return [self._inbound_nodes[0].outputs[0].type]

    def get_config(self):
        """Keras 3's InputLayer keys (no trainable flag; the dtype as a plain name)."""
        return {"batch_shape": tuple(self._inbound_nodes[0].outputs[0].shape), "dtype": self.dtype, "sparse": False,
                "ragged": False, "name": self.name, "optional": False}

    @classmethod
    def from_config(cls, config):
        from fgc.layers.config import dtype_from_config

        config = dict(config)
        for key in ("sparse", "ragged", "optional"):
            if config.pop(key, False):
                raise ValueError(f"InputLayer.from_config: {key}=True inputs are not supported by fgc")
        if "dtype" in config:
            config["dtype"] = dtype_from_config(config["dtype"], "InputLayer.from_config")
        if "batch_input_shape" in config:   # the Keras 2 spelling
            config["batch_shape"] = config.pop("batch_input_shape")
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, sparse=None, **kwargs):
    """A symbolic input tensor: ``Input(shape=(64,))`` stands for a batch of 64-vectors."""
    check_kwargs("Input()", kwargs, ("tensor", "ragged", "optional"))
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer._inbound_nodes[0].outputs[0]
