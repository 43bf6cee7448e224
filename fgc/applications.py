"""``fgc.applications``: the Keras application architectures the seeds use, built from fgc layers.

Only ``weights=None`` (random initialisation): fgc cannot download pretrained weights, and
load them from Keras with ``set_weights`` instead (the layer names and weight order are Keras').
"""
from __future__ import annotations

from .functional import Model
from .layers import (Activation, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, GlobalMaxPooling2D,
                     Input, MaxPooling2D, SeparableConv2D, add)
from .naming import check_kwargs


def _sepconv_bn(x, filters, name, relu_before=True):
    if relu_before:
        x = Activation("relu", name=f"{name}_act")(x)
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(name=f"{name}_bn")(x)


def _residual(x, filters, index):
    r = Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False, name=f"conv2d_res{index}")(x)
    return BatchNormalization(name=f"batch_normalization_res{index}")(r)


def Xception(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="xception", **kwargs):
    """The Xception architecture (Chollet, 2017), Keras' layer names and weight layout.

    ``include_top=False`` gives the convolutional base (20,861,480 weights, as in Keras) that seeds
    000/001/004 share between two camera inputs."""
    check_kwargs("Xception()", kwargs, ())
    if weights is not None:
        raise ValueError(f"Xception(weights={weights!r}): fgc has no pretrained weights to download; use "
                         f"weights=None, then model.set_weights(...) with weights exported from Keras")
    if input_tensor is None:
        shape = input_shape or ((299, 299, 3) if include_top else (None, None, 3))
        img = Input(shape=shape)
    else:
        img = input_tensor

    x = Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img)
    x = BatchNormalization(name="block1_conv1_bn")(x)
    x = Activation("relu", name="block1_conv1_act")(x)
    x = Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = BatchNormalization(name="block1_conv2_bn")(x)
    x = Activation("relu", name="block1_conv2_act")(x)

    # entry flow: three downsampling blocks with 1x1 strided residuals
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        residual = _residual(x, filters, block)
        x = _sepconv_bn(x, filters, f"block{block}_sepconv1", relu_before=block != 2)
        x = _sepconv_bn(x, filters, f"block{block}_sepconv2")
        x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
        x = add([x, residual])

    # middle flow: eight identity-residual blocks
    for block in range(5, 13):
        residual = x
        for k in (1, 2, 3):
            x = _sepconv_bn(x, 728, f"block{block}_sepconv{k}")
        x = add([x, residual])

    # exit flow
    residual = _residual(x, 1024, 13)
    x = _sepconv_bn(x, 728, "block13_sepconv1")
    x = _sepconv_bn(x, 1024, "block13_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="block13_pool")(x)
    x = add([x, residual])
    for k, filters in ((1, 1536), (2, 2048)):
        x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=f"block14_sepconv{k}")(x)
        x = BatchNormalization(name=f"block14_sepconv{k}_bn")(x)
        x = Activation("relu", name=f"block14_sepconv{k}_act")(x)

    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D()(x)
    return Model(img, x, name=name)


__all__ = ["Xception"]
