"""Keras-style automatic names (dense, dense_1, ...) and keyword checking with near-match hints."""
from __future__ import annotations

import difflib
import re
from collections import defaultdict

_counts: dict[str, int] = defaultdict(int)


def snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    n = _counts[base]
    _counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def reset_names() -> None:
    """Start automatic names from scratch (as keras.backend.clear_session does)."""
    _counts.clear()


def near(word: str, options) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def check_kwargs(where: str, kwargs: dict, allowed) -> None:
    """An unknown keyword is a TypeError naming the near match (`optmizer` -> `optimizer`)."""
    for key in kwargs:
        if key not in allowed:
            raise TypeError(f"{where} got an unexpected keyword argument '{key}'{near(key, allowed)}")


def resolve(identifier, base: type, table: dict, what: str):
    """An instance of ``base`` from an instance, a subclass, or a (case-insensitive) name in ``table``;
    an unknown name is a ValueError naming the near match and the known names."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in table:
            return table[key]()
        raise ValueError(f"unknown {what} '{identifier}'{near(key, table)}; known: {sorted(table)}")
    raise TypeError(f"a {what} must be a name, a {base.__name__} class or instance, got {identifier!r}")


def outside_stacklevel(package: str = "fgc") -> int:
    """The ``warnings.warn`` stacklevel that points at the first caller outside ``package`` (the user's line)."""
    import sys

    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == package:
        frame, level = frame.f_back, level + 1
    return level
