"""The shared layer harness: every module in fgc.layers may declare
``CASES = [(cls, kwargs, input_shapes, output_shape, param_count), ...]`` with "N" for the batch
dim, None for other unknown dims, and optionally a dtype: for every input as a sixth entry
``{"dtype": "int32"}``, or for one input as its shape's last entry ``("N", 3, "int32")``.
Each case is built with the public API and run."""
import importlib
import pkgutil

import numpy as np
import pytest

import fgc.layers
from fgc import Input, Model


def _collect():
    cases = []
    for info in sorted(pkgutil.iter_modules(fgc.layers.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"fgc.layers.{info.name}")
        for i, case in enumerate(getattr(module, "CASES", [])):
            cases.append(pytest.param(case, id=f"{info.name}-{i}-{case[0].__name__}"))
    return cases


CASES = _collect()


def _split_dtype(spec, default):
    """("N", 3, "int32") -> (("N", 3), "int32"); a spec without a dtype gets ``default``."""
    if spec and isinstance(spec[-1], str) and spec[-1] != "N":
        return tuple(spec[:-1]), spec[-1]
    return tuple(spec), default


def _keras_shape(shape):
    return tuple(None if d == "N" else d for d in shape)


def _data(shape, batch, dtype, rng):
    concrete = tuple(batch if d == "N" else (4 if d is None else d) for d in shape)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, 2, size=concrete).astype(dtype)   # small ids fit any vocabulary
    return rng.normal(size=concrete).astype(dtype)


def test_every_layer_module_with_cases_is_collected():
    modules = {p.id.split("-")[0] for p in CASES}
    assert {"core", "merge"} <= modules
    classes = {p.values[0][0].__name__ for p in CASES}
    assert {"Dense", "Activation", "Dropout", "Flatten", "Reshape", "Add", "Subtract", "Multiply", "Average",
            "Maximum", "Minimum", "Concatenate"} <= classes


@pytest.mark.parametrize("case", CASES)
def test_layer_case(case):
    cls, kwargs, input_specs, output_shape, param_count = case[:5]
    options = case[5] if len(case) > 5 else {}
    specs = [_split_dtype(s, options.get("dtype", "float32")) for s in input_specs]
    inputs = [Input(shape=_keras_shape(shape)[1:], dtype=dtype) for shape, dtype in specs]
    layer = cls(**kwargs)
    out = layer(inputs if len(inputs) > 1 else inputs[0])
    assert out.shape == _keras_shape(output_shape)
    assert layer.count_params() == param_count
    assert sum(w.size for w in layer.get_weights()) == param_count

    model = Model(inputs, out)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        xs = [_data(shape, batch, dtype, rng) for shape, dtype in specs]
        got = model.predict(xs if len(xs) > 1 else xs[0])
        want = tuple(batch if d == "N" else d for d in output_shape)
        assert got.shape[0] == batch
        assert all(w is None or g == w for g, w in zip(got.shape, want)) and got.ndim == len(want)
        assert np.all(np.isfinite(got))
