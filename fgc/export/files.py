"""Writing exported models to disk atomically: a failed write never destroys the previous file."""
from __future__ import annotations

import os
import stat
import tempfile


def atomic_write_bytes(path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temp file in the same folder and a rename.

    The file gets the mode ``open()`` would give it: an existing file's mode is kept, a new one gets
    0o666 minus the umask (mkstemp alone would leave 0600). Errors name ``path``, not the temp file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    mode = _mode_for(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fgc-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _naming(e, path) from None
        raise


def _mode_for(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    except OSError:  # not stat-able (a dangling link, no permission): the write will say why
        return 0o666 & ~_umask()


def _umask() -> int:
    # The only portable way to read the umask is to set it; set it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current


def _naming(error: OSError, path: str) -> OSError:
    """The same kind of OSError, about the target rather than the temp file."""
    reason = error.strerror or str(error)
    return type(error)(error.errno, f"cannot write '{path}': {reason}")


def export_model(model, filepath, training: bool = False):
    """Compile ``model`` to ONNX and write it to ``filepath``; returns the ModelProto."""
    import onnx

    from fgc.compiler import inference_graph
    from fgc.export.onnx import to_onnx

    if training:
        from fgc.training.export import train_step_proto

        proto = train_step_proto(model)
    else:
        proto = to_onnx(inference_graph(model), params_as_inputs=False,
                        doc=f"fgc inference graph of model '{model.name}'")
    onnx.checker.check_model(proto)
    atomic_write_bytes(filepath, proto.SerializeToString())
    return proto
