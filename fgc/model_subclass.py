"""Subclassed models: ``class M(fgc.Model)`` with layers made in ``__init__`` and a ``call``.

On first use (data given to fit / predict / a call, ``build(shape)``, or a call on symbolic tensors)
the model makes Inputs of that shape and records ``call`` as one traced layer (``CallOf``), the
same machinery as subclassed layers; from then on it is a functional model of one node, so
compile / fit / evaluate / predict / export work unchanged. The layers it tracks (attributes) are
its ``layers``, and their weights are its weights. A ``call`` that takes ``mask=`` receives the mask
of what the model is called on. Its config is Keras' for subclassed models (``subclassed_config``).
"""
from __future__ import annotations

import inspect

import numpy as np

from fgc.layers.base import Input, KerasTensor, Layer, own_then_sublayer_weights
from fgc.layers.op_layer import tracked_layers
from fgc.naming import unique_name

# Model attributes that hold its own bookkeeping, not layers the user assigned
_INTERNAL = ("_layers", "_stack", "_call_wrapper", "_nodes")


class CallOf(Layer):
    """A subclassed model's ``call`` as one traced layer, owning the model's weights."""

    # Keras casts a subclassed model's float inputs to its compute dtype, but returns what call returns
    _outputs_in_compute_dtype = False

    def __init__(self, model):
        super().__init__(name=unique_name(f"{model.name}_call"), dtype=model.dtype_policy)
        self._model = model

    def call(self, inputs, training=None, mask=None):
        return Layer._invoke_call(self._model, inputs, bool(training), mask)

    @property
    def consumes_mask(self) -> bool:
        # Keras hands the incoming mask to a model whose call() takes mask=
        from fgc.layers.subclassing import call_takes_mask

        return call_takes_mask(self._model)

    @property
    def weights(self):
        return model_weights(self._model)

    def _trainable_state(self) -> dict:
        state = {}
        for layer in user_layers(self._model):
            state.update(layer._trainable_state())
        return state


def user_layers(model) -> list:
    return tracked_layers(model, exclude=_INTERNAL)


def model_weights(model) -> list:
    return own_then_sublayer_weights(model._weights, user_layers(model))


def init_subclassed(model) -> None:
    model._layers = []
    model._call_wrapper = None
    model._deferred_compile = None
    model.built = False
    if "train_step" in {n for k in type(model).__mro__ if k.__module__.split(".")[0] != "fgc" for n in vars(k)}:
        raise NotImplementedError(f"{type(model).__name__} overrides train_step: fgc compiles the whole train step "
                                  f"(forward, loss, backward, optimizer) into one ONNX graph and does not run a "
                                  f"Python train_step. Override call() and use compile(loss=...) instead")


def _input_for(array_or_tensor, name=None):
    if isinstance(array_or_tensor, KerasTensor):
        return Input(shape=array_or_tensor.shape[1:], dtype=array_or_tensor.dtype, name=name)
    arr = np.asarray(array_or_tensor)
    if arr.ndim == 0:
        raise ValueError("a subclassed model builds from its first data, which needs a batch axis; got a scalar")
    dtype = "float32" if arr.dtype.kind == "f" else ("int32" if arr.dtype.kind in "iu" else arr.dtype.name)
    return Input(shape=arr.shape[1:], dtype=dtype, name=name)


def build_from(model, x) -> None:
    """Record ``call`` on Inputs shaped like ``x`` (arrays or tensors; one, a list, or a dict of them)."""
    if isinstance(x, dict):
        inputs = {k: _input_for(v, name=k) for k, v in x.items()}
    elif isinstance(x, (list, tuple)):
        inputs = [_input_for(v) for v in x]
    else:
        inputs = _input_for(x)
    _record(model, inputs)


def build_from_shape(model, input_shape) -> None:
    """``model.build((None, 4))``: batch axis first; a list of shapes for several inputs."""
    def spec(shape):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"build() needs the batch shape with the batch axis first, e.g. (None, 4); got {shape}")
        return Input(shape=shape[1:])
    several = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple))
    _record(model, [spec(s) for s in input_shape] if several else spec(input_shape))


def _record(model, inputs) -> None:
    model._call_wrapper = CallOf(model)
    model._init_graph(inputs, model._call_wrapper(inputs))
    if model._deferred_compile is not None:  # compile() came before the model had a shape
        args, kwargs = model._deferred_compile
        model._deferred_compile = None
        model.compile(*args, **kwargs)


# Arguments every model's __init__ takes (Keras writes them itself), not the user's own
_BASE_ARGUMENTS = {"self", "name", "trainable", "dtype"}


def subclassed_config(model) -> dict:
    """What Keras 3 writes as a subclassed model's config: ``trainable`` and ``dtype``, after the constructor's
    arguments when they are plain values (recorded at construction, as Keras does). A model whose arguments are
    not plain values must say them in its own ``get_config``; fgc refuses rather than save a config that would
    rebuild a different model."""
    from fgc.layers.base import dtype_policy
    from fgc.layers.subclassing import own_get_config

    cls = type(model)
    config = {"trainable": model.trainable, "dtype": dtype_policy(model.dtype)}
    if own_get_config(cls):
        return config
    recorded = model.__dict__.get("_auto_config")
    if recorded is not None:   # Keras' automatic config: the constructor's plain-valued arguments
        return {**{k: v for k, v in recorded.items() if k not in config}, **config}
    own = [name for name, p in inspect.signature(cls.__init__).parameters.items()
           if name not in _BASE_ARGUMENTS and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if own:
        raise NotImplementedError(f"{cls.__name__}.__init__ takes {own} with values that are not plain numbers, "
                                  f"strings or lists of them: define get_config() returning them (with "
                                  f"super().get_config()) so the saved model can be rebuilt")
    return config


def input_shapes(model):
    """The batch shape(s) the model was built for, as Keras' build_config writes them."""
    shapes = [list(t.shape) for t in model.inputs]
    return shapes[0] if len(shapes) == 1 else shapes
