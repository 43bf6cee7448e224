"""BatchNormalization in training: batch statistics in the forward pass and Keras 3's moving
statistic updates (momentum 0.99, biased variance), checked against numpy; predict uses the
moving statistics afterwards."""
import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_batchnorm_trains_with_batch_statistics_and_updates_moving_ones(steps_per_execution):
    fgc.utils.set_random_seed(0)
    inputs = Input(shape=(4, 3))
    bn = layers.BatchNormalization(momentum=0.9)
    model = Model(inputs, bn(inputs))
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "mse", steps_per_execution=steps_per_execution)
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(12, 4, 3))
    gamma, beta, mean, var = [w.astype(np.float64) for w in bn.get_weights()]
    batches = [x[i:i + 4] for i in range(0, 12, 4)]
    for batch in batches:  # Keras 3: moving = moving * momentum + batch_stat * (1 - momentum)
        m, v = batch.mean(axis=(0, 1)), batch.var(axis=(0, 1))
        mean, var = mean * 0.9 + m * 0.1, var * 0.9 + v * 0.1
    model.fit(x, np.zeros_like(x), batch_size=4, epochs=1, shuffle=False, verbose=0)
    got = bn.get_weights()
    np.testing.assert_allclose(got[2], mean, rtol=1e-5)
    np.testing.assert_allclose(got[3], var, rtol=1e-5)
    np.testing.assert_allclose(got[0], gamma) and np.testing.assert_allclose(got[1], beta)
    # the training forward uses the batch's own statistics: train loss = mean of normalized^2
    normalized = (batches[0] - batches[0].mean((0, 1))) / np.sqrt(batches[0].var((0, 1)) + 1e-3)
    loss = model.train_on_batch(batches[0], np.zeros_like(batches[0]))
    np.testing.assert_allclose(loss, np.mean(normalized ** 2), rtol=1e-4)
    # predict uses the moving statistics
    mean2, var2 = bn.get_weights()[2:]
    np.testing.assert_allclose(model.predict(x[:2]), (x[:2] - mean2) / np.sqrt(var2 + 1e-3), rtol=1e-4, atol=1e-5)


def test_batchnorm_gradient_through_batch_statistics():
    fgc.utils.set_random_seed(2)
    inputs = Input(shape=(3,))
    hidden = layers.Dense(3)(inputs)
    model = Model(inputs, layers.Dense(1)(layers.BatchNormalization()(hidden)))
    lr = 1e-2
    model.compile(fgc.optimizers.SGD(learning_rate=lr), "mse")
    rng = np.random.default_rng(3)
    x, y = rng.random((6, 3)), rng.random((6, 1))
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    grad = (w0[0] - model.get_weights()[0]) / lr

    def loss(kernel):  # numpy forward in training mode
        h = x @ kernel + w0[1]
        n = (h - h.mean(0)) / np.sqrt(h.var(0) + 1e-3) * w0[2] + w0[3]
        return np.mean((n @ w0[6] + w0[7] - y) ** 2)
    eps = 1e-4
    for idx in [(0, 0), (1, 2), (2, 1)]:
        k = w0[0].astype(np.float64).copy()
        k[idx] += eps
        up = loss(k)
        k[idx] -= 2 * eps
        assert abs((up - loss(k)) / (2 * eps) - grad[idx]) < 1e-3 + 1e-2 * abs(grad[idx])
