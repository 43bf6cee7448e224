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


def build_more(api, ops):
    x = api.Input((3, 4))
    first, second = ops.split(x, 2, axis=-1)
    mixed = ops.einsum("bij,bkj->bik", first, second)
    padded = ops.pad(mixed, ((0, 0), (1, 0), (0, 1)), constant_values=0.5)
    return api.Model(x, padded[..., 1:, None])


def _more_data():
    return np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")


def _more_reference(data):
    return np.pad(np.einsum("bij,bkj->bik", data[..., :2], data[..., 2:]), ((0, 0), (1, 0), (0, 1)),
                  constant_values=0.5)[..., 1:, None]


def test_from_config_rebuilds_ellipsis_einsum_split_and_pad():
    model = build_more(fgc, fops)
    rebuilt = fgc.Model.from_config(json.loads(json.dumps(model.get_config())))
    np.testing.assert_allclose(rebuilt.predict(_more_data(), verbose=0), _more_reference(_more_data()),
                               rtol=1e-5, atol=1e-6)


def test_ellipsis_einsum_split_and_pad_cross_with_keras(tmp_path):
    keras = _keras()
    build_more(keras, keras.ops).save(tmp_path / "k.keras")
    np.testing.assert_allclose(fgc.models.load_model(tmp_path / "k.keras").predict(_more_data(), verbose=0),
                               _more_reference(_more_data()), rtol=1e-5, atol=1e-6)
    build_more(fgc, fops).save(tmp_path / "f.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "f.keras").predict(_more_data(), verbose=0),
                               _more_reference(_more_data()), rtol=1e-5, atol=1e-6)


def test_an_op_without_a_keras_operation_is_refused_by_name():
    x = fgc.Input((4,))
    odd = apply("my_helper", lambda b, v: b.Neg(v), x)
    model = fgc.Model(x, fops.relu(odd))
    with pytest.raises(TypeError, match="my_helper.*no Keras operation"):
        model.get_config()
    with pytest.raises(TypeError, match="model's outputs.*my_helper.*no Keras operation"):
        fgc.Model(x, odd).get_config()


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


