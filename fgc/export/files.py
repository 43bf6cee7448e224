"""Writing exported models to disk atomically: a failed write never destroys the previous file."""
from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(path, payload: bytes) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fgc-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
