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


PRECISIONS = ("float32", "float16")
QUANTIZE = (None, "int8")


def check_export_options(training, precision, quantize, calibration_data, optimize, keep_io_types) -> None:
    """Refuse option combinations that have no meaning, before anything is compiled or written."""
    if precision not in PRECISIONS:
        raise ValueError(f"export(precision=...) must be one of {PRECISIONS}, got {precision!r}")
    if quantize not in QUANTIZE:
        raise ValueError(f"export(quantize=...) must be None or 'int8', got {quantize!r}")
    if not isinstance(optimize, bool):
        raise TypeError(f"export(optimize=...) must be True or False, got {optimize!r}")
    if not isinstance(keep_io_types, bool):
        raise TypeError(f"export(keep_io_types=...) must be True or False, got {keep_io_types!r}")
    if training and (precision != "float32" or quantize or optimize or calibration_data is not None):
        raise ValueError("export(training=True) writes the float32 train step; precision=, quantize=, "
                         "calibration_data= and optimize= apply to inference exports only")
    if quantize and precision != "float32":
        raise ValueError("export(quantize='int8') quantizes the float32 graph: leave precision='float32'")
    if calibration_data is not None and quantize != "int8":
        raise ValueError("export(calibration_data=...) calibrates int8 quantization: pass quantize='int8' too")
    if not keep_io_types and precision != "float16":
        raise ValueError("export(keep_io_types=False) makes float16 inputs and outputs: it needs precision='float16'")


def _calibration_feeds(calibration_data, proto) -> dict:
    """The calibration arrays by input name, in the dtypes the file takes."""
    import numpy as np
    from onnx import helper

    inputs = [(i.name, helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)) for i in proto.graph.input]
    names = [n for n, _ in inputs]
    if isinstance(calibration_data, dict):
        if sorted(calibration_data) != sorted(names):
            raise ValueError(f"calibration_data keys {sorted(calibration_data)} do not match the model's inputs "
                             f"{names}")
        arrays = [calibration_data[n] for n in names]
    elif isinstance(calibration_data, (list, tuple)):
        arrays = list(calibration_data)
    else:
        arrays = [calibration_data]
    if len(arrays) != len(inputs):
        raise ValueError(f"calibration_data has {len(arrays)} arrays; the model has {len(inputs)} inputs {names}")
    feeds = {}
    for (name, dtype), array in zip(inputs, arrays):
        array = np.asarray(array)
        if array.ndim == 0 or len(array) == 0:
            raise ValueError(f"calibration_data for input '{name}' must be a non-empty batch, got shape {array.shape}")
        if np.dtype(dtype).kind == "i" and array.dtype.kind not in "iub":
            whole = array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array))
            if not whole:  # a cast would truncate silently
                raise ValueError(f"calibration_data for input '{name}' must hold integer ids (the input is "
                                 f"{np.dtype(dtype).name}), got {array.dtype} values that are not whole numbers")
        feeds[name] = array.astype(dtype)
    if len({len(a) for a in feeds.values()}) > 1:
        raise ValueError(f"calibration_data arrays have different lengths: "
                         f"{ {n: len(a) for n, a in feeds.items()} }")
    return feeds


def _inference_proto(model, precision: str, keep_io_types: bool):
    """The deployable inference file: the inference pipeline, then the export passes."""
    from fgc.compiler import inference_graph
    from fgc.export.onnx import to_onnx
    from fgc.passes import PassManager, export_pipeline

    graph = inference_graph(model)
    declared = {n: graph.type_of(v).dtype for n, v in zip(graph.input_names, graph.inputs)}
    declared.update({n: graph.type_of(v).dtype for n, v in zip(graph.output_names, graph.outputs)})
    PassManager(export_pipeline(precision, keep_io_types)).run(graph)
    proto = to_onnx(graph, params_as_inputs=False, doc=f"fgc inference graph of model '{model.name}'")
    return proto, declared


def export_model(model, filepath, training: bool = False, precision: str = "float32", quantize=None,
                 calibration_data=None, optimize: bool = False, keep_io_types: bool = True):
    """Compile ``model`` to ONNX and write it to ``filepath``; returns the ModelProto written.

    The options (see ``Model.export``) are checked first; the file is written once, at the end,
    atomically: a failure leaves any previous file as it was."""
    import onnx

    check_export_options(training, precision, quantize, calibration_data, optimize, keep_io_types)
    if training:
        from fgc.training.export import train_step_proto

        proto = train_step_proto(model)
        onnx.checker.check_model(proto)
        atomic_write_bytes(filepath, proto.SerializeToString())
        return proto

    from fgc.export.metadata import deployment_metadata, set_metadata

    proto, declared = _inference_proto(model, precision, keep_io_types)
    onnx.checker.check_model(proto)
    variant = {"precision": precision, "quantize": "none"}
    if quantize == "int8":
        from fgc.export.quantize import quantize_int8

        feeds = None if calibration_data is None else _calibration_feeds(calibration_data, proto)
        proto = quantize_int8(proto, feeds)
        variant["quantize"] = "int8" if feeds is None else "int8-static"
    if optimize:
        from fgc.export.optimize import ort_optimized

        proto, variant["optimized_for"] = ort_optimized(proto)
    set_metadata(proto, deployment_metadata(model, proto, declared, variant))
    atomic_write_bytes(filepath, proto.SerializeToString())
    return proto
