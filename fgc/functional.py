"""Model (a DAG of layer calls) and Sequential; both are layers, so models nest.

``Model(inputs, outputs)`` walks back from the outputs through the call events that made
them and keeps them in topological order. One walker (``_walk``) serves shape inference of a
nested call and the construction of the IR graph.
"""
from __future__ import annotations

import warnings

from fgc.ir import Graph, ParamSpec, TensorType, Value
from fgc.ir.types import ShapeError, dims_compatible
from fgc.layers.base import InputLayer, KerasTensor, Layer, flatten
from fgc.layers.masks import nested_output_masks, walk_with_call_masks
from fgc.naming import check_kwargs, unique_name

from .model_api import ModelAPI


def _tensor_struct(x, what: str):
    """(flat tensors, names or None) for a tensor, a list/tuple or a dict of tensors."""
    if isinstance(x, dict):
        return list(x.values()), list(x.keys())
    flat = flatten(x)
    for i, t in enumerate(flat):
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Model {what}[{i}] is a {type(t).__name__}; expected a symbolic tensor from "
                            f"fgc.Input(...) or a layer call")
    return flat, None


class Model(ModelAPI, Layer):
    """``Model(inputs, outputs, name=None)`` with a tensor, a list or a dict on either side."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        legacy = {k: kwargs.pop(k) for k in ("input", "output") if k in kwargs}
        # The named parameters never reach kwargs; listing them lets a typo suggest the right one.
        check_kwargs("Model()", kwargs, ("inputs", "outputs", "name", "trainable"))
        if legacy:
            warnings.warn("Model(input=..., output=...) is the Keras 1 spelling; use Model(inputs=..., outputs=...)",
                          DeprecationWarning, stacklevel=2)
            inputs = legacy.get("input", inputs)
            outputs = legacy.get("output", outputs)
        if inputs is None or outputs is None:
            raise TypeError("Model() needs inputs and outputs: Model(inputs=Input(...), outputs=layer(...)(...))")
        Layer.__init__(self, name=name or unique_name("functional"), trainable=trainable)
        ModelAPI.__init__(self)
        self._init_graph(inputs, outputs)

    # ------------------------------------------------------------------ structure
    def _init_graph(self, inputs, outputs):
        self.inputs, self._input_keys = _tensor_struct(inputs, "inputs")
        self.outputs, self._output_keys = _tensor_struct(outputs, "outputs")
        self._single_input = isinstance(inputs, KerasTensor)
        self._single_output = isinstance(outputs, KerasTensor)
        for i, t in enumerate(self.inputs):
            if t._keras_history is None or not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"Model input {i} ({t.name}) is not an Input tensor; model inputs must come from "
                                 f"fgc.Input(...)")
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError("the same Input tensor is listed twice in the model inputs")
        self._nodes = _collect_nodes(self.inputs, self.outputs)
        self._id_checks = None
        layers = [t._keras_history[0] for t in self.inputs]
        for node in self._nodes:
            if node.layer not in layers:
                layers.append(node.layer)
        names = [layer.name for layer in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model '{self.name}' has several layers named {dup}; layer names must be unique "
                             f"within a model (pass distinct name= arguments)")
        self._layers = layers
        self.input_names = self._input_keys or [t._keras_history[0].name for t in self.inputs]
        self.output_names = self._output_keys or _output_names(self.outputs)
        self.built = True
        for var in self._variables():
            if self not in var.layer._owner_models:
                var.layer._owner_models.append(self)

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    # A model's own input and output tensors are its node 0 (as in Keras); its calls on other
    # tensors are nodes 1, 2, ... for get_output_at / get_input_at.
    def _node(self, index: int):
        if index == 0:
            from types import SimpleNamespace

            return SimpleNamespace(inputs=self.inputs, outputs=self.outputs)
        return Layer._node(self, index - 1 if index > 0 else index)

    @property
    def input(self):
        return self._unwrap(self.inputs)

    @property
    def output(self):
        return self._unwrap(self.outputs)

    @property
    def input_shape(self):
        return self._unwrap([t.shape for t in self.inputs])

    @property
    def output_shape(self):
        return self._unwrap([t.shape for t in self.outputs])

    def get_layer(self, name=None, index=None) -> Layer:
        if (name is None) == (index is None):
            raise ValueError("get_layer needs exactly one of name= or index=")
        # Index into ``self.layers`` (as Keras does), so a Sequential's index 0 is its first added layer,
        # not the InputLayer it made.
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"model '{self.name}' has {len(layers)} layers; index {index} is out of range")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        from fgc.naming import near

        raise ValueError(f"no layer named '{name}' in model '{self.name}'{near(name, [l.name for l in layers])}; "
                         f"layers: {[l.name for l in layers]}")

    def _variables(self):
        """Every weight once, in layer order (Keras' get_weights order)."""
        seen, out = set(), []
        for layer in self._layers:
            for var in (layer._variables() if isinstance(layer, Model) else layer.weights):
                if id(var) not in seen:
                    seen.add(id(var))
                    out.append(var)
        return out

    @property
    def weights(self):
        return self._variables()

    def get_weights(self):
        self._sync_from_device()
        return [v._value.copy() for v in self._variables()]

    def set_weights(self, weights):
        variables = self._variables()
        weights = list(weights)
        if len(weights) != len(variables):
            raise ValueError(f"model '{self.name}' has {len(variables)} weight arrays, got {len(weights)}; expected "
                             + ", ".join(f"{v.path} {v.shape}" for v in variables))
        for v, w in zip(variables, weights):
            if tuple(getattr(w, "shape", ())) != v.shape:
                raise ValueError(f"weight '{v.path}' has shape {v.shape}, got an array of shape "
                                 f"{getattr(w, 'shape', None)} (arrays are taken in get_weights() order)")
        self._sync_from_device()
        for v, w in zip(variables, weights):
            v.assign(w)

    @property
    def trainable_weights(self):
        return [v for v, t in self._variables_trainable() if t]

    @property
    def non_trainable_weights(self):
        return [v for v, t in self._variables_trainable() if not t]

    def _variables_trainable(self):
        """(variable, effectively trainable) pairs: a frozen layer or enclosing model freezes its weights."""
        out, seen = [], set()

        def visit(model, enclosing):
            for layer in model._layers:
                on = enclosing and layer.trainable
                if isinstance(layer, Model):
                    visit(layer, on)
                    continue
                for v in layer.weights:
                    if id(v) not in seen:
                        seen.add(id(v))
                        out.append((v, on and v.trainable))
        visit(self, self.trainable)
        return out

    def count_params(self) -> int:
        return int(sum(v._value.size for v in self._variables()))

    def _embedding_consumers(self) -> dict[int, list]:
        """Model input index -> Embedding layers that read it directly (through nested models too)."""
        from fgc.layers.embedding import Embedding

        where = {id(t): i for i, t in enumerate(self.inputs)}
        found: dict[int, list] = {}
        for node in self._nodes:
            for k, t in enumerate(node.inputs):
                if id(t) not in where:
                    continue
                if isinstance(node.layer, Embedding):
                    found.setdefault(where[id(t)], []).append(node.layer)
                elif isinstance(node.layer, Model):
                    for layer in node.layer._embedding_consumers().get(k, []):
                        found.setdefault(where[id(t)], []).append(layer)
        return found

    def _check_ids(self, arrays) -> None:
        if self._id_checks is None:  # the graph is fixed once built: find the Embeddings once
            self._id_checks = self._embedding_consumers()
        for index, layers in self._id_checks.items():
            for layer in layers:
                layer.check_ids(arrays[index], self.input_names[index])

    # ------------------------------------------------------------------ the walker
    def _walk(self, input_values, fn):
        env = {id(t): v for t, v in zip(self.inputs, input_values)}
        for node in self._nodes:
            outs = fn(node, [env[id(t)] for t in node.inputs])
            for t, v in zip(node.outputs, outs):
                env[id(t)] = v
        return [env[id(t)] for t in self.outputs]

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != len(self.inputs):
            raise ShapeError(f"model '{self.name}' takes {len(self.inputs)} input(s), got {len(input_types)}")
        for i, (given, t) in enumerate(zip(input_types, self.inputs)):
            want = t.type
            if given.rank != want.rank or not all(dims_compatible(a, b) for a, b in zip(given.shape[1:], want.shape[1:])):
                raise ShapeError(f"input {i} ('{self.input_names[i]}') expects shape {want.keras_shape()}, "
                                 f"got {given.keras_shape()}")
        return self._walk(input_types, lambda node, ins: node.layer.infer_node(ins, node.call_args))

    def _returns_list(self):
        return not self._single_output

    # ------------------------------------------------------------------ masks
    # Keras runs a nested model's layers with the masks of the tensors it is called on, and its outputs
    # carry the masks those layers make (fgc/layers/masks.py does the bookkeeping).
    supports_masking = consumes_input_masks = consumes_mask = True

    def _previous_mask(self, masks, given):
        if given is not None:  # model(x, mask=m): the mask of the first input
            return [given] + [None] * (len(masks) - 1)
        return Layer._previous_mask(self, masks, None)

    def compute_mask(self, inputs, mask=None):
        outer = flatten(inputs)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] + [None] * (len(outer) - 1)
        out = nested_output_masks(self, outer, masks)
        return out[0] if self._single_output else out

    # ------------------------------------------------------------------ IR construction
    def to_graph(self) -> Graph:
        """The layer-level IR: one node per call event, nested models as single 'model' nodes."""
        g = Graph(self.name)
        for var, trainable in self._variables_trainable():
            name = var.path
            while name in g.params:
                name += "_"
            g.add_param(name, ParamSpec(var.shape, var.dtype, trainable, var))
        symbols = {"N": "N"}
        in_values = []
        for t, name in zip(self.inputs, self.input_names):
            shape = tuple(symbols.setdefault(d, f"T{len(symbols) - 1}") if isinstance(d, str) else d
                          for d in t.type.shape)
            in_values.append(g.add_input(name, TensorType(shape, t.type.dtype)))

        g.outputs = self.inline_into(g, in_values, prefix="")
        g.output_names = list(self.output_names)
        return g

    def inline_into(self, g: Graph, inputs, prefix: str, call_args=None) -> list[Value]:
        """Add one layer-level node per call event of this model to ``g``, reading ``inputs`` (and, after
        them, the leaves of the call's masks that ``call_args`` describes, which the inner layers see)."""
        var_names = {id(spec.variable): name for name, spec in g.params.items()}

        def add(node, ins, call):
            layer = node.layer
            outs = layer.infer_node([g.type_of(v) for v in ins], call)
            params = tuple(var_names[id(v)] for v in
                           (layer._variables() if isinstance(layer, Model) else layer.weights))
            hint = prefix + (layer.name if node.index == 0 else f"{layer.name}.{node.index}")
            name = g.add_node(hint, "model" if isinstance(layer, Model) else "layer", ins, outs,
                              {"_params": params, "_call": call}, layer)
            return [Value(name, i) for i in range(len(outs))]

        return walk_with_call_masks(self, list(inputs), call_args, add)

    def lower(self, b, inputs, params, training=False, call_args=None):
        """Inline this model's layers into builder ``b`` (used by wrappers such as TimeDistributed)."""
        from fgc.ops import Builder

        var_names = {id(spec.variable): name for name, spec in b.graph.params.items()}

        def lower_node(node, ins, call):
            layer = node.layer
            sub = Builder(b.graph, f"{b.prefix}/{layer.name}", layer)
            p = {w.name: sub.param(var_names[id(w)]) for w in getattr(layer, "weights", [])} \
                if not isinstance(layer, Model) else {}
            return layer.lower(sub, ins, p, training, call)
        return walk_with_call_masks(self, list(inputs), call_args, lower_node)

    def __call__(self, inputs, **kwargs):
        if _is_data(inputs):
            check_kwargs(f"{self.name}.__call__()", kwargs, ("training",))
            return self._call_on_data(inputs)
        return Layer.__call__(self, inputs, **kwargs)


