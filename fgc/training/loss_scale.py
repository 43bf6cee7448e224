"""``LossScaleOptimizer``: Keras 3's dynamic loss scaling around another optimizer, in the step graph.

The train step differentiates ``loss * dynamic_scale`` (step.py asks ``scaled_loss``), so small float16
gradients do not underflow; ``apply`` then, all in-graph:

- finite gradients: the inner optimizer updates with ``g / dynamic_scale``; the step counter counts up,
  and when it reaches ``dynamic_growth_steps`` finite steps the scale doubles and the counter restarts;
- any inf or NaN gradient: the step is skipped (weights and inner state as they were), the scale halves
  and the counter restarts.

State (global slots of the step, Keras' variables): ``step_counter``, ``dynamic_scale`` and the inner
optimizer's iteration count (``inner_iteration``: the ``t`` of its update, counting applied steps only,
as Keras' inner optimizer does). ``optimizer.iterations`` is fgc's count of train steps run, skipped
ones included.
"""
from __future__ import annotations

import numpy as np

from .optimizers import Optimizer

_OWN_SLOTS = ("step_counter", "dynamic_scale", "inner_iteration")
# Keras' base optimizer arguments: LossScaleOptimizer takes them only at their defaults (set them on the
# inner optimizer instead).
_BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                  "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                  "loss_scale_factor": None, "gradient_accumulation_steps": None}


