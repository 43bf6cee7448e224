"""Learning-rate schedules (Keras 3 formulas). Evaluated on the host each step and fed to the
train step as its ``lr`` input, so a schedule never changes the compiled graph."""
from __future__ import annotations

import math


class LearningRateSchedule:
    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must define get_config() to be serialized")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.decay_rate, self.staircase = float(decay_rate), staircase
        self.name = name or "ExponentialDecay"

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


class PiecewiseConstantDecay(LearningRateSchedule):
    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay needs len(values) == len(boundaries) + 1, got "
                             f"{len(values)} values and {len(boundaries)} boundaries")
        self.boundaries, self.values = list(boundaries), [float(v) for v in values]
        self.name = name or "PiecewiseConstant"

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]


class CosineDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), decay_steps, alpha
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps
        self.name = name or "CosineDecay"

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}

    def __call__(self, step):
        if self.warmup_target is not None and step < self.warmup_steps:
            frac = step / self.warmup_steps
            return self.initial_learning_rate + frac * (self.warmup_target - self.initial_learning_rate)
        start = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        done = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * done))
        return start * ((1 - self.alpha) * cosine + self.alpha)


def serialize(schedule) -> dict:
    from fgc.saving.serialization import serialize_keras_object

    return serialize_keras_object(schedule)


def deserialize(config, custom_objects=None) -> LearningRateSchedule:
    from fgc.saving.serialization import deserialize_keras_object

    schedule = deserialize_keras_object(config, custom_objects)
    if not isinstance(schedule, LearningRateSchedule):
        raise ValueError(f"the config {config.get('class_name')!r} is not a learning-rate schedule")
    return schedule
