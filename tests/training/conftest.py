"""Helpers for the training tests (fixtures, because test modules import nothing from each other).

Models are tiny and built with the public API; numpy references live in the test files.
"""
import numpy as np
import pytest

import fgc
from fgc import layers


@pytest.fixture
def activation_model():
    """``activation_model(dim, 'softmax')``: Input -> Activation, so y_pred is a known function of x."""
    def build(dim, activation="linear"):
        x = fgc.Input((dim,), name="x")
        return fgc.Model(x, layers.Activation(activation, name="out")(x))
    return build


@pytest.fixture
def dense_model():
    """``dense_model(in_dim, units, activation=None, weights=None)``: Input -> Dense, optional fixed weights."""
    def build(in_dim, units, activation=None, weights=None, use_bias=True):
        x = fgc.Input((in_dim,), name="x")
        model = fgc.Model(x, layers.Dense(units, activation=activation, use_bias=use_bias, name="dense")(x))
        if weights is not None:
            model.set_weights([np.asarray(w, np.float32) for w in weights])
        return model
    return build


@pytest.fixture
def blobs():
    """``blobs(n, classes=3, dim=2, seed=0)``: a linearly separable problem -> (x, class ids)."""
    def make(n, classes=3, dim=2, seed=0, spread=0.3):
        rng = np.random.default_rng(seed)
        angles = 2 * np.pi * np.arange(classes) / classes
        centers = np.zeros((classes, dim))
        centers[:, 0], centers[:, 1] = 2 * np.cos(angles), 2 * np.sin(angles)
        ids = rng.integers(0, classes, size=n)
        x = centers[ids] + spread * rng.standard_normal((n, dim))
        return x.astype(np.float32), ids
    return make
