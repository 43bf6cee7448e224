"""Device choice: CPU everywhere, CUDA only when its provider really loads, never a silent fallback."""
import math

import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers
from fgc.runtime import session


def _model():
    i = Input(shape=(8,))
    h = layers.Dense(16, activation="gelu")(i)
    return Model(i, layers.Dense(4, activation="softmax")(h))


X = np.random.default_rng(0).normal(size=(33, 8))   # one more than the default batch of 32


def test_cpu_device_runs_on_the_cpu_provider():
    fgc.set_device("cpu")
    assert fgc.get_device() == "cpu"
    model = _model()
    out = model.predict(X)
    runner = model._runners["cpu"]
    assert runner.session.get_providers() == ["CPUExecutionProvider"]
    k1, b1, k2, b2 = model.get_weights()
    h = X @ k1 + b1
    h = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))
    z = h @ k2 + b2
    assert out.shape == (33, 4)
    np.testing.assert_allclose(out, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_auto_resolves_to_what_really_loads():
    fgc.set_device("auto")
    assert fgc.get_device() == ("cuda" if session._probe_cuda(strict=False) else "cpu")


def test_predict_in_batches_equals_one_batch():
    model = _model()
    whole = model.predict(X, batch_size=64)
    np.testing.assert_allclose(model.predict(X), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(X, batch_size=5), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(X[:1]), whole[:1], rtol=1e-6, atol=1e-7)


def test_session_is_built_once_per_device():
    fgc.set_device("cpu")
    model = _model()
    model.predict(X[:2])
    runner = model._runners["cpu"]
    model.set_weights([w * 0.5 for w in model.get_weights()])
    model.predict(X[:3])
    assert model._runners["cpu"] is runner      # new weights and a new batch size need no new session


def test_providers_for():
    assert session.providers_for("cpu") == ["CPUExecutionProvider"]
    assert session.providers_for("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.cuda
def test_predict_on_cuda_matches_cpu():
    assert session._probe_cuda(strict=False)
    model = _model()
    fgc.set_device("cpu")
    on_cpu = model.predict(X)
    fgc.set_device("cuda")
    assert fgc.get_device() == "cuda"
    on_gpu = model.predict(X)
    assert "CUDAExecutionProvider" in model._runners["cuda"].session.get_providers()
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-4, atol=1e-5)
