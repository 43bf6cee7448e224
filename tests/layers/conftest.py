"""Helpers for the catalogue layer tests: a layer's weight gradients from one fgc SGD step (lr 1, mse)
against central finite differences of an independent numpy forward pass in float64."""
import functools

import numpy as np
import onnxruntime as ort
import pytest

from fgc.optimizers import SGD


def f64(a):
    """float32 rounding first (what fgc computes on), then float64 for the reference."""
    return np.asarray(a, np.float32).astype(np.float64)


def check_gradients(fd_grads, model, forward, x, y, rtol=2e-3, atol=2e-6):
    """``forward(params, x) -> prediction`` in numpy float64; the model's weights are its params in
    get_weights() order. Checks predict() and the mse gradient of every weight."""
    params = [f64(w) for w in model.get_weights()]
    xs = [f64(a) for a in x] if isinstance(x, (list, tuple)) else f64(x)
    np.testing.assert_allclose(model.predict(x, verbose=0), forward(params, xs), rtol=1e-4, atol=1e-5)
    model.compile(SGD(1.0), "mse")
    before = model.get_weights()
    model.train_on_batch(x, y)
    got = [b - a for b, a in zip(before, model.get_weights())]
    model.set_weights(before)
    want = fd_grads(lambda p: ((forward(p, xs) - f64(y)) ** 2).mean(), params)
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"gradient of weight {i}")


def check_onnx_export(model, x, tmp_path):
    """The inference export runs in plain onnxruntime and equals predict()."""
    import onnx

    path = tmp_path / "model.onnx"
    model.export(str(path))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = x if isinstance(x, (list, tuple)) else [x]
    feed = {i.name: np.asarray(a, np.float32 if i.type == "tensor(float)" else None)
            for i, a in zip(sess.get_inputs(), xs)}
    got = sess.run(None, feed)
    want = model.predict(x, verbose=0)
    want = want if isinstance(want, list) else [want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    return proto


@pytest.fixture
def gradcheck(fd_grads):
    return functools.partial(check_gradients, fd_grads)


@pytest.fixture
def onnx_export(tmp_path):
    return lambda model, x: check_onnx_export(model, x, tmp_path)
