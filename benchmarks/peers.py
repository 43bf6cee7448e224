"""Optional peers (PyTorch, Keras 3, JAX): imported on demand, a missing one is skipped cleanly."""
from __future__ import annotations

import functools
import importlib


@functools.lru_cache(maxsize=None)
def _try_import(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - ImportError, or a broken install: either way the peer is absent
        return None


def available(name: str) -> bool:
    """'torch', 'keras' or 'jax' importable in this environment?"""
    return _try_import(name) is not None


def version(name: str) -> str | None:
    mod = _try_import(name)
    return getattr(mod, "__version__", "?") if mod is not None else None


def torch():
    mod = _try_import("torch")
    if mod is None:
        raise ImportError("torch is not installed (pip install torch==2.13.0)")
    return mod


def keras():
    mod = _try_import("keras")
    if mod is None:
        raise ImportError("keras is not installed")
    return mod


def keras_backend() -> str | None:
    mod = _try_import("keras")
    if mod is None:
        return None
    try:
        return mod.backend.backend()
    except Exception:  # noqa: BLE001
        return "?"
