"""One training step with regularizers, activity penalties and constraints: fgc against Keras 3
(same weights, same data): the reported loss, evaluate's loss and the updated weights."""
import os
import sys

import numpy as np
import pytest

import fgc

os.environ.setdefault("KERAS_BACKEND", "jax")  # for the Keras comparisons (skipped without Keras)
keras = pytest.importorskip("keras")


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    """Keras numbers automatic names per process: leave it as we found it for later tests that compare names."""
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].utils.clear_session()


def _build(lib, optimizer):
    regs, cons = lib.regularizers, lib.constraints
    x = lib.Input((4,))
    h = lib.layers.Dense(5, activation="tanh", kernel_regularizer=regs.L2(0.05), bias_regularizer=regs.L1(0.02),
                         kernel_constraint=cons.MaxNorm(0.6), activity_regularizer=regs.L1L2(0.01, 0.03))(x)
    h = lib.layers.ActivityRegularization(l1=0.02)(h)
    y = lib.layers.Dense(3, kernel_regularizer=regs.OrthogonalRegularizer(0.1),
                         bias_constraint=cons.NonNeg())(h)
    model = lib.Model(x, y)
    model.compile(optimizer=optimizer(lib), loss="mse")
    return model


@pytest.mark.parametrize("optimizer", [lambda lib: lib.optimizers.SGD(0.3),
                                       lambda lib: lib.optimizers.RMSprop(0.05)], ids=["sgd", "rmsprop"])
def test_one_step_matches_keras(rng, optimizer):
    ours, theirs = _build(fgc, optimizer), _build(keras, optimizer)
    weights = [rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    X = rng.normal(size=(6, 4)).astype(np.float32)
    Y = rng.normal(size=(6, 3)).astype(np.float32)
    np.testing.assert_allclose(ours.evaluate(X, Y, verbose=0), theirs.evaluate(X, Y, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(ours.train_on_batch(X, Y), theirs.train_on_batch(X, Y), rtol=1e-5)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sum(float(v) for v in ours.losses), sum(float(v) for v in theirs.losses), rtol=1e-5)


def test_keras_file_with_penalties_and_constraints_loads_and_trains_the_same(tmp_path, rng):
    theirs = _build(keras, lambda lib: lib.optimizers.SGD(0.3))
    # non-zero biases: at exactly 0 the L1 gradient is backend-defined (JAX takes +1, fgc, TF and torch 0)
    theirs.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in theirs.get_weights()])
    path = tmp_path / "regularized.keras"
    theirs.save(path)
    ours = fgc.models.load_model(path)
    ours.compile(optimizer=fgc.optimizers.SGD(0.3), loss="mse")
    X = rng.normal(size=(5, 4)).astype(np.float32)
    Y = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours.train_on_batch(X, Y), theirs.train_on_batch(X, Y), rtol=1e-5)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
