"""``model.weights`` / ``get_weights()`` in Keras 3's order, checked against Keras itself (skipped
without it): the same code builds each model with fgc and with keras, and the two lists of
(layer/weight, shape) must be equal, so ``fgc_model.set_weights(keras_model.get_weights())`` works."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fgc

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")


def qa(api):
    L = api.layers
    text = api.Input(shape=(None,), dtype="int32", name="text")
    t = L.LSTM(8, name="text_lstm")(L.Embedding(50, 6, name="text_embedding")(text))
    question = api.Input(shape=(None,), dtype="int32", name="question")
    q = L.LSTM(4, name="question_lstm")(L.Embedding(50, 5, name="question_embedding")(question))
    return api.Model([text, question], L.Dense(7, activation="softmax", name="answer")(L.concatenate([t, q], name="concat")))


def inception(api):
    L = api.layers
    x = api.Input(shape=(16, 16, 3), name="image")
    t1 = L.Conv2D(4, (1, 1), padding="same", activation="relu", name="t1a")(x)
    t1 = L.Conv2D(4, (3, 3), padding="same", activation="relu", name="t1b")(t1)
    t2 = L.Conv2D(4, (1, 1), padding="same", activation="relu", name="t2a")(x)
    t2 = L.Conv2D(4, (5, 5), padding="same", activation="relu", name="t2b")(t2)
    t3 = L.MaxPooling2D((3, 3), strides=(1, 1), padding="same", name="pool")(x)
    t3 = L.Conv2D(4, (1, 1), padding="same", activation="relu", name="t3")(t3)
    return api.Model(x, L.concatenate([t1, t2, t3], axis=-1, name="mixed"))


def late_input_and_shared(api):
    L = api.layers
    a, b = api.Input(shape=(6,), name="a"), api.Input(shape=(6,), name="b")
    shared = L.Dense(5, name="shared")
    deep = L.Dense(5, name="deep_2")(L.Dense(5, name="deep_1")(shared(a)))
    extra = api.Input(shape=(3,), name="extra")
    merged = L.concatenate([deep, shared(b), extra], name="merged")
    norm = L.BatchNormalization(name="bn")(merged)
    return api.Model([a, b, extra], [L.Dense(1, name="out_1")(norm), L.Dense(2, name="out_2")(deep)])


def nested(api):
    L = api.layers
    i = api.Input(shape=(4,), name="inner_in")
    inner = api.Model(i, L.Dense(3, name="inner_dense")(L.Dense(5, name="inner_first")(i)), name="inner")
    x, y = api.Input(shape=(4,), name="x"), api.Input(shape=(4,), name="y")
    both = L.add([inner(x), inner(y)], name="both")
    seq = api.Sequential([L.Dense(2, name="seq_dense")], name="seq")
    return api.Model([x, y], seq(L.Dense(3, name="top")(both)))


def recurrent_wrappers(api):
    L = api.layers
    x = api.Input(shape=(5, 3), name="seq")
    h = L.Bidirectional(L.GRU(4, return_sequences=True, name="gru"), name="bi")(x)
    h = L.TimeDistributed(L.Dense(2, name="td_dense"), name="td")(h)
    return api.Model(x, L.SimpleRNN(3, name="rnn")(h))


BUILDERS = [qa, inception, late_input_and_shared, nested, recurrent_wrappers]


def _entries(model):
    """(weight name, shape) in order; paths differ where Keras nests a cell (``lstm/lstm_cell/kernel``)."""
    return [(v.path.split("/")[-1], tuple(v.shape)) for v in model.weights]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_weight_order_equals_keras(build):
    k_model, f_model = build(keras), build(fgc)
    assert [l.name for l in f_model.layers] == [l.name for l in k_model.layers]
    assert _entries(f_model) == _entries(k_model)
    f_model.set_weights(k_model.get_weights())
    for got, want in zip(f_model.get_weights(), k_model.get_weights()):
        np.testing.assert_array_equal(got, want)


def _inputs(model, n=5, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = tuple(12 if d is None else d for d in t.shape[1:])
        out.append(rng.integers(0, 10, (n, *shape)).astype("int32") if "int" in str(t.dtype)
                   else rng.random((n, *shape)).astype("float32"))
    return out


@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_weights_h5_both_ways_with_keras(build, tmp_path):
    k_model, f_model = build(keras), build(fgc)
    x = _inputs(f_model)
    k_model.save_weights(tmp_path / "keras.weights.h5")
    f_model.load_weights(tmp_path / "keras.weights.h5")
    for got, want in zip(fgc.layers.base.flatten(f_model.predict(x, verbose=0)),
                         fgc.layers.base.flatten(k_model.predict(x, verbose=0))):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-5)
    fresh = build(fgc)   # fgc's own weights, written by fgc and read by Keras
    fresh.save_weights(tmp_path / "fgc.weights.h5")
    k_model.load_weights(tmp_path / "fgc.weights.h5")
    for got, want in zip(fgc.layers.base.flatten(k_model.predict(x, verbose=0)),
                         fgc.layers.base.flatten(fresh.predict(x, verbose=0))):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opt", ["adam", "rmsprop", "sgd_momentum", "nadam"])
def test_optimizer_state_moves_between_keras_and_fgc(opt, tmp_path):
    """Keras trains two steps and saves; fgc loads and takes the third step; both must agree with
    Keras' own third step, so the slots, iteration count and formulas all line up."""
    def make(api):
        return {"adam": lambda: api.optimizers.Adam(0.01), "rmsprop": lambda: api.optimizers.RMSprop(0.01),
                "sgd_momentum": lambda: api.optimizers.SGD(0.05, momentum=0.9),
                "nadam": lambda: api.optimizers.Nadam(0.01)}[opt]()

    k_model, f_model = late_input_and_shared(keras), late_input_and_shared(fgc)
    x = _inputs(f_model, n=8)
    rng = np.random.default_rng(3)
    y = [rng.random((8, 1)).astype("float32"), rng.random((8, 2)).astype("float32")]
    k_model.compile(optimizer=make(keras), loss=["mse", "mse"])
    f_model.compile(optimizer=make(fgc), loss=["mse", "mse"])
    k_model.train_on_batch(x, y)
    k_model.train_on_batch(x, y)
    k_model.save_weights(tmp_path / "two_steps.weights.h5")
    f_model.load_weights(tmp_path / "two_steps.weights.h5")
    assert f_model.optimizer.iterations == 2
    k_model.train_on_batch(x, y)
    f_model.train_on_batch(x, y)
    for got, want in zip(f_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-4, atol=1e-5)
    f_model.save_weights(tmp_path / "three_steps.weights.h5")   # and back: Keras continues from fgc's state
    k_model.load_weights(tmp_path / "three_steps.weights.h5")
    assert int(k_model.optimizer.iterations) == 3


