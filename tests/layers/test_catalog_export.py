"""Every catalogue layer's test case exports as plain ONNX: the checker (full check, strict shape
inference) accepts it and onnxruntime without fgc reproduces predict()."""
import importlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fgc
from fgc import layers

MODULES = ["activation_layers", "layer_norm", "attention", "dot", "conv_transpose", "upsampling", "depthwise",
           "group_norm", "noise", "preprocessing"]
CASES = [pytest.param(case, id=f"{m}-{i}-{case[0].__name__}")
         for m in MODULES for i, case in enumerate(importlib.import_module(f"fgc.layers.{m}").CASES)]


def _split(spec):
    if spec and isinstance(spec[-1], str) and spec[-1] != "N":
        return tuple(spec[:-1]), spec[-1]
    return tuple(spec), "float32"


def _export_and_compare(model, xs, tmp_path):
    path = tmp_path / "m.onnx"
    model.export(str(path))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x.astype(np.int64) if i.type == "tensor(int64)" else x for i, x in zip(sess.get_inputs(), xs)}
    got = sess.run(None, feeds)   # exported integer inputs take int64 (passes/int64_inputs.py)
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    return proto


@pytest.mark.parametrize("case", CASES)
def test_case_exports(case, tmp_path):
    cls, kwargs, specs = case[:3]
    specs = [_split(s) for s in specs]
    inputs = [fgc.Input(tuple(d for d in shape[1:]), dtype=dtype) for shape, dtype in specs]
    model = fgc.Model(inputs, cls(**kwargs)(inputs if len(inputs) > 1 else inputs[0]))
    rng = np.random.default_rng(0)
    xs = []
    for shape, dtype in specs:
        concrete = tuple(3 if d == "N" else (4 if d is None else d) for d in shape)
        xs.append(rng.integers(0, 255, concrete).astype(dtype) if np.dtype(dtype).kind in "iu"
                  else rng.standard_normal(concrete).astype(dtype))
    _export_and_compare(model, xs, tmp_path)


def test_multi_head_attention_with_every_mask_exports(tmp_path):
    ids = fgc.Input((None,), dtype="int32", name="ids")
    m = fgc.Input((None, None), dtype="bool", name="m")
    x = layers.Embedding(10, 6, mask_zero=True)(ids)
    out, scores = layers.MultiHeadAttention(2, 3, use_gate=True, sliding_window=3)(
        x, x, attention_mask=m, use_causal_mask=True, return_attention_scores=True)
    model = fgc.Model([ids, m], [out, scores])
    rng = np.random.default_rng(1)
    xs = [rng.integers(0, 10, (2, 5)).astype("int32"), rng.random((2, 5, 5)) > 0.2]
    proto = _export_and_compare(model, xs, tmp_path)
    assert "Trilu" in {n.op_type for n in proto.graph.node}
