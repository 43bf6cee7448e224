"""Rescaling, Normalization (given statistics and adapt) and CenterCrop against Keras 3's formulas in
numpy, gradients through them by finite differences, training with adapted statistics, export."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(0)


def test_rescaling_casts_and_scales():
    inp = fgc.Input((2, 3), dtype="uint8")
    model = fgc.Model(inp, layers.Rescaling(scale=[1.0, 2.0, 0.5], offset=-1.0)(inp))
    x = rng.integers(0, 255, size=(4, 2, 3)).astype("uint8")
    got = model.predict(x, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, x * np.array([1.0, 2.0, 0.5]) - 1.0, rtol=1e-6)


def test_normalization_with_given_statistics():
    inp = fgc.Input((3, 2))
    model = fgc.Model(inp, layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])(inp))
    x = rng.standard_normal((5, 3, 2))
    np.testing.assert_allclose(model.predict(x, verbose=0), (x - [1.0, 2.0]) / np.maximum(np.sqrt([4.0, 0.0]), 1e-7),
                               rtol=1e-5)
    inverse = fgc.Model(inp, layers.Normalization(mean=3.0, variance=9.0, invert=True)(inp))
    np.testing.assert_allclose(inverse.predict(x, verbose=0), x * 3.0 + 3.0, rtol=1e-5)


@pytest.mark.parametrize("axis", [-1, (1, 2), None])
def test_adapt_on_an_array_and_on_batches(axis):
    data = rng.normal(2.0, 3.0, size=(64, 3, 4))
    keep = {-1: (2,), (1, 2): (1, 2), None: ()}[axis]
    reduce = tuple(a for a in range(3) if a not in keep)
    whole = layers.Normalization(axis=axis)
    whole.adapt(data)
    batched = layers.Normalization(axis=axis)
    batched.adapt([data[:10], data[10:40], data[40:]])
    for layer in (whole, batched):
        mean, var, count = layer.get_weights()
        np.testing.assert_allclose(mean, data.mean(axis=reduce), rtol=1e-5)
        np.testing.assert_allclose(var, data.var(axis=reduce), rtol=1e-5)
    inp = fgc.Input((3, 4))
    model = fgc.Model(inp, whole(inp))
    want = (data - data.mean(axis=reduce, keepdims=True)) / np.sqrt(data.var(axis=reduce, keepdims=True))
    np.testing.assert_allclose(model.predict(data, verbose=0), want, rtol=1e-4, atol=1e-5)


def test_adapted_model_trains_and_keeps_its_statistics():
    data = rng.normal(5.0, 2.0, size=(32, 4))
    norm = layers.Normalization()
    norm.adapt(data)
    inp = fgc.Input((4,))
    model = fgc.Model(inp, layers.Dense(2)(norm(inp)))
    stats = [w.copy() for w in norm.get_weights()]

    ys = rng.standard_normal((32, 2))
    before = model.get_weights()
    model.compile(fgc.optimizers.SGD(1.0), "mse")
    model.train_on_batch(data, ys)
    got = [b - a for b, a in zip(before, model.get_weights())]
    p = [np.float64(w) for w in before]
    x64 = np.float64(np.float32(data))
    h = (x64 - p[0]) / np.sqrt(p[1])
    d = 2 * (h @ p[3] + p[4] - np.float64(np.float32(ys))) / ys.size
    np.testing.assert_allclose(got[3], h.T @ d, rtol=1e-3, atol=1e-6)
    for s, w in zip(stats, norm.get_weights()):
        np.testing.assert_array_equal(s, w)                          # non-trainable: unchanged


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_center_crop(data_format, gradcheck):
    first = data_format == "channels_first"
    shape = (2, 7, 6) if first else (7, 6, 2)
    inp = fgc.Input(shape)
    pre = layers.Conv2D(2, 1, data_format=data_format, name="pre")
    model = fgc.Model(inp, layers.CenterCrop(4, 3, data_format=data_format)(pre(inp)))
    assert model.outputs[0].shape == ((None, 2, 4, 3) if first else (None, 4, 3, 2))

    def forward(p, x):
        h = np.einsum("bchw,co->bohw", x, p[0][0, 0]) + p[1][:, None, None] if first else x @ p[0][0, 0] + p[1]
        return h[:, :, 1:5, 1:4] if first else h[:, 1:5, 1:4]

    gradcheck(model, forward, rng.standard_normal((2, *shape)),
              rng.standard_normal((2, *model.outputs[0].shape[1:])))


def test_preprocessing_exports(onnx_export):
    inp = fgc.Input((6, 5, 3), dtype="uint8")
    norm = layers.Normalization()
    norm.adapt(rng.integers(0, 255, size=(10, 6, 5, 3)).astype(np.float32) / 255)
    x = layers.CenterCrop(4, 4)(norm(layers.Rescaling(1 / 255.0)(inp)))
    model = fgc.Model(inp, x)
    onnx_export(model, rng.integers(0, 255, size=(2, 6, 5, 3)).astype(np.uint8))


def test_errors():
    with pytest.raises(ValueError, match="pass both mean and variance"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="smaller than the crop"):
        layers.CenterCrop(8, 2)(fgc.Input((5, 5, 1)))
    with pytest.raises(ValueError, match="does not broadcast"):
        layers.Rescaling([1.0, 2.0])(fgc.Input((3, 3)))
    layer = layers.Normalization()
    layer.adapt(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="keeps axes"):
        layer.adapt(np.zeros((4, 5)))


def test_resizing_hand_computed_values():
    inp = fgc.Input((2, 2, 1))
    x = np.array([[[[0.0], [1.0]], [[2.0], [3.0]]]])
    up = fgc.Model(inp, layers.Resizing(4, 4)(inp)).predict(x, verbose=0)[0, :, :, 0]
    # half-pixel centres: output i reads input (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (edges clamp)
    row = np.array([0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(up, row[None, :] + 2 * row[:, None], rtol=1e-6)
    big = fgc.Input((4, 6, 1))
    x = rng.standard_normal((1, 4, 6, 1))
    down = fgc.Model(big, layers.Resizing(2, 3)(big)).predict(x, verbose=0)
    np.testing.assert_allclose(down, x.reshape(1, 2, 2, 3, 2, 1).mean(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    nearest = fgc.Model(big, layers.Resizing(8, 3, interpolation="nearest")(big)).predict(x, verbose=0)
    np.testing.assert_allclose(nearest, np.repeat(x, 2, axis=1)[:, :, 1::2], rtol=1e-6)


def test_resizing_gradient(gradcheck):
    inp = fgc.Input((3, 4, 2))
    model = fgc.Model(inp, layers.Resizing(5, 2)(layers.Dense(2, name="pre")(inp)))

    def tri(n_in, n_out):
        c = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        w = np.maximum(0, 1 - np.abs(c[:, None] - np.arange(n_in)))
        return w / w.sum(1, keepdims=True)

    def forward(p, x):
        return np.einsum("hH,bHWc,wW->bhwc", tri(3, 5), x @ p[0] + p[1], tri(4, 2))

    gradcheck(model, forward, rng.standard_normal((2, 3, 4, 2)), rng.standard_normal((2, 5, 2, 2)))
