"""Keras 3's ``.weights.h5`` (also ``model.weights.h5`` inside a ``.keras`` zip), read and written.

Layout (``fgc/saving/tree.py``): ``<layer path>/vars/<i>`` per variable, ``vars`` at the root for the
model itself, and ``optimizer/vars/<i>`` when the model is compiled: ``iteration`` (int), the
``learning_rate`` (unless it is a schedule), then the slots in Keras' order (``Optimizer.keras_slot_groups``:
groups of slots, each interleaved weight by weight over the trainable weights), then global slots.

Loading checks the whole file against the model (every group present, counts and shapes equal)
before anything is assigned; an error names the file and the first mismatch.
"""
from __future__ import annotations

import io
import os

import numpy as np

from .tree import join, model_entries

OPTIMIZER = "optimizer"


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency; this guards broken installs
        raise ImportError("reading and writing Keras .h5 files needs h5py: pip install h5py") from None
    return h5py


# ---------------------------------------------------------------------------------------------- writing
def to_bytes(model) -> bytes:
    """The model's weights (and optimizer state when compiled) as the bytes of a Keras .weights.h5 file."""
    h5py = _h5py()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for entry in model_entries(model):
            group = f.require_group(join(entry.path, "vars"))
            group.attrs["name"] = entry.name
            for i, var in enumerate(entry.variables):
                group.create_dataset(str(i), data=var.numpy())
        if model._trainer is not None:
            _write_optimizer(f, model)
    return buf.getvalue()


def _write_optimizer(f, model) -> None:
    opt = model.optimizer
    variables, slots, globals_ = model._trainer.optimizer_state()
    if hasattr(opt, "keras_h5_groups"):   # a wrapper (LossScaleOptimizer) stores its inner optimizer too
        groups = opt.keras_h5_groups(variables, slots, globals_)
    else:
        iterations = getattr(opt, "_raw_iterations", opt.iterations)   # Keras: optimizer._iterations
        groups = {OPTIMIZER: (opt.name, optimizer_values(opt, iterations, variables, slots, globals_))}
    for path, (name, values) in groups.items():
        group = f.require_group(join(path, "vars"))
        group.attrs["name"] = name
        for i, value in enumerate(values):
            group.create_dataset(str(i), data=value)


def optimizer_values(opt, iterations: int, variables, slots: dict, globals_: dict) -> list:
    """Keras' ``optimizer.variables`` of ``opt``: iteration, learning rate, slots, global slots."""
    values = [np.array(iterations, np.int64)]
    if not callable(opt.learning_rate):
        values.append(np.array(opt.learning_rate, np.float32))
    for slot_group in opt.keras_slot_groups():
        values += [slots[var][slot] for var in variables for slot in slot_group]
    values += [np.asarray(globals_[slot], np.float32).reshape(()) for slot in opt.global_slots]  # Keras: scalars
    return values


def save(model, filepath) -> None:
    from fgc.export.files import atomic_write_bytes

    atomic_write_bytes(filepath, to_bytes(model))


# ---------------------------------------------------------------------------------------------- reading
def load(model, filepath, h5_file=None) -> None:
    """Assign the weights (and optimizer state, when both the file and the model have one) of a Keras
    .weights.h5 file; ``h5_file`` is an open file-like object (the member of a .keras zip)."""
    h5py = _h5py()
    where = os.fspath(filepath)
    try:
        f = h5py.File(h5_file if h5_file is not None else where, "r")
    except OSError as e:
        raise ValueError(f"cannot load weights from '{where}': not a readable HDF5 file ({e})") from None
    with f:
        assignments = _read_weights(f, model, where)
        optimizer = _read_optimizer(f, model, where) if OPTIMIZER in f and model._trainer is not None else None
    for var, value in assignments:   # every check passed: now change the model
        var.assign(value)
    if optimizer is not None:
        model._trainer.load_optimizer_state(*optimizer)