# Every fgc op on a symbolic tensor (``o`` is fgc.ops or keras.ops), in a model rebuilt from its JSON config:
# same predictions, checked against numpy (the op's own definition there).
_X = np.random.default_rng(5).uniform(0.5, 2.0, size=(3, 4)).astype("float32")
EVERY_OP = {
    "add": (lambda o, x: o.add(x, 1.0), lambda x: x + 1.0),
    "subtract": (lambda o, x: o.subtract(2.0, x), lambda x: 2.0 - x),
    "true_divide": (lambda o, x: o.true_divide(x, 3.0), lambda x: x / 3.0),
    "floor_divide": (lambda o, x: o.floor_divide(x, 0.3), lambda x: np.floor_divide(x, np.float32(0.3))),
    "mod": (lambda o, x: o.mod(x, 0.7), lambda x: np.mod(x, np.float32(0.7))),
    "power": (lambda o, x: o.power(x, 2), lambda x: x ** 2),
    "minimum": (lambda o, x: o.minimum(x, 1.0), lambda x: np.minimum(x, 1.0)),
    "less_equal": (lambda o, x: o.cast(o.less_equal(x, 1.0), "float32"), lambda x: (x <= 1.0) * 1.0),
    "logical_or": (lambda o, x: o.cast(o.logical_or(x > 1.5, x < 0.7), "int32"),
                   lambda x: ((x > 1.5) | (x < 0.7)) * 1),
    "logical_not": (lambda o, x: o.cast(o.logical_not(x > 1.0), "float32"), lambda x: (x <= 1.0) * 1.0),
    "abs": (lambda o, x: o.abs(-x), np.abs),
    "square_sqrt": (lambda o, x: o.sqrt(o.square(x)), lambda x: x),
    "sign_round": (lambda o, x: o.sign(x - 1) + o.round(x) + o.floor(x) + o.ceil(x),
                   lambda x: np.sign(x - 1) + np.round(x) + np.floor(x) + np.ceil(x)),
    "exp_log": (lambda o, x: o.exp(x) + o.log(x) + o.log1p(x) + o.expm1(x),
                lambda x: np.exp(x) + np.log(x) + np.log1p(x) + np.expm1(x)),
    "rsqrt_reciprocal": (lambda o, x: o.rsqrt(x) + o.reciprocal(x), lambda x: 1 / np.sqrt(x) + 1 / x),
    "clip": (lambda o, x: o.clip(x, 0.8, 1.5), lambda x: np.clip(x, 0.8, 1.5)),
    "stop_gradient": (lambda o, x: o.stop_gradient(x), lambda x: x),
    "mean_var": (lambda o, x: o.mean(x, axis=1) + o.var(x, axis=-1), lambda x: x.mean(1) + x.var(-1)),
    "min_amax": (lambda o, x: o.min(x, axis=1) + o.amax(x, axis=1), lambda x: x.min(1) + x.max(1)),
    "any_all": (lambda o, x: o.cast(o.any(x > 1.5, axis=1), "float32") + o.cast(o.all(x > 0.6, axis=1),
                                                                                      "float32"),
                lambda x: (x > 1.5).any(1) * 1.0 + (x > 0.6).all(1) * 1.0),
    "argmax_argmin": (lambda o, x: o.argmax(x, axis=1) + o.argmin(x, axis=1),
                      lambda x: x.argmax(1) + x.argmin(1)),
    "logsumexp": (lambda o, x: o.logsumexp(x, axis=1), lambda x: np.log(np.exp(x).sum(1))),
    "norm": (lambda o, x: o.norm(x, axis=1), lambda x: np.linalg.norm(x, axis=1)),
    "cumsum": (lambda o, x: o.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1)),
    "matmul_dot": (lambda o, x: o.matmul(x, np.ones((4, 2), "float32")) + o.dot(x, np.ones((4, 2), "float32")),
                   lambda x: 2 * x @ np.ones((4, 2))),
    "zeros_ones_like": (lambda o, x: o.zeros_like(x) + o.ones_like(x), lambda x: np.ones_like(x)),
    "moveaxis_flip": (lambda o, x: o.flip(o.moveaxis(o.expand_dims(x, 1), 1, 2), axis=1),
                      lambda x: np.flip(np.moveaxis(x[:, None], 1, 2), 1)),
    "squeeze_stack": (lambda o, x: o.squeeze(o.stack([x, x], axis=1)[:, :1], axis=1), lambda x: x),
    "repeat_tile": (lambda o, x: o.repeat(x, 2, axis=1) + o.tile(x, (1, 2)),
                    lambda x: np.repeat(x, 2, axis=1) + np.tile(x, (1, 2))),
    "take": (lambda o, x: o.take(x, [3, 0], axis=1)
             + o.take_along_axis(x, o.argmax(x, axis=1, keepdims=True), axis=1),
             lambda x: x[:, [3, 0]] + x.max(1, keepdims=True)),
    "activations": (lambda o, x: o.relu6(x) + o.sigmoid(x) + o.tanh(x) + o.softplus(x) + o.softsign(x)
                    + o.swish(x) + o.log_sigmoid(x),
                    lambda x: np.minimum(np.maximum(x, 0), 6) + 1 / (1 + np.exp(-x)) + np.tanh(x)
                    + np.log1p(np.exp(x)) + x / (1 + np.abs(x)) + x / (1 + np.exp(-x)) - np.log1p(np.exp(-x))),
    "hard_and_elu": (lambda o, x: o.hard_sigmoid(x - 2) + o.hard_swish(x) + o.elu(x - 1, alpha=0.5)
                     + o.leaky_relu(x - 1, negative_slope=0.1),
                     lambda x: np.clip((x - 2) / 6 + 0.5, 0, 1) + x * np.clip(x / 6 + 0.5, 0, 1)
                     + np.where(x > 1, x - 1, 0.5 * np.expm1(x - 1)) + np.where(x > 1, x - 1, 0.1 * (x - 1))),
    "log_softmax_one_hot": (lambda o, x: o.log_softmax(x, axis=-1) + o.one_hot(o.argmax(x, axis=1), 4),
                            lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)) + np.eye(4)[x.argmax(1)]),
    "top_k": (lambda o, x: o.top_k(x, 2)[0], lambda x: -np.sort(-x, axis=1)[:, :2]),
    "convert_to_tensor": (lambda o, x: o.convert_to_tensor(x, "float16"), lambda x: x.astype("float16")),
}


@pytest.mark.parametrize("name", sorted(EVERY_OP))
def test_every_op_rebuilds_from_its_config(name):
    op, reference = EVERY_OP[name]
    inputs = fgc.Input((4,))
    model = fgc.Model(inputs, op(fops, inputs))
    rebuilt = fgc.Model.from_config(json.loads(json.dumps(model.get_config())))
    np.testing.assert_allclose(rebuilt.predict(_X, verbose=0), reference(_X), rtol=2e-3, atol=2e-3)


def test_every_op_loads_in_keras(tmp_path):
    keras = _keras()
    inputs = fgc.Input((4,), name="x")
    # Keras 3.15 cannot run its own saved Norm (it stores axis as a list, which JAX refuses as a static argument)
    names = [name for name in sorted(EVERY_OP) if name != "norm"]
    model = fgc.Model(inputs, [EVERY_OP[name][0](fops, inputs) for name in names])
    model.save(tmp_path / "every.keras")
    loaded = keras.models.load_model(tmp_path / "every.keras")
    for name, got, want in zip(names, loaded.predict(_X, verbose=0), model.predict(_X, verbose=0)):
        np.testing.assert_allclose(np.asarray(got, "float64"), np.asarray(want, "float64"), rtol=2e-3, atol=2e-3,
                                   err_msg=name)


def test_every_op_keras_writes_loads_in_fgc(tmp_path):
    keras = _keras()
    inputs = keras.Input((4,), name="x")
    names = [name for name in sorted(EVERY_OP) if name != "norm"]   # see test_every_op_loads_in_keras
    model = keras.Model(inputs, [EVERY_OP[name][0](keras.ops, inputs) for name in names])
    model.save(tmp_path / "every.keras")
    loaded = fgc.models.load_model(tmp_path / "every.keras")
    for name, got, want in zip(names, loaded.predict(_X, verbose=0), model.predict(_X, verbose=0)):
        np.testing.assert_allclose(np.asarray(got, "float64"), np.asarray(want, "float64"), rtol=2e-3, atol=2e-3,
                                   err_msg=name)
