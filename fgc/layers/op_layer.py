"""The layer-level pieces behind ``fgc.ops`` and subclassed layers.

* ``OpLayer``: one ``fgc.ops`` call on symbolic tensors. It holds a builder function (primitives
  through a Builder, static attributes bound) and records one layer call, so shape inference,
  lowering, autodiff and export treat it like any other layer.
* ``Trace``: what a subclassed layer's ``call`` did on placeholder tensors: its call events in
  order. It lowers by walking them, so a subclassed layer is a small nested graph.
* ``ReadVariable``: a weight used as a tensor inside ``call``; it lowers to the layer's param.
"""
from __future__ import annotations

import functools

from fgc.ir import Graph, ParamSpec, TensorType, Value
from fgc.naming import unique_name

from .base import KerasTensor, Layer, Node, flatten
from .layer_losses import add_graph_loss


class OpLayer(Layer):
    """One recorded ``fgc.ops`` call: ``build_fn(b, *values) -> Value | tuple[Value]``."""

    _convert_input_args = False  # ops follow their inputs' dtypes (Keras casts in layers, not in ops)

    def __init__(self, op_name: str, build_fn, multi_output: bool = False):
        super().__init__(name=unique_name(op_name))
        self.op_name = op_name
        self._build_fn = build_fn
        self._multi_output = multi_output
        self.built = True

    def _emit(self, b, inputs):
        out = self._build_fn(b, *inputs)
        return [out] if isinstance(out, Value) else list(out)

    def compute_output_types(self, input_types, node_attrs=None):
        # The primitives' own shape rules decide: emit into a scratch graph and read the types back.
        g = Graph(f"infer/{self.name}")
        from fgc.primitives import Builder

        b = Builder(g, self.name, self)
        values = [g.add_input(f"x{i}", t) for i, t in enumerate(input_types)]
        return [g.type_of(v) for v in self._emit(b, values)]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return self._emit(b, list(inputs))

    def _returns_list(self) -> bool:
        return self._multi_output

    def get_config(self) -> dict:
        """The Keras operation's constructor arguments (see fgc/ops/records.py), when it has one."""
        call = getattr(self, "keras_call", None)
        if call is not None:
            return {"name": self.name, **call.config}
        raise TypeError(f"'{self.name}' is an fgc.ops call ({self.op_name}) recorded in a functional model; "
                        f"such models cannot be serialized to a config yet: wrap the computation in a Lambda or "
                        f"a subclassed layer")


class _Source(Layer):
    """A tensor with no inputs inside a trace (a placeholder for a call argument, or a weight)."""

    def __init__(self, name: str, ttype: TensorType):
        super().__init__(name=name)
        self.built = True
        self.tensor = KerasTensor(ttype, (self, 0, 0), name=name)
        Node(self, [], [self.tensor], {})

    def compute_output_types(self, input_types, node_attrs=None):
        return [self.tensor.type]


class ReadVariable(_Source):
    def __init__(self, variable):
        super().__init__(f"read/{variable.path}", TensorType(tuple(variable.shape), variable.dtype))
        self.variable = variable


# ---------------------------------------------------------------------------------------- tracing
_ACTIVE: list["Trace"] = []


def active_trace() -> "Trace | None":
    return _ACTIVE[-1] if _ACTIVE else None


