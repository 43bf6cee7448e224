"""Model (a DAG of layer calls) and Sequential; both are layers, so models nest.

``Model(inputs, outputs)`` walks back from the outputs through the call events that made
them and keeps them in topological order. One walker (``_walk``) serves shape inference of a
nested call and the construction of the IR graph.
"""
from __future__ import annotations

import warnings

from fgc.ir import Graph, ParamSpec, TensorType, Value
from fgc.ir.types import ShapeError, dims_compatible, numpy_dtype
from fgc.layers.base import InputLayer, KerasTensor, Layer, flatten
from fgc.layers.masks import nested_output_masks, output_mask_leaves, walk_with_call_masks
from fgc.naming import check_kwargs, snake_case, unique_name

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

    keras_class_name = "Functional"
    _convert_input_args = False  # Keras: a functional model casts nothing; each of its layers autocasts

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        legacy = {k: kwargs.pop(k) for k in ("input", "output") if k in kwargs}
        # The named parameters never reach kwargs; listing them lets a typo suggest the right one.
        check_kwargs("Model()", kwargs, ("inputs", "outputs", "name", "trainable", "dtype"))
        dtype = kwargs.pop("dtype", None)   # a subclassed model's config (Keras writes its dtype policy)
        if legacy:
            warnings.warn("Model(input=..., output=...) is the Keras 1 spelling; use Model(inputs=..., outputs=...)",
                          DeprecationWarning, stacklevel=2)
            inputs = legacy.get("input", inputs)
            outputs = legacy.get("output", outputs)
        if inputs is None and outputs is None and _is_subclassed_model(self):
            from fgc.model_subclass import init_subclassed

            Layer.__init__(self, name=name or unique_name(snake_case(type(self).__name__)), trainable=trainable,
                           dtype=dtype)
            ModelAPI.__init__(self)
            init_subclassed(self)
            return
        if inputs is None or outputs is None:
            raise TypeError("Model() needs inputs and outputs: Model(inputs=Input(...), outputs=layer(...)(...))")
        Layer.__init__(self, name=name or unique_name("functional"), trainable=trainable, dtype=dtype)
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
        self._runners = {}   # compiled from the graph before this one (Sequential.add): predict must not reuse them
        layers = _keras_layer_order(self.inputs, self.outputs)
        names = [layer.name for layer in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model '{self.name}' has several layers named {dup}; layer names must be unique "
                             f"within a model (pass distinct name= arguments)")
        self._layers = layers
        self.input_names = self._input_keys or [t._keras_history[0].name for t in self.inputs]
        self.output_names = self._output_keys or _output_names(self.outputs)
        self.built = True

    @property
    def layers(self) -> list[Layer]:
        if _is_subclassed_model(self):  # the layers it tracks as attributes, as Keras lists them
            from fgc.model_subclass import user_layers

            return user_layers(self)
        # fgc.ops calls are call events of the graph but not layers (Keras keeps its ops out of model.layers)
        from fgc.layers.op_layer import OpLayer

        return [layer for layer in self._layers if not isinstance(layer, OpLayer)]

    # ------------------------------------------------------------------ config (Keras 3's format)
    def get_config(self) -> dict:
        if _is_subclassed_model(self):   # Keras: the constructor's config, not a graph (model_subclass.py)
            from fgc.model_subclass import subclassed_config

            return subclassed_config(self)
        from fgc.saving.model_config import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from fgc.layers.op_layer import defines_call

        if defines_call(cls) and "layers" not in config:
            return cls(**config)
        from fgc.saving.model_config import functional_from_config

        return functional_from_config(cls, config, custom_objects)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        # Keras 3: a model's flag is set on every layer inside it (nested models recursively).
        Layer.trainable.fset(self, value)
        for layer in getattr(self, "_layers", []):
            if not isinstance(layer, InputLayer):
                layer.trainable = value

    def _trainable_state(self) -> dict:
        """Every layer inside (nested models too) and this model -> its trainable flag."""
        state = {self: self._trainable}
        for layer in self._layers:
            state.update(layer._trainable_state())
        return state

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
        return [v.numpy() for v in self._variables()]

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
        weights = [v.check_assignable(w) for v, w in zip(variables, weights)]  # all checked before any changes
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
                        # a frozen sublayer of a subclassed layer freezes the weights it owns
                        out.append((v, on and v.trainable and getattr(v.layer, "trainable", True)))
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
            # the ids as the model gets them: predict leaves float data in its own dtype until each batch
            ids = arrays[index].astype(numpy_dtype(self.inputs[index].type.dtype), copy=False)
            for layer in layers:
                layer.check_ids(ids, self.input_names[index])

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
    def to_graph(self, output_masks=()) -> Graph:
        """The layer-level IR: one node per call event, nested models as single 'model' nodes. The
        leaves of the masks of the outputs named in ``output_masks`` are extra outputs (``Graph.output_masks``)."""
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

        values = {}
        g.outputs = self.inline_into(g, in_values, prefix="", values=values)
        g.output_names = list(self.output_names)
        if output_masks:
            for out, (leaves, spec) in output_mask_leaves(self, values, set(output_masks)).items():
                names = [f"mask/{out}/{i}" for i in range(len(leaves))]
                g.outputs += leaves
                g.output_names += names
                g.output_masks[out] = (names, spec)
        return g

    def inline_into(self, g: Graph, inputs, prefix: str, call_args=None, values: dict | None = None) -> list[Value]:
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

        return walk_with_call_masks(self, list(inputs), call_args, add, values)

    def lower(self, b, inputs, params, training=False, call_args=None):
        """Inline this model's layers into builder ``b`` (used by wrappers such as TimeDistributed)."""
        from fgc.primitives import Builder

        var_names = {id(spec.variable): name for name, spec in b.graph.params.items()}

        def lower_node(node, ins, call):
            layer = node.layer
            sub = Builder(b.graph, f"{b.prefix}/{layer.name}", layer)
            p = {w.name: sub.param(var_names[id(w)]) for w in getattr(layer, "weights", [])} \
                if not isinstance(layer, Model) else {}
            return layer.lower_call(sub, ins, p, training, call)
        return walk_with_call_masks(self, list(inputs), call_args, lower_node)

    def __call__(self, inputs, **kwargs):
        if not self.built and _is_subclassed_model(self):
            from fgc.model_subclass import build_from

            build_from(self, inputs)
        if _is_data(inputs):
            check_kwargs(f"{self.name}.__call__()", kwargs, ("training",))
            if kwargs.get("training"):   # Keras: Dropout active, BatchNormalization on (and updating) batch stats
                from fgc.layers.eager_training import call_in_training_mode

                return call_in_training_mode(self, inputs)
            return self._call_on_data(inputs)
        return Layer.__call__(self, inputs, **kwargs)

    # ------------------------------------------------------------------ subclassed models (fgc/model_subclass.py)
    def _build_from_data(self, x):
        from fgc.model_subclass import build_from

        build_from(self, x)

    def build(self, input_shape=None):
        """Keras' ``model.build((None, 4))`` for a subclassed model (a functional one is built already)."""
        if self.built:
            return
        from fgc.model_subclass import build_from_shape

        build_from_shape(self, input_shape)

    def compile(self, *args, **kwargs):
        if not self.built and _is_subclassed_model(self):  # no shape yet: compile once the first data builds it
            check_kwargs("compile()", kwargs, _COMPILE_ARGUMENTS)
            self._deferred_compile = (args, kwargs)
            return
        return ModelAPI.compile(self, *args, **kwargs)

    def _require_compiled(self, what: str):
        if self._trainer is None and getattr(self, "_deferred_compile", None) is not None and not self.built:
            raise ValueError(f"model '{self.name}' is not built yet, so {what}() has nothing to run: call it on data "
                             f"(fit, predict) or build((None, ...)) first")
        ModelAPI._require_compiled(self, what)


