"""Losses as functions: Keras 3's ``LossFunctionWrapper`` and the function forms of the built-in losses.

* ``LossFunctionWrapper(fn, reduction=..., name=..., **kwargs)``: a loss computed by
  ``fn(y_true, y_pred, **kwargs)``, a function written with ``fgc.ops`` and tensor operators that
  returns one value per sample (or per element). ``compile(loss=fn)`` wraps a plain function in it,
  as Keras does; the train step traces ``fn`` (fgc/training/traced.py), and called on arrays it runs
  eagerly through fgc.ops, with Keras' reduction and sample weights either way.
* ``mean_squared_error(y_true, y_pred)``, ``binary_focal_crossentropy(y_true, y_pred, gamma=...)``,
  ...: the unreduced losses of the built-in classes, usable on arrays and, inside a custom loss or a
  subclassed layer, on symbolic tensors (the same graph fragment the class emits).
"""
from __future__ import annotations

import inspect

from .losses import Loss, defines_call


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras' rule: ranks that differ by one meet on a trailing axis of size 1 (arrays or symbolic tensors)."""
    from fgc import ops

    r1, r2 = len(x1.shape), len(x2.shape)
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, axis=-1)
        else:
            x1 = ops.squeeze(x1, axis=-1)
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, axis=-1)
        else:
            x2 = ops.squeeze(x2, axis=-1)
    return x1, x2


class LossFunctionWrapper(Loss):
    """A loss defined by a function ``fn(y_true, y_pred, **kwargs)`` (Keras 3's ``LossFunctionWrapper``)."""

    name = "loss_function_wrapper"

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if isinstance(fn, str):
            fn = _function_named(fn)
        if not callable(fn) or isinstance(fn, (type, Loss)):
            raise TypeError(f"LossFunctionWrapper(fn=...) takes a function fn(y_true, y_pred) returning the loss per "
                            f"sample, got {fn!r}; pass a Loss instance to compile() directly")
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = dict(kwargs)
        # fgc's own function forms keep their class's graph fragment (logits forms, sparse targets, masks)
        loss_class = getattr(fn, "loss_class", None)
        self._builtin = loss_class(**kwargs) if loss_class is not None else None
        if self._builtin is not None:
            self.sparse = self._builtin.sparse

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def values(self, b, y_true, y_pred):
        if self._builtin is not None:
            return self._builtin.values(b, y_true, y_pred)
        return super().values(b, y_true, y_pred)

    def valid_mask(self, b, y_true, y_pred):
        return None if self._builtin is None else self._builtin.valid_mask(b, y_true, y_pred)

    def elements_per_sample(self, target_shape: tuple) -> int:
        if self._builtin is not None:
            return self._builtin.elements_per_sample(target_shape)
        return super().elements_per_sample(target_shape)

    def get_config(self) -> dict:
        from fgc.saving.serialization import function_wrapper_config

        return {**super().get_config(), **function_wrapper_config(self.fn, self._fn_kwargs)}

    @classmethod
    def from_config(cls, config):
        from fgc.saving.serialization import function_wrapper_from_config

        return function_wrapper_from_config(cls, config)

    def __repr__(self):
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


# ---------------------------------------------------------------------------------------- function forms
def _frozen(value):
    """A config value as a hashable static attribute (lists become tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


def _emit_values(b, y_true, y_pred, loss_class, config):
    return loss_class.from_config(dict(config)).values(b, y_true, y_pred)


def unreduced(loss: Loss, y_true, y_pred):
    """``loss``'s values per sample, not reduced: an array for arrays, a recorded tensor for symbolic ones."""
    from fgc import ops
    from fgc.ops.core import apply

    if defines_call(type(loss)):
        return loss.call(ops.convert_to_tensor(y_true, "float32"), ops.convert_to_tensor(y_pred, "float32"))
    y_pred = ops.convert_to_tensor(y_pred, "float32")
    if loss.sparse:   # class ids: the class's graph fragment casts them
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, axis=-1)
    else:
        y_true, y_pred = squeeze_or_expand_to_same_rank(ops.convert_to_tensor(y_true, "float32"), y_pred)
    config = {k: v for k, v in loss.get_config().items() if k not in ("name", "reduction")}
    return apply(loss.name, _emit_values, y_true, y_pred, loss_class=type(loss), config=_frozen(config))


_UNSUPPORTED = {"ref_labels", "ref_embeddings"}   # circle's reference set, other than the batch itself


def _default(loss_class, argument: str):
    parameter = inspect.signature(loss_class.__init__).parameters.get(argument)
    return None if parameter is None else parameter.default