class Trace:
    """The call events a subclassed layer's ``call`` made, from placeholders to outputs."""

    def __init__(self, layer, input_types, training: bool = False, mask_types=None):
        self.layer = layer
        self._training = training
        self.placeholders = [_Source(f"{layer.name}/arg{i}", t).tensor for i, t in enumerate(input_types)]
        # the mask call() reads: a boolean placeholder per mask (None where an input has none), lowered
        # from the call's mask inputs (see Layer.lower)
        self.mask_arg = None
        if mask_types is not None:
            *types, is_list = mask_types
            masks = [None if t is None else _Source(f"{layer.name}/mask{i}", t).tensor for i, t in enumerate(types)]
            self.placeholders += [m for m in masks if m is not None]
            self.mask_arg = masks if is_list else masks[0]
        self._reads: dict[int, KerasTensor] = {}
        self.nodes: list = []
        self.outputs: list[KerasTensor] = []
        self.losses: list[KerasTensor] = []   # values call() passed to add_loss
        self.multi_output = False

    def read(self, variable) -> KerasTensor:
        """The tensor standing for ``variable`` in this trace (one read per weight)."""
        if id(variable) not in self._reads:
            self._reads[id(variable)] = ReadVariable(variable).tensor
        return self._reads[id(variable)]

    def run(self, fn, structure, with_mask: bool = False):
        """Call ``fn`` on placeholders shaped like ``structure`` (a tensor, list or dict of them); with
        ``with_mask``, ``fn(args, mask)`` also gets the traced call's incoming mask (a layer's ``call``)."""
        args = _restructure(structure, iter(self.placeholders))
        touched = _inbound_counts_before(self.layer)
        _ACTIVE.append(self)
        try:
            result = fn(args, self.mask_arg) if with_mask else fn(args)
        finally:
            _ACTIVE.pop()
        outs = flatten(result)
        for i, t in enumerate(outs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"layer '{self.layer.name}': call() returned {type(t).__name__} (output {i}); it must "
                                f"return tensors computed from its inputs with fgc.ops, operators or layers")
        self.outputs = outs
        self.multi_output = isinstance(result, (list, tuple))
        self.nodes = _nodes_between(self.placeholders, outs + self.losses, self.layer)
        _drop_trace_nodes(touched)
        return result

    def lower(self, b, inputs, params):
        """Emit the traced calls with builder ``b``; ``params`` maps each weight (and its name) to a Value."""
        from fgc.primitives import Builder

        env = {id(p): v for p, v in zip(self.placeholders, inputs)}
        for node in self.nodes:
            layer = node.layer
            if isinstance(layer, ReadVariable):
                outs = [params[layer.variable]]
            else:
                sub = Builder(b.graph, f"{b.prefix}/{layer.name}", layer)
                own = {}
                for w in layer.weights:
                    own[w] = own[w.name] = params[w]
                given = node.call_args.get("training")
                outs = layer.lower_call(sub, [env[id(t)] for t in node.inputs], own,
                                   self._training if given is None else bool(given), node.call_args)
            for t, v in zip(node.outputs, outs):
                env[id(t)] = v
        for t in self.losses:
            add_graph_loss(b, env[id(t)])
        return [env[id(t)] for t in self.outputs]

    def output_types(self, input_types, weights) -> list[TensorType]:
        """Output types for inputs of these types, by lowering into a scratch graph (the primitives decide)."""
        from fgc.primitives import Builder

        from .autocast import autocast_param_dtype

        g = Graph(f"infer/{self.layer.name}")
        b = Builder(g, self.layer.name, self.layer)
        params = {}
        for i, w in enumerate(weights):
            # read as the layer's lowering reads it (autocast to the compute dtype under a mixed policy)
            g.add_param(f"w{i}", ParamSpec(tuple(w.shape), autocast_param_dtype(self.layer, w), True, w))
            params[w] = b.param(f"w{i}")
        values = [g.add_input(f"x{i}", t) for i, t in enumerate(input_types)]
        values += [g.add_input(f"m{i}", m.type) for i, m in enumerate(self.placeholders[len(input_types):])]
        return [g.type_of(v) for v in self.lower(b, values, params)]


def _restructure(structure, leaves):
    if isinstance(structure, (list, tuple)):
        return type(structure)(_restructure(s, leaves) for s in structure)
    if isinstance(structure, dict):
        return {k: _restructure(v, leaves) for k, v in structure.items()}
    return next(leaves)


def _nodes_between(placeholders, outputs, layer) -> list:
    """The call events from the placeholders (and weights) to ``outputs``, in topological order."""
    order, done = [], set()
    sources = {id(p) for p in placeholders}

    def visit(t):
        src, index, _ = t._keras_history
        node = src._inbound_nodes[index]
        if id(node) in done:
            return
        if not isinstance(src, (_Source, OpLayer)) and not node.inputs:
            raise ValueError(f"layer '{layer.name}': call() used tensor '{t.name}', which does not come from its "
                             f"inputs or weights (an fgc.Input or another model's tensor); compute everything in "
                             f"call() from its arguments, weights and constants")
        done.add(id(node))
        for x in node.inputs:
            visit(x)
        if id(t) not in sources:
            order.append(node)

    for t in outputs:
        visit(t)
    return order


def _inbound_counts_before(layer) -> dict:
    """How many call events each tracked sublayer has before a trace (the trace's own are dropped after)."""
    return {id(sub): (sub, len(sub._inbound_nodes)) for sub in tracked_layers(layer, deep=True)}


def _drop_trace_nodes(before: dict) -> None:
    # Keras traces call() with backend tracers, so sublayers record no call events of their own; the
    # trace keeps its Node objects and the sublayers go back to what they had.
    for sub, count in before.values():
        del sub._inbound_nodes[count:]


def tracked_layers(layer, deep: bool = False, exclude=()) -> list:
    """Layers assigned as attributes of ``layer`` (directly, or in lists, tuples and dicts), in order."""
    found, seen = [], {id(layer)}

    def add(value):
        if isinstance(value, Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
                if deep:
                    for inner in _attribute_layers(value):
                        add(inner)
        elif isinstance(value, (list, tuple)):
            for v in value:
                add(v)
        elif isinstance(value, dict):
            for v in value.values():
                add(v)

    for value in _attribute_layers(layer, exclude):
        add(value)
    return found


def _attribute_layers(layer, exclude=()):
    return [v for k, v in vars(layer).items() if k not in ("_inbound_nodes", "_traces", "_eager_models", *exclude)]


@functools.lru_cache(maxsize=None)
def defines_call(cls) -> bool:
    """Whether ``cls`` is a subclassed layer written with ``call`` (built-in layers define ``lower``)."""
    return "call" in {name for klass in cls.__mro__ if klass is not Layer for name in vars(klass)}
