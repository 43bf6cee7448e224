"""precision="float16" on every layer the shared harness declares (``CASES`` in fgc/layers): the
file loads in onnxruntime, keeps float32 inputs and outputs, and stays within float16 rounding of
the float32 file (itself checked against numpy references by the layer tests)."""
import importlib
import pkgutil

import numpy as np
import onnxruntime as ort
import pytest

import fgc.layers
from fgc import Input, Model


def _cases():
    cases = []
    for info in sorted(pkgutil.iter_modules(fgc.layers.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"fgc.layers.{info.name}")
        for i, case in enumerate(getattr(module, "CASES", [])):
            cases.append(pytest.param(case, id=f"{info.name}-{i}-{case[0].__name__}"))
    return cases


def _spec(shape, default):
    if shape and isinstance(shape[-1], str) and shape[-1] != "N":
        return tuple(shape[:-1]), shape[-1]
    return tuple(shape), default


def _run(path, arrays):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {}
    for info, array in zip(sess.get_inputs(), arrays):
        types = {"tensor(int64)": np.int64, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32}
        feeds[info.name] = array.astype(types.get(info.type, np.float32))
    return sess, sess.run(None, feeds)


@pytest.mark.parametrize("case", _cases())
def test_float16_export_of_layer_case(case, tmp_path):
    cls, kwargs, input_specs, _, _ = case[:5]
    options = case[5] if len(case) > 5 else {}
    specs = [_spec(s, options.get("dtype", "float32")) for s in input_specs]
    inputs = [Input(shape=tuple(None if d == "N" else d for d in shape)[1:], dtype=dtype) for shape, dtype in specs]
    out = cls(**kwargs)(inputs if len(inputs) > 1 else inputs[0])
    model = Model(inputs, out)
    rng = np.random.default_rng(0)
    arrays = []
    for shape, dtype in specs:
        concrete = tuple(3 if d == "N" else (4 if d is None else d) for d in shape)
        arrays.append(rng.integers(0, 2, size=concrete) if np.dtype(dtype).kind in "iu" else
                      rng.normal(size=concrete))
    model.export(tmp_path / "f32.onnx")
    model.export(tmp_path / "f16.onnx", precision="float16")
    _, (want,) = _run(tmp_path / "f32.onnx", arrays)
    _, (got,) = _run(tmp_path / "f16.onnx", arrays)
    assert got.dtype == want.dtype                # float32 outputs stay float32
    # float16 has an 11-bit significand: a few roundings of ~5e-4 relative each
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2 * max(1.0, float(np.abs(want).max())))