@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_keras_files_both_ways(build, tmp_path):
    """model.save in one framework, load_model in the other: same architecture, same numbers."""
    k_model, f_model = build(keras), build(fgc)
    x = _inputs(f_model)
    k_model.save(tmp_path / "from_keras.keras")
    loaded = fgc.models.load_model(tmp_path / "from_keras.keras")
    for got, want in zip(fgc.layers.base.flatten(loaded.predict(x, verbose=0)),
                         fgc.layers.base.flatten(k_model.predict(x, verbose=0))):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-5)
    f_model.compile(optimizer=fgc.optimizers.Adam(0.01), loss="mse")
    f_model.save(tmp_path / "from_fgc.keras")
    in_keras = keras.models.load_model(tmp_path / "from_fgc.keras")
    for got, want in zip(fgc.layers.base.flatten(in_keras.predict(x, verbose=0)),
                         fgc.layers.base.flatten(f_model.predict(x, verbose=0))):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def _seed_example_builders():
    """The architectures of every seed program in examples/, small (tests/saving/test_serialization.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "saving" / "test_serialization.py"
    spec = importlib.util.spec_from_file_location("seed_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXAMPLES


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("index", range(12))
def test_every_seed_example_has_keras_weight_order(index, tmp_path):
    """Each example's architecture goes to Keras as a .keras file (to_json would not keep a layer shared between
    a direct call and a TimeDistributed, in Keras either); Keras' weights then load into fgc's model with
    set_weights (same order, same layouts) and both predict the same numbers."""
    build = _seed_example_builders()[index]
    f_model = build()
    f_model.save(tmp_path / "example.keras")
    k_model = keras.models.load_model(tmp_path / "example.keras")
    fresh = keras.models.model_from_json(f_model.to_json())   # fresh Keras weights, different from fgc's
    if [tuple(v.shape) for v in fresh.weights] == [tuple(v.shape) for v in k_model.weights]:
        k_model.set_weights(fresh.get_weights())
    assert _entries(f_model) == _entries(k_model)
    f_model.set_weights(k_model.get_weights())
    x = _inputs(f_model)
    for got, want in zip(fgc.layers.base.flatten(f_model.predict(x, verbose=0)),
                         fgc.layers.base.flatten(k_model.predict(x, verbose=0))):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-4, atol=1e-5)
