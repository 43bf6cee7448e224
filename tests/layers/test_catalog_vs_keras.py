"""The catalogue layers against Keras 3 itself (skipped without it): the same builder code makes each
model with fgc and with keras, keras' weights are copied into fgc with set_weights (which also checks
that the weight order and shapes agree), and the outputs must be equal to float32 rounding."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fgc

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

rng = np.random.default_rng(0)


def transformer_block(api):
    L = api.layers
    ids = api.Input(shape=(6,), dtype="int32", name="ids")
    x = L.Embedding(9, 8, mask_zero=True, name="emb")(ids)
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    x = L.LayerNormalization(epsilon=1e-6, name="ln1")(L.add([x, att]))
    ff = L.Dense(8, name="ff2")(L.ReLU(name="relu")(L.Dense(16, name="ff1")(x)))
    x = L.LayerNormalization(name="ln2")(L.add([x, ff]))
    return api.Model(ids, x)


def cross_attention(api):
    L = api.layers
    q, v, k = api.Input((3, 5), name="q"), api.Input((4, 6), name="v"), api.Input((4, 2), name="k")
    m = api.Input((3, 4), dtype="bool", name="m")
    out, scores = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=3, output_shape=(2, 2), name="mha")(
        q, v, key=k, attention_mask=m, use_causal_mask=True, return_attention_scores=True)
    return api.Model([q, v, k, m], [out, scores])


def gated_sliding_window(api):
    L = api.layers
    x = api.Input((None, 6), name="x")
    out = L.MultiHeadAttention(num_heads=2, key_dim=3, use_gate=True, sliding_window=2, name="mha")(
        x, x, use_causal_mask=True)
    return api.Model(x, out)


def image_attention(api):
    L = api.layers
    q, v = api.Input((2, 3, 4), name="q"), api.Input((2, 5, 3), name="v")
    out, scores = L.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=(2,), name="rows")(
        q, v, return_attention_scores=True)
    full = L.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, output_shape=(2, 3), name="all")(q, q)
    return api.Model([q, v], [out, scores, full])


def dense_attentions(api):
    L = api.layers
    q, v = api.Input((3, 4), name="q"), api.Input((5, 4), name="v")
    a = L.Attention(use_scale=True, name="luong")([q, v], use_causal_mask=True)
    c = L.Attention(use_scale=True, score_mode="concat", name="concat")([q, v])
    d = L.AdditiveAttention(name="bahdanau")([q, v])
    dots = L.Dot(axes=(2, 2), normalize=True, name="cos")([q, v])
    return api.Model([q, v], [a, c, d, dots])


def explicit_attention_masks(api):
    L = api.layers
    q, v = api.Input((3, 4), name="q"), api.Input((5, 4), name="v")
    qm, vm = api.Input((3,), dtype="bool", name="qm"), api.Input((5,), dtype="bool", name="vm")
    a = L.Attention(name="luong")([q, v], mask=[qm, vm])
    d = L.AdditiveAttention(name="bahdanau")([q, v], mask=[None, vm], use_causal_mask=True)
    return api.Model([q, v, qm, vm], [a, d])


def activations(api):
    L = api.layers
    x = api.Input((3, 4), name="x")
    outs = [L.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.5)(x), L.LeakyReLU()(x), L.ELU(alpha=0.5)(x),
            L.PReLU(alpha_initializer="ones", shared_axes=[1])(x), L.Softmax(axis=[1, 2])(x), L.Identity()(x),
            L.LayerNormalization(axis=1, name="ln_axis1")(x)]
    return api.Model(x, outs)


def unet_parts(api, data_format="channels_last"):
    L = api.layers
    first = data_format == "channels_first"
    x = api.Input((2, 6, 5) if first else (6, 5, 2), name="image")
    outs = [L.Conv2DTranspose(3, 3, strides=2, padding="same", data_format=data_format)(x),
            L.Conv2DTranspose(3, (2, 3), strides=(2, 1), output_padding=(1, 0), data_format=data_format)(x),
            L.Conv2DTranspose(2, 4, strides=2, padding="same", dilation_rate=1, data_format=data_format)(x),
            L.Conv2DTranspose(2, 2, dilation_rate=2, padding="same", data_format=data_format)(x),
            L.UpSampling2D((2, 3), data_format=data_format)(x),
            L.UpSampling2D((2, 3), interpolation="bilinear", data_format=data_format)(x),
            L.ZeroPadding2D(((1, 0), (2, 3)), data_format=data_format)(x),
            L.Cropping2D(((1, 2), (0, 1)), data_format=data_format)(x),
            L.Flatten(data_format=data_format)(x)]
    return api.Model(x, outs)


def unet_parts_channels_first(api):
    return unet_parts(api, "channels_first")


def sequence_parts(api):
    L = api.layers
    x = api.Input((5, 2), name="seq")
    outs = [L.Conv1DTranspose(3, 4, strides=3, padding="same", output_padding=1)(x),
            L.Conv1DTranspose(3, 1, strides=2)(x), L.Conv1DTranspose(2, 3, strides=2)(x),
            L.UpSampling1D(3)(x), L.ZeroPadding1D((2, 1))(x), L.Cropping1D((1, 2))(x)]
    return api.Model(x, outs)


def volume_parts(api):
    L = api.layers
    x = api.Input((3, 2, 4, 2), name="volume")
    outs = [L.Conv3DTranspose(2, 2, strides=2, padding="same")(x), L.UpSampling3D((1, 2, 2))(x),
            L.ZeroPadding3D(1)(x), L.Cropping3D(((1, 0), (0, 1), (1, 1)))(x)]
    return api.Model(x, outs)


def depthwise_parts(api):
    L = api.layers
    img, seq = api.Input((6, 5, 2), name="img"), api.Input((7, 3), name="seq")
    vol = api.Input((4, 3, 4, 2), name="vol")
    outs = [L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(img),
            L.DepthwiseConv2D((3, 2), data_format="channels_first")(img),
            L.DepthwiseConv1D(3, padding="same", dilation_rate=2)(seq),
            L.SeparableConv1D(4, 3, padding="same", depth_multiplier=2)(seq),
            L.Conv3D(3, 2, strides=(1, 2, 1), padding="same")(vol), L.MaxPooling3D(2, padding="same")(vol),
            L.AveragePooling3D((2, 1, 2))(vol), L.GlobalMaxPooling3D()(vol), L.GlobalAveragePooling3D()(vol)]
    return api.Model([img, seq, vol], outs)


def normalizations(api):
    L = api.layers
    x, img = api.Input((4, 6), name="x"), api.Input((3, 2, 6), name="img")
    return api.Model([x, img], [L.GroupNormalization(3)(img), L.GroupNormalization(2, axis=1)(x),
                                L.UnitNormalization()(x), L.UnitNormalization(axis=[1, 2])(img)])


def test_preprocessing_equals_keras():
    data = rng.normal(3.0, 2.0, size=(20, 5, 4, 3)).astype("float32")
    outs = []
    for api in (keras, fgc):
        L = api.layers
        norm = L.Normalization(axis=(1, 3))
        norm.adapt(data)                     # (Keras adapts an iterable of batches only with tensorflow)
        x = api.Input((5, 4, 3), name="img")
        model = api.Model(x, [L.CenterCrop(3, 2)(norm(x)), L.Rescaling([0.5, 2.0, 1.0], offset=0.1)(x),
                              L.Resizing(7, 3)(x), L.Resizing(3, 9, interpolation="nearest")(x),
                              L.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 0.5], invert=True)(x)])
        outs.append((model.predict(data[:4], verbose=0), [np.asarray(w) for w in norm.get_weights()]))
    (want, want_w), (got, got_w) = outs
    for w, g in zip(want_w + list(want), got_w + list(got)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def _data(model):
    out = []
    for t in model.inputs:
        shape = (3, *[5 if d is None else d for d in t.shape[1:]])
        if "int" in str(t.dtype):
            out.append(rng.integers(0, 9, size=shape).astype("int32"))
        elif "bool" in str(t.dtype):
            out.append(rng.random(shape) > 0.3)
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


@pytest.mark.parametrize("builder", [transformer_block, cross_attention, gated_sliding_window, dense_attentions,
                                     explicit_attention_masks, image_attention,
                                     activations, unet_parts, unet_parts_channels_first, sequence_parts,
                                     volume_parts, depthwise_parts, normalizations])
def test_outputs_equal_keras(builder):
    km, fm = builder(keras), builder(fgc)
    weights = [w + rng.uniform(-0.3, 0.3, w.shape).astype(w.dtype) for w in km.get_weights()]
    km.set_weights(weights)
    fm.set_weights(weights)
    xs = _data(km)
    if builder is transformer_block:
        xs[0][:, -2:] = 0                               # padding: the mask reaches the attention
    want = km.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    got = fm.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want, got = (want, got) if isinstance(want, list) else ([want], [got])
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-4, atol=2e-5)


def test_configs_have_keras_keys():
    for make in (lambda L: L.MultiHeadAttention(2, 3), lambda L: L.LayerNormalization(),
                 lambda L: L.Attention(), lambda L: L.AdditiveAttention(), lambda L: L.Dot(1),
                 lambda L: L.ReLU(), lambda L: L.LeakyReLU(), lambda L: L.PReLU(), lambda L: L.ELU(),
                 lambda L: L.Softmax(), lambda L: L.Conv2DTranspose(2, 3), lambda L: L.Conv1DTranspose(2, 3),
                 lambda L: L.UpSampling1D(), lambda L: L.UpSampling2D(), lambda L: L.UpSampling3D(),
                 lambda L: L.ZeroPadding1D(), lambda L: L.ZeroPadding2D(), lambda L: L.ZeroPadding3D(),
                 lambda L: L.Cropping1D(), lambda L: L.Cropping2D(), lambda L: L.Cropping3D(),
                 lambda L: L.DepthwiseConv2D(3), lambda L: L.DepthwiseConv1D(3), lambda L: L.SeparableConv1D(2, 3),
                 lambda L: L.Conv3D(2, 3), lambda L: L.MaxPooling3D(), lambda L: L.GlobalAveragePooling3D(),
                 lambda L: L.GroupNormalization(), lambda L: L.UnitNormalization(), lambda L: L.GaussianNoise(0.1),
                 lambda L: L.GaussianDropout(0.1), lambda L: L.AlphaDropout(0.1), lambda L: L.SpatialDropout1D(0.1),
                 lambda L: L.SpatialDropout2D(0.1), lambda L: L.Rescaling(0.5), lambda L: L.Normalization(),
                 lambda L: L.CenterCrop(2, 2), lambda L: L.Resizing(2, 2)):
        want = set(make(keras.layers).get_config()) - {"dtype"}
        got = set(make(fgc.layers).get_config())
        assert want <= got, f"{type(make(fgc.layers)).__name__}: missing {want - got}"
