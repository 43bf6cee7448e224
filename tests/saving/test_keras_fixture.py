"""A file Keras 3 itself wrote (tests/fixtures/keras_small.keras, made by make_keras_fixture.py): its
weights and optimizer state load into the same architecture built with fgc, which then predicts
Keras' numbers and takes the next training step as Keras did."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import fgc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_architecture():
    """The architecture make_keras_fixture.py gave Keras, built with fgc from the same code."""
    spec = importlib.util.spec_from_file_location("make_keras_fixture", FIXTURES / "make_keras_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.architecture(fgc)


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
