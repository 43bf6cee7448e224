"""Turning user data (arrays, lists, dicts) into the model's ordered, typed arrays, with errors
that list what was expected and what came. Dtypes follow Keras: float64 data is cast to a
float32 Input, integer arrays feed int Inputs, and only unsafe casts are errors."""
from __future__ import annotations

import numpy as np

from fgc.ir.types import TensorType, numpy_dtype


def as_array_list(names: list[str], x, what: str, ranks: list[int] | None = None) -> list:
    """The entries of x (an array, a list or a dict) in the order of ``names``.

    ``ranks`` (the rank of each entry, when known) tells a one-input model's nested-list batch
    ``[[1, 2, 3]]`` apart from a list that wraps its one array ``[x]``."""
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        unknown = [k for k in x if k not in names]
        if missing or unknown:
            parts = [f"missing {missing}" if missing else "", f"unknown {unknown}" if unknown else ""]
            raise ValueError(f"{what}: expected keys {names}, got {list(x)} "
                             f"({'; '.join(p for p in parts if p)})")
        return [x[n] for n in names]
    if isinstance(x, (list, tuple)) and len(names) != 1:
        if len(x) != len(names):
            raise ValueError(f"{what}: the model has {len(names)} of them {names}, got a list of {len(x)} arrays")
        return list(x)
    if isinstance(x, (list, tuple)) and len(x) == 1 and _is_array_like(x[0]) and np.ndim(x[0]) >= 1 \
            and not (ranks and _ndim(x) == ranks[0]):
        return [x[0]]
    if len(names) != 1:
        raise ValueError(f"{what}: the model has {len(names)} of them {names}; pass a list in that order or a dict "
                         f"keyed by name, got a single {type(x).__name__}")
    return [x]


def _ndim(x) -> int | None:
    try:
        return np.ndim(x)
    except ValueError:  # ragged nesting: not one array
        return None


def _is_array_like(a) -> bool:
    return isinstance(a, (np.ndarray, list, tuple)) or hasattr(a, "__array__")


_NUMBERS = (int, float, bool, complex, np.number, np.bool_)
_PYTHON_NUMBERS = {int, float, bool, complex}


def is_plain_data(x) -> bool:
    """Numbers, arrays (or ``__array__`` objects) and lists / tuples of them: what np.asarray may safely read.

    Anything else (a generator, a Sequence-like object with __len__ and __getitem__) would be iterated
    whole by np.asarray, possibly forever, so it must never reach it."""
    if isinstance(x, (list, tuple)):
        if set(map(type, x)) <= _PYTHON_NUMBERS:   # the common leaf: a list of Python numbers, checked at C speed
            return True
        return all(is_plain_data(e) for e in x if type(e) not in _PYTHON_NUMBERS)
    return isinstance(x, (np.ndarray, *_NUMBERS)) or hasattr(x, "__array__") or has_buffer(x)


def has_buffer(x) -> bool:
    """Whether x exposes numbers through the buffer protocol (array.array, memoryview), bytes aside."""
    if isinstance(x, (str, bytes, bytearray)):
        return False
    try:
        memoryview(x)
    except TypeError:
        return False
    return True


def cast_array(arr, t: TensorType, name: str, what: str = "input", float_cast_later: bool = False,
               empty=None) -> np.ndarray:
    """Check one array against a model input type and cast it the way Keras does; with ``float_cast_later``
    float data for a float input of another precision comes back checked but uncast (see ``rows_as``).
    ``empty(shape, dtype)`` makes the array a cast is written into (default: a new one)."""
    if arr is None:
        raise ValueError(f"{what} '{name}' is None; pass an array of shape {t.keras_shape()}")
    if hasattr(arr, "_keras_history"):
        raise TypeError(f"{what} '{name}' is a symbolic tensor ({arr!r}), which stands for data while a model is "
                        f"built; fit / evaluate / predict need the data itself: a numpy array of shape "
                        f"{t.keras_shape()}")
    if not is_plain_data(arr):
        from fgc.training.sources import ACCEPTED, describe

        raise TypeError(f"{what} '{name}' is {describe(arr)}, not an array: pass an array of shape "
                        f"{t.keras_shape()} (a batch source goes as the whole x; fit accepts {ACCEPTED})")
    a = np.asarray(arr)
    if a.dtype.kind in "OUSV":
        raise TypeError(f"{what} '{name}' has dtype {a.dtype}, which cannot be fed to a tensor of {t.dtype}")
    want = t.keras_shape()
    if a.ndim != len(want):
        hint = ""
        if a.ndim == len(want) - 1:
            hint = f" (a single sample? add the batch axis: x[None] has shape {(1, *a.shape)})"
        raise ValueError(f"{what} '{name}' expects arrays of rank {len(want)} with shape {want}, got shape "
                         f"{a.shape}{hint}")
    for axis, (got, exp) in enumerate(zip(a.shape, want)):
        # axis 0 counts samples: a fixed batch size (Input(batch_size=4)) sizes each batch, not the data
        if axis > 0 and exp is not None and got != exp:
            raise ValueError(f"{what} '{name}' expects shape {want}, got {a.shape}: axis {axis} is {got}, "
                             f"expected {exp}")
    target = numpy_dtype(t.dtype)
    if a.dtype == target:
        return np.ascontiguousarray(a)
    if float_cast_later and a.dtype.kind == "f" and np.dtype(target).kind == "f":
        return a
    if np.issubdtype(target, np.integer):
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                bad = np.argwhere(~np.isfinite(a) | (a != np.round(a)))[0]
                raise TypeError(f"{what} '{name}' is an integer input ({t.dtype}) but got floats with fractions "
                                f"(e.g. {a[tuple(bad)]} at index {tuple(int(i) for i in bad)})")
        info = np.iinfo(target)
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise ValueError(f"{what} '{name}' has values outside the range of {t.dtype}")
    return cast_into(a, target, empty)


