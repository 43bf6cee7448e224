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
