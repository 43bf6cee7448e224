import numpy as np

import fgc
from fgc import Input, Model, layers


def test_mlp_predict_matches_numpy():
    inputs = Input(shape=(4,))
    out = layers.Dense(3, activation="relu")(inputs)
    model = Model(inputs, out)
    w, b = model.get_weights()
    x = np.random.default_rng(0).random((5, 4))
    np.testing.assert_allclose(model.predict(x), np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-6)
    assert fgc.get_device() in ("cpu", "cuda")
