"""Keras 3 optimizers as graph fragments: ``update`` emits one parameter update in primitives.

Hyperparameters and formulas follow Keras 3 (``keras/src/optimizers``). The step order is
Keras' (``BaseOptimizer.apply`` and the JAX backend's ``_backend_apply_gradients``): unscale by
``loss_scale_factor`` -> gradient accumulation -> clip gradients (clipnorm per variable,
clipvalue, global_clipnorm) -> weight decay (``p -= p * wd * lr``) -> update -> EMA of the
weights (and its periodic overwrite). The learning rate and the raw iteration count are graph
inputs, so schedules need no recompilation; ``t = iterations + 1`` where Keras' ``iterations``
is the raw count, floor-divided by ``gradient_accumulation_steps`` when that is set.

Everything runs inside the one step graph: gradient accumulation computes the update every step
and keeps it only on every N-th (``Where``), as Keras' JAX backend does, so no host work is added.
"""
from __future__ import annotations

import inspect
import numbers
import re
import warnings
import weakref

import numpy as np

from fgc.naming import check_kwargs, resolve, snake_case

from . import schedules


def _named_arguments(cls) -> list[str]:
    """Every named __init__ argument along the class hierarchy (so a misspelt one gets a suggestion)."""
    return [p for c in cls.__mro__ if "__init__" in vars(c) for p in inspect.signature(c.__init__).parameters
            if p not in ("self", "kwargs")]