class LossScaleOptimizer(Optimizer):
    """``LossScaleOptimizer(inner_optimizer, initial_scale=2**15, dynamic_growth_steps=2000)``."""

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False` (Keras 3); set "
                             "`loss_scale_factor` on the inner optimizer instead")
        for key, default in _BASE_DEFAULTS.items():
            if key in kwargs and kwargs.pop(key) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{key}`. Instead, set `{key}` on the "
                                 f"`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        from . import optimizers

        inner = optimizers.get(inner_optimizer)
        if isinstance(inner, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer cannot wrap another LossScaleOptimizer: its gradients would be "
                             "scaled twice")
        if not float(initial_scale) > 0 or not np.isfinite(float(initial_scale)):
            raise ValueError(f"LossScaleOptimizer initial_scale must be a positive finite number, got "
                             f"{initial_scale!r}")
        if isinstance(dynamic_growth_steps, bool) or not isinstance(dynamic_growth_steps, (int, np.integer)) \
                or dynamic_growth_steps < 1:
            raise ValueError(f"LossScaleOptimizer dynamic_growth_steps must be a positive int, got "
                             f"{dynamic_growth_steps!r}")
        self.inner_optimizer = inner
        super().__init__(learning_rate=inner.learning_rate, name=name or "loss_scale_optimizer")
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.slots = tuple(inner.slots)
        self.global_slots = tuple(inner.global_slots) + _OWN_SLOTS

    # The learning rate is the inner optimizer's (Keras: a property forwarding to it).
    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self.inner_optimizer.learning_rate = value

    # Per-variable clipping is the inner optimizer's (the step reads it to keep such weights out of the flat
    # buffer); LossScaleOptimizer itself takes no clipping (Keras).
    @property
    def clipnorm(self):
        return self.inner_optimizer.clipnorm

    @clipnorm.setter
    def clipnorm(self, value) -> None:
        if value is not None:
            raise ValueError("LossScaleOptimizer does not support `clipnorm`. Instead, set `clipnorm` on the "
                             "`inner_optimizer`.")

    def current_lr(self, step: int | None = None) -> float:
        return self.inner_optimizer.current_lr(self.iterations if step is None else step)

    # Keras' variables of the same names, read from the trainer's committed state (host copies)
    @property
    def dynamic_scale(self) -> float:
        return float(self._own_state("dynamic_scale"))

    @property
    def step_counter(self) -> int:
        return int(self._own_state("step_counter"))

    def _own_state(self, slot: str):
        trainer = self._trainer() if self._trainer is not None else None
        glob = trainer.slot_values()[1] if trainer is not None else {}
        return np.asarray(glob[slot]) if slot in glob else self.global_init(slot)

    def keras_slot_groups(self):
        return self.inner_optimizer.keras_slot_groups()

    def slot_init(self, slot: str) -> float:
        return self.inner_optimizer.slot_init(slot)

    def global_init(self, slot: str) -> float:
        if slot == "dynamic_scale":
            return self.initial_scale
        if slot in _OWN_SLOTS:
            return 0.0
        return self.inner_optimizer.global_init(slot)

    # ------------------------------------------------------------------ the step
    def scaled_loss(self, b, loss, glob_inputs: dict):
        """The value the step differentiates: the loss times the current scale."""
        return b.Mul(loss, glob_inputs["dynamic_scale"])

    def apply(self, b, params, grads, state, lr, step):
        glob = state[-1]
        scale, counter, inner_t = glob["dynamic_scale"], glob["step_counter"], glob["inner_iteration"]
        finite = _all_finite(b, grads)
        unscaled = [b.Div(g, scale) for g in grads]
        inner_glob = {slot: glob[slot] for slot in self.inner_optimizer.global_slots}
        inner_state = [dict(s) for s in state[:len(params)]] + [inner_glob]
        new_params, new_state, new_glob = self.inner_optimizer.apply(b, params, unscaled, inner_state, lr, inner_t)
        kept_params = [b.Where(finite, p_new, p) for p_new, p in zip(new_params, params)]
        kept_state = [{slot: b.Where(finite, v, old[slot]) for slot, v in s_new.items()}
                      for s_new, old in zip(new_state, state)]
        out_glob = {slot: b.Where(finite, new_glob[slot], inner_glob[slot]) for slot in self.inner_optimizer.global_slots}
        grow = b.Equal(counter, float(self.dynamic_growth_steps - 1))
        zero = b.Mul(counter, 0.0)
        out_glob["step_counter"] = b.Where(finite, b.Where(grow, zero, b.Add(counter, 1.0)), zero)
        out_glob["dynamic_scale"] = b.Where(finite, b.Where(grow, b.Mul(scale, 2.0), scale), b.Mul(scale, 0.5))
        out_glob["inner_iteration"] = b.Where(finite, b.Add(inner_t, 1.0), inner_t)
        return kept_params, kept_state, out_glob

    # ------------------------------------------------------------------ .weights.h5 (Keras 3's layout)
    # Keras' variables: its own iteration (never counted) and learning rate (0.0), step_counter and
    # dynamic_scale, then the inner optimizer's; the inner optimizer's are also stored under its own path.
    keras_h5_extra = 4
    skips_nonfinite_steps = True   # fit does not warn about an inf loss: the step is skipped, weights stay finite

    def keras_h5_groups(self, variables, slots: dict, globals_: dict) -> dict:
        from fgc.saving.weights_h5 import optimizer_values

        inner = self.inner_optimizer
        inner_values = optimizer_values(inner, int(globals_["inner_iteration"]), variables, slots, globals_)
        own = [np.array(0, np.int64), np.array(0.0, np.float32),
               np.array(int(globals_["step_counter"]), np.int64), np.asarray(globals_["dynamic_scale"], np.float32)]
        return {"optimizer": (self.name, own + inner_values),
                "optimizer/inner_optimizer": (inner.name, inner_values)}

    def from_keras_h5(self, own: list, inner_state):
        """The trainer's state from Keras' variables: the iteration count is the inner optimizer's."""
        iterations, per_var, glob, learning_rate = inner_state
        glob = {**glob, "step_counter": np.float32(own[2]), "dynamic_scale": np.float32(own[3]),
                "inner_iteration": np.float32(iterations)}
        return iterations, per_var, glob, learning_rate

    # ------------------------------------------------------------------ config (Keras 3's keys)
    def get_config(self) -> dict:
        from fgc.saving.serialization import serialize_keras_object

        return {"name": self.name, "inner_optimizer": serialize_keras_object(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from . import optimizers

        config = dict(config)
        inner = config.pop("inner_optimizer")
        inner = optimizers.deserialize(inner, custom_objects) if isinstance(inner, dict) else inner
        return cls(inner, **config)


def _all_finite(b, grads):
    """A bool scalar: no gradient holds an inf or a NaN (``g * 0`` is 0 for finite g, NaN otherwise)."""
    total = None
    for g in grads:
        g32 = g if b.type(g).dtype == "float32" else b.Cast(g, to="float32")
        s = b.ReduceSum(b.Mul(g32, 0.0), keepdims=0)
        total = s if total is None else b.Add(total, s)
    return b.Equal(total, 0.0)


def wrap_for_policy(optimizer, policy, auto_scale_loss: bool = True):
    """Keras' compile: a model whose policy is mixed_float16 trains with its optimizer wrapped in a
    LossScaleOptimizer (unless it is one already, or compile(auto_scale_loss=False))."""
    if auto_scale_loss and policy.name == "mixed_float16" and not isinstance(optimizer, LossScaleOptimizer):
        return LossScaleOptimizer(optimizer, name="loss_scale_optimizer")
    return optimizer
