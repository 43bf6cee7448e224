"""A Sequential without an input shape builds on first use (data, a symbolic call, build()) as in Keras;
compile may come first; what needs the shape before that says how to give it."""
import numpy as np
import pytest

import fgc
from fgc import Sequential, layers
from fgc.optimizers import SGD

rng = np.random.default_rng(4)
X = rng.standard_normal((6, 4))
Y = rng.standard_normal((6, 2))


def unbuilt():
    return Sequential([layers.Dense(2)])


def test_compile_before_data_then_fit_trains_like_the_formula():
    model = unbuilt()
    model.compile(SGD(0.1), "mse")
    assert not model.built
    before = model.predict(X[:1], verbose=0)  # builds, and completes the compile
    assert model.built and before.shape == (1, 2)
    k, b = model.get_weights()
    model.fit(X, Y, batch_size=6, epochs=1, shuffle=False, verbose=0)
    err = X @ k + b - Y  # mse = mean over batch and outputs: d/dk = 2 X^T err / err.size
    np.testing.assert_allclose(model.get_weights()[0], k - 0.1 * 2 * X.T @ err / err.size, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], b - 0.1 * 2 * err.sum(0) / err.size, rtol=1e-5, atol=1e-6)


def test_fit_builds_a_compiled_unbuilt_model():
    model = unbuilt()
    model.compile(SGD(0.0), "mse")
    history = model.fit(X, Y, batch_size=6, verbose=0)
    k, b = model.get_weights()
    assert k.shape == (4, 2)
    np.testing.assert_allclose(history.history["loss"][0], np.mean((X @ k + b - Y) ** 2), rtol=1e-5)


def test_evaluate_and_train_on_batch_build_too():
    for run in (lambda m: m.evaluate(X, Y, verbose=0), lambda m: m.train_on_batch(X, Y),
                lambda m: m.test_on_batch(X, Y)):
        model = unbuilt()
        model.compile(SGD(0.0), "mse")
        loss = run(model)
        k, b = model.get_weights()
        np.testing.assert_allclose(loss, np.mean((X @ k + b - Y) ** 2), rtol=1e-5)


def test_symbolic_call_and_build_fix_the_input_shape():
    model = unbuilt()
    out = model(fgc.Input(shape=(5,)))
    assert model.built and out.shape == (None, 2) and model.get_weights()[0].shape == (5, 2)
    other = unbuilt()
    other.build((None, 7))
    assert other.inputs[0].shape == (None, 7)
    with pytest.raises(ValueError, match=r"build\(\(None, 4\)\)"):
        unbuilt().build((4,))


@pytest.mark.parametrize("what, call", [
    ("export", lambda m, p: m.export(p / "m.onnx")),
    ("save_weights", lambda m, p: m.save_weights(p / "w.npz")),
    ("load_weights", lambda m, p: m.load_weights(p / "w.npz")),
])
def test_what_needs_the_shape_says_how_to_give_it(tmp_path, what, call):
    model = unbuilt()
    with pytest.raises(ValueError, match=rf"not built yet, so {what} .*input_shape=.*build\(\(None, \.\.\.\)\)"):
        call(model, tmp_path)
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "w.npz").exists()


def test_deferred_compile_still_checks_its_keywords():
    with pytest.raises(TypeError, match="did you mean 'optimizer'"):
        unbuilt().compile(optimiser="sgd", loss="mse")
