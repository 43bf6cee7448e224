"""Every optimizer against Keras 3 itself (skipped without it): the same Dense(4, 3) + MSE trained
for four train_on_batch steps in Keras and in fgc ends with the same weights, and fgc's
``.weights.h5`` (weights and optimizer state) loads into the Keras model with Keras' own optimizer
variables, value for value, in Keras' order."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fgc

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

rng = np.random.default_rng(3)
W0 = rng.standard_normal((4, 3)).astype(np.float32)
B0 = np.array([0.3, -0.2, 0.1], np.float32)
BATCHES = [(rng.standard_normal((6, 4)).astype(np.float32) * s, rng.standard_normal((6, 3)).astype(np.float32))
           for s in (2.0, 0.5, 1.0, 0.3)]

CONFIGS = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"learning_rate": 0.05, "momentum": 0.5, "centered": True}),
    ("Adam", {"learning_rate": 0.1, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.1, "weight_decay": 0.1}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adamax", {"learning_rate": 0.1}),
    ("Nadam", {"learning_rate": 0.1}),
    ("Lion", {"learning_rate": 0.05, "weight_decay": 0.2}),
    ("Ftrl", {"learning_rate": 0.2, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.1,
              "l2_shrinkage_regularization_strength": 0.05, "beta": 0.2}),
    ("Lamb", {"learning_rate": 0.05}),
    ("Adafactor", {"learning_rate": 0.5}),
    ("Adam", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 3}),
    ("Adam", {"learning_rate": 0.1, "gradient_accumulation_steps": 2, "use_ema": True}),
    ("Nadam", {"learning_rate": 0.1, "gradient_accumulation_steps": 2}),
    ("SGD", {"learning_rate": 0.1, "loss_scale_factor": 64.0, "global_clipnorm": 0.5}),
    ("Adamax", {"learning_rate": 0.1, "clipvalue": 0.05}),
    ("Lamb", {"learning_rate": 0.1, "clipnorm": 0.2}),
]
IDS = [f"{name}-{'-'.join(k for k in kw if k != 'learning_rate')}" for name, kw in CONFIGS]


def _keras_model(name, kwargs):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    model.set_weights([W0, B0])
    model.compile(getattr(keras.optimizers, name)(**kwargs), "mse")
    return model


def _fgc_model(name, kwargs):
    model = fgc.Sequential([fgc.Input((4,)), fgc.layers.Dense(3, name="dense")])
    model.set_weights([W0, B0])
    model.compile(getattr(fgc.optimizers, name)(**kwargs), "mse")
    return model


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_same_weights_and_optimizer_state_as_keras(tmp_path, name, kwargs):
    ours, theirs = _fgc_model(name, kwargs), _keras_model(name, kwargs)
    for x, y in BATCHES:
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "m.weights.h5")
    ours.save_weights(path)
    loaded = _keras_model(name, kwargs)
    loaded.optimizer.build(loaded.trainable_variables)
    loaded.load_weights(path)
    expected = theirs.optimizer.variables
    assert [tuple(v.shape) for v in loaded.optimizer.variables] == [tuple(v.shape) for v in expected]
    for got, want in zip(loaded.optimizer.variables, expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6, err_msg=want.path)


def test_exclude_from_weight_decay_as_keras():
    ours, theirs = _fgc_model("AdamW", {"learning_rate": 0.1, "weight_decay": 0.3}), \
        _keras_model("AdamW", {"learning_rate": 0.1, "weight_decay": 0.3})
    ours.optimizer.exclude_from_weight_decay(var_names=["bias"])
    theirs.optimizer.exclude_from_weight_decay(var_names=["bias"])
    for x, y in BATCHES:
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_iterations_count_updates_with_gradient_accumulation():
    ours, theirs = _fgc_model("SGD", {"gradient_accumulation_steps": 3}), \
        _keras_model("SGD", {"gradient_accumulation_steps": 3})
    for x, y in BATCHES:
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations) == 1


@pytest.mark.parametrize("name", ["Adafactor", "Lamb"])
def test_conv_kernels_keep_keras_layout_for_whole_weight_updates(name):
    """A Conv1D kernel (k, C, O) is read transposed; Adafactor's row/column factors and Lamb's norms
    must still see Keras' layout."""
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    y = rng.standard_normal((4, 4, 2)).astype(np.float32)

    def build(api):
        model = api.Sequential([api.Input((6, 3)), api.layers.Conv1D(2, 3, name="conv")])
        return model

    ours, theirs = build(fgc), build(keras)
    ours.set_weights(theirs.get_weights())
    ours.compile(getattr(fgc.optimizers, name)(0.1), "mse")
    theirs.compile(getattr(keras.optimizers, name)(0.1), "mse")
    for _ in range(3):
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs", [("Adafactor", {"learning_rate": 0.5, "use_ema": True}),
                                          ("Ftrl", {"learning_rate": 0.2, "gradient_accumulation_steps": 3}),
                                          ("Nadam", {"learning_rate": 0.1})], ids=["adafactor_ema", "ftrl", "nadam"])
def test_training_continues_from_a_keras_weights_file(tmp_path, name, kwargs):
    theirs = _keras_model(name, kwargs)
    for x, y in BATCHES[:2]:
        theirs.train_on_batch(x, y)
    path = str(tmp_path / "k.weights.h5")
    theirs.save_weights(path)
    ours = _fgc_model(name, kwargs)
    ours.load_weights(path)
    for x, y in BATCHES[2:]:
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
