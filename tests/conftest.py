"""Shared test setup: skip `cuda` tests where the CUDA provider does not really load, fresh
automatic layer names for every test, and the device reset to 'auto' after each test."""
import os
import sys

import pytest

import fgc

os.environ.setdefault("KERAS_BACKEND", "jax")  # for the Keras comparisons (skipped without Keras)
from fgc.runtime import session


def _cuda_loads() -> bool:
    return session._probe_cuda(strict=False)


def pytest_collection_modifyitems(config, items):
    cuda_items = [item for item in items if "cuda" in item.keywords]
    if not cuda_items or _cuda_loads():
        return
    skip = pytest.mark.skip(reason=f"onnxruntime CUDA provider does not load here ({session._cuda_error})")
    for item in cuda_items:
        item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_names_and_device():
    fgc.utils.clear_session(free_memory=False)  # gc.collect() before every test would cost minutes
    yield
    fgc.set_device("auto")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture
def run_graph():
    """Run a primitive-level IR graph in plain onnxruntime on the CPU: ``run_graph(graph, *arrays)``."""
    import numpy as np
    import onnxruntime as ort

    from fgc.export.onnx import to_onnx

    def run(graph, *arrays):
        proto = to_onnx(graph)
        sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        feed = {name: np.asarray(a, dtype=np.float32) for name, a in zip(graph.input_names, arrays)}
        return sess.run(list(graph.output_names), feed)

    return run


def central_differences(f, params, h=1e-6):
    """The gradient of ``f(list of float64 arrays) -> float`` with respect to every entry of every array,
    by central finite differences: the independent reference of the gradient tests."""
    import numpy as np

    grads = []
    for i, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            up, dn = [q.copy() for q in params], [q.copy() for q in params]
            up[i][idx] += h
            dn[i][idx] -= h
            g[idx] = (f(up) - f(dn)) / (2 * h)
        grads.append(g)
    return grads


@pytest.fixture
def fd_grads():
    """``fd_grads(f, params, h=1e-6)``: central finite differences (see central_differences)."""
    return central_differences


def sgd_step_gradients(build, batch, flag=None, weights=None):
    """Every weight's gradient of the mse loss on ``batch(model) -> (x, y)``, read off one SGD step with learning
    rate 1: (weights before, gradients, model). ``flag`` = (module, value) sets ``module.ENABLED`` for the step
    (a pass's switch, to compare the graph with and without it); ``weights`` start the model from given values."""
    import fgc

    module, value = flag if flag is not None else (None, None)
    if module is not None:
        module.ENABLED = value
    try:
        model = build()
        if weights is not None:
            model.set_weights(weights)
        model.compile(optimizer=fgc.optimizers.SGD(learning_rate=1.0), loss="mse")
        before = model.get_weights()
        model.train_on_batch(*batch(model))
    finally:
        if module is not None:
            module.ENABLED = True
    return before, [w0 - w1 for w0, w1 in zip(before, model.get_weights())], model


@pytest.fixture
def sgd_grads():
    """``sgd_grads(build, batch, flag=None, weights=None)``: see sgd_step_gradients."""
    return sgd_step_gradients


@pytest.fixture
def fresh_keras_names():
    """Keras numbers automatic names per process: a test module that compares names with Keras leaves them as it
    found them (``pytestmark = pytest.mark.usefixtures("fresh_keras_names")``)."""
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].utils.clear_session()
