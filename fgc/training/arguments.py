"""Checks of the scalar arguments of fit / evaluate / predict, run before any data is touched.

Each bad value is a ValueError that names the method, the argument, what came and the accepted
range, so a typo such as ``batch_size=0`` or ``epochs=2.5`` cannot train nothing silently."""
from __future__ import annotations

import numbers


def _is_int(value) -> bool:
    # bool is an int subclass, but fit(batch_size=True) is surely a mistake; a plain int first: the ABC
    # check costs ~1 us, paid by every predict call
    return type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def int_at_least(where: str, name: str, value, low: int, optional: bool = False):
    """``value`` as an int >= ``low`` (None passes through when ``optional``)."""
    if value is None and optional:
        return None
    if not _is_int(value) or value < low:
        accepted = f"an integer >= {low}" + (" or None" if optional else "")
        raise ValueError(f"{where}: {name} must be {accepted}, got {value!r}")
    return int(value)


def verbose_level(where: str, value) -> int:
    """Keras' verbose: 'auto' (= 1), 0 (silent), 1 (progress bar) or 2 (one line per epoch)."""
    if value == "auto" and isinstance(value, str):
        return 1
    if not _is_int(value) or value not in (0, 1, 2):
        raise ValueError(f"{where}: verbose must be 'auto', 0, 1 or 2, got {value!r}")
    return int(value)


def validation_fraction(value) -> float:
    if type(value) is float and 0 <= value < 1:   # the default 0.0: the ABC check below costs ~1 us per fit
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"fit(): validation_split must be a float in [0, 1), got {value!r}")
    return float(value)


def split_for_validation(n: int, fraction: float) -> int:
    """The number of training rows Keras keeps for ``validation_split=fraction`` (the rest validate)."""
    cut = int(n * (1 - fraction))
    if cut == 0 or cut == n:
        left = "no training samples" if cut == 0 else "no validation samples"
        raise ValueError(f"fit(): validation_split={fraction} of {n} samples leaves {left}; pass more data or a "
                         f"validation_split in (0, 1) that keeps at least one sample on each side")
    return cut
