"""Two more train benchmarks beside the seed models (``TRAIN_MODELS`` in models.py lists them): the
Transformer encoder block of ``examples/transformer_classifier.py`` and the U-Net of
``examples/unet.py``, each in fgc, PyTorch eager (fgc's weights) and Keras 3 (same layers and names)."""
from __future__ import annotations

import numpy as np

from benchmarks import peers

# examples/transformer_classifier.py's sizes
SEQ, D_MODEL, HEADS, FF_DIM = 16, 32, 2, 64
# examples/unet.py's full-size image
UNET_SIZE = 32


def _models():
    from benchmarks import models

    return models


# ---------------------------------------------------------------------------- Transformer encoder block
def transformer_model(api):
    """One encoder block (MultiHeadAttention + add & LayerNormalization + Dense feed-forward + add &
    LayerNormalization, epsilon 1e-6) on (16, 32) float inputs, GlobalAveragePooling1D, Dense(2, softmax).
    Dropout 0 (the example's 0.1 would make the contestants draw different masks)."""
    layers = api.layers
    x_in = api.Input(shape=(SEQ, D_MODEL), name="tokens")
    att = layers.MultiHeadAttention(HEADS, D_MODEL // HEADS, name="attention")(x_in, x_in)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm1")(layers.add([x_in, att]))
    ff = layers.Dense(FF_DIM, activation="relu", name="ff1")(x)
    ff = layers.Dense(D_MODEL, name="ff2")(ff)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm2")(layers.add([x, ff]))
    x = layers.GlobalAveragePooling1D()(x)
    return api.Model(x_in, layers.Dense(2, activation="softmax", name="label")(x))


def fgc_transformer():
    return transformer_model(_models()._fgc_api())


def _transformer_data(n, rng):
    return [rng.normal(size=(n, SEQ, D_MODEL))], [_models()._one_hot(rng, n, 2)]


def torch_transformer(fgc_model):
    torch = peers.torch()
    m = _models()
    w = {name: [torch.from_numpy(np.ascontiguousarray(a)) for a in m._layer_weights(fgc_model, name)]
         for name in ("attention", "norm1", "norm2")}

    class EncoderBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.att = torch.nn.ParameterList([torch.nn.Parameter(a.clone()) for a in w["attention"]])
            self.norm1 = torch.nn.LayerNorm(D_MODEL, eps=1e-6)
            self.norm2 = torch.nn.LayerNorm(D_MODEL, eps=1e-6)
            for norm, name in ((self.norm1, "norm1"), (self.norm2, "norm2")):
                m._torch_param(torch, norm.weight, w[name][0].numpy())
                m._torch_param(torch, norm.bias, w[name][1].numpy())
            self.ff1 = m._torch_dense(torch, fgc_model, "ff1")
            self.ff2 = m._torch_dense(torch, fgc_model, "ff2")
            self.label = m._torch_dense(torch, fgc_model, "label")

        def forward(self, x):
            wq, bq, wk, bk, wv, bv, wo, bo = self.att
            q = torch.einsum("bsd,dhk->bshk", x, wq) + bq
            k = torch.einsum("bsd,dhk->bshk", x, wk) + bk
            v = torch.einsum("bsd,dhk->bshk", x, wv) + bv
            scores = torch.einsum("bqhk,bshk->bhqs", q, k) / float(np.sqrt(D_MODEL // HEADS))
            att = torch.einsum("bhqs,bshk->bqhk", scores.softmax(-1), v)
            x = self.norm1(x + torch.einsum("bqhk,hkd->bqd", att, wo) + bo)
            x = self.norm2(x + self.ff2(torch.relu(self.ff1(x))))
            return torch.softmax(self.label(x.mean(dim=1)), dim=-1)

    return EncoderBlock()


def keras_transformer(fgc_model):
    return _models()._keras_copy_weights(transformer_model(peers.keras()), fgc_model)


# ---------------------------------------------------------------------------- U-Net
def unet_model(api):
    """examples/unet.py at 32x32: Conv2D(8/16/32, 3, relu, same) pairs, MaxPooling2D(2), Conv2DTranspose(2,
    strides 2, same), concatenate skips, Conv2D(1, 1, sigmoid)."""
    layers = api.layers

    def conv_block(x, filters, name):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv1")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv2")(x)

    image = api.Input(shape=(UNET_SIZE, UNET_SIZE, 1), name="image")
    skip1 = conv_block(image, 8, "down1")
    skip2 = conv_block(layers.MaxPooling2D(2)(skip1), 16, "down2")
    bottom = conv_block(layers.MaxPooling2D(2)(skip2), 32, "bottom")
    up2 = layers.Conv2DTranspose(16, 2, strides=2, padding="same", name="up2")(bottom)
    x = conv_block(layers.concatenate([up2, skip2]), 16, "decode2")
    up1 = layers.Conv2DTranspose(8, 2, strides=2, padding="same", name="up1")(x)
    x = conv_block(layers.concatenate([up1, skip1]), 8, "decode1")
    return api.Model(image, layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x))


def fgc_unet():
    return unet_model(_models()._fgc_api())


def _unet_data(n, rng):
    images = rng.normal(0.0, 0.35, size=(n, UNET_SIZE, UNET_SIZE, 1))
    masks = (rng.random((n, UNET_SIZE, UNET_SIZE, 1)) < 0.2).astype(np.float64)
    return [images + masks], [masks]


def _torch_conv_transpose(torch, fgc_model, name):
    """ConvTranspose2d(k, stride k) with a Keras Conv2DTranspose's weights: kernel (kh, kw, out, in) ->
    (in, out, kh, kw); with kernel == stride Keras' 'same' padding pads nothing."""
    m = _models()
    kernel, bias = m._layer_weights(fgc_model, name)
    conv = torch.nn.ConvTranspose2d(kernel.shape[3], kernel.shape[2], kernel.shape[:2], stride=kernel.shape[:2])
    m._torch_param(torch, conv.weight, kernel.transpose(3, 2, 0, 1))
    m._torch_param(torch, conv.bias, bias)
    return conv


def torch_unet(fgc_model):
    torch = peers.torch()
    m = _models()
    F = torch.nn.functional

    class UNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            names = [f"{block}_conv{i}" for block in ("down1", "down2", "bottom", "decode2", "decode1") for i in (1, 2)]
            self.convs = torch.nn.ModuleDict({n: m._torch_conv(torch, fgc_model, n, padding="same") for n in names})
            self.up2 = _torch_conv_transpose(torch, fgc_model, "up2")
            self.up1 = _torch_conv_transpose(torch, fgc_model, "up1")
            self.mask = m._torch_conv(torch, fgc_model, "mask")

        def block(self, x, name):
            return F.relu(self.convs[f"{name}_conv2"](F.relu(self.convs[f"{name}_conv1"](x))))

        def forward(self, image):
            x = image.permute(0, 3, 1, 2)
            skip1 = self.block(x, "down1")
            skip2 = self.block(F.max_pool2d(skip1, 2), "down2")
            bottom = self.block(F.max_pool2d(skip2, 2), "bottom")
            x = self.block(torch.cat([self.up2(bottom), skip2], dim=1), "decode2")
            x = self.block(torch.cat([self.up1(x), skip1], dim=1), "decode1")
            return torch.sigmoid(self.mask(x)).permute(0, 2, 3, 1)

    return UNet()


def keras_unet(fgc_model):
    return _models()._keras_copy_weights(unet_model(peers.keras()), fgc_model)


def extra_train_specs(TrainSpec, cce_loss, bce_loss) -> dict:
    return {
        "transformer": TrainSpec(
            "transformer", "examples/transformer_classifier.py's encoder block: (16, 32) inputs, MultiHeadAttention(2 "
            "heads, key_dim 16) + add & LayerNormalization, Dense(64, relu) → Dense(32) + add & LayerNormalization, "
            "GlobalAveragePooling1D, Dense(2, softmax); dropout 0; rmsprop, categorical_crossentropy",
            fgc_transformer, _transformer_data, ["categorical_crossentropy"], torch_transformer, cce_loss, batch=32,
            fit_batches=8, predict_batches=4, runs=7, build_keras=keras_transformer, reference={"fit": {}, "predict": {}}),
        "unet": TrainSpec(
            "unet", "examples/unet.py at 32×32×1: Conv2D(8/16/32, 3, relu, same) pairs with MaxPooling2D(2), "
            "Conv2DTranspose(16/8, 2, strides 2) + concatenate skips, Conv2D(1, 1, sigmoid); rmsprop, "
            "binary_crossentropy",
            fgc_unet, _unet_data, ["binary_crossentropy"], torch_unet, bce_loss, batch=16, fit_batches=8,
            predict_batches=1, runs=5, build_keras=keras_unet, reference={"fit": {}, "predict": {}}),
    }