# BaseOptimizer arguments every Keras 3 optimizer takes, in Keras' get_config order after the clips.
BASE_FEATURE_ARGUMENTS = ("use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                          "gradient_accumulation_steps")


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_multiple(b, count, n: int):
    """count % n == 0 for a float count holding an integer (exact below 2**24)."""
    return b.Equal(b.Mul(b.Floor(b.Div(count, float(n))), float(n)), count)


class Optimizer:
    # Per-parameter state, zero-initialised unless slot_init says. A subclass lists its own slots
    # (class attribute or ``self.slots = ...``); ``slots`` reads them after the base optimizer's
    # own (EMA averages, gradient accumulators), which is the order Keras builds them in.
    _own_slots: tuple[str, ...] = ()
    global_slots: tuple[str, ...] = ()   # scalar state shared by all parameters
    # False for optimizers whose update of a weight is not elementwise (per-weight norms, factored
    # moments): the step then keeps each weight in its own input, in Keras' layout.
    elementwise = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("slots")
        if isinstance(own, tuple):   # a class-level ``slots = (...)`` would hide the property below
            cls._own_slots = own
            delattr(cls, "slots")

    @property
    def slots(self) -> tuple[str, ...]:
        return self._base_slots() + tuple(self._own_slots)

    @slots.setter
    def slots(self, value) -> None:
        self._own_slots = tuple(value)

    def _base_slots(self) -> tuple[str, ...]:
        return (("average",) if self.use_ema else ()) + \
            (("gradient_accumulator",) if self.gradient_accumulation_steps else ())

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:   # Keras 3 warns and ignores it too
            warnings.warn(f"{type(self).__name__}(decay=...) is no longer supported (Keras 3) and is ignored; "
                          f"use a learning-rate schedule", stacklevel=2)
        check_kwargs(f"{type(self).__name__}()", kwargs, _named_arguments(type(self)))
        if isinstance(learning_rate, dict):   # a serialized schedule, as in a Keras config
            learning_rate = schedules.deserialize(learning_rate)
        if sum(x is not None for x in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"use only one of clipnorm, clipvalue and global_clipnorm; got clipnorm={clipnorm}, "
                             f"clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        for key, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None and not (isinstance(value, numbers.Real) and value >= 0):
                raise ValueError(f"{type(self).__name__}({key}={value!r}): it must be a number > 0 (0 or None: "
                                 f"no clipping)")
        self._check_base_features(use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                                  gradient_accumulation_steps)
        self.learning_rate = learning_rate
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = bool(use_ema), ema_momentum, \
            ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.name = name or snake_case(type(self).__name__)   # Keras' default: "adam", "rm_sprop", "adam_w"
        self._iterations = 0
        self._trainer = None   # weakref to the Trainer of the model compiled with this optimizer last

    def _check_base_features(self, use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                             gradient_accumulation_steps) -> None:
        who = type(self).__name__
        if gradient_accumulation_steps and not (_is_integer(gradient_accumulation_steps)
                                                and gradient_accumulation_steps >= 2):
            raise ValueError(f"{who}(gradient_accumulation_steps={gradient_accumulation_steps!r}): it must be an "
                             f"integer >= 2, or None for no accumulation")
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise ValueError(f"{who}(ema_momentum={ema_momentum!r}): it must be in [0, 1]")
            if ema_overwrite_frequency and not (_is_integer(ema_overwrite_frequency) and ema_overwrite_frequency >= 1):
                raise ValueError(f"{who}(ema_overwrite_frequency={ema_overwrite_frequency!r}): it must be an "
                                 f"integer >= 1, or None to overwrite only at the end of fit")
        if loss_scale_factor is not None and not (isinstance(loss_scale_factor, numbers.Real)
                                                  and loss_scale_factor > 0):
            raise ValueError(f"{who}(loss_scale_factor={loss_scale_factor!r}): it must be a positive number or None")

    def scale_loss(self, loss):
        """Keras' ``scale_loss``: the loss the gradients are taken of (times ``loss_scale_factor``)."""
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

    # The count lives in the trainer's committed state, so a step and its count change together.
    @property
    def iterations(self) -> int:
        """Keras': the updates applied, i.e. the train steps taken, floor-divided by
        ``gradient_accumulation_steps`` when gradients accumulate. Assigning sets the raw step count."""
        raw = self._raw_iterations
        return raw // self.gradient_accumulation_steps if self.gradient_accumulation_steps else raw

    @property
    def _raw_iterations(self) -> int:
        """The train steps taken (Keras' ``optimizer._iterations``, saved as ``iteration``)."""
        trainer = self._trainer() if self._trainer is not None else None
        return trainer.iterations if trainer is not None else self._iterations

    @iterations.setter
    def iterations(self, value) -> None:
        trainer = self._trainer() if self._trainer is not None else None
        if trainer is not None:
            trainer.iterations = int(value)
        self._iterations = int(value)

    def _attach(self, trainer) -> None:
        self._iterations = self._raw_iterations
        self._trainer = weakref.ref(trainer)

    def keras_slot_groups(self) -> list[tuple[str, ...]]:
        """How Keras 3 lists this optimizer's slots in ``optimizer.variables`` (after ``iteration`` and
        ``learning_rate``): groups in order, each group's slots interleaved weight by weight. The
        base optimizer builds its EMA averages, then its gradient accumulators, before the subclass."""
        return [(slot,) for slot in self._base_slots()] + self._own_slot_groups()

    def _own_slot_groups(self) -> list[tuple[str, ...]]:
        return [tuple(self._own_slots)] if self._own_slots else []

    def slot_shape(self, slot: str, shape: tuple) -> tuple:
        """The shape of ``slot`` for a weight of ``shape`` (Adafactor's factored moments differ)."""
        return tuple(shape)

    def current_lr(self, step: int | None = None) -> float:
        lr = self.learning_rate
        # Keras evaluates a schedule at the raw step count, also while gradients accumulate
        return float(lr(self._raw_iterations if step is None else step) if callable(lr) else lr)

    def slot_init(self, slot: str) -> float:
        return 0.0

    def global_init(self, slot: str) -> float:
        return 0.0

    def update(self, b, p, g, s, lr, t, glob):
        """Return (new param, {slot: new value}); ``glob`` holds the global slots' new values."""
        raise NotImplementedError

    def update_globals(self, b, glob, t) -> dict:
        return {}

    # ------------------------------------------------------------------ the whole step
    def apply(self, b, params, grads, state, lr, step, variables=None):
        """params/grads: lists of Values; state: [{slot: Value}] per param, then the global slots' dict.
        ``step`` is the raw iteration count (Keras' ``optimizer._iterations``). ``variables`` says which
        weights each param holds (a Variable, or [(Variable, offset, size)] for a flat buffer): needed
        only by ``exclude_from_weight_decay``."""
        decay = self._decay_scales(b, params, variables)
        per_param = state[:len(params)]
        glob_in = state[len(params)] if len(state) > len(params) else {}
        if self.loss_scale_factor is not None:
            grads = [b.Div(g, float(self.loss_scale_factor)) for g in grads]
        n = self.gradient_accumulation_steps
        iterations = b.Floor(b.Div(step, float(n))) if n else step   # Keras' optimizer.iterations
        if n:
            is_update = _is_multiple(b, b.Add(step, 1.0), n)
            sums = [b.Add(g, s["gradient_accumulator"]) for g, s in zip(grads, per_param)]
            grads = [b.Div(total, float(n)) for total in sums]
            accumulators = [b.Where(is_update, b.Mul(total, 0.0), total) for total in sums]
        grads = self._clip(b, grads)
        t = b.Add(iterations, 1.0)
        glob = self.update_globals(b, {k: glob_in[k] for k in self.global_slots}, t)
        if n:   # an accumulating step leaves the global state as it was, like the weights
            glob.update({k: b.Where(is_update, glob[k], glob_in[k]) for k in self.global_slots})
        if self.use_ema:
            ema = self._ema_momentum(b, iterations)
            overwrite = _is_multiple(b, b.Add(iterations, 1.0), self.ema_overwrite_frequency) \
                if self.ema_overwrite_frequency else None
        new_params, new_state = [], []
        for i, (p, g, s) in enumerate(zip(params, grads, per_param)):
            p_new, s_new = self.update(b, self._decayed(b, p, lr, decay[i]), g, s, lr, t, glob)
            if n:
                p_new = b.Where(is_update, p_new, p)
                s_new = {k: b.Where(is_update, v, s[k]) for k, v in s_new.items()}
                s_new["gradient_accumulator"] = accumulators[i]
            if self.use_ema:
                average = b.Add(b.Mul(s["average"], ema), b.Mul(p_new, b.Sub(1.0, ema)))
                s_new["average"] = average
                if overwrite is not None:
                    p_new = b.Where(overwrite, average, p_new)
            new_params.append(p_new)
            new_state.append(s_new)
        return new_params, new_state, glob

    def _decayed(self, b, p, lr, scale):
        """Keras' _apply_weight_decay: p - p * wd * lr, for the weights not excluded (``scale`` is 1.0, 0.0 or
        a 0/1 vector over a flat buffer)."""
        if not self.weight_decay or (isinstance(scale, float) and scale == 0.0):
            return p
        rate = b.Mul(lr, float(self.weight_decay))
        return b.Sub(p, b.Mul(p, rate if isinstance(scale, float) else b.Mul(b.const(scale), rate)))

    # ------------------------------------------------------------------ exclude_from_weight_decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras': no weight decay for the weights in ``var_list``, nor for those whose name contains one of
        ``var_names`` (a regular expression each, searched in the weight's name, e.g. ``["bias"]``). Call it
        before the first training step, as Keras requires it before the optimizer is built."""
        trainer = self._trainer() if self._trainer is not None else None
        if trainer is not None and trainer._steps:
            raise ValueError("exclude_from_weight_decay() can only be configured before the optimizer is built "
                             "(before the first training step of the model compiled with it)")
        self._exclude_ids = {id(v) for v in (var_list or ())}
        self._exclude_pattern = re.compile("|".join(sorted(set(var_names)))) if var_names else None

    def _use_weight_decay(self, variable) -> bool:
        if id(variable) in getattr(self, "_exclude_ids", ()):
            return False
        pattern = getattr(self, "_exclude_pattern", None)
        return pattern is None or pattern.search(variable.name) is None

    def _decay_scales(self, b, params, variables) -> list:
        """Per param: 1.0 (decayed), 0.0 (excluded) or a float32 0/1 vector over a flat buffer."""
        if not self.weight_decay or (not getattr(self, "_exclude_ids", None)
                                     and getattr(self, "_exclude_pattern", None) is None):
            return [1.0] * len(params)
        if variables is None or any(held is None for held in variables):
            raise NotImplementedError(f"{type(self).__name__}.exclude_from_weight_decay() needs the step to say "
                                      f"which weight each update is for; this caller of apply() does not")
        scales = []
        for p, held in zip(params, variables):
            if not isinstance(held, (list, tuple)):
                scales.append(1.0 if self._use_weight_decay(held) else 0.0)
                continue
            mask = np.ones(b.shape(p), np.float32)
            for var, offset, size in held:
                if not self._use_weight_decay(var):
                    mask[offset:offset + size] = 0.0
            scales.append(mask)
        return scales

    def _ema_momentum(self, b, iterations):
        """Keras: the first step copies the weights (momentum 0), later ones average with ema_momentum."""
        return b.Where(b.Equal(iterations, 0.0), b.const(0.0), b.const(float(self.ema_momentum)))

    def finalize_variable_values(self, var_list=None) -> None:
        """Keras' end of fit: with ``use_ema``, the trained weights become their moving averages."""
        trainer = self._trainer() if self._trainer is not None else None
        if self.use_ema and trainer is not None:
            trainer.overwrite_with_slot("average", var_list)

    def _clip(self, b, grads):
        """Keras' _clip_gradients: a clip set to 0 (or None) is off."""
        if self.clipnorm:
            c = float(self.clipnorm)
            return [b.Div(b.Mul(g, c), b.Max(b.Sqrt(b.ReduceSum(b.Mul(g, g), keepdims=0)), c)) for g in grads]
        if self.global_clipnorm:
            c = float(self.global_clipnorm)
            total = None
            for g in grads:
                sq = b.ReduceSum(b.Mul(g, g), keepdims=0)
                total = sq if total is None else b.Add(total, sq)
            norm = b.Sqrt(total)
            # norm - norm: a non-finite norm makes every gradient NaN, as Keras' clip_by_global_norm does
            scale = b.Add(b.Div(c, b.Max(norm, c)), b.Sub(norm, norm))
            return [b.Mul(g, scale) for g in grads]
        if self.clipvalue:
            return [b.Clip(g, min=-float(self.clipvalue), max=float(self.clipvalue)) for g in grads]
        return grads

    def get_config(self) -> dict:
        """Keras 3's keys: the base arguments, then this optimizer's own (its __init__ arguments)."""
        from fgc.saving.serialization import serialize_keras_object

        lr = self.learning_rate
        config = {"name": self.name,
                  "learning_rate": serialize_keras_object(lr) if isinstance(lr, schedules.LearningRateSchedule)
                  else float(lr),
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  **{key: getattr(self, key) for key in BASE_FEATURE_ARGUMENTS}}
        return {**config, **{p: getattr(self, p) for p in self._own_arguments() if p not in config}}

    @classmethod
    def _own_arguments(cls) -> list[str]:
        """The optimizer-specific __init__ arguments, most derived class first (Keras' config order)."""
        names = []
        for klass in cls.__mro__:
            if "__init__" in vars(klass) and klass is not Optimizer:
                names += [p.name for p in inspect.signature(klass.__init__).parameters.values()
                          if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "name")]
        return list(dict.fromkeys(names))

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = schedules.deserialize(lr, custom_objects)
        return cls(**config)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = float(momentum), nesterov
        self.slots = ("momentum",) if momentum else ()

    def update(self, b, p, g, s, lr, t, glob):
        step = b.Mul(g, lr)
        if not self.momentum:
            return b.Sub(p, step), {}
        m = b.Sub(b.Mul(s["momentum"], self.momentum), step)
        if self.nesterov:
            return b.Sub(b.Add(p, b.Mul(m, self.momentum)), step), {"momentum": m}
        return b.Add(p, m), {"momentum": m}


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), centered
        self.slots = ("velocity",) + (("average_gradient",) if centered else ()) + (("momentum",) if momentum else ())

    def _own_slot_groups(self):
        return [(slot,) for slot in ("velocity", "momentum", "average_gradient") if slot in self._own_slots]

    def update(self, b, p, g, s, lr, t, glob):
        v = b.Add(b.Mul(s["velocity"], self.rho), b.Mul(b.Mul(g, g), 1.0 - self.rho))
        new = {"velocity": v}
        denom = v
        if self.centered:
            mg = b.Add(b.Mul(s["average_gradient"], self.rho), b.Mul(g, 1.0 - self.rho))
            new["average_gradient"] = mg
            denom = b.Sub(v, b.Mul(mg, mg))
        incr = b.Div(b.Mul(g, lr), b.Sqrt(b.Add(denom, self.epsilon)))
        if self.momentum:
            m = b.Add(b.Mul(s["momentum"], self.momentum), incr)
            new["momentum"] = m
            return b.Sub(p, m), new
        return b.Sub(p, incr), new


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), amsgrad
        self.slots = ("momentum", "velocity") + (("velocity_hat",) if amsgrad else ())

    def _own_slot_groups(self):
        return [("momentum", "velocity")] + ([("velocity_hat",)] if self.amsgrad else [])

    def update(self, b, p, g, s, lr, t, glob):
        alpha = b.Div(b.Mul(lr, b.Sqrt(b.Sub(1.0, b.Pow(b.const(self.beta_2), t)))),
                      b.Sub(1.0, b.Pow(b.const(self.beta_1), t)))
        m = b.Add(s["momentum"], b.Mul(b.Sub(g, s["momentum"]), 1.0 - self.beta_1))
        v = b.Add(s["velocity"], b.Mul(b.Sub(b.Mul(g, g), s["velocity"]), 1.0 - self.beta_2))
        new = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = b.Max(s["velocity_hat"], v)
            new["velocity_hat"] = v
        return b.Sub(p, b.Div(b.Mul(m, alpha), b.Add(b.Sqrt(v), self.epsilon))), new


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)


