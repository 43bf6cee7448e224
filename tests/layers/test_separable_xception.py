"""SeparableConv2D against a numpy depthwise + pointwise reference, and the Xception base the seeds
share between two cameras: Keras' weight count, one weight set for both calls."""
import numpy as np
import pytest

import fgc
from fgc import Input, Model, applications, layers


def _separable_reference(x, dw, pw, b, stride, pad):
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k, channels, dm = dw.shape[0], dw.shape[2], dw.shape[3]
    out = (xp.shape[1] - k) // stride + 1
    depth = np.zeros((x.shape[0], out, out, channels * dm))
    for r in range(out):
        for c in range(out):
            window = xp[:, r * stride:r * stride + k, c * stride:c * stride + k, :]
            depth[:, r, c, :] = np.einsum("nijc,ijcm->ncm", window, dw).reshape(x.shape[0], -1)
    return depth @ pw[0, 0] + b


@pytest.mark.parametrize("padding,multiplier,stride", [("valid", 1, 1), ("same", 2, 1), ("same", 1, 2)])
def test_separable_conv2d_matches_numpy(padding, multiplier, stride):
    inputs = Input(shape=(7, 7, 3))
    layer = layers.SeparableConv2D(4, 3, padding=padding, depth_multiplier=multiplier, strides=stride)
    model = Model(inputs, layer(inputs))
    x = np.random.default_rng(0).random((2, 7, 7, 3))
    dw, pw, b = layer.get_weights()
    assert dw.shape == (3, 3, 3, multiplier) and pw.shape == (1, 1, 3 * multiplier, 4)
    want = _separable_reference(x, dw, pw, b, stride, 1 if padding == "same" else 0)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)


def test_separable_conv2d_trains():
    inputs = Input(shape=(6, 6, 2))
    model = Model(inputs, layers.GlobalAveragePooling2D()(layers.SeparableConv2D(3, 3)(inputs)))
    model.compile("adam", "mse")
    x, y = np.random.default_rng(1).random((4, 6, 6, 2)), np.ones((4, 3))
    losses = [model.train_on_batch(x, y) for _ in range(10)]
    assert losses[-1] < losses[0]


def test_xception_base_shared_between_two_cameras():
    base = applications.Xception(weights=None, include_top=False)
    assert base.count_params() == 20_861_480  # Keras' figure for the convolutional base
    left, right = Input(shape=(71, 71, 3)), Input(shape=(71, 71, 3))
    merged = layers.concatenate([base(left), base(right)], axis=-1)
    model = Model([left, right], merged)
    assert model.count_params() == base.count_params()  # one weight set for both calls
    image = np.random.default_rng(2).random((1, 71, 71, 3))
    out = model.predict([image, image])
    assert out.shape == (1, 3, 3, 4096)
    np.testing.assert_allclose(out[..., :2048], out[..., 2048:])


def test_xception_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="weights=None"):
        applications.Xception(weights="imagenet")
    assert isinstance(fgc.applications.Xception(include_top=True, input_shape=(71, 71, 3)), Model)