def _is_subclassed_model(model) -> bool:
    from fgc.layers.op_layer import defines_call

    return defines_call(type(model))


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


def _call_inputs(node) -> list:
    """The tensors a call was given (without the mask source a mask-consuming layer also reads)."""
    return node.inputs[:-1] if "_mask" in node.call_args else node.inputs


def _keras_layer_order(inputs, outputs) -> list:
    """The model's layers in Keras 3's order (``keras/src/ops/function.py`` map_graph), which is also the
    order of ``model.weights``: by depth, the longest path to an output first; ties in the order a
    depth-first walk back from the outputs first meets them. Input layers included."""
    first_seen, post_order, finished = {}, [], set()
    input_ids = {id(t) for t in inputs}

    def walk(t):
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if node in finished:
            return
        first_seen.setdefault(layer, len(first_seen))
        if not isinstance(layer, InputLayer) and id(t) not in input_ids:
            for x in _call_inputs(node):
                walk(x)
        finished.add(node)
        post_order.append(node)

    for t in outputs:
        walk(t)
    node_depth, layer_depth = {}, {}
    for node in reversed(post_order):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = node_depth[node] = depth
        for x in ([] if isinstance(node.layer, InputLayer) else _call_inputs(node)):
            parent = x._keras_history[0]._inbound_nodes[x._keras_history[1]]
            if parent in finished:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in inputs:  # inputs no output needs still belong to the model
        layer_depth.setdefault(t._keras_history[0], 0)
        first_seen.setdefault(t._keras_history[0], -1)
    return sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))


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


