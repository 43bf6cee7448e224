"""Masks through subclassed layers, as Keras 3: ``supports_masking``, a user ``compute_mask`` (which makes
the layer support masking), and ``call(x, mask=None)`` receiving the incoming mask. Numbers are checked
against numpy and, where installed, against Keras running the same code with the same weights."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import fgc
import fgc.ops

IDS = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0], [7, 0, 0, 0, 0]])


def make_classes(api, ops):
    class MaskedMean(api.layers.Layer):
        """Mean over the kept steps: reads the mask in call()."""

        def call(self, x, mask=None):
            weights = ops.expand_dims(ops.cast(mask, x.dtype), -1)
            return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    class Doubler(api.layers.Layer):
        """Passes the mask on (supports_masking), reads none."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, x):
            return x * 2.0

    class SkipFirst(api.layers.Layer):
        """Its own compute_mask (so it supports masking by default): the first step never counts."""

        def call(self, x):
            return x - 1.0

        def compute_mask(self, x, mask=None):
            later = ops.expand_dims(ops.arange(5) > 0, 0)
            return ops.logical_and(mask, later)

    class Encoder(api.layers.Layer):
        """Hands its mask to an inner LSTM explicitly."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.lstm = api.layers.LSTM(3)

        def call(self, x, mask=None):
            return self.lstm(x, mask=mask)

    class Plain(api.layers.Layer):
        """Neither reads nor passes a mask: the mask stops here."""

        def call(self, x):
            return x + 0.5

    return MaskedMean, Doubler, SkipFirst, Encoder, Plain


def build(api, ops):
    MaskedMean, Doubler, SkipFirst, Encoder, Plain = make_classes(api, ops)
    ids = api.Input((5,), dtype="int32")
    embedded = Doubler()(api.layers.Embedding(10, 4, mask_zero=True)(ids))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # MaskedMean and Plain stop the mask, and say so
        mean = MaskedMean()(embedded)
        unmasked = api.layers.LSTM(3)(Plain()(embedded))
        encoded = Encoder()(embedded)
    pooled = api.layers.GlobalAveragePooling1D()(SkipFirst()(embedded))
    lstm = api.layers.LSTM(3)(embedded)
    return api.Model(ids, [mean, pooled, lstm, encoded, unmasked])


def _masked_mean(values, keep):
    return (values * keep[..., None]).sum(1) / keep.sum(1, keepdims=True)


def test_masks_through_subclassed_layers_match_numpy():
    model = build(fgc, fgc.ops)
    mean, pooled, *_ = model.predict(IDS, verbose=0)
    table = model.get_weights()[0]
    doubled = 2.0 * table[IDS]
    keep = (IDS != 0).astype("float32")
    np.testing.assert_allclose(mean, _masked_mean(doubled, keep), rtol=1e-5, atol=1e-6)
    skip_first = keep.copy()
    skip_first[:, 0] = 0
    want = np.where(skip_first.sum(1, keepdims=True) > 0,
                    (((doubled - 1.0) * skip_first[..., None]).sum(1)) / np.maximum(skip_first.sum(1, keepdims=True),
                                                                                      1e-7), 0.0)
    rows = skip_first.sum(1) > 0   # Keras divides by the count of kept steps; a row with none is not compared
    np.testing.assert_allclose(pooled[rows], want[rows], rtol=1e-5, atol=1e-6)


def test_a_mask_read_in_call_is_the_incoming_one_and_explicit_masks_work():
    MaskedMean, *_ = make_classes(fgc, fgc.ops)
    x = fgc.Input((5, 2))
    m = fgc.Input((5,), dtype="bool")
    model = fgc.Model([x, m], MaskedMean()(x, mask=m))
    values = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    keep = IDS != 0
    np.testing.assert_allclose(model.predict([values, keep], verbose=0), _masked_mean(values, keep.astype("float32")),
                               rtol=1e-5, atol=1e-6)


def test_a_layer_without_masking_drops_the_mask_with_a_warning():
    *_, Plain = make_classes(fgc, fgc.ops)
    ids = fgc.Input((5,), dtype="int32")
    embedded = fgc.layers.Embedding(10, 4, mask_zero=True)(ids)
    with pytest.warns(UserWarning, match="does not support masking"):
        out = Plain()(embedded)
    assert out._mask is None


def test_masks_through_subclassed_layers_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    ours = build(fgc, fgc.ops)
    theirs = build(keras, keras.ops)
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    theirs.set_weights(ours.get_weights())
    for got, want in zip(ours.predict(IDS, verbose=0), theirs.predict(IDS, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def build_with_model(api, ops):
    class Pool(api.Model):
        """A subclassed model whose call reads the mask of what it is called on."""

        def call(self, x, mask=None):
            if mask is None:
                return ops.mean(x, axis=1)
            weights = ops.expand_dims(ops.cast(mask, x.dtype), -1)
            return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    ids = api.Input((5,), dtype="int32")
    return api.Model(ids, Pool()(api.layers.Embedding(10, 4, mask_zero=True)(ids)))


def test_a_subclassed_model_receives_the_mask():
    model = build_with_model(fgc, fgc.ops)
    table = model.get_weights()[0]
    np.testing.assert_allclose(model.predict(IDS, verbose=0), _masked_mean(table[IDS], (IDS != 0).astype("float32")),
                               rtol=1e-5, atol=1e-6)


def test_a_subclassed_model_receives_the_mask_as_in_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    ours, theirs = build_with_model(fgc, fgc.ops), build_with_model(keras, keras.ops)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(IDS, verbose=0), theirs.predict(IDS, verbose=0), rtol=1e-5, atol=1e-6)
