"""Keras masks an output's loss with the mask the output carries (Embedding(mask_zero=True), Masking):
masked steps weigh nothing and the mean runs over the steps that count (keras/src/losses/loss.py
apply_mask). References are numpy, from the model's own predictions."""
import os

import numpy as np
import pytest

import fgc

IDS = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [4, 4, 4, 1]])
KEEP = (IDS != 0).astype(np.float64)


def tagger(loss="mse", units=1):
    ids = fgc.Input((4,), dtype="int32")
    h = fgc.layers.Embedding(5, 3, mask_zero=True)(ids)
    out = fgc.layers.Dense(units)(h)
    model = fgc.Model(ids, out)
    model.compile(optimizer="sgd", loss=loss)
    return model


def test_mse_mean_runs_over_unmasked_steps():
    model = tagger()
    y = np.random.default_rng(0).random((3, 4, 1))
    err = ((model.predict(IDS, verbose=0) - y)[..., 0]) ** 2
    expected = (err * KEEP).sum() / KEEP.sum()
    assert np.isclose(model.evaluate(IDS, y, verbose=0), expected, rtol=1e-5)
    assert not np.isclose(expected, err.mean(), rtol=1e-3)  # the mask matters in this case


def test_sample_weights_and_mask_combine_as_keras():
    model = tagger()
    y = np.random.default_rng(1).random((3, 4, 1))
    sw = np.array([0.5, 2.0, 1.0])
    err = ((model.predict(IDS, verbose=0) - y)[..., 0]) ** 2
    expected = (err * sw[:, None] * KEEP).sum() / KEEP.sum()
    assert np.isclose(model.evaluate(IDS, y, sample_weight=sw, verbose=0), expected, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight"])
def test_other_reductions(reduction):
    model = tagger(loss=fgc.losses.MeanSquaredError(reduction=reduction))
    y = np.random.default_rng(2).random((3, 4, 1))
    sw = np.array([0.5, 2.0, 1.0])
    err = ((model.predict(IDS, verbose=0) - y)[..., 0]) ** 2
    weights = sw[:, None] * KEEP
    expected = (err * weights).sum() if reduction == "sum" else (err * weights).sum() / weights.sum()
    got = model.evaluate(IDS, y, sample_weight=sw, batch_size=3, verbose=0)
    assert np.isclose(got, expected, rtol=1e-5)


def test_sparse_crossentropy_with_ignore_class_and_mask():
    model = tagger(loss=fgc.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2), units=3)
    y = np.array([[0, 2, 1, 1], [1, 0, 0, 2], [2, 1, 0, 0]])
    logits = model.predict(IDS, verbose=0).astype(np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], -1)[..., 0]
    counts = KEEP * (y != 2)
    expected = (nll * counts).sum() / counts.sum()
    assert np.isclose(model.evaluate(IDS, y, verbose=0), expected, rtol=1e-5)


def test_gradient_ignores_masked_steps():
    """A masked step's target changes nothing in the update."""
    y = np.random.default_rng(3).random((3, 4, 1))
    other = y.copy()
    other[IDS == 0] += 100.0
    after = []
    for targets in (y, other):
        model = tagger()
        model.set_weights([np.full(w.shape, 0.1, np.float32) for w in model.get_weights()])
        model.train_on_batch(IDS, targets)
        after.append(model.get_weights())
    for a, b in zip(*after):
        np.testing.assert_array_equal(a, b)


def test_masking_layer_sequence_model_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(4).random((4, 5, 2)).astype(np.float32)
    x[0, 3:] = 0.0
    x[2, 1:] = 0.0
    y = np.random.default_rng(5).random((4, 5, 1)).astype(np.float32)

    def build(api):
        inp = api.Input((5, 2))
        h = api.layers.Masking(0.0)(inp)
        h = api.layers.LSTM(3, return_sequences=True)(h)
        out = api.layers.Dense(1)(h)
        model = api.Model(inp, out)
        model.compile(optimizer="sgd", loss="mae")
        return model

    ours, theirs = build(fgc), build(keras)
    theirs.set_weights(ours.get_weights())
    assert np.isclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5)


def test_metrics_on_a_masked_output_count_unmasked_steps_over_the_epoch():
    """Keras' MeanMetricWrapper weighs by the output mask: the epoch value is the mean over every
    unmasked step of the epoch, not an average of batch means."""
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [4, 4, 4, 1], [2, 0, 0, 0], [1, 1, 1, 0]])
    keep = ids != 0
    model = tagger()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mse"])
    y = np.random.default_rng(6).random((5, 4, 1))
    sw = np.array([1.0, 3.0, 0.5, 2.0, 1.0])
    diff = (model.predict(ids, verbose=0) - y)[..., 0]
    logs = model.evaluate(ids, y, sample_weight=sw, batch_size=2, verbose=0, return_dict=True)
    assert np.isclose(logs["mae"], np.abs(diff)[keep].mean(), rtol=1e-5)
    weights = sw[:, None] * keep
    assert np.isclose(logs["weighted_mse"] if "weighted_mse" in logs else logs["mse"],
                      (diff ** 2 * weights).sum() / weights.sum(), rtol=1e-5)


def test_accuracy_of_a_masked_tagger():
    model = tagger(loss="sparse_categorical_crossentropy", units=3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    y = np.array([[0, 2, 1, 1], [1, 0, 0, 2], [2, 1, 0, 0]])
    hits = model.predict(IDS, verbose=0).argmax(-1) == y
    logs = model.evaluate(IDS, y, batch_size=2, verbose=0, return_dict=True)
    assert np.isclose(logs["accuracy"], hits[IDS != 0].mean(), rtol=1e-6)
