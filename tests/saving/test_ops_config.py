"""Functional models that call ``fgc.ops`` (and tensor operators) save as Keras operation nodes: the
config round-trips, and .keras files cross between Keras and fgc (those tests skip without Keras)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import fgc
import fgc.ops as fops
from fgc.ops.core import apply


def build(api, ops):
    """The same model in Keras or fgc: ops and operators around one Dense."""
    x = api.Input((4,), name="x")
    y = api.Input((4,), name="y")
    a = ops.add(x, y) * 2.0
    c = a[:, 1:3]
    d = ops.sum(c, axis=-1, keepdims=True)
    e = ops.concatenate([c, d], axis=1)
    f = ops.transpose(ops.reshape(e, (-1, 3, 1)), (0, 2, 1))
    g = ops.where(f > 0, ops.relu(-f), 1.5)
    h = api.layers.Dense(2, name="dense")(ops.reshape(g, (-1, 3)))
    out = ops.softmax(h + ops.std(x[..., :2], axis=1, keepdims=True), axis=-1)
    return api.Model([x, y], [out, x[:, 0] - ops.max(y, axis=1)])


def numpy_reference(x, y, kernel, bias):
    a = (x + y) * 2.0
    c = a[:, 1:3]
    e = np.concatenate([c, c.sum(-1, keepdims=True)], axis=1)
    g = np.where(e > 0, np.maximum(-e, 0.0), 1.5)
    h = g @ kernel + bias + x[:, :2].std(axis=1, keepdims=True)
    soft = np.exp(h - h.max(-1, keepdims=True))
    return soft / soft.sum(-1, keepdims=True), x[:, 0] - y.max(axis=1)


def _data(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 4)).astype("float32") for _ in range(2)]


def _check_against_numpy(model, xs):
    kernel, bias = model.get_layer("dense").get_weights()
    for got, want in zip(model.predict(xs, verbose=0), numpy_reference(*xs, kernel, bias)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_config_writes_keras_operation_nodes():
    config = build(fgc, fops).get_config()
    ops_written = {}
    for entry in config["layers"]:
        if entry["module"].startswith("keras.src.ops."):
            ops_written.setdefault(entry["class_name"], entry)   # the first call of each
    assert {"Add", "Multiply", "GetItem", "Sum", "Concatenate", "Reshape", "Transpose", "Greater", "Negative",
            "Relu", "Where", "Softmax", "Std", "Max", "Subtract"} <= set(ops_written)
    assert ops_written["Sum"]["module"] == "keras.src.ops.numpy"
    assert ops_written["Relu"]["module"] == "keras.src.ops.nn"
    assert ops_written["Sum"]["config"] == {"name": ops_written["Sum"]["name"], "axis": -1, "keepdims": True}
    getitem_args = ops_written["GetItem"]["inbound_nodes"][0]["args"]
    assert list(getitem_args[1]) == [{"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}},
                               {"class_name": "__slice__", "config": {"start": 1, "stop": 3, "step": None}}]
    assert ops_written["Multiply"]["inbound_nodes"][0]["args"][1] == 2.0
    json.dumps(config)   # JSON-ready


def test_save_and_load_keras_file_round_trips(tmp_path):
    model = build(fgc, fops)
    xs = _data()
    _check_against_numpy(model, xs)
    model.save(tmp_path / "ops.keras")
    loaded = fgc.models.load_model(tmp_path / "ops.keras")
    _check_against_numpy(loaded, xs)
    for got, want in zip(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_array_equal(got, want)


def test_from_config_rebuilds_ellipsis_einsum_split_and_pad():
    x = fgc.Input((3, 4))
    first, second = fops.split(x, 2, axis=-1)
    mixed = fops.einsum("bij,bkj->bik", first, second)
    padded = fops.pad(mixed, ((0, 0), (1, 0), (0, 1)), constant_values=0.5)
    model = fgc.Model(x, padded[..., 1:, None])
    rebuilt = fgc.Model.from_config(json.loads(json.dumps(model.get_config())))
    data = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
    want = np.pad(np.einsum("bij,bkj->bik", data[..., :2], data[..., 2:]), ((0, 0), (1, 0), (0, 1)),
                  constant_values=0.5)[..., 1:, None]
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_an_op_without_a_keras_operation_is_refused_by_name():
    x = fgc.Input((4,))
    odd = apply("my_helper", lambda b, v: b.Neg(v), x)
    model = fgc.Model(x, fops.relu(odd))
    with pytest.raises(TypeError, match="my_helper.*no Keras operation"):
        model.get_config()


# ------------------------------------------------------------------------------------------ with Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


def test_a_keras_file_with_ops_loads_in_fgc(tmp_path):
    keras = _keras()
    model = build(keras, keras.ops)
    xs = _data(seed=2)
    want = model.predict(xs, verbose=0)
    model.save(tmp_path / "k.keras")
    loaded = fgc.models.load_model(tmp_path / "k.keras")
    for got, expected in zip(loaded.predict(xs, verbose=0), want):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_an_fgc_file_with_ops_loads_in_keras(tmp_path):
    keras = _keras()
    model = build(fgc, fops)
    xs = _data(seed=3)
    model.save(tmp_path / "f.keras")
    loaded = keras.models.load_model(tmp_path / "f.keras")
    for got, expected in zip(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
