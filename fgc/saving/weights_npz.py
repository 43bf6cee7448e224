"""Weights files (.npz): one array per weight, checked against the model before anything is assigned.

Format: a numpy ``.npz`` (a zip of ``.npy`` arrays, never pickled). Entry ``"{i}:{path}"`` holds the
i-th weight in ``get_weights()`` order under its path (``dense/kernel``); ``i`` is read as a number, so
the order holds for any count (older files wrote ``"{i:04d}:..."``, which reads the same way). Entry
``__structure__`` lists each weight's place in the architecture, Keras-style: the layer's class name
with a per-class counter plus the weight's name (``dense_1/kernel``). Unlike layer names, which count
up with every model built in a process, this does not change when the same code builds the model
again, and it differs when the architecture differs. Files without it (older ones) are checked by
count, weight names and shapes.
"""
from __future__ import annotations

import io
import os
import re
import zipfile
import zlib

import numpy as np

from fgc.naming import snake_case

from fgc.export.files import atomic_write_bytes

STRUCTURE_KEY = "__structure__"
_ENTRY = re.compile(r"^(\d+):(.+)$")
_MAGIC = {
    b"\x93NUMPY": "a single numpy array (.npy), not a weights file; write weights with model.save_weights(path)",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file (Keras .weights.h5): load it with model.load_weights(path)",
    b"\x08": "possibly an ONNX or protobuf file; fgc.Model.export writes ONNX, which load_weights does not read",
}


def structure_paths(variables) -> list[str]:
    """Each weight's architectural path: snake_case layer class + per-class counter, then the weight name."""
    names, counts, out = {}, {}, []
    for var in variables:
        layer = var.layer
        if id(layer) not in names:
            base = snake_case(type(layer).__name__)
            k = counts.get(base, 0)
            counts[base] = k + 1
            names[id(layer)] = base if k == 0 else f"{base}_{k}"
        out.append(f"{names[id(layer)]}/{var.name}")
    return out


def save(filepath, variables) -> None:
    """Write the weights atomically (the previous file survives a failed write)."""
    entries = {f"{i}:{v.path}": v.numpy() for i, v in enumerate(variables)}
    entries[STRUCTURE_KEY] = np.array(structure_paths(variables), dtype=str)
    buf = io.BytesIO()
    np.savez(buf, **entries)
    atomic_write_bytes(filepath, buf.getvalue())


def load(filepath, variables, model_name: str) -> list[np.ndarray]:
    """The stored arrays in ``variables`` order, after checking count, paths and shapes; raises otherwise."""
    path = os.fspath(filepath)
    _check_format(path)
    stored, structure = _read_entries(path)
    _check_against_model(path, stored, structure, variables, model_name)
    return [array for _, array in stored]


def _check_format(path: str) -> None:
    """Tell a foreign file from a truncated one by its first bytes, before opening it as a zip."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot load weights from '{path}': it is a folder, not a weights file")
    with open(path, "rb") as f:  # a missing file raises FileNotFoundError naming it
        head = f.read(512)
    if not head:
        raise ValueError(f"cannot load weights from '{path}': the file is empty")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise ValueError(f"cannot load weights from '{path}': this looks like {what}")
    kind = "a text file" if _is_text(head) else "not a weights file (unknown format)"
    raise ValueError(f"cannot load weights from '{path}': this looks like {kind}; fgc weights files are .npz "
                     f"archives written by model.save_weights(path)")


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c.isspace() for c in text)


def _read_entries(path: str):
    """[(index, stored path, array)] sorted by index, and the structure list or None; never unpickles."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            raw = {key: archive[key] for key in archive.files}  # read all now: a bad CRC shows up here
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as e:
        raise ValueError(f"cannot load weights from '{path}': the file is truncated or corrupt "
                         f"({type(e).__name__}: {e})") from None
    if "config.json" in raw or "model.weights.h5" in raw:
        raise ValueError(f"cannot load weights from '{path}': this looks like a Keras .keras archive, which fgc "
                         f"does not read yet; in Keras, load it and pass model.get_weights() to fgc's "
                         f"model.set_weights(...)")
    structure = raw.pop(STRUCTURE_KEY, None)
    numbered = []
    for key, array in raw.items():
        if not isinstance(array, np.ndarray):  # numpy hands back the raw bytes of a member that is not .npy
            raise ValueError(f"cannot load weights from '{path}': entry '{key}' is not a numpy array; was this "
                             f"file written by model.save_weights?")
        match = _ENTRY.match(key)
        if match is None:
            raise ValueError(f"cannot load weights from '{path}': entry '{key}' is not an fgc weight "
                             f"('<index>:<path>'); was this file written by model.save_weights?")
        numbered.append((int(match.group(1)), match.group(2), array))
    numbered.sort(key=lambda entry: entry[0])
    indices = [i for i, _, _ in numbered]
    if indices != list(range(len(numbered))):
        missing = sorted(set(range(len(numbered))) - set(indices))
        raise ValueError(f"cannot load weights from '{path}': weight indices are not 0..{len(numbered) - 1} "
                         f"(first missing: {missing[0] if missing else 'duplicates'}); the file is damaged")
    stored = [(p, a) for _, p, a in numbered]
    if structure is not None and (structure.dtype.kind != "U" or structure.shape != (len(stored),)):
        raise ValueError(f"cannot load weights from '{path}': its {STRUCTURE_KEY} entry does not list one "
                         f"path per weight; the file is damaged")
    return stored, None if structure is None else [str(s) for s in structure]


def _check_against_model(path, stored, structure, variables, model_name) -> None:
    if len(stored) != len(variables):
        raise ValueError(f"cannot load weights from '{path}': it holds {len(stored)} weights, but model "
                         f"'{model_name}' has {len(variables)}; first stored: {_listing(p for p, _ in stored)}; "
                         f"the model's: {_listing(v.path for v in variables)}")
    expected = structure_paths(variables)
    for i, ((stored_path, array), var) in enumerate(zip(stored, variables)):
        where = f"weight {i} ('{var.path}')"
        if structure is not None and structure[i] != expected[i]:
            raise ValueError(f"cannot load weights from '{path}': they belong to a different architecture: "
                             f"{where} is '{expected[i]}' in model '{model_name}' but '{structure[i]}' "
                             f"(stored as '{stored_path}') in the file")
        if structure is None and stored_path.rsplit("/", 1)[-1] != var.name:
            raise ValueError(f"cannot load weights from '{path}': {where} is a '{var.name}', but the file "
                             f"holds '{stored_path}' there")
        if array.shape != var.shape:
            raise ValueError(f"cannot load weights from '{path}': {where} has shape {var.shape}, but the file's "
                             f"'{stored_path}' has shape {array.shape}")
        if array.dtype.kind not in "biuf":
            raise ValueError(f"cannot load weights from '{path}': '{stored_path}' has dtype {array.dtype}; "
                             f"weights are numbers")


def _listing(paths, limit: int = 4) -> str:
    paths = list(paths)
    shown = ", ".join(paths[:limit])
    return f"[{shown}{', ...' if len(paths) > limit else ''}]"
