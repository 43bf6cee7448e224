"""Keras 3's Lion, Ftrl, Lamb and Adafactor (``keras/src/optimizers/{lion,ftrl,lamb,adafactor}.py``).

Their ``update`` follows the Optimizer contract of ``optimizers.py``: one weight's new value and
slots from its gradient, ``lr`` and ``t`` (Keras' ``iterations + 1``). Lamb and Adafactor look at a
whole weight (its norm, its row and column means), so they are not ``elementwise``: the step keeps
each weight in its own input in Keras' layout.
"""
from __future__ import annotations

from .optimizers import Optimizer


class Lion(Optimizer):
    slots = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        if not 0 < beta_1 <= 1:   # Keras' check: beta_1 = 0 makes Lion signSGD
            raise ValueError(f"Lion(beta_1={beta_1!r}): it must be in (0, 1]; with 0 the optimizer degenerates "
                             f"to SignSGD")
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = beta_1, beta_2

    def update(self, b, p, g, s, lr, t, glob):
        m = s["momentum"]
        direction = b.Sign(b.Add(b.Mul(m, float(self.beta_1)), b.Mul(g, 1.0 - self.beta_1)))
        new_m = b.Add(b.Mul(m, float(self.beta_2)), b.Mul(g, 1.0 - self.beta_2))
        return b.Sub(p, b.Mul(direction, lr)), {"momentum": new_m}


class Ftrl(Optimizer):
    slots = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        checks = {"initial_accumulator_value": (initial_accumulator_value, "positive or zero"),
                  "l1_regularization_strength": (l1_regularization_strength, "positive or zero"),
                  "l2_regularization_strength": (l2_regularization_strength, "positive or zero"),
                  "l2_shrinkage_regularization_strength": (l2_shrinkage_regularization_strength, "positive or zero")}
        for key, (value, want) in checks.items():
            if value < 0.0:
                raise ValueError(f"Ftrl({key}={value!r}): it must be {want}")
        if learning_rate_power > 0.0:
            raise ValueError(f"Ftrl(learning_rate_power={learning_rate_power!r}): it must be negative or zero")
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def slot_init(self, slot):
        return float(self.initial_accumulator_value) if slot == "accumulator" else 0.0

    def update(self, b, p, g, s, lr, t, glob):
        power = -float(self.learning_rate_power)
        l1 = float(self.l1_regularization_strength)
        l2 = b.Add(b.Div(float(self.beta), b.Mul(lr, 2.0)), float(self.l2_regularization_strength))
        shrunk_grad = b.Add(g, b.Mul(p, 2.0 * self.l2_shrinkage_regularization_strength))
        acc, new_acc = s["accumulator"], b.Add(s["accumulator"], b.Mul(g, g))
        sigma = b.Div(b.Sub(b.Pow(new_acc, power), b.Pow(acc, power)), lr)
        linear = b.Add(s["linear"], b.Sub(shrunk_grad, b.Mul(sigma, p)))
        quadratic = b.Add(b.Div(b.Pow(new_acc, power), lr), b.Mul(l2, 2.0))
        new_p = b.Div(b.Sub(b.Clip(linear, min=-l1, max=l1), linear), quadratic)
        return new_p, {"accumulator": new_acc, "linear": linear}


def _norm(b, x):
    return b.Sqrt(b.ReduceSum(b.Mul(x, x), keepdims=0))


class Lamb(Optimizer):
    slots = ("momentum", "velocity")
    elementwise = False

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update(self, b, p, g, s, lr, t, glob):
        m = b.Add(s["momentum"], b.Mul(b.Sub(g, s["momentum"]), 1.0 - self.beta_1))
        v = b.Add(s["velocity"], b.Mul(b.Sub(b.Mul(g, g), s["velocity"]), 1.0 - self.beta_2))
        m_hat = b.Div(m, b.Sub(1.0, b.Pow(b.const(float(self.beta_1)), t)))
        v_hat = b.Div(v, b.Sub(1.0, b.Pow(b.const(float(self.beta_2)), t)))
        step = b.Div(m_hat, b.Add(b.Sqrt(v_hat), float(self.epsilon)))
        # the trust ratio ||p|| / ||step||, 1 where either norm is 0 (Keras)
        w_norm, s_norm = _norm(b, p), _norm(b, step)
        both = b.And(b.Greater(w_norm, 0.0), b.Greater(s_norm, 0.0))
        ratio = b.Where(both, b.Div(w_norm, b.Where(both, s_norm, b.const(1.0))), b.const(1.0))
        return b.Sub(p, b.Mul(b.Mul(step, ratio), lr)), {"momentum": m, "velocity": v}


class Adafactor(Optimizer):
    """Factored second moments: weights of rank >= 2 keep a row mean ``r`` (shape[:-1]) and a column
    mean ``c`` (shape[:-2] + shape[-1:]); smaller ones keep ``velocity`` alone, and their ``r``/``c``
    are scalars that stay 0 (Keras creates and saves them all)."""

    slots = ("r", "c", "velocity")
    elementwise = False

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_2_decay, self.epsilon_1, self.epsilon_2 = beta_2_decay, epsilon_1, epsilon_2
        self.clip_threshold, self.relative_step = clip_threshold, relative_step

    def _own_slot_groups(self):
        return [("r", "c", "velocity")]   # Keras builds r, c and velocity weight by weight

    def slot_shape(self, slot, shape):
        shape = tuple(shape)
        if slot == "velocity" or slot not in ("r", "c"):
            return shape
        if len(shape) < 2:
            return ()
        return shape[:-1] if slot == "r" else shape[:-2] + shape[-1:]

    def update(self, b, p, g, s, lr, t, glob):
        inv_sqrt_t = b.Div(1.0, b.Sqrt(t))
        if self.relative_step and not callable(self.learning_rate):
            lr = b.Min(lr, inv_sqrt_t)
        rho = b.Min(lr, inv_sqrt_t)
        alpha = b.Mul(b.Max(_rms(b, p), float(self.epsilon_2)), rho)
        squared = b.Add(b.Mul(g, g), float(self.epsilon_1))
        beta_2 = b.Sub(1.0, b.Pow(t, float(self.beta_2_decay)))
        keep = b.Sub(1.0, beta_2)
        rank = len(b.shape(p))
        new = {}
        if rank >= 2:
            r = b.Add(b.Mul(s["r"], beta_2), b.Mul(b.ReduceMean(squared, axes=(-1,), keepdims=0), keep))
            c = b.Add(b.Mul(s["c"], beta_2), b.Mul(b.ReduceMean(squared, axes=(-2,), keepdims=0), keep))
            row = b.Unsqueeze(b.Div(r, b.ReduceMean(r, axes=(-1,), keepdims=1)), axes=(rank - 1,))
            v = b.Mul(row, b.Unsqueeze(c, axes=(rank - 2,)))
            new = {"r": r, "c": c}
        else:
            v = b.Add(b.Mul(s["velocity"], beta_2), b.Mul(squared, keep))
            new = {"r": s["r"], "c": s["c"]}
        new["velocity"] = v
        u = b.Div(g, b.Sqrt(v))
        u_hat = b.Div(u, b.Max(b.Div(_rms(b, u), float(self.clip_threshold)), 1.0))
        return b.Sub(p, b.Mul(u_hat, alpha)), new


def _rms(b, x):
    return b.Sqrt(b.ReduceMean(b.Mul(x, x), keepdims=0))
