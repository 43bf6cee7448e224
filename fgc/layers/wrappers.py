"""TimeDistributed: apply a layer (or a whole model) to every step of a sequence.

The time axis is folded into the batch: (N, T, ...) -> (N*T, ...) -> the inner layer's lowering
-> (N, T, ...'). Sizes are taken at run time where N or T are symbolic (FoldTime /
UnfoldTimeLike in fgc/primitives/conv.py), so a sequence of unknown length works. The wrapper owns no
weights of its own: it reads the inner layer's (a model called through TimeDistributed shares its
weights with every other call of that model).

Masks: a wrapped layer (or model) that reads masks gets the input's mask (batch, time, ...) folded
the same way, (batch*time, ...), one sequence per step, as in Keras 3. The output's mask follows
Keras 2's rule: the wrapped layer's own output mask (its compute_mask is elementwise over the steps,
so it applies to the unfolded tensors directly), else the input's mask reduced to (batch, time), a
step counting when any of its entries does. Keras 3 passes the input's mask on unchanged, which
for a (batch, time, steps) mask leaves a mask no layer after it can use.
"""
from __future__ import annotations

from fgc.ir.types import ShapeError, product

from .base import Layer
from .masks import MASK_KEY, split_mask, steps_mask


class TimeDistributed(Layer):
    supports_masking = consumes_mask = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed wraps a layer or a model, got {type(layer).__name__}")
        self.layer = layer
        kwargs.setdefault("trainable", layer.trainable)
        super().__init__(**kwargs)

    # The wrapper's trainability is its inner layer's (freezing one freezes the other).
    @property
    def trainable(self):
        return self.layer.trainable

    @trainable.setter
    def trainable(self, value):
        self.layer.trainable = value

    @property
    def weights(self):
        return self.layer.weights

    def compute_mask(self, inputs, mask=None):
        inner = self.layer.compute_mask(inputs, mask) if self.layer.supports_masking else None
        return inner if inner is not None else steps_mask(mask)

    def _is_model(self):
        from fgc.functional import Model

        return isinstance(self.layer, Model)

    def _step_type(self, input_types):
        if len(input_types) != 1:
            raise ShapeError(f"TimeDistributed takes one input, got {len(input_types)}")
        x = input_types[0]
        if x.rank < 3:
            raise ShapeError(f"TimeDistributed needs an input of rank >= 3 (batch, time, ...), got shape "
                             f"{x.keras_shape()}")
        return x, x.with_shape((product(x.shape[:2]), *x.shape[2:]))

    def build(self, input_types):
        _, step = self._step_type(input_types)
        if not self.layer.built:
            self.layer.build([step])
            self.layer.built = True

    def compute_output_types(self, input_types, node_attrs=None):
        x, step = self._step_type(input_types)
        try:
            outs = self.layer.compute_output_types([step], None)
        except ShapeError as e:
            raise ShapeError(f"the wrapped layer '{self.layer.name}' does not take one time step of shape "
                             f"{(None, *x.keras_shape()[2:])}: {e}") from None
        if len(outs) != 1:
            raise ShapeError(f"TimeDistributed needs a layer with one output; '{self.layer.name}' has {len(outs)}")
        return [outs[0].with_shape((x.shape[0], x.shape[1], *outs[0].shape[1:]))]

    def lower(self, b, inputs, params, training=False, call_args=None):
        (x,), keep = split_mask(b, inputs, call_args, b.type(inputs[0]).dtype)
        folded = b.FoldTime(x)
        inputs, inner_args = [folded], {}
        if keep is not None and (self.layer.consumes_mask or self.layer.consumes_input_masks) and \
                b.type(keep).rank > 2:
            # The folded keep-mask reaches the inner layer (or model) as an explicit mask tensor.
            inputs.append(b.FoldTime(keep))
            inner_args = {MASK_KEY: (1, ("list", (("tensor", 0),)) if self._is_model() else ("tensor", 0))}
        # A model reads its own weights by name.
        (y,) = self.layer.lower(b, inputs, {} if self._is_model() else params, training, inner_args)
        return [b.UnfoldTimeLike(y, x)]

    def get_config(self):
        from fgc.saving.serialization import build_input_shape, serialize_keras_object

        inner = serialize_keras_object(self.layer)
        if (self.layer.built and (self._inbound_nodes or hasattr(self, "_config_build_shape"))
                and not self.layer._inbound_nodes and not self._is_model()
                and type(self.layer).writes_build_config):
            # built by this wrapper for one step: Keras records the input shape without the time axis
            shape = build_input_shape(self)
            inner["build_config"] = {"input_shape": (shape[0], *shape[2:])}
        return {**super().get_config(), "layer": inner}


def _dense(name):
    from .core import Dense

    return Dense(3, name=name)   # named: an automatic name here would shift the user's layer names


# Test cases the shared layer harness runs: kwargs, input shapes ("N" = batch), output shape, param count.
CASES = [
    (TimeDistributed, dict(layer=_dense("td_case_dense")), [("N", 4, 5)], ("N", 4, 3), 18),
    (TimeDistributed, dict(layer=_dense("td_case_dense_seq")), [("N", None, 5)], ("N", None, 3), 18),
]
