"""What fit / evaluate / predict accept as data, and reading batch sources one batch at a time.

``wrap(x, where)`` sorts the argument at once, before anything reads it:

- arrays (numpy, a list / tuple / dict of them, anything with ``__array__``) pass through unchanged;
- a Python generator or iterator becomes a ``GeneratorSource`` (one pass, continued across epochs);
- an ``fgc.utils.PyDataset`` or a Keras 2 ``Sequence``-like object (``__len__`` + ``__getitem__``)
  becomes a ``SequenceSource`` (a new pass each epoch, optionally shuffled and prefetched by workers);
- a torch ``DataLoader`` or a ``tf.data.Dataset`` becomes an ``IterableSource`` (``iter()`` per pass);
- anything else (a set, a string, an arbitrary object) is a TypeError saying what is accepted.

A source is never turned into one array: it yields batches, and at most the prefetch queue of them
is alive at once. Each batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.
"""
from __future__ import annotations

import collections.abc
import itertools
import numbers
import random
import types

import numpy as np

from fgc.data import has_buffer, is_plain_data
from fgc.py_dataset import PyDataset

from .prefetch import OrderedPrefetcher

ACCEPTED = ("numpy arrays (a list or a dict of them for several inputs), a Python generator or iterator "
            "yielding batches x, (x, y) or (x, y, sample_weight), an fgc.utils.PyDataset (or a Keras "
            "Sequence-like object with __len__ and __getitem__ returning such batches), a torch DataLoader "
            "or a tf.data.Dataset")


def is_array_data(x) -> bool:
    """Arrays as fit has always taken them: numpy (or ``__array__``) objects, numbers, lists / tuples / dicts."""
    # a symbolic tensor passes too: cast_array explains why it is not data
    return (isinstance(x, (np.ndarray, numbers.Number, list, tuple, dict)) or hasattr(x, "__array__")
            or hasattr(x, "_keras_history") or has_buffer(x))


def _framework_kind(x) -> str | None:
    """'torch DataLoader' or 'tf.data.Dataset' for those classes (by their module, so neither is imported)."""
    for parent in type(x).__mro__:
        module = getattr(parent, "__module__", "") or ""
        if parent.__name__ == "DataLoader" and module.startswith("torch.utils.data"):
            return "torch DataLoader"
        if parent.__name__ in ("DatasetV2", "DatasetV1") and module.startswith("tensorflow."):
            return "tf.data.Dataset"
    return None


def describe(x) -> str:
    """A short, safe description of an object (its repr can be huge, slow or failing)."""
    cls = type(x)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(x, (str, bytes)):
        return f"an object of type {name} ({x[:40]!r}{'...' if len(x) > 40 else ''})"
    return f"an object of type {name}"


def unsupported(x, where: str, what: str = "x") -> TypeError:
    why = ""
    if isinstance(x, (set, frozenset)):
        why = " A set has no order, so its samples could not be matched with their targets; pass a list or an array."
    elif isinstance(x, (str, bytes)):
        why = " Strings cannot be fed to a model; pass arrays of numbers."
    elif hasattr(x, "__iter__") and not hasattr(x, "__next__"):
        why = (" It is iterable but neither an iterator nor a PyDataset: pass iter(it) for one pass over it, or "
               "a PyDataset for a new pass every epoch.")
    return TypeError(f"{where}: {what} is {describe(x)}, which is not data fgc can read. It accepts {ACCEPTED}.{why}")


def refuse_loader_arguments(where: str, kwargs: dict) -> None:
    """Keras 2's fit(workers=, use_multiprocessing=, max_queue_size=): Keras 3 moved them onto the PyDataset."""
    given = [k for k in ("workers", "use_multiprocessing", "max_queue_size") if k in kwargs]
    if given:
        raise TypeError(f"{where} got {', '.join(given)}: Keras 2 arguments that Keras 3 (and fgc) take on the data "
                        f"instead: subclass fgc.utils.PyDataset and call super().__init__({given[0]}=...) in its "
                        f"__init__")


