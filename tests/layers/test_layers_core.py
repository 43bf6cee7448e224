"""Forward numerics of the core layers (Dense, Activation, Dropout, Flatten, Reshape) via predict."""
import numpy as np
import pytest

from fgc import Input, Model, layers

BATCHES = [1, 7]


def _x(batch, *shape, seed=0):
    return np.random.default_rng(seed + batch).random((batch, *shape))


@pytest.mark.parametrize("batch", BATCHES)
def test_dense_is_x_at_kernel_plus_bias(batch):
    x = _x(batch, 4)
    inp = Input(shape=(4,))
    model = Model(inp, layers.Dense(3)(inp))
    kernel, bias = model.get_weights()
    assert kernel.shape == (4, 3) and bias.shape == (3,)
    np.testing.assert_array_equal(bias, 0)          # Keras: zero bias initializer
    bias = np.array([0.1, -0.2, 0.3], np.float32)
    model.set_weights([kernel, bias])
    np.testing.assert_allclose(model.predict(x), x @ kernel + bias, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch", BATCHES)
def test_dense_without_bias(batch):
    x = _x(batch, 4)
    inp = Input(shape=(4,))
    model = Model(inp, layers.Dense(2, use_bias=False)(inp))
    (kernel,) = model.get_weights()
    np.testing.assert_allclose(model.predict(x), x @ kernel, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch", BATCHES)
def test_dense_on_rank3_input_applies_to_last_axis(batch):
    x = _x(batch, 5, 4)
    inp = Input(shape=(5, 4))
    model = Model(inp, layers.Dense(3, activation="relu")(inp))
    kernel, bias = model.get_weights()
    model.set_weights([kernel, np.full(3, -0.1)])
    got = model.predict(x)
    assert got.shape == (batch, 5, 3)
    np.testing.assert_allclose(got, np.maximum(np.einsum("nti,io->nto", x, kernel) - 0.1, 0), rtol=1e-5, atol=1e-6)


def test_dense_kernel_is_glorot_uniform():
    inp = Input(shape=(40,))
    dense = layers.Dense(60)
    Model(inp, dense(inp))
    limit = np.sqrt(6.0 / (40 + 60))
    kernel = dense.get_weights()[0]
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit  # really spread over the interval, not a tiny init


@pytest.mark.parametrize("batch", BATCHES)
def test_activation_layer(batch):
    x = _x(batch, 6) - 0.5
    inp = Input(shape=(6,))
    np.testing.assert_allclose(Model(inp, layers.Activation("tanh")(inp)).predict(x), np.tanh(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch", BATCHES)
def test_dropout_is_identity_in_predict(batch):
    x = _x(batch, 6)
    inp = Input(shape=(6,))
    out = layers.Dropout(0.9)(inp)
    model = Model(inp, layers.Dense(2)(out))
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x), x @ kernel + bias, rtol=1e-5, atol=1e-6)
    assert "Dropout" not in model.ir()


@pytest.mark.parametrize("batch", BATCHES)
def test_flatten(batch):
    x = _x(batch, 2, 3, 4)
    inp = Input(shape=(2, 3, 4))
    model = Model(inp, layers.Flatten()(inp))
    assert model.outputs[0].shape == (None, 24)
    np.testing.assert_array_equal(model.predict(x), x.reshape(batch, 24).astype(np.float32))


@pytest.mark.parametrize("batch", BATCHES)
def test_flatten_channels_first_moves_channels_last(batch):
    x = _x(batch, 2, 3, 4)
    inp = Input(shape=(2, 3, 4))
    got = Model(inp, layers.Flatten(data_format="channels_first")(inp)).predict(x)
    np.testing.assert_array_equal(got, x.transpose(0, 2, 3, 1).reshape(batch, 24).astype(np.float32))


@pytest.mark.parametrize("batch", BATCHES)
def test_reshape(batch):
    x = _x(batch, 12)
    inp = Input(shape=(12,))
    model = Model(inp, [layers.Reshape((3, 4))(inp), layers.Reshape((-1, 2))(inp)])
    a, b = model.predict(x)
    assert model.outputs[1].shape == (None, 6, 2)
    np.testing.assert_array_equal(a, x.reshape(batch, 3, 4).astype(np.float32))
    np.testing.assert_array_equal(b, x.reshape(batch, 6, 2).astype(np.float32))


@pytest.mark.parametrize("target", [(5, 2), (-1, 5)])
def test_reshape_rejects_wrong_size(target):
    inp = Input(shape=(12,))
    with pytest.raises(ValueError, match=r"Layer 'reshape' \(Reshape\), call 0: .*reshape") as err:
        layers.Reshape(target)(inp)
    assert "12" in str(err.value)


@pytest.mark.parametrize("kwargs, match", [
    (dict(units=0), "positive int"),
    (dict(units=3.5), "positive int"),
])
def test_dense_rejects_bad_units(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Dense(**kwargs)


def test_dropout_rejects_bad_rate():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        layers.Dropout(1.5)


def test_float64_data_feeds_float32_input_and_int_input_casts():
    inp = Input(shape=(3,), dtype="int32")
    model = Model(inp, layers.Activation("linear")(inp))
    got = model.predict(np.array([[1.0, 2.0, -3.0]]))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [[1, 2, -3]])
    got = model.predict(np.array([[4, 5, 6]], dtype=np.int64))
    np.testing.assert_array_equal(got, [[4, 5, 6]])


def test_unknown_sequence_length_stays_symbolic():
    i = Input(shape=(None, 4), name="seq")
    dense = layers.Dense(3)
    model = Model(i, [dense(i), layers.Flatten()(i), layers.Reshape((-1, 2))(i)])
    assert [t.shape for t in model.outputs] == [(None, None, 3), (None, None), (None, None, 2)]
    assert "%seq: f32[N,T0,4]" in model.ir()
    kernel, bias = dense.get_weights()
    for steps in (2, 5):                       # one compiled graph serves every length
        x = _x(3, steps, 4)
        d, f, r = model.predict(x)
        np.testing.assert_allclose(d, x @ kernel + bias, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(f, x.reshape(3, steps * 4).astype(np.float32))
        np.testing.assert_array_equal(r, x.reshape(3, steps * 2, 2).astype(np.float32))
    assert len(model._runners) == 1