def _is_data(x) -> bool:
    flat = flatten(x)
    return bool(flat) and not any(isinstance(t, KerasTensor) for t in flat)


def _output_names(outputs) -> list[str]:
    names = []
    for t in outputs:
        base = t._keras_history[0].name
        name, k = base, 1
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def _collect_nodes(inputs, outputs):
    """Call events between inputs and outputs, in topological order; 'Graph disconnected' otherwise."""
    input_ids = {id(t) for t in inputs}
    order, done, active = [], set(), set()

    def visit(t, path):
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if id(t) in input_ids or id(node) in done:
            return
        if isinstance(layer, InputLayer):
            chain = " <- ".join(path + [f"'{layer.name}'"])
            given = [i._keras_history[0].name for i in inputs]
            raise ValueError(
                f"Graph disconnected: the output needs Input '{layer.name}' (shape {t.shape}), which is not among "
                f"the model's inputs {given}. Path from the output: {chain}. Add '{layer.name}' to "
                f"Model(inputs=[...]) or build the output from the inputs you listed.")
        if id(node) in active:
            raise ValueError(f"cycle through layer '{layer.name}'")
        active.add(id(node))
        for x in node.inputs:
            visit(x, path + [f"'{layer.name}'"])
        active.discard(id(node))
        done.add(id(node))
        order.append(node)

    for i, t in enumerate(outputs):
        if t._keras_history is None:
            raise ValueError(f"model output {i} was not produced by a layer")
        visit(t, [])
    return order