def cast_into(a: np.ndarray, dtype, empty=None) -> np.ndarray:
    """``a`` as a new C-contiguous array of ``dtype`` (astype's values), made by ``empty`` when given."""
    if empty is None:
        return np.ascontiguousarray(a.astype(dtype))
    out = empty(a.shape, dtype)
    np.copyto(out, a, casting="unsafe")
    return out


def prepare(names, types, x, what: str, float_casts_later: bool = False, empty=None) -> list[np.ndarray]:
    """x as the model's arrays, checked and cast. ``float_casts_later``: float data for float inputs of
    another precision (float64 data, float32 inputs) is left as it came, for the caller to cast batch by
    batch with ``rows_as``: each batch is cast while it is in cache, and no full-size copy is made
    (predict of the seed MLP on float64 data: ~7 % faster)."""
    ready = ready_arrays(x, types)
    if ready is not None:
        return ready
    arrays = [cast_array(a, t, n, what, float_casts_later, empty)
              for a, t, n in zip(as_array_list(names, x, what + "s", [t.rank for t in types]), types, names)]
    sizes = {n: a.shape[0] for n, a in zip(names, arrays)}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{what}s have different numbers of samples: {sizes}")
    for name, a in zip(names, arrays):
        if a.shape[0] == 0:  # no step would run, and fit would report a loss of 0.0
            raise ValueError(f"{what} '{name}' has 0 samples (shape {a.shape}); pass at least one sample along "
                             f"axis 0")
    return arrays


def rows_as(a: np.ndarray, start: int, stop: int, dtype) -> np.ndarray:
    """Rows start:stop of ``a`` in ``dtype``, C-contiguous: a view when ``a`` is in ``dtype`` already (as
    ``prepare`` makes every array unless told ``float_casts_later``)."""
    rows = a[start:stop]
    return rows if a.dtype == dtype else np.ascontiguousarray(rows, dtype=dtype)


def ready_arrays(x, types: list[TensorType]) -> list[np.ndarray] | None:
    """x's arrays as they are when they are what the checks and casts of ``prepare`` would return anyway,
    else None: one numpy array (a list or tuple of them, one per input in order, for several inputs),
    each C-contiguous, of its input's dtype and shape, all with the same number of samples (at least
    one). This is the common predict call, and skipping the general path saves ~3 us of each one."""
    if len(types) == 1:
        arrays = [x]
    elif type(x) in (list, tuple) and len(x) == len(types):
        arrays = x
    else:
        return None
    rows = None
    for a, t in zip(arrays, types):
        if type(a) is not np.ndarray or not _fits(a.shape, t.shape) or not a.flags.c_contiguous \
                or a.dtype != numpy_dtype(t.dtype) or a.shape[0] == 0 or rows not in (None, a.shape[0]):
            return None
        rows = a.shape[0]
    return list(arrays)


def _fits(shape: tuple, want: tuple) -> bool:
    """Whether an array's shape has the rank of ``want`` and its sizes after the batch axis (a symbol
    matches any size)."""
    if len(shape) != len(want) or not shape:
        return False
    return shape[1:] == want[1:] or all(got == w or not isinstance(w, int) for got, w in zip(shape[1:], want[1:]))


def fixed_batch_size(names: list[str], types: list[TensorType]) -> int | None:
    """The batch size the model's Inputs fix (``Input(batch_size=4)`` or ``batch_shape=``), or None."""
    fixed = {n: t.shape[0] for n, t in zip(names, types) if isinstance(t.shape[0], int)}
    if len(set(fixed.values())) > 1:
        raise ValueError(f"the model's inputs fix different batch sizes {fixed}; give every Input the same "
                         f"batch_size (or none)")
    return next(iter(fixed.values()), None)


def batch_size_for(fixed: int | None, batch_size, n: int, where: str, default: int = 32) -> int:
    """The batch size to cut ``n`` samples into: ``batch_size`` (default ``default``), or the model's
    fixed batch size, which allows only that size and only full batches (checked before any step)."""
    if fixed is None:
        return int(batch_size or default)
    if batch_size is not None and int(batch_size) != fixed:
        raise ValueError(f"{where}: batch_size={batch_size}, but the model's inputs have a fixed batch size of "
                         f"{fixed} (Input(batch_size={fixed}) or batch_shape); pass batch_size={fixed} or none")
    if n % fixed:
        raise ValueError(f"{where}: {n} samples do not split into batches of {fixed}, the model's fixed batch "
                         f"size: the last batch would hold {n % fixed}. Pass a multiple of {fixed} samples "
                         f"(e.g. the first {n - n % fixed}), or build the model without a fixed batch size")
    return fixed