def wrap(x, where: str, what: str = "x"):
    """``x`` itself for array data or None, a Source for a batch source; a TypeError for anything else."""
    if x is None or isinstance(x, Source) or is_array_data(x):
        return x
    if isinstance(x, PyDataset):
        return SequenceSource(x)
    kind = _framework_kind(x)
    if kind is not None:
        return IterableSource(x, kind)
    if isinstance(x, (str, bytes, bytearray, set, frozenset, collections.abc.Mapping, collections.abc.Set,
                      collections.abc.MappingView)):
        raise unsupported(x, where, what)
    if isinstance(x, types.GeneratorType) or (hasattr(x, "__next__") and hasattr(x, "__iter__")):
        return GeneratorSource(x)
    if hasattr(type(x), "__len__") and hasattr(type(x), "__getitem__"):
        return SequenceSource(x)
    raise unsupported(x, where, what)


def unpack(raw, label: str):
    """A batch as (x, y, sample_weight), Keras' rule: a tuple or list holds 1 to 3 of them, else it is x."""
    if isinstance(raw, (tuple, list)):
        if 1 <= len(raw) <= 3:
            return tuple(raw) + (None,) * (3 - len(raw))
        raise ValueError(f"{label} has {len(raw)} entries; a batch is x, (x,), (x, y) or (x, y, sample_weight), "
                         f"with a tuple or dict for several inputs or outputs")
    if isinstance(raw, dict) or hasattr(raw, "__array__"):
        return raw, None, None
    raise TypeError(f"{label} is {describe(raw)}; a batch is an array, a dict of arrays, (x,), (x, y) or "
                    f"(x, y, sample_weight)")


def sample_inputs(x):
    """Something shaped like one batch of model inputs, to build an unbuilt model from."""
    if isinstance(x, Source):
        return unpack(x.first(), f"batch 0 of {x.label}")[0]
    entries = x.values() if isinstance(x, dict) else x if isinstance(x, (list, tuple)) else [x]
    for entry in entries:
        if entry is not None and not hasattr(entry, "_keras_history") and not is_plain_data(entry):
            raise TypeError(f"the data holds {describe(entry)}, not an array; fgc accepts {ACCEPTED}")
    return x


class Source:
    """Batches one at a time. ``reiterable`` sources start over with ``start_pass``; one-shot ones continue."""

    reiterable = True
    label = "the data"
    kind = "source"

    @property
    def num_batches(self) -> int | None:
        return None

    def first(self):
        raise NotImplementedError

    def start_pass(self, shuffle_seed=None) -> None:
        pass

    def next(self):
        """The next batch of this pass; StopIteration at its end."""
        raise NotImplementedError

    def at_end(self) -> bool:
        raise NotImplementedError

    def position(self) -> str:
        """Which batch ``next`` returned last, for error messages."""
        return f"batch {self.taken - 1}"

    def epoch_begin(self) -> None:
        pass

    def epoch_end(self) -> None:
        pass

    def close(self) -> None:
        pass


class GeneratorSource(Source):
    """A generator or iterator: one pass over everything it yields, continued from epoch to epoch."""

    reiterable = False
    kind = "generator"

    def __init__(self, iterator):
        self.iterator = iterator
        self.label = "the generator" if isinstance(iterator, types.GeneratorType) else \
            f"the iterator ({type(iterator).__name__})"
        self.taken = 0
        self._ahead: collections.deque = collections.deque()
        if self.at_end():
            raise ValueError(f"{self.label} yielded no batches (it is empty or already used up); a generator can "
                             f"be read once: create a new one for each fit / evaluate / predict call")

    def first(self):
        if not self._ahead:
            self.at_end()
        return self._ahead[0] if self._ahead else None

    def next(self):
        batch = self._ahead.popleft() if self._ahead else self._read()
        self.taken += 1
        return batch

    def _read(self):
        try:
            return next(self.iterator)
        except StopIteration:
            raise
        except Exception as error:   # the user's code failed: say which batch it was making
            error.add_note(f"while reading batch {self.taken + len(self._ahead)} from {self.label}")
            raise

    def at_end(self) -> bool:
        if self._ahead:
            return False
        try:  # one batch read ahead, kept for the next step
            self._ahead.append(self._read())
        except StopIteration:
            return True
        return False


