"""``save_weights`` / ``load_weights``: which format a path or a file's content means.

Writing goes by the name: ``.h5`` (``x.weights.h5``, Keras 3's own) or ``.npz`` (fgc's archive).
Reading goes by the content, so a misnamed file still loads or gets an error that says what it is:
HDF5 -> Keras weights; a zip holding ``model.weights.h5`` -> the weights of a ``.keras`` file; any
other zip -> fgc's ``.npz``.
"""
from __future__ import annotations

import io
import os
import zipfile

from . import weights_h5, weights_npz

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_WEIGHTS_MEMBER = "model.weights.h5"


def save(model, filepath) -> None:
    path = os.fspath(filepath)
    if path.endswith(".h5"):
        weights_h5.save(model, path)
    elif path.endswith(".npz"):
        weights_npz.save(path, model._variables())
    else:
        raise ValueError(f"save_weights('{path}'): name the file 'x.weights.h5' (Keras 3's format, which Keras "
                         f"reads too) or 'x.npz' (fgc's archive); model.save('x.keras') saves the whole model")


def load(model, filepath) -> None:
    path = os.fspath(filepath)
    head = _head(path)
    if head.startswith(HDF5_MAGIC):
        weights_h5.load(model, path)
        return
    member = _keras_weights_member(path) if head.startswith(b"PK") else None
    if member is not None:
        weights_h5.load(model, path, h5_file=io.BytesIO(member))
        return
    model.set_weights(weights_npz.load(path, model._variables(), model.name))


def _head(path: str) -> bytes:
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot load weights from '{path}': it is a folder, not a weights file")
    with open(path, "rb") as f:   # a missing file raises FileNotFoundError naming it
        return f.read(8)


def _keras_weights_member(path: str) -> bytes | None:
    """The ``model.weights.h5`` of a .keras zip, or None for any other zip (fgc's .npz reports its own errors)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if KERAS_WEIGHTS_MEMBER not in archive.namelist():
                return None
            return archive.read(KERAS_WEIGHTS_MEMBER)
    except (zipfile.BadZipFile, OSError, EOFError):
        return None
