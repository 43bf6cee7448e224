"""A file Keras 3 itself wrote (tests/fixtures/keras_small.keras, made by make_keras_fixture.py): its
weights and optimizer state load into the same architecture built with fgc, which then predicts
Keras' numbers and takes the next training step as Keras did."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import fgc
from fgc import layers as L

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_architecture(api=fgc):
    """The architecture of make_keras_fixture.py, in fgc (same layer classes, order and names)."""
    vec = api.Input((6,), name="vec")
    ids = api.Input((7,), dtype="int32", name="ids")
    image = api.Input((8, 8, 3), name="image")
    shared = L.Dense(5, activation="tanh", name="shared")
    both = L.add([shared(vec), shared(L.Dense(6, name="pre")(vec))], name="both")
    seq = L.LSTM(4, name="lstm")(L.Embedding(20, 3, mask_zero=True, name="embedding")(ids))
    conv = L.BatchNormalization(name="bn")(L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(image))
    pooled = L.GlobalAveragePooling2D(name="gap")(conv)
    merged = L.concatenate([both, seq, pooled], name="merged")
    return api.Model([vec, ids, image], [L.Dense(1, name="score")(merged),
                                         L.Dense(3, activation="softmax", name="label")(merged)], name="fixture")


def _io():
    with np.load(FIXTURES / "keras_small_io.npz") as f:
        return {k: f[k] for k in f.files}


def test_weights_of_a_keras_file_predict_keras_numbers():
    model = fixture_architecture()
    model.load_weights(FIXTURES / "keras_small.keras")
    io = _io()
    score, label = model.predict([io["vec"], io["ids"], io["image"]], verbose=0)
    np.testing.assert_allclose(score, io["score"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(label, io["label"], rtol=1e-5, atol=1e-5)


def test_optimizer_state_of_a_keras_file_continues_training():
    model = fixture_architecture()
    model.compile(optimizer=fgc.optimizers.Adam(0.01), loss=["mse", "categorical_crossentropy"])
    model.load_weights(FIXTURES / "keras_small.keras")
    assert model.optimizer.iterations == 2
    io = _io()
    loss = model.train_on_batch([io["vec"], io["ids"], io["image"]], [io["y_score"], io["y_label"]])
    np.testing.assert_allclose(loss if np.ndim(loss) == 0 else loss[0], io["next_loss"], rtol=1e-5)