class SequenceSource(Source):
    """An fgc.utils.PyDataset or a Sequence-like object: ``num_batches`` batches by index, a pass per epoch."""

    kind = "PyDataset"

    def __init__(self, dataset):
        self.dataset = dataset
        self.label = f"{type(dataset).__name__} (a {'PyDataset' if isinstance(dataset, PyDataset) else 'Sequence'})"
        count = dataset.num_batches if isinstance(dataset, PyDataset) else len(dataset)
        if count is not None and (not isinstance(count, numbers.Integral) or count < 0):
            raise ValueError(f"{self.label}: the number of batches must be an int >= 0 or None (endless), got "
                             f"{count!r}")
        if count == 0:
            raise ValueError(f"{self.label} has no batches (its length is 0)")
        self._count = None if count is None else int(count)
        self.taken, self._passed, self._indices = 0, 0, []
        self._batches = None
        self._first = None
        self.workers = int(getattr(dataset, "workers", 1))
        self.processes = bool(getattr(dataset, "use_multiprocessing", False))
        self.max_queue_size = int(getattr(dataset, "max_queue_size", 10))

    @property
    def num_batches(self):
        return self._count

    def first(self):
        if self._first is None:
            self._first = self._fetch(0, 0)
        return self._first

    def _fetch(self, position, index):
        try:
            return self.dataset[index]
        except Exception as error:
            error.add_note(f"while fetching batch {position} of {self.label} (__getitem__({index}))")
            raise

    def _in_order(self, indices):
        for position, index in enumerate(indices):
            yield self._fetch(position, index)

    def start_pass(self, shuffle_seed=None) -> None:
        self.close()
        if self._count is None:
            indices = itertools.count()
        else:
            indices = range(self._count)   # lazy: a length of 10**12 costs nothing until read
            if shuffle_seed is not None:   # Keras: the batch order, reshuffled each epoch
                indices = list(indices)
                random.Random(shuffle_seed).shuffle(indices)
        self._indices = indices
        if self.workers > 1 or (self.workers > 0 and self.processes):
            self._batches = OrderedPrefetcher(self.dataset, indices, self.workers, self.processes,
                                              self.max_queue_size, self.label)
        else:
            self._batches = self._in_order(indices)
        self._passed = 0

    def next(self):
        if self._batches is None:
            self.start_pass()
        batch = next(self._batches)
        self._passed += 1
        self.taken += 1
        return batch

    def position(self) -> str:
        index = self._indices[self._passed - 1] if isinstance(self._indices, (list, range)) else self._passed - 1
        return f"batch {self._passed - 1} of the epoch (__getitem__({index}))"

    def at_end(self) -> bool:
        return self._batches is None or (self._count is not None and self._passed >= self._count)

    def epoch_begin(self) -> None:
        hook = getattr(self.dataset, "on_epoch_begin", None)
        if callable(hook):
            hook()

    def epoch_end(self) -> None:
        hook = getattr(self.dataset, "on_epoch_end", None)
        if callable(hook):
            hook()

    def close(self) -> None:
        if isinstance(self._batches, OrderedPrefetcher):
            self._batches.close()
        self._batches = None


class IterableSource(Source):
    """A torch DataLoader or tf.data.Dataset, read as a plain iterable: ``iter()`` for each pass."""

    def __init__(self, iterable, kind: str):
        self.iterable, self.kind, self.label = iterable, kind, f"the {kind}"
        self.taken, self._passed, self._iterator, self._ran_out = 0, 0, None, False
        try:
            self._count = int(len(iterable))
        except TypeError:   # a dataset of unknown length
            self._count = None
        self._first = None

    @property
    def num_batches(self):
        return self._count

    def first(self):
        if self._first is None:
            self._first = next(iter(self.iterable), None)
            if self._first is None:
                raise ValueError(f"{self.label} yielded no batches")
        return self._first

    def start_pass(self, shuffle_seed=None) -> None:
        self._iterator, self._passed, self._ran_out = iter(self.iterable), 0, False

    def next(self):
        if self._iterator is None:
            self.start_pass()
        try:
            batch = next(self._iterator)
        except StopIteration:
            self._ran_out = True
            raise
        self._passed += 1
        self.taken += 1
        return batch

    def at_end(self) -> bool:
        return self._iterator is None or self._ran_out or (self._count is not None and self._passed >= self._count)
