"""The gradient of a concatenation along an axis whose lengths are only known at run time
(two variable-length sequences joined in time) splits the cotangent by the inputs' run-time
lengths; checked against central finite differences."""
import numpy as np

import fgc
from fgc import Input, Model, layers


def test_concat_along_unknown_time_axis_gradient_matches_finite_differences():
    fgc.utils.set_random_seed(0)
    a, b = Input(shape=(None, 3)), Input(shape=(None, 3))
    dense = layers.Dense(2)
    joined = layers.Concatenate(axis=1)([dense(a), dense(b)])
    model = Model([a, b], layers.SimpleRNN(2)(joined))
    lr = 1e-2
    model.compile(fgc.optimizers.SGD(learning_rate=lr), "mse")
    rng = np.random.default_rng(1)
    x = [rng.random((2, 3, 3)), rng.random((2, 5, 3))]  # different lengths in one batch pair
    y = rng.random((2, 2))
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    grads = [(p - q) / lr for p, q in zip(w0, model.get_weights())]
    model.set_weights(w0)
    kernel = w0[0]  # the shared Dense kernel: both halves of the concatenation contribute
    eps = 1e-3
    for idx in [(0, 0), (1, 1), (2, 0)]:
        plus = [w.copy() for w in w0]
        plus[0][idx] += eps
        model.set_weights(plus)
        up = model.evaluate(x, y, verbose=0)
        plus[0][idx] -= 2 * eps
        model.set_weights(plus)
        down = model.evaluate(x, y, verbose=0)
        assert abs((up - down) / (2 * eps) - grads[0][idx]) < 2e-3 + 2e-2 * abs(grads[0][idx])
    assert kernel.shape == (3, 2)
