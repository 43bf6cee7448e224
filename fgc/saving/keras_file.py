"""The Keras 3 ``.keras`` file: a zip of ``metadata.json``, ``config.json`` (the serialized model, with its
compile config when compiled) and ``model.weights.h5`` (``weights_h5``: weights and optimizer state).

Saving builds the whole archive in memory and writes it atomically: a failed or killed save leaves the
previous file as it was. Loading reads and checks everything (zip, JSON, the model it describes, every
weight) before the model is returned; nothing in the file is executed or unpickled (``safe_mode``).
"""
from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
import zlib

from . import weights_h5

KERAS_VERSION = "3.15.1"   # the Keras release whose file format fgc writes and is tested against
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


def save_model(model, filepath) -> None:
    from fgc import __version__
    from fgc.export.files import atomic_write_bytes

    from .serialization import serialize_keras_object

    path = os.fspath(filepath)
    if not path.endswith(".keras"):
        raise ValueError(f"model.save('{path}'): the file name must end in '.keras' (Keras 3's format); for the "
                         f"weights alone use model.save_weights('x.weights.h5'), for ONNX model.export('x.onnx')")
    if not model.built:
        raise ValueError(f"model '{model.name}' is not built yet: call it on data (or give its first layer an "
                         f"input_shape) before saving")
    config = serialize_keras_object(model)
    if model._compiled is not None:
        config["compile_config"] = model.get_compile_config()
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "producer": f"fgc {__version__}"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA, json.dumps(metadata))
        archive.writestr(CONFIG, json.dumps(config))
        archive.writestr(WEIGHTS, weights_h5.to_bytes(model))
    atomic_write_bytes(path, buf.getvalue())


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model of a ``.keras`` file, compiled as saved (``compile=True``), with its weights and optimizer state."""
    from .serialization import deserialize_keras_object

    path = os.fspath(filepath)
    members = _read_archive(path)
    try:
        config = json.loads(members[CONFIG])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot load '{path}': its {CONFIG} is not valid JSON ({e})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"cannot load '{path}': its {CONFIG} does not describe a model (no 'class_name')")
    compile_config = config.pop("compile_config", None)
    try:
        model = deserialize_keras_object(config, custom_objects=custom_objects, safe_mode=safe_mode)
    except (ValueError, TypeError, KeyError) as e:
        raise type(e)(f"cannot load '{path}': {e}") from None
    if compile and compile_config:
        from .serialization import CustomObjectScope

        with CustomObjectScope(custom_objects or {}):   # custom losses and metrics live in the compile config
            model.compile_from_config(compile_config)
    weights_h5.load(model, path, h5_file=io.BytesIO(members[WEIGHTS]))
    return model


def _read_archive(path: str) -> dict[str, bytes]:
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot load '{path}': it is a folder, not a .keras file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            missing = [m for m in (CONFIG, WEIGHTS) if m not in names]
            if missing:
                raise ValueError(f"cannot load '{path}': a .keras file holds {CONFIG} and {WEIGHTS}, this zip lacks "
                                 f"{missing}")
            return {m: archive.read(m) for m in (CONFIG, WEIGHTS)}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, zipfile.LargeZipFile) as e:
        with open(path, "rb") as f:
            head = f.read(8)
        what = ("an HDF5 file: Keras 2's whole-model .h5 files are not supported; for a Keras 3 .weights.h5 build "
                "the model and call model.load_weights(path)") if head.startswith(b"\x89HDF") else \
            f"not a .keras file, or a damaged one ({type(e).__name__}: {e})"
        raise ValueError(f"cannot load '{path}': {what}") from None