class Adagrad(Optimizer):
    slots = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def slot_init(self, slot):
        return self.initial_accumulator_value if slot == "accumulator" else 0.0

    def update(self, b, p, g, s, lr, t, glob):
        acc = b.Add(s["accumulator"], b.Mul(g, g))
        return b.Sub(p, b.Div(b.Mul(g, lr), b.Sqrt(b.Add(acc, self.epsilon)))), {"accumulator": acc}


class Adadelta(Optimizer):
    slots = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def update(self, b, p, g, s, lr, t, glob):
        rho = self.rho
        ag = b.Add(b.Mul(s["accumulated_grad"], rho), b.Mul(b.Mul(g, g), 1.0 - rho))
        delta = b.Mul(b.Div(b.Sqrt(b.Add(s["accumulated_delta_var"], self.epsilon)), b.Sqrt(b.Add(ag, self.epsilon))), g)
        adv = b.Add(b.Mul(s["accumulated_delta_var"], rho), b.Mul(b.Mul(delta, delta), 1.0 - rho))
        return b.Sub(p, b.Mul(delta, lr)), {"accumulated_grad": ag, "accumulated_delta_var": adv}


class Adamax(Optimizer):
    slots = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update(self, b, p, g, s, lr, t, glob):
        m = b.Add(s["m"], b.Mul(b.Sub(g, s["m"]), 1.0 - self.beta_1))
        u = b.Max(b.Mul(s["u"], self.beta_2), b.Abs(g))
        denom = b.Mul(b.Sub(1.0, b.Pow(b.const(self.beta_1), t)), b.Add(u, self.epsilon))
        return b.Sub(p, b.Div(b.Mul(m, lr), denom)), {"m": m, "u": u}


