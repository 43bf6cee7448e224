"""Variables: the one truth for every weight, however many models, sub-models and runtimes use it.

A ``Variable`` keeps its value on the host. A runtime that trains it (a model's Trainer) keeps a
newer copy on the device and registers itself as the variable's *holder*; whoever reads the
variable (another model's step or predict, ``get_weights``, save, export) asks the holder to
write its copies back first (``Holder.release``). Every write gives the variable a new version
from one global counter, so a runtime that caches values (device state, an inference session's
initializers) knows what it must reload by comparing versions.

The counter doubles as a clock: it also moves when a runtime takes hold of variables. A runtime
that saw the clock unchanged since its last check, and still holds what it writes, knows nothing
it caches can be stale: a model trained alone pays one integer comparison per step.
"""
from __future__ import annotations

import itertools
from typing import Protocol

import numpy as np

_counter = itertools.count(1)
_now = 0


def tick() -> int:
    """Advance the clock; the new time is also a fresh version number."""
    global _now
    _now = next(_counter)
    return _now


def clock() -> int:
    return _now


class Holder(Protocol):
    def release(self) -> None:
        """Write every newer copy this runtime holds back to its Variable and stop holding them."""


class Variable:
    """One weight. ``read()`` gives its latest value, wherever that value currently lives."""

    regularizer = None   # Keras' variable.regularizer: its penalty joins the training loss (fgc.regularizers)
    constraint = None    # Keras' variable.constraint: applied after each optimizer update (fgc.constraints)

    def __init__(self, value: np.ndarray, name: str, layer, trainable: bool = True):
        self._value = value
        self.name = name
        self.layer = layer
        self.trainable = trainable
        self._holder: Holder | None = None
        self._version = tick()

    # ------------------------------------------------------------------ the protocol
    def read(self) -> np.ndarray:
        """The latest value (not a copy: callers must not modify it)."""
        if self._holder is not None:
            self._holder.release()
        return self._value

    def _store(self, value: np.ndarray) -> None:
        """A new value; any holder's device copy of this variable is now stale."""
        self._value = value
        self._holder = None
        self._version = tick()

    @property
    def version(self) -> int:
        return self._version

    # ------------------------------------------------------------------ the Keras API
    @property
    def path(self) -> str:
        return f"{self.layer.name}/{self.name}"

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return self._value.dtype.name

    def numpy(self) -> np.ndarray:
        return self.read().copy()

    @property
    def value(self) -> np.ndarray:
        return self.numpy()

    def check_assignable(self, value) -> np.ndarray:
        """``value`` as an array this variable can take, or an error naming the weight (nothing changes)."""
        value = np.asarray(value)
        if value.shape != self._value.shape:
            raise ValueError(f"weight '{self.path}' has shape {self._value.shape}; cannot assign an array of "
                             f"shape {value.shape}")
        if value.dtype.kind not in "biuf":
            raise TypeError(f"weight '{self.path}' takes numbers; got an array of dtype {value.dtype}")
        return value

    def assign(self, value) -> None:
        value = self.check_assignable(value)
        self._store(value.astype(self._value.dtype, copy=True))

    def __repr__(self) -> str:
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype}>"


def versions(variables) -> tuple[int, ...]:
    """The current version of each variable, after bringing home any newer copy a holder has."""
    out = []
    for var in variables:
        var.read()
        out.append(var._version)
    return tuple(out)
