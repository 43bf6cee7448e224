"""ReLU, LeakyReLU, PReLU, ELU, Softmax (with a mask), Identity against Keras 3's formulas in numpy."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(0)


def relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras 3 activations.relu."""
    y = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        y = np.clip(y, 0.0, max_value)
    return y - negative_slope * np.maximum(threshold - x, 0.0)


def softmax(x, axes):
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


def _away_from_kinks(shape, kinks=(0.0,)):
    x = rng.uniform(-2, 2, shape)
    for k in kinks:
        x = np.where(np.abs(x - k) < 0.05, k + 0.1, x)
    return x


CASES = [
    (lambda: layers.ReLU(), lambda x, p: relu(x)),
    (lambda: layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.5),
     lambda x, p: relu(x, 1.0, 0.1, 0.5)),
    (lambda: layers.ReLU(negative_slope=0.2), lambda x, p: relu(x, negative_slope=0.2)),
    (lambda: layers.LeakyReLU(), lambda x, p: np.where(x > 0, x, 0.3 * x)),
    (lambda: layers.ELU(alpha=0.7), lambda x, p: np.where(x > 0, x, 0.7 * (np.exp(x) - 1))),
    (lambda: layers.PReLU(alpha_initializer="ones"), lambda x, p: np.maximum(x, 0) - p[0] * np.maximum(-x, 0)),
    (lambda: layers.PReLU(shared_axes=[1]), lambda x, p: np.maximum(x, 0) - p[0] * np.maximum(-x, 0)),
    (lambda: layers.Softmax(), lambda x, p: softmax(x, (-1,))),
    (lambda: layers.Softmax(axis=[1, 2]), lambda x, p: softmax(x, (1, 2))),
    (lambda: layers.Identity(), lambda x, p: x),
]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_values_and_gradients(i, gradcheck):
    make, formula = CASES[i]
    inp = fgc.Input((3, 4))
    act = make()
    model = fgc.Model(inp, act(layers.Dense(4, name="pre")(inp)))
    model.set_weights([w + rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])

    def forward(p, x):
        return formula(x @ p[0] + p[1], p[2:])

    # pre-activations away from the kinks (0, threshold, max_value) so finite differences are exact
    x = np.zeros((4, 3, 4))
    pre = model.get_weights()
    target = _away_from_kinks((4, 3, 4), kinks=(0.0, 0.5, 1.0))
    x = np.linalg.lstsq(pre[0].T.astype(np.float64), (target - pre[1]).reshape(-1, 4).T, rcond=None)[0].T
    gradcheck(model, forward, x.reshape(4, 3, 4), rng.standard_normal((4, 3, 4)))


def test_keras_defaults_and_configs():
    assert layers.LeakyReLU().negative_slope == 0.3
    with pytest.warns(DeprecationWarning, match="negative_slope"):
        assert layers.LeakyReLU(alpha=0.1).negative_slope == 0.1
    assert layers.ReLU().get_config()["max_value"] is None
    prelu = layers.PReLU(shared_axes=[1, 2])
    prelu(fgc.Input((5, 6, 3)))
    assert prelu.get_weights()[0].shape == (1, 1, 3) and not prelu.get_weights()[0].any()


def test_softmax_with_a_mask():
    x_in = fgc.Input((2, 4))
    m_in = fgc.Input((1, 4), dtype="bool")
    model = fgc.Model([x_in, m_in], layers.Softmax()(x_in, mask=m_in))
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    m = rng.random((3, 1, 4)) > 0.4
    m[0] = False                                          # a fully masked row: zeros, as Keras
    got = model.predict([x, m], verbose=0)
    want = np.where(m, softmax(np.where(m, x, -1e9), (-1,)), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert not got[0].any()


def test_errors():
    with pytest.raises(ValueError, match="max_value must be a number >= 0"):
        layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match="negative_slope must be a number >= 0"):
        layers.LeakyReLU(negative_slope=None)
    with pytest.raises(ValueError, match="broadcastable"):
        layers.Softmax()(fgc.Input((2, 4)), mask=fgc.Input((3,), dtype="bool"))
    with pytest.raises(ValueError, match="known size"):
        layers.PReLU()(fgc.Input((None, 3)))
