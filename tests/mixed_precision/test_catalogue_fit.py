"""Every kind of layer in the catalogue trains under mixed_float16 (reduced sizes): the train step
compiles (no dtype mismatch in a shape rule, vjp or optimizer), the loss, the weights and the
predictions stay finite, the weights stay float32 and the model's output has the compute dtype."""
from __future__ import annotations

import numpy as np
import pytest

import fgc
from fgc import layers as L
from fgc import mixed_precision


def _flat_dense(h):
    return L.Dense(2)(L.Flatten()(h))


def _masked_ids(n, t, vocab, rng):
    ids = rng.integers(1, vocab, (n, t))
    ids[0, :] = 0          # a row masked everywhere
    ids[1, 2:] = 0
    return ids


# name -> (build(inputs...), input shape without batch, target shape without batch, loss, input kind)
CASES = {
    "dense_dropout": (lambda x: L.Dense(2)(L.Dropout(0.3)(L.Dense(4, activation="relu")(x))), (5,), (2,), "mse", "f"),
    "conv1d_pool": (lambda x: _flat_dense(L.AveragePooling1D()(L.Conv1D(4, 3)(x))), (8, 3), (2,), "mse", "f"),
    "conv2d_maxpool_bn": (lambda x: _flat_dense(L.MaxPooling2D()(L.BatchNormalization()(L.Conv2D(4, 3)(x)))),
                          (6, 6, 2), (2,), "mse", "f"),
    "conv3d": (lambda x: _flat_dense(L.MaxPooling3D()(L.Conv3D(2, 2)(x))), (4, 4, 4, 1), (2,), "mse", "f"),
    "conv_transpose": (lambda x: _flat_dense(L.Conv2DTranspose(3, 3, strides=2)(x)), (4, 4, 2), (2,), "mse", "f"),
    "separable_depthwise": (lambda x: _flat_dense(L.DepthwiseConv2D(3)(L.SeparableConv2D(4, 3)(x))),
                            (7, 7, 2), (2,), "mse", "f"),
    "global_pooling": (lambda x: L.Dense(2)(L.GlobalMaxPooling2D()(L.Conv2D(3, 3)(x))), (5, 5, 2), (2,), "mse", "f"),
    "resize_pad_crop": (lambda x: _flat_dense(L.Cropping2D(1)(L.ZeroPadding2D()(L.UpSampling2D()(x)))),
                        (3, 3, 2), (2,), "mse", "f"),
    "lstm": (lambda x: L.Dense(2)(L.LSTM(4)(x)), (5, 3), (2,), "mse", "f"),
    "gru_sequences": (lambda x: L.Dense(2)(L.GRU(4, return_sequences=True)(x)), (5, 3), (5, 2), "mse", "f"),
    "simple_rnn": (lambda x: L.Dense(2)(L.SimpleRNN(4)(x)), (5, 3), (2,), "mse", "f"),
    "bidirectional": (lambda x: L.Dense(2)(L.Bidirectional(L.LSTM(3))(x)), (5, 3), (2,), "mse", "f"),
    "embedding_masked_lstm": (lambda x: L.Dense(2)(L.LSTM(4)(L.Embedding(20, 4, mask_zero=True)(x))),
                              (6,), (2,), "mse", "ids"),
    "embedding_masked_attention": (
        lambda x: _flat_dense(L.MultiHeadAttention(2, 4)(*[L.Embedding(20, 4, mask_zero=True)(x)] * 2)),
        (6,), (2,), "mse", "ids"),
    "multi_head_attention_causal": (lambda x: _flat_dense(L.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)),
                                    (5, 6), (2,), "mse", "f"),
    "attention_layers": (lambda x: _flat_dense(L.Add()([L.Attention()([x, x]), L.AdditiveAttention()([x, x])])),
                         (5, 4), (2,), "mse", "f"),
    "masked_softmax": (lambda x: _flat_dense(L.Softmax()(L.Dense(3)(L.Embedding(20, 4, mask_zero=True)(x)))),
                       (6,), (2,), "mse", "ids"),
    "layer_group_unit_norm": (
        lambda x: L.Dense(2)(L.UnitNormalization()(L.GroupNormalization(2)(L.LayerNormalization()(L.Dense(4)(x))))),
        (5,), (2,), "mse", "f"),
    "activations": (lambda x: L.Dense(2)(L.PReLU()(L.ELU()(L.LeakyReLU()(L.ReLU()(L.Dense(4)(x)))))),
                    (5,), (2,), "mse", "f"),
    "noise": (lambda x: L.Dense(2)(L.AlphaDropout(0.1)(L.GaussianDropout(0.1)(L.GaussianNoise(0.1)(x)))),
              (5,), (2,), "mse", "f"),
    "reshaping": (lambda x: _flat_dense(L.Permute((2, 1))(L.RepeatVector(3)(L.Reshape((4,))(L.Dense(4)(x))))),
                  (5,), (2,), "mse", "f"),
    "merges": (lambda x: L.Dense(2)(L.Concatenate()([L.Multiply()([L.Dense(3)(x), L.Dense(3)(x)]),
                                                      L.Average()([L.Dense(3)(x), L.Dense(3)(x)])])),
               (5,), (2,), "mse", "f"),
    "time_distributed": (lambda x: L.TimeDistributed(L.Dense(2))(x), (4, 3), (4, 2), "mse", "f"),
    "preprocessing": (lambda x: L.Dense(2)(L.Rescaling(0.5, offset=1.0)(L.Normalization(mean=0.5, variance=2.0)(x))),
                      (5,), (2,), "mse", "f"),
    "softmax_crossentropy": (lambda x: L.Dense(3, activation="softmax")(x), (5,), (3,), "categorical_crossentropy", "f"),
    "sigmoid_binary": (lambda x: L.Dense(3, activation="sigmoid")(x), (5,), (3,), "binary_crossentropy", "f"),
    "sparse_classes": (lambda x: L.Dense(4, activation="softmax")(x), (5,), (), "sparse_categorical_crossentropy", "f"),
}


def _data(shape, kind, rng, n=12):
    if kind == "ids":
        return _masked_ids(n, shape[0], 20, rng)
    return rng.random((n, *shape)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_under_mixed_float16(name):
    build, in_shape, out_shape, loss, kind = CASES[name]
    rng = np.random.default_rng(11)
    mixed_precision.set_global_policy("mixed_float16")
    x = fgc.Input(shape=in_shape, dtype="int32" if kind == "ids" else None)
    y = build(x)
    assert y.dtype == "float16"
    model = fgc.Model(x, y)
    data = _data(in_shape, kind, rng)
    target = rng.integers(0, 4, (12,)) if loss.startswith("sparse") else \
        rng.random((12, *out_shape)).astype(np.float32)
    model.compile(optimizer="adam", loss=loss)
    history = model.fit(data, target, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all(), history.history
    assert all(w.dtype == "float32" for w in model.weights)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in model.get_weights())
    out = model.predict(data, verbose=0)
    assert out.dtype == np.float16 and np.isfinite(out).all()