class Sequential(Model):
    """A linear stack: ``Sequential([layers])`` or ``.add(layer)``; the first layer may carry input_shape=."""

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        check_kwargs("Sequential()", kwargs, ("layers", "name", "trainable"))
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        ModelAPI.__init__(self)
        self._stack: list[Layer] = []
        self._input = None
        self.built = False
        self._layers = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor):
            if self._input is not None or self._stack:
                raise ValueError("an Input can only be the first entry of a Sequential model")
            self._input = layer
            return
        if isinstance(layer, InputLayer):
            return self.add(layer._inbound_nodes[0].outputs[0])
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if self._input is None and not self._stack and layer._input_shape_arg is not None:
            from fgc.layers.base import Input

            self._input = Input(shape=layer._input_shape_arg, batch_size=layer._batch_size_arg)
        self._stack.append(layer)
        if self._input is not None:
            self._extend(layer)

    def _extend(self, layer):
        x = self.outputs[0] if self.built else self._input
        if not self.built:
            for earlier in self._stack[:-1]:
                x = earlier(x)
        y = layer(x)
        if isinstance(y, list):
            raise ValueError(f"layer '{layer.name}' returns several tensors; Sequential needs one output per layer")
        self._init_graph(self._input, y)

    def pop(self):
        if not self._stack:
            raise TypeError("there are no layers in the model")
        self._stack.pop()
        raise NotImplementedError("Sequential.pop: rebuild the model from the remaining layers instead")

    @property
    def layers(self):
        return list(self._stack)

    def _build_from_data(self, x):
        """Deferred build: the first layer had no input_shape, so take it from the first batch of data."""
        import numpy as np

        from fgc.layers.base import Input

        if self.built:
            return
        if not self._stack:
            raise ValueError(f"Sequential model '{self.name}' has no layers")
        arr = np.asarray(x[0] if isinstance(x, (list, tuple)) else x)
        dtype = "float32" if arr.dtype.kind == "f" else arr.dtype.name
        self._input = Input(shape=arr.shape[1:], dtype=dtype)
        layers, self._stack = self._stack, []
        for layer in layers:
            self._stack.append(layer)
            self._extend(layer)
