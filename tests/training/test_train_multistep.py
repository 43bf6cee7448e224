"""compile(steps_per_execution=K): K train steps per onnxruntime call through an ONNX Loop must give
exactly the weights, losses and metrics of one step per call (including a short last batch)."""
import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers


def _model(k, optimizer):
    fgc.utils.set_random_seed(3)
    inputs = Input(shape=(6,))
    hidden = layers.Dense(5, activation="relu")(inputs)
    outputs = layers.Dense(3, activation="softmax")(hidden)
    model = Model(inputs, outputs)
    model.compile(optimizer, "categorical_crossentropy", metrics=["acc"], steps_per_execution=k)
    return model


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "nadam"])
def test_multi_step_calls_match_single_steps(optimizer):
    rng = np.random.default_rng(0)
    x = rng.random((83, 6))
    y = np.eye(3)[rng.integers(0, 3, 83)]
    single, multi = _model(1, optimizer), _model(4, optimizer)
    seen = []
    h1 = single.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    cb = fgc.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    h2 = multi.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False, callbacks=[cb])
    assert multi._trainer.step(True).loop_session is not None  # the Loop path really ran
    for a, b in zip(single.get_weights(), multi.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for key in ("loss", "acc"):
        np.testing.assert_allclose(h1.history[key], h2.history[key], rtol=1e-6)
    assert seen == list(range(11)) * 2  # every batch still reported, in order
    assert multi.optimizer.iterations == single.optimizer.iterations == 22


def test_steps_per_execution_must_be_positive():
    with pytest.raises(ValueError, match="steps_per_execution"):
        _model(0, "sgd")


def test_a_state_too_big_for_the_host_runs_its_first_fit_with_several_steps_per_call(monkeypatch):
    """Regression: the first snapshot decides whether the state is bound (over HOST_STATE_LIMIT), and
    run_many read that flag before taking its first snapshot: the Loop ran with the host path, stored
    its numpy outputs as the state, and the next call bound them as OrtValues (AttributeError)."""
    from fgc.training import runtime

    monkeypatch.setattr(runtime, "HOST_STATE_LIMIT", 0)   # every state is "big": bound buffers
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 6)), np.eye(3)[rng.integers(0, 3, 20)]
    single, multi = _model(1, "adam"), _model(3, "adam")
    h1 = single.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    h2 = multi.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    assert multi._trainer.bind
    for a, b in zip(single.get_weights(), multi.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)