_COMPILE_ARGUMENTS = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                      "steps_per_execution", "jit_compile", "auto_scale_loss")


class Sequential(Model):
    """A linear stack: ``Sequential([layers])`` or ``.add(layer)``; the first layer may carry input_shape=."""

    keras_class_name = "Sequential"

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        check_kwargs("Sequential()", kwargs, ("layers", "name", "trainable"))
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        ModelAPI.__init__(self)
        self._stack: list[Layer] = []
        self._input = None
        self._deferred_compile = None  # compile() arguments, kept until the first data builds the model
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
            was_built = self.built
            self._extend(layer)
            if was_built:
                self._recompile()

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
        """Remove and return the last layer (Keras 3); the model then ends at the layer before it."""
        if not self._stack:
            raise TypeError(f"Sequential model '{self.name}' has no layers to pop")
        layer, remaining = self._stack[-1], self._stack[:-1]
        if self.built and remaining:
            last = self._nodes[-1]
            assert last.layer is layer, "internal: a built Sequential ends with its last layer's call"
            self._init_graph(self._input, last.inputs[0])
        elif self.built:   # nothing left but the Input: unbuilt, as Keras leaves it
            self.built, self._layers = False, []
        self._stack = remaining
        self._recompile()
        return layer

    def _recompile(self):
        """After add or pop: Keras keeps a Sequential compiled, so the next fit trains the new stack with the
        same compile arguments and optimizer (its slots for the weights that stayed carry over). Arguments
        that no longer fit the new stack (a loss keyed by the old output's name) leave it uncompiled, and
        fit then asks for compile()."""
        self._runners = {}
        previous, args = self._trainer, getattr(self, "_compile_args", None)
        if previous is None or args is None or not self.built:
            self._compiled, self._trainer = None, None
            if previous is not None:
                previous.release()
            return
        distribute = getattr(previous, "strategy", None)
        try:
            self.compile(**{**args, "optimizer": self.optimizer}, distribute=distribute)
        except (ValueError, KeyError) as e:   # the arguments no longer fit this stack
            self._compiled, self._trainer = None, None
            previous.release()
            warnings.warn(f"Sequential '{self.name}' changed and its compile() arguments no longer fit it ({e}); "
                          f"call compile() again before training", stacklevel=3)

    @property
    def layers(self):
        return list(self._stack)

    def get_config(self) -> dict:
        from fgc.saving.model_config import sequential_config

        return sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from fgc.saving.model_config import sequential_from_config

        return sequential_from_config(cls, config, custom_objects)

    # ------------------------------------------------------------------ deferred build (Keras builds on first use)
    def _build_from_data(self, x):
        """Deferred build: the first layer had no input_shape, so take it from the first batch of data."""
        import numpy as np

        if self.built:
            return
        arr = np.asarray(x[0] if isinstance(x, (list, tuple)) else x)
        if arr.ndim == 0:
            raise ValueError(f"Sequential model '{self.name}' builds from its first data, which must be an array "
                             f"with a batch axis; got {type(x).__name__} {x!r}")
        self._build_for_shape(arr.shape[1:], "float32" if arr.dtype.kind == "f" else arr.dtype.name)

    def _build_for_shape(self, shape, dtype="float32"):
        from fgc.layers.base import Input

        if not self._stack:
            raise ValueError(f"Sequential model '{self.name}' has no layers")
        self._input = Input(shape=tuple(shape), dtype=dtype)
        layers, self._stack = self._stack, []
        for layer in layers:
            self._stack.append(layer)
            self._extend(layer)
        if self._deferred_compile is not None:
            args, kwargs = self._deferred_compile
            self._deferred_compile = None
            self.compile(*args, **kwargs)

    def build(self, input_shape=None):
        """Keras' ``model.build((None, 4))``: build for batches of this shape (the batch axis first)."""
        if self.built:
            return
        if input_shape is None or len(input_shape) < 2:
            raise ValueError(f"Sequential.build needs the batch shape, with the batch axis first, e.g. "
                             f"build((None, 4)); got {input_shape!r}")
        self._build_for_shape(tuple(input_shape)[1:])

    def __call__(self, inputs, **kwargs):
        if not self.built and isinstance(inputs, KerasTensor):  # a symbolic call fixes the input shape
            self._build_for_shape(inputs.shape[1:], inputs.dtype)
        return super().__call__(inputs, **kwargs)

    def compile(self, *args, **kwargs):
        """On an unbuilt model (no input shape yet) the compile waits for the build on the first data."""
        if self.built:
            return super().compile(*args, **kwargs)
        check_kwargs("compile()", kwargs, _COMPILE_ARGUMENTS)
        self._deferred_compile = (args, kwargs)

    def _require_built(self, what: str):
        if not self.built:
            raise ValueError(f"Sequential model '{self.name}' is not built yet, so {what} has nothing to work on: "
                             f"its first layer has no input shape. Start it with fgc.Input(shape=...), give the "
                             f"first layer input_shape=..., call model.build((None, ...)), or run it on data first "
                             f"(predict, fit)")

    def fit(self, x=None, *args, **kwargs):
        from fgc.training.sources import wrap

        x = wrap(x, "fit()")   # a generator is read once: wrapped here, its first batch builds the model
        self._ensure_built(x)
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        from fgc.training.sources import wrap

        x = wrap(x, "evaluate()")
        self._ensure_built(x)
        return super().evaluate(x, *args, **kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        self._ensure_built(x)
        return super().train_on_batch(x, *args, **kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        self._ensure_built(x)
        return super().test_on_batch(x, *args, **kwargs)

    def export(self, filepath, *args, **kwargs):
        self._require_built("export")
        return super().export(filepath, *args, **kwargs)

    def save_weights(self, filepath):
        self._require_built("save_weights")
        return super().save_weights(filepath)

    def load_weights(self, filepath):
        self._require_built("load_weights")
        return super().load_weights(filepath)

    def _require_compiled(self, what: str):
        if self._trainer is None and self._deferred_compile is not None:
            self._require_built(what + "()")
        super()._require_compiled(what)