def function_form(loss_class, name: str, arguments: tuple):
    """The Keras function ``name(y_true, y_pred, *arguments)`` of ``loss_class``: its unreduced values."""
    def loss_fn(y_true, y_pred, *args, **kwargs):
        if len(args) > len(arguments):
            raise TypeError(f"{name}() takes {2 + len(arguments)} positional arguments (y_true, y_pred"
                            f"{''.join(', ' + a for a in arguments)}), got {2 + len(args)}")
        given = dict(zip(arguments, args))
        for key in kwargs:
            if key in given:
                raise TypeError(f"{name}() got multiple values for argument '{key}'")
        given.update(kwargs)
        from fgc.naming import check_kwargs

        check_kwargs(f"{name}()", given, arguments)
        for key in _UNSUPPORTED.intersection(k for k, v in given.items() if v is not None):
            raise NotImplementedError(f"{name}({key}=...) is not supported by fgc yet: the loss compares the "
                                      f"batch's samples with each other only")
        given = {k: v for k, v in given.items() if k not in _UNSUPPORTED}
        return unreduced(loss_class(**given), y_true, y_pred)

    loss_fn.__name__ = loss_fn.__qualname__ = name
    loss_fn.__module__ = "fgc.losses"
    loss_fn.__doc__ = f"The {loss_class.__name__} loss of each sample (not reduced), as Keras' ``{name}``."
    loss_fn.__signature__ = inspect.Signature(
        [inspect.Parameter("y_true", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("y_pred", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(a, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                             default=_default(loss_class, a))
           for a in arguments])
    loss_fn.loss_class = loss_class
    return loss_fn


# Keras' function forms: name -> (class name, the arguments after y_true and y_pred, in Keras' order)
FUNCTION_ARGUMENTS = {
    "mean_squared_error": ("MeanSquaredError", ()), "mean_absolute_error": ("MeanAbsoluteError", ()),
    "mean_absolute_percentage_error": ("MeanAbsolutePercentageError", ()),
    "mean_squared_logarithmic_error": ("MeanSquaredLogarithmicError", ()),
    "cosine_similarity": ("CosineSimilarity", ("axis",)), "huber": ("Huber", ("delta",)), "log_cosh": ("LogCosh", ()),
    "kl_divergence": ("KLDivergence", ()), "poisson": ("Poisson", ()),
    "hinge": ("Hinge", ()), "squared_hinge": ("SquaredHinge", ()), "categorical_hinge": ("CategoricalHinge", ()),
    "categorical_crossentropy": ("CategoricalCrossentropy", ("from_logits", "label_smoothing", "axis")),
    "sparse_categorical_crossentropy": ("SparseCategoricalCrossentropy", ("from_logits", "ignore_class", "axis")),
    "binary_crossentropy": ("BinaryCrossentropy", ("from_logits", "label_smoothing", "axis")),
    "binary_focal_crossentropy": ("BinaryFocalCrossentropy", ("apply_class_balancing", "alpha", "gamma",
                                                              "from_logits", "label_smoothing", "axis")),
    "categorical_focal_crossentropy": ("CategoricalFocalCrossentropy", ("alpha", "gamma", "from_logits",
                                                                        "label_smoothing", "axis")),
    "dice": ("Dice", ("axis",)), "tversky": ("Tversky", ("alpha", "beta", "axis")),
    "circle": ("Circle", ("ref_labels", "ref_embeddings", "remove_diagonal", "gamma", "margin")), "ctc": ("CTC", ()),
    "categorical_generalized_cross_entropy": ("CategoricalGeneralizedCrossEntropy", ("q",)),
}


def function_forms(classes: dict) -> dict:
    """The function forms of the loss classes in ``classes`` (a namespace: name -> class)."""
    return {name: function_form(classes[cls], name, args) for name, (cls, args) in FUNCTION_ARGUMENTS.items()}


FUNCTIONS: dict = {}   # Keras function name -> function form (filled by losses.py, once its classes exist)


def _function_named(name: str):
    if name not in FUNCTIONS:
        from fgc.naming import near

        raise ValueError(f"unknown loss function '{name}'{near(name, FUNCTIONS)}; known: {sorted(FUNCTIONS)}")
    return FUNCTIONS[name]


def as_loss(fn) -> Loss:
    """What ``compile(loss=fn)`` makes of a function: the class of an fgc function form, else a wrapper."""
    name = getattr(fn, "__name__", None)
    if FUNCTIONS.get(name) is fn:
        return fn.loss_class()
    return LossFunctionWrapper(fn, name=None if name == "<lambda>" else name)   # Keras names it after fn


