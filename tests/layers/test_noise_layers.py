"""Noise layers: identities at inference; in their training form, the noise has Keras 3's
distribution (checked on many draws) and changes the train step's loss."""
import math

import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc import layers
from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType
from fgc.primitives import Builder


def _training_form(layer, x):
    """Run ``layer``'s training form (lowered alone) on ``x`` in onnxruntime."""
    g = Graph("noise_test")
    v = g.add_input("x", TensorType(("N", *x.shape[1:]), "float32"))
    layer.compute_output_types([g.type_of(v)])
    (out,) = layer.lower(Builder(g, "t"), [v], {}, training=True)
    g.outputs, g.output_names = [out], ["y"]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.astype(np.float32)})[0]


def test_gaussian_noise_adds_zero_mean_noise_of_stddev():
    y = _training_form(layers.GaussianNoise(0.5, seed=1), np.zeros((200, 100)))
    assert abs(y.mean()) < 0.01 and abs(y.std() - 0.5) < 0.01      # 20,000 draws


def test_gaussian_dropout_multiplies_by_unit_mean_noise():
    rate = 0.2
    y = _training_form(layers.GaussianDropout(rate, seed=2), np.full((200, 100), 2.0))
    assert abs(y.mean() - 2.0) < 0.02 and abs(y.std() - 2.0 * math.sqrt(rate / (1 - rate))) < 0.02


def test_alpha_dropout_values_and_self_normalization():
    rate = 0.3
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    y = _training_form(layers.AlphaDropout(rate, seed=3), np.full((200, 100), 0.5))
    kept = np.isclose(y, a * 0.5 + b, atol=1e-6)
    dropped = np.isclose(y, a * alpha_p + b, atol=1e-6)
    assert np.all(kept | dropped) and abs(dropped.mean() - rate) < 0.015
    z = _training_form(layers.AlphaDropout(rate, seed=4), np.random.default_rng(0).standard_normal((400, 100)))
    assert abs(z.mean()) < 0.02 and abs(z.var() - 1) < 0.03       # keeps zero mean, unit variance


@pytest.mark.parametrize("cls, shape, data_format", [
    (layers.SpatialDropout1D, (50, 6), None),
    (layers.SpatialDropout2D, (4, 5, 6), "channels_last"),
    (layers.SpatialDropout2D, (6, 4, 5), "channels_first"),
    (layers.SpatialDropout3D, (2, 3, 2, 6), "channels_last"),
])
def test_spatial_dropout_drops_whole_channels(cls, shape, data_format):
    kwargs = {} if data_format is None else {"data_format": data_format}
    y = _training_form(cls(0.5, seed=5, **kwargs), np.ones((300, *shape)))
    channel_axis = 1 if data_format == "channels_first" else -1
    channels = shape[0] if data_format == "channels_first" else shape[-1]
    per_channel = np.moveaxis(y, channel_axis, 1).reshape(300, channels, -1)
    assert np.all(per_channel == per_channel[:, :, :1])          # one value per (sample, channel)
    assert set(np.unique(y)) <= {0.0, 2.0} and abs((y == 0).mean() - 0.5) < 0.05


@pytest.mark.parametrize("make", [lambda: layers.GaussianNoise(0.3), lambda: layers.GaussianDropout(0.3),
                                  lambda: layers.AlphaDropout(0.3), lambda: layers.SpatialDropout1D(0.5)],
                         ids=["gaussian_noise", "gaussian_dropout", "alpha_dropout", "spatial_dropout1d"])
def test_identity_at_inference_and_noisy_in_the_train_step(make):
    fgc.utils.set_random_seed(0)
    x = fgc.Input((5, 4), name="x")
    dense = layers.Dense(3)
    model = fgc.Model(x, layers.Flatten()(make()(dense(x))))
    data = np.random.default_rng(2)
    xs, ys = data.standard_normal((64, 5, 4)), data.standard_normal((64, 15))
    w, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(xs, verbose=0), (np.float32(xs) @ w + bias).reshape(64, 15),
                               rtol=1e-5, atol=1e-6)
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "mse")
    train_loss, test_loss = model.train_on_batch(xs, ys), model.test_on_batch(xs, ys)
    assert abs(train_loss - test_loss) > 1e-3 * test_loss


def test_errors():
    with pytest.raises(ValueError, match="stddev must be a number >= 0"):
        layers.GaussianNoise(-1)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
        layers.GaussianDropout(1.0)
    with pytest.raises(ValueError, match="rank 4"):
        layers.SpatialDropout2D(0.5)(fgc.Input((3, 4)))
