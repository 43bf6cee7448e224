"""``fgc.utils.PyDataset`` (alias ``fgc.utils.Sequence``): Keras 3's base class for batches made by Python code.

A subclass returns whole batches from ``__getitem__(index)`` and their count from ``__len__`` (or the
``num_batches`` property, ``None`` for an endless dataset). ``workers``, ``use_multiprocessing`` and
``max_queue_size`` do nothing here: they tell ``fit`` / ``evaluate`` / ``predict`` how to prefetch
(fgc/training/prefetch.py). Iterating a PyDataset by hand runs in the calling thread, as in Keras.
"""
from __future__ import annotations

import itertools
import numbers
import warnings

_DEFAULTS = {"_workers": 1, "_use_multiprocessing": False, "_max_queue_size": 10}


def _check_count(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"PyDataset: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


class PyDataset:
    """Batches from ``__getitem__``; see the module docstring. Subclasses call ``super().__init__(**kwargs)``."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = _check_count("workers", workers, 0)
        if not isinstance(use_multiprocessing, bool):
            raise ValueError(f"PyDataset: use_multiprocessing must be True or False, got {use_multiprocessing!r}")
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = _check_count("max_queue_size", max_queue_size, 1)

    def _setting(self, attr: str):
        if not hasattr(self, attr):  # a subclass that skipped super().__init__ still works, with Keras' defaults
            warnings.warn(f"{type(self).__name__} should call super().__init__(**kwargs) in its constructor; "
                          f"kwargs may hold workers, use_multiprocessing and max_queue_size (fit() does not take "
                          f"them)", stacklevel=3)
            for name, value in _DEFAULTS.items():
                if not hasattr(self, name):
                    setattr(self, name, value)
        return getattr(self, attr)

    @property
    def workers(self):
        return self._setting("_workers")

    @workers.setter
    def workers(self, value):
        self._workers = _check_count("workers", value, 0)

    @property
    def use_multiprocessing(self):
        return self._setting("_use_multiprocessing")

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = bool(value)

    @property
    def max_queue_size(self):
        return self._setting("_max_queue_size")

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = _check_count("max_queue_size", value, 1)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), returning batch `index`")

    @property
    def num_batches(self):
        """Batches per epoch (``len(self)``), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must define __len__ or the num_batches property "
                                  f"(None for an endless dataset)")

    def __iter__(self):
        try:
            count = self.num_batches
        except NotImplementedError:   # Keras: no length given means endless
            count = None
        for index in (range(count) if count is not None else itertools.count()):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset   # Keras 3 exports one class under both names