class Nadam(Optimizer):
    slots = ("momentum", "velocity")
    global_slots = ("u_product",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def global_init(self, slot):
        return 1.0

    def _u(self, b, t):
        return b.Mul(b.Sub(1.0, b.Mul(b.Pow(b.const(0.96), t), 0.5)), self.beta_1)  # Keras 3: 0.96**t

    def update_globals(self, b, glob, t):
        u_t, u_t1 = self._u(b, t), self._u(b, b.Add(t, 1.0))
        u_prod = b.Mul(glob["u_product"], u_t)
        return {"u_product": u_prod, "_u_t": u_t, "_u_t1": u_t1, "_u_prod_t1": b.Mul(u_prod, u_t1)}

    def update(self, b, p, g, s, lr, t, glob):
        m = b.Add(s["momentum"], b.Mul(b.Sub(g, s["momentum"]), 1.0 - self.beta_1))
        v = b.Add(s["velocity"], b.Mul(b.Sub(b.Mul(g, g), s["velocity"]), 1.0 - self.beta_2))
        m_hat = b.Add(b.Div(b.Mul(m, glob["_u_t1"]), b.Sub(1.0, glob["_u_prod_t1"])),
                      b.Div(b.Mul(g, b.Sub(1.0, glob["_u_t"])), b.Sub(1.0, glob["u_product"])))
        v_hat = b.Div(v, b.Sub(1.0, b.Pow(b.const(self.beta_2), t)))
        return b.Sub(p, b.Div(b.Mul(m_hat, lr), b.Add(b.Sqrt(v_hat), self.epsilon))), {"momentum": m, "velocity": v}


from .optimizers_more import Adafactor, Ftrl, Lamb, Lion  # noqa: E402  (they subclass Optimizer above)

for _cls in (Lion, Ftrl, Lamb, Adafactor):   # one home for every optimizer: configs name it keras.optimizers
    _cls.__module__ = __name__

OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad,
              "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion, "ftrl": Ftrl, "lamb": Lamb,
              "adafactor": Adafactor}


def get(identifier) -> Optimizer:
    """An Optimizer from a name ('rmsprop'), a class (Adam), an instance (Adam(learning_rate=1e-2)) or a
    Keras config dict."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    return resolve(identifier, Optimizer, OPTIMIZERS, "optimizer")


def serialize(optimizer) -> dict:
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(get(optimizer))


def deserialize(config, custom_objects=None, use_legacy_format=False) -> Optimizer:
    """An optimizer from Keras' config dict (``{"class_name": "Adam", "config": {...}}``)."""
    from fgc.saving.serialization import deserialize_keras_object

    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"an optimizer config is a dict with 'class_name' and 'config', got {config!r}")
    # Keras accepts lower-case class names ({"class_name": "adam"}) here
    class_name = {name.lower(): name for name in __all__}.get(config["class_name"].lower(), config["class_name"])
    optimizer = deserialize_keras_object({**config, "class_name": class_name}, custom_objects)
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"the config {config.get('class_name')!r} is not an optimizer (got {optimizer!r})")
    return optimizer


__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion",
           "Ftrl", "Lamb", "Adafactor", "get",
           "serialize", "deserialize", "schedules"]
