"""Every activation through model.predict against numpy references written from the Keras 3 formulas."""
import math

import numpy as np
import pytest

from fgc import Input, Model, layers

_erf = np.vectorize(math.erf)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1.0))


REFERENCES = {
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "linear": lambda x: x,
    "elu": _elu,
    "selu": lambda x: SELU_SCALE * _elu(x, SELU_ALPHA),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),      # Keras 3 default: exact, not tanh
    "swish": lambda x: x * _sigmoid(x),
    "silu": lambda x: x * _sigmoid(x),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),               # Keras 3 negative_slope=0.2
    "exponential": np.exp,
    "hard_sigmoid": lambda x: np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0,   # Keras 3: relu6(x + 3) / 6
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
}


def _inputs(batch):
    # Spread over [-7, 7] so every branch of the piecewise activations (relu6 > 6, hard_sigmoid's
    # clip at +-3, negative elu/selu/leaky_relu) is exercised; float64 as np.random gives.
    rng = np.random.default_rng(batch)
    x = rng.uniform(-7.0, 7.0, size=(batch, 9))
    x[0, :5] = [-7.0, -3.0, 0.0, 3.0, 6.5]
    return x


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("batch", [1, 7])
def test_activation_layer_matches_keras_formula(name, batch):
    x = _inputs(batch)
    inp = Input(shape=(9,))
    model = Model(inp, layers.Activation(name)(inp))
    got = model.predict(x)
    assert got.shape == (batch, 9) and got.dtype == np.float32
    np.testing.assert_allclose(got, REFERENCES[name](x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "gelu", "softmax", "hard_sigmoid", "leaky_relu"])
def test_dense_activation_argument_matches_formula(name):
    x = _inputs(7)[:, :4]
    inp = Input(shape=(4,))
    dense = layers.Dense(5, activation=name)
    model = Model(inp, dense(inp))
    kernel = np.linspace(-1.5, 1.5, 20).reshape(4, 5)
    bias = np.array([0.5, -0.25, 0.0, 1.0, -2.0])
    model.set_weights([kernel, bias])
    np.testing.assert_allclose(model.predict(x), REFERENCES[name](x @ kernel + bias), rtol=1e-5, atol=1e-5)


def test_activation_names_are_case_insensitive_and_callables_work():
    x = _inputs(3)
    inp = Input(shape=(9,))
    model = Model(inp, [layers.Activation("ReLU")(inp), layers.Activation(lambda b, v: b.Mul(v, 2.0))(inp)])
    relu, doubled = model.predict(x)
    np.testing.assert_allclose(relu, np.maximum(x, 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(doubled, 2 * x, rtol=1e-6, atol=1e-6)


def test_log_softmax_matches_formula():
    x = _inputs(7)
    inp = Input(shape=(9,))
    got = Model(inp, layers.Activation("log_softmax")(inp)).predict(x)
    np.testing.assert_allclose(got, np.log(_softmax(x)), rtol=1e-5, atol=1e-5)
