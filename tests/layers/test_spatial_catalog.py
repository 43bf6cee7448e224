"""Conv1D/2D/3DTranspose, UpSampling, ZeroPadding and Cropping against numpy references written from
Keras 3's definitions, in both data formats, with finite-difference gradients and ONNX export."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(0)


def keras_transpose_pads(k, s, d, padding, output_padding):
    """Keras' output length and where its transposed conv starts (the first output row is full-conv
    row ``offset``), from the JAX backend's padding of the stride-dilated input."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        op = max(k_eff, s) - k_eff if output_padding is None else output_padding
        left, right = k_eff - 1, k_eff - 1 + op
    else:
        total = s + k_eff - 2 if output_padding is None else k_eff + k_eff % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, k_eff - 1)
        right = total - left
    return k_eff - 1 - left, k_eff - 1 - right


def conv_transpose(x, kernel, bias, strides, padding, dilation, output_padding, channels_first=False):
    """y[o] += x[i] * kernel[j] at o = i * s + j * d - offset (the adjoint of a strided conv); kernel
    (k..., filters, in_channels)."""
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    nd = x.ndim - 2
    offsets, lengths = [], []
    for a in range(nd):
        k, s, d = kernel.shape[a], strides[a], dilation[a]
        begin, end = keras_transpose_pads(k, s, d, padding, None if output_padding is None else output_padding[a])
        offsets.append(begin)
        lengths.append((x.shape[1 + a] - 1) * s + (k - 1) * d + 1 - begin - end)
    y = np.zeros((x.shape[0], *lengths, kernel.shape[-2]))
    for i in np.ndindex(*x.shape[1:-1]):
        for j in np.ndindex(*kernel.shape[:nd]):
            o = tuple(i[a] * strides[a] + j[a] * dilation[a] - offsets[a] for a in range(nd))
            if all(0 <= o[a] < lengths[a] for a in range(nd)):
                y[(slice(None), *o)] += x[(slice(None), *i)] @ kernel[j].T
    y = y + bias
    return np.moveaxis(y, -1, 1) if channels_first else y


