"""``fgc.mixed_precision`` (Keras 3's ``keras.mixed_precision``): dtype policies and loss scaling.

    fgc.mixed_precision.set_global_policy("mixed_float16")   # layers compute in float16, weights float32
    ...
    outputs = layers.Activation("linear", dtype="float32")(x)   # the usual float32 last layer
    model.compile(...)   # a mixed_float16 model's optimizer is wrapped in a LossScaleOptimizer
"""
from .dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from .training.loss_scale import LossScaleOptimizer

# Keras' legacy names for the same things
Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy

__all__ = ["DTypePolicy", "Policy", "dtype_policy", "global_policy", "set_dtype_policy", "set_global_policy",
           "LossScaleOptimizer"]
