"""ActivityRegularization: the identity, whose output pays an L1/L2 activity penalty in training."""
from __future__ import annotations

from fgc.ir.types import ShapeError

from .base import Layer


class ActivityRegularization(Layer):
    """``ActivityRegularization(l1=0.0, l2=0.0)``: passes its input on and adds
    ``(l1 * sum|x| + l2 * sum x^2) / batch size`` to the training loss (Keras' activity regularizer)."""

    supports_masking = True
    writes_build_config = False   # Keras builds it at construction: no build config is written

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        from fgc import regularizers

        if "activity_regularizer" in kwargs:
            raise TypeError("ActivityRegularization() takes l1 and l2, not activity_regularizer")
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2
        self.built = True

    def compute_output_types(self, input_types, node_attrs=None):
        if len(input_types) != 1:
            raise ShapeError(f"ActivityRegularization takes one input, got {len(input_types)}")
        return [input_types[0]]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [inputs[0]]

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