TRANSPOSE_CASES = [
    (layers.Conv2DTranspose, dict(kernel_size=3, strides=2, padding="same"), (3, 4, 2)),
    (layers.Conv2DTranspose, dict(kernel_size=(2, 3), strides=(2, 1), padding="valid"), (3, 3, 2)),
    (layers.Conv2DTranspose, dict(kernel_size=3, strides=2, padding="same", output_padding=1), (3, 3, 2)),
    (layers.Conv2DTranspose, dict(kernel_size=4, strides=2, padding="same"), (2, 3, 2)),
    (layers.Conv2DTranspose, dict(kernel_size=2, dilation_rate=2, padding="same"), (4, 3, 2)),
    (layers.Conv1DTranspose, dict(kernel_size=4, strides=3, padding="same", output_padding=1), (5, 2)),
    (layers.Conv1DTranspose, dict(kernel_size=1, strides=2), (4, 2)),
    (layers.Conv3DTranspose, dict(kernel_size=2, strides=2, padding="same"), (2, 2, 1, 2)),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("i", range(len(TRANSPOSE_CASES)))
def test_conv_transpose_values_and_gradients(i, data_format, gradcheck):
    cls, kwargs, shape = TRANSPOSE_CASES[i]
    channels_first = data_format == "channels_first"
    in_shape = (shape[-1], *shape[:-1]) if channels_first else shape
    inp = fgc.Input(in_shape)
    layer = cls(3, data_format=data_format, **kwargs)
    model = fgc.Model(inp, layer(inp))
    model.set_weights([w + rng.uniform(-0.3, 0.3, w.shape) for w in model.get_weights()])
    nd = len(shape) - 1
    strides = layer.strides
    dilation = layer.dilation_rate
    op = layer.output_padding

    def forward(p, x):
        return conv_transpose(x, p[0], p[1], strides, layer.padding, dilation, op, channels_first)

    x = rng.standard_normal((2, *in_shape))
    assert model.outputs[0].shape[1:] == forward([np.float64(w) for w in model.get_weights()], x).shape[1:]
    y = rng.standard_normal((2, *model.outputs[0].shape[1:]))
    assert nd == layer.rank
    gradcheck(model, forward, x, y)


def test_conv_transpose_kernel_layout_and_errors():
    layer = layers.Conv2DTranspose(5, 3)
    layer(fgc.Input((4, 4, 2)))
    assert layer.get_weights()[0].shape == (3, 3, 5, 2)           # (k, k, filters, in_channels)
    with pytest.raises(ValueError, match="output_padding must be smaller than its stride"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="filters must be a positive int"):
        layers.Conv2DTranspose(0, 3)


def test_conv_transpose_export(onnx_export):
    inp = fgc.Input((None, None, 2))
    model = fgc.Model(inp, layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")(inp))
    onnx_export(model, rng.standard_normal((2, 5, 4, 2)).astype(np.float32))


# ---------------------------------------------------------------- UpSampling / ZeroPadding / Cropping
def _spatial_axes(rank, channels_first):
    return tuple(range(2, 2 + rank)) if channels_first else tuple(range(1, 1 + rank))


SHAPE_CASES = [
    (lambda df: layers.UpSampling1D(size=3), 1, False,
     lambda x: np.repeat(x, 3, axis=1)),
    (lambda df: layers.UpSampling2D(size=(2, 3), data_format=df), 2, True,
     lambda x, ax: np.repeat(np.repeat(x, 2, axis=ax[0]), 3, axis=ax[1])),
    (lambda df: layers.UpSampling3D(data_format=df), 3, True,
     lambda x, ax: np.repeat(np.repeat(np.repeat(x, 2, ax[0]), 2, ax[1]), 2, ax[2])),
    (lambda df: layers.ZeroPadding1D(padding=(1, 2)), 1, False,
     lambda x: np.pad(x, ((0, 0), (1, 2), (0, 0)))),
    (lambda df: layers.ZeroPadding2D(padding=((1, 0), (2, 3)), data_format=df), 2, True,
     lambda x, ax: np.pad(x, [(1, 0) if a == ax[0] else (2, 3) if a == ax[1] else (0, 0) for a in range(4)])),
    (lambda df: layers.ZeroPadding3D(padding=1, data_format=df), 3, True,
     lambda x, ax: np.pad(x, [(1, 1) if a in ax else (0, 0) for a in range(5)])),
    (lambda df: layers.Cropping1D(cropping=(2, 1)), 1, False, lambda x: x[:, 2:-1]),
    (lambda df: layers.Cropping2D(cropping=((1, 0), (2, 1)), data_format=df), 2, True,
     lambda x, ax: x[tuple(slice(1, None) if a == ax[0] else slice(2, -1) if a == ax[1] else slice(None)
                           for a in range(4))]),
    (lambda df: layers.Cropping3D(data_format=df), 3, True,
     lambda x, ax: x[tuple(slice(1, -1) if a in ax else slice(None) for a in range(5))]),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("i", range(len(SHAPE_CASES)))
def test_reshaping_layers_values_and_gradients(i, data_format, gradcheck):
    make, rank, has_format, formula = SHAPE_CASES[i]
    if not has_format and data_format == "channels_first":
        pytest.skip("Keras' layer has no data_format")
    channels_first = data_format == "channels_first"
    spatial = (5, 4, 3)[:rank]
    shape = (2, *spatial) if channels_first else (*spatial, 2)
    inp = fgc.Input(shape)
    # a Dense over the channels in front, so the layer's input gradient reaches a weight
    pre = layers.Permute((*range(2, rank + 2), 1))(inp) if channels_first else inp
    pre = layers.Dense(2, name="pre")(pre)
    if channels_first:
        pre = layers.Permute((rank + 1, *range(1, rank + 1)))(pre)
    model = fgc.Model(inp, make(data_format)(pre))
    ax = _spatial_axes(rank, channels_first)

    def forward(p, x):
        h = np.moveaxis(np.moveaxis(x, 1, -1) @ p[0] + p[1], -1, 1) if channels_first else x @ p[0] + p[1]
        return formula(h) if not has_format else formula(h, ax)

    x = rng.standard_normal((2, *shape))
    y = rng.standard_normal((2, *model.outputs[0].shape[1:]))
    gradcheck(model, forward, x, y)


def test_reshaping_errors_and_configs():
    with pytest.raises(ValueError, match="padding must be a non-negative int"):
        layers.ZeroPadding2D(padding=(1, 2, 3))
    with pytest.raises(ValueError, match="removes all of axis"):
        layers.Cropping1D(cropping=(2, 2))(fgc.Input((4, 3)))
    with pytest.raises(ValueError, match="interpolation='bicubic' is not supported"):
        layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(TypeError):
        layers.UpSampling1D(data_format="channels_first")
    assert layers.ZeroPadding2D().get_config()["padding"] == ((1, 1), (1, 1))
    assert layers.Cropping1D().get_config()["cropping"] == (1, 1)
    assert layers.UpSampling1D().get_config()["size"] == 2


def test_flatten_with_data_format_orders_as_channels_last():
    inp = fgc.Input((2, 3, 4))
    x = rng.standard_normal((2, 2, 3, 4)).astype(np.float32)
    first = fgc.Model(inp, layers.Flatten(data_format="channels_first")(inp)).predict(x, verbose=0)
    last = fgc.Model(inp, layers.Flatten()(inp)).predict(x, verbose=0)
    np.testing.assert_array_equal(first, np.moveaxis(x, 1, -1).reshape(2, -1))
    np.testing.assert_array_equal(last, x.reshape(2, -1))


def test_upsampling_images_of_unknown_size_trains(gradcheck):
    inp = fgc.Input((None, None, 2))
    model = fgc.Model(inp, layers.UpSampling2D((2, 3))(layers.Dense(2, name="pre")(inp)))
    x = rng.standard_normal((2, 3, 4, 2))
    assert model.predict(x, verbose=0).shape == (2, 6, 12, 2)

    def forward(p, x):
        return np.repeat(np.repeat(x @ p[0] + p[1], 2, axis=1), 3, axis=2)

    gradcheck(model, forward, x, rng.standard_normal((2, 6, 12, 2)))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_bilinear_upsampling(data_format, gradcheck):
    first = data_format == "channels_first"
    inp = fgc.Input((1, 2, 2) if first else (2, 2, 1))
    up = fgc.Model(inp, layers.UpSampling2D(interpolation="bilinear", data_format=data_format)(inp))
    x = np.array([0.0, 1.0, 2.0, 3.0]).reshape((1, 1, 2, 2) if first else (1, 2, 2, 1))
    got = up.predict(x, verbose=0).reshape(4, 4)
    row = np.array([0.0, 0.25, 0.75, 1.0])       # half-pixel centres, clamped at the edges
    np.testing.assert_allclose(got, row[None, :] + 2 * row[:, None], rtol=1e-6)
