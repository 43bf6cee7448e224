"""onnxruntime sessions: device choice, providers, and the check that CUDA really loaded.

``device="auto"`` uses CUDA when its provider really loads (checked on the created session,
not just ``get_available_providers()``), else CPU. ``device="cuda"`` that cannot load raises
with the reason and the install hint: never a silent fallback.
"""
from __future__ import annotations

import os

import onnxruntime as ort

from fgc.runtime.threads import thread_cap

_device = os.environ.get("FGC_DEVICE", "auto")
CUDA_HINT = ("install onnxruntime-gpu with matching CUDA 12/13 and cuDNN 9 libraries (for example "
             "`pip install onnxruntime-gpu nvidia-cudnn-cu12 nvidia-cublas-cu12`) on a machine with an NVIDIA GPU, "
             "or use fgc.set_device('cpu')")


class DeviceError(RuntimeError):
    pass


def set_device(device: str) -> None:
    """Choose where models run: 'auto' (CUDA when it loads, else CPU), 'cpu' or 'cuda'."""
    global _device
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        _probe_cuda(strict=True)
    _device = device


def get_device() -> str:
    """The device models run on now: 'cuda' or 'cpu' (resolving 'auto')."""
    if _device == "auto":
        return "cuda" if _probe_cuda(strict=False) else "cpu"
    return _device


_cuda_ok: bool | None = None
_cuda_error = ""


def _probe_cuda(strict: bool) -> bool:
    """Create a one-node session on CUDA and check the provider really stayed."""
    global _cuda_ok, _cuda_error
    if _cuda_ok is None:
        if not _has_nvidia_driver():
            _cuda_ok, _cuda_error = False, "no NVIDIA driver (libcuda) was found on this machine"
        elif "CUDAExecutionProvider" not in ort.get_available_providers():
            _cuda_ok, _cuda_error = False, f"this onnxruntime build ({ort.__version__}) has no CUDA provider"
        else:
            from onnx import TensorProto, helper

            node = helper.make_node("Identity", ["x"], ["y"])
            g = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
            m.ir_version = 8
            try:
                if hasattr(ort, "preload_dlls"):
                    try:
                        ort.preload_dlls()
                    except Exception:  # noqa: BLE001 - missing optional DLL packages are reported below
                        pass
                opts = ort.SessionOptions()
                opts.log_severity_level = 3
                s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CUDAExecutionProvider"])
                _cuda_ok = "CUDAExecutionProvider" in s.get_providers()
                _cuda_error = "" if _cuda_ok else "the CUDA provider failed to load (CUDA or cuDNN libraries missing)"
            except Exception as e:  # noqa: BLE001 - the message is what the user needs
                _cuda_ok, _cuda_error = False, f"the CUDA provider failed to load: {e}"
    if strict and not _cuda_ok:
        raise DeviceError(f"device 'cuda' requested but {_cuda_error}; {CUDA_HINT}")
    return bool(_cuda_ok)


def _has_nvidia_driver() -> bool:
    """Without the driver library there is no GPU to probe (and probing would only log errors)."""
    import ctypes
    import sys

    for lib in (["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]):
        try:
            ctypes.CDLL(lib)
            return True
        except OSError:
            continue
    return False


def providers_for(device: str) -> list[str]:
    if device == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def make_session(model_bytes: bytes, device: str | None = None, mem_pattern: bool = True,
                 threads: int | None = None) -> ort.InferenceSession:
    """``mem_pattern=False`` for steps with large activations: onnxruntime's memory pattern allocates one block
    planned from the first run on top of the arena chunks that run left cached, so the peak holds the
    activations about twice (fit's peak RSS without it: resnet_block batch 256 2399 -> 1507 MB, three_heads
    959 -> 682, inception 503 -> 345, at the same step time); for small steps the pattern's fewer allocations
    are worth a few percent (seed MLP step 6 % faster with it).

    ``threads``: the intra-op threads the caller wants (fgc/runtime/threads.py), at most FGC_NUM_THREADS;
    None leaves FGC_NUM_THREADS, or else onnxruntime, to decide."""
    device = device or get_device()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.enable_mem_pattern = mem_pattern
    cap = thread_cap()
    if threads is None or (cap is not None and cap < threads):
        threads = cap
    if threads:
        opts.intra_op_num_threads = threads
    disabled = _FLOAT16_UNSAFE_OPTIMIZERS if _computes_in_float16(model_bytes) else []
    sess = ort.InferenceSession(model_bytes, opts, providers=providers_for(device), disabled_optimizers=disabled)
    if device == "cuda" and "CUDAExecutionProvider" not in sess.get_providers():
        raise DeviceError(f"device 'cuda' requested but the session fell back to {sess.get_providers()}; {CUDA_HINT}")
    return sess


# onnxruntime 1.31's MatmulTransposeFusion crashes (segfault while the session is made) on a float16
# Squeeze -> Transpose -> MatMul, which a mixed-precision recurrent layer feeding a Dense makes.
_FLOAT16_UNSAFE_OPTIMIZERS = ["MatmulTransposeFusion"]


def _computes_in_float16(model_bytes: bytes) -> bool:
    """Whether the model has float16 inputs or casts to float16 (mixed precision)."""
    import onnx

    model = onnx.ModelProto.FromString(model_bytes)
    if any(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16 for v in model.graph.input):
        return True
    return any(n.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16 for a in n.attribute)
               for n in model.graph.node)


def direct_run(session: ort.InferenceSession):
    """``session.run(outputs, feeds)`` without the Python wrapper's per-call checks (that every input is
    fed, OrtValue ownership, WebGPU graph capture): ~10 us per call, which a loop feeding every input of a
    CPU session each step pays for nothing. Falls back to ``session.run`` where the wrapper's inner
    session is not there or takes other arguments (another onnxruntime version)."""
    inner = getattr(session, "_sess", None)
    if inner is None or not callable(getattr(inner, "run", None)):
        return session.run

    def run(outputs, feeds):
        try:
            return inner.run(outputs, feeds, None)
        except TypeError:   # not the binding this was written against: the public run says what is wrong
            return session.run(outputs, feeds)
    return run


def raise_failed_checks(names, values, messages: dict) -> None:
    """Raise the message of the first ``check/`` output (see Graph.checks) whose count of bad values is not 0."""
    for name, value in zip(names, values):
        if name in messages and value:
            raise ValueError(messages[name].format(count=int(value)))
