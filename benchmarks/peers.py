"""Optional peers (PyTorch, Keras 3, JAX): imported on demand, a missing one is skipped cleanly."""
from __future__ import annotations

import functools
import importlib
import os
import sys


@functools.lru_cache(maxsize=None)
def _try_import(name: str):
    if name == "keras":
        # the peer measured is Keras-JAX (shared/reference/peers.md); without this, Keras 3 picks the backend
        # of ~/.keras/keras.json (tensorflow by default) and fails to import where TensorFlow is absent
        os.environ.setdefault("KERAS_BACKEND", "jax")
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


def keras_label() -> str:
    """Short name of the Keras peer for summary rows: 'Keras-JAX' on the JAX backend."""
    backend = keras_backend()
    return "Keras-JAX" if backend == "jax" else f"Keras ({backend})"


def set_jax_threads(threads: int) -> bool:
    """Run JAX's CPU computations on ``threads`` threads from now on.

    XLA's CPU client sizes its intra-op thread pool once, when JAX creates the client, from the environment
    variable PJRT_NPROC (else NPROC, else the schedulable CPUs); ``--xla_cpu_multi_thread_eigen=false`` in
    XLA_FLAGS did not limit it with jax 0.10.2. Set before jax is imported, the variable is enough. Once jax
    has made its client, ``jax.extend.backend.clear_backends()`` drops it, so the next computation makes a
    new client with the new size; arrays and models made before keep working but their compiled functions
    are dropped too (they recompile on their next call), so build the contestants after calling this.
    Returns False where jax was imported already and its client could not be remade (the old size stays)."""
    os.environ["PJRT_NPROC"] = str(threads)
    if "jax" not in sys.modules:   # not imported yet: the client will read the variable when it is made
        return True
    try:
        from jax.extend import backend

        backend.clear_backends()
        return True
    except Exception:  # noqa: BLE001 - a jax without this API: the setting made at import time stays
        return False
