"""EpochLoop (fgc/training/loop.py): what a pass reads is found once per fit and found again when the
model's compiled step changes."""
import numpy as np

import fgc
from fgc import layers
from fgc.training.loop import EpochLoop, make_batches, run_epoch

rng = np.random.default_rng(0)
X = rng.standard_normal((10, 3))
Y = rng.standard_normal((10, 2))


def _model():
    x = fgc.Input((3,), name="x")
    model = fgc.Model(x, layers.Dense(2, name="dense")(x))
    model.compile("sgd", "mse", metrics=["mae"])
    return model


def test_a_loop_runs_every_pass_as_a_fresh_one_would():
    model = _model()
    data = make_batches(model, X, Y)
    loop = EpochLoop(model, False)
    first = loop.run(data, 4)
    found = loop._for
    again = loop.run(data, 4)
    assert loop._for is found   # found once, kept
    assert first == again == run_epoch(model, data, 4, False)   # the running means start over each pass


def test_a_loop_follows_a_recompile_between_passes():
    model = _model()
    data = make_batches(model, X, Y)
    loop = EpochLoop(model, True)
    assert set(loop.run(data, 4)) == {"loss", "mae"}
    model.compile("sgd", "mse", metrics=["mse"])
    data = make_batches(model, X, Y)
    assert set(loop.run(data, 4)) == {"loss", "mse"}
    assert loop._for[0] is model._trainer
