"""The new optimizers and base features in the data-parallel split step (gradients, Allreduce, then
the update graph from Optimizer.apply): a job of one gives the fused step's numbers."""
import numpy as np
import pytest

pytest.importorskip("mpi4py")

import fgc  # noqa: E402
from fgc import layers, optimizers as O  # noqa: E402
from fgc.distribute import DataParallel  # noqa: E402


def _fit(optimizer, distribute):
    fgc.utils.set_random_seed(0)
    inp = fgc.Input((5,))
    model = fgc.Model(inp, layers.Dense(2)(layers.Dense(6, activation="tanh")(inp)))
    model.compile(optimizer, "mse", distribute=distribute)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 5)).astype(np.float32)
    model.fit(x, x[:, :2] * 2, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model


@pytest.mark.parametrize("make", [lambda: O.Lamb(0.05, use_ema=True, gradient_accumulation_steps=2),
                                  lambda: O.Adafactor(0.3, loss_scale_factor=8.0),
                                  lambda: O.Lion(0.01, weight_decay=0.1, ema_overwrite_frequency=2, use_ema=True)],
                         ids=["lamb_ema_accumulate", "adafactor_loss_scale", "lion_ema_overwrite"])
def test_a_job_of_one_matches_the_fused_step(make):
    plain, split = _fit(make(), None), _fit(make(), DataParallel())
    assert plain.optimizer.iterations == split.optimizer.iterations
    for got, want in zip(split.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
