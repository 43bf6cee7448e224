"""GlobalAveragePooling1D honours a mask as in Keras 3 (mean over kept steps); GlobalMaxPooling1D
ignores it (Keras 3 does too)."""
import numpy as np
import pytest

from fgc import Input, Model, layers


def test_global_average_pooling_1d_averages_only_unmasked_steps():
    ids = Input(shape=(None,), dtype="int32")
    emb = layers.Embedding(10, 3, mask_zero=True)
    vectors = emb(ids)
    with pytest.warns(UserWarning, match="does not support masking"):  # Keras warns the mask stops there
        max_pooled = layers.GlobalMaxPooling1D()(vectors)
    model = Model(ids, [layers.GlobalAveragePooling1D()(vectors), max_pooled])
    x = np.array([[4, 2, 0, 0], [0, 7, 7, 1]])
    avg, mx = model.predict(x)
    table = emb.get_weights()[0]
    want = np.stack([table[[4, 2]].mean(0), table[[7, 7, 1]].mean(0)])
    np.testing.assert_allclose(avg, want, rtol=1e-6)
    np.testing.assert_allclose(mx, table[x].max(1), rtol=1e-6)


def test_masked_average_pooling_trains():
    ids = Input(shape=(None,), dtype="int32")
    pooled = layers.GlobalAveragePooling1D()(layers.Embedding(10, 3, mask_zero=True)(ids))
    model = Model(ids, layers.Dense(1)(pooled))
    model.compile("sgd", "mse")
    x = np.array([[4, 2, 0, 0], [0, 7, 7, 1]])
    losses = [model.train_on_batch(x, np.ones((2, 1))) for _ in range(5)]
    assert losses[-1] < losses[0]
