"""Shared test setup: skip `cuda` tests where the CUDA provider does not really load, fresh
automatic layer names for every test, and the device reset to 'auto' after each test."""
import pytest

import fgc
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