def _read_weights(f, model, where: str) -> list:
    out = []
    for entry in model_entries(model):
        path = join(entry.path, "vars")
        what = f"layer '{entry.name}' (stored at '{path}')"
        if path not in f:
            if entry.variables:
                raise ValueError(f"cannot load weights from '{where}': it has no group '{path}' for {what}; the "
                                 f"file was written for a different architecture")
            continue
        group = f[path]
        stored = sorted((k for k in group.keys()), key=lambda k: int(k) if k.isdigit() else -1)
        if len(stored) != len(entry.variables):
            raise ValueError(f"cannot load weights from '{where}': {what} has {len(entry.variables)} weights "
                             f"({', '.join(v.name for v in entry.variables) or 'none'}) but the file holds "
                             f"{len(stored)}")
        for i, var in enumerate(entry.variables):
            value = _dataset(group, str(i), where, f"{path}/{i}")
            if value.shape != var.shape:
                raise ValueError(f"cannot load weights from '{where}': weight '{var.path}' has shape {var.shape}, "
                                 f"but '{path}/{i}' in the file has shape {value.shape}")
            out.append((var, value))
    return out


def _read_optimizer(f, model, where: str):
    opt = model.optimizer
    variables, slots, globals_ = model._trainer.optimizer_state()
    group = f[join(OPTIMIZER, "vars")]
    keys = [k for k in group.keys() if k.isdigit()]
    extra = getattr(opt, "keras_h5_extra", 0)   # a wrapper's own variables before its inner optimizer's
    inner = getattr(opt, "inner_optimizer", opt)
    want = extra + optimizer_value_count(inner, len(variables))
    if len(keys) != want:
        hint = ""
        if "inner_optimizer" in f[OPTIMIZER] and not extra:   # Keras wraps under mixed_float16 at compile
            hint = (" (the file holds a LossScaleOptimizer's state: a model compiled under the mixed_float16 "
                    "policy; call fgc.mixed_precision.set_global_policy('mixed_float16') before building or "
                    "loading the model)")
        raise ValueError(f"cannot load weights from '{where}': its optimizer state has {len(keys)} variables, but "
                         f"this model's {type(opt).__name__} over {len(variables)} trainable weights has {want}; "
                         f"compile with the optimizer the file was saved with{hint}")
    values = [_dataset(group, str(i), where, f"optimizer/vars/{i}") for i in range(want)]
    state = parse_optimizer_values(inner, values[extra:], variables, where, first=extra)
    return opt.from_keras_h5(values[:extra], state) if extra else state


def optimizer_value_count(opt, n_variables: int) -> int:
    with_lr = not callable(opt.learning_rate)
    return 1 + with_lr + sum(len(g) for g in opt.keras_slot_groups()) * n_variables + len(opt.global_slots)


def parse_optimizer_values(opt, values: list, variables, where: str, first: int = 0):
    """(iterations, {Variable: {slot: value}}, {global slot: value}, learning rate or None) from Keras'
    ``optimizer.variables`` of ``opt``; ``first`` is the index of ``values[0]`` in the file."""
    with_lr = not callable(opt.learning_rate)
    groups = opt.keras_slot_groups()
    iterations, k = int(values[0]), 1
    learning_rate = None
    if with_lr:
        learning_rate, k = float(values[1]), 2
    per_var = {var: {} for var in variables}
    for slot_group in groups:
        for var in variables:
            for slot in slot_group:
                shape = tuple(opt.slot_shape(slot, var.shape)) if hasattr(opt, "slot_shape") else var.shape
                if values[k].shape != shape:
                    raise ValueError(f"cannot load weights from '{where}': optimizer/vars/{first + k} ({slot} of "
                                     f"'{var.path}') has shape {values[k].shape}, expected {shape}")
                per_var[var][slot] = values[k].astype(np.float32)
                k += 1
    glob = {slot: values[k + i].astype(np.float32) for i, slot in enumerate(opt.global_slots)}
    return iterations, per_var, glob, learning_rate


def _dataset(group, key: str, where: str, path: str) -> np.ndarray:
    if key not in group:
        raise ValueError(f"cannot load weights from '{where}': '{path}' is missing; the file is damaged")
    try:
        value = np.asarray(group[key][()])
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"cannot load weights from '{where}': '{path}' cannot be read ({e})") from None
    if value.dtype.kind not in "biuf":
        raise ValueError(f"cannot load weights from '{where}': '{path}' holds {value.dtype}, not numbers")
    return value
