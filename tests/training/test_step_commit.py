"""A train step commits all of its state or none of it: an interrupt (Ctrl-C) at any moment of
fit, or a step refused by a run-time check, leaves weights, optimizer slots and iterations in step,
so training resumes exactly like an uninterrupted run."""
from __future__ import annotations

import signal

import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers, optimizers

BATCH, STEPS = 8, 48


def _model(steps_per_execution=1):
    fgc.utils.set_random_seed(11)
    i = Input((6,))
    model = Model(i, layers.Dense(3)(layers.Dense(16, activation="tanh")(i)))
    model.compile(optimizer=optimizers.SGD(0.05, momentum=0.9), loss="mse", steps_per_execution=steps_per_execution)
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.random((BATCH * STEPS, 6)).astype(np.float32), rng.random((BATCH * STEPS, 3)).astype(np.float32)


def _resume(model, x, y):
    """Finish the run from wherever the model's iterations say it stopped, one batch at a time."""
    for k in range(model.optimizer.iterations, STEPS):
        model.train_on_batch(x[k * BATCH:(k + 1) * BATCH], y[k * BATCH:(k + 1) * BATCH])
    return model.get_weights()


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_interrupted_fit_resumes_exactly(steps_per_execution):
    x, y = _data()
    reference = _resume(_model(), x, y)
    previous = signal.getsignal(signal.SIGALRM)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, interrupt)
    stopped_at = set()
    try:
        for trial in range(12):
            model = _model(steps_per_execution)
            # steps 0-4 compile and warm both sessions, so the alarm lands among fit's steps
            model.train_on_batch(x[:BATCH], y[:BATCH])
            model.fit(x[BATCH:5 * BATCH], y[BATCH:5 * BATCH], batch_size=BATCH, shuffle=False, verbose=0)
            signal.setitimer(signal.ITIMER_REAL, 0.0005 + 0.0007 * trial)
            try:   # nested, so an alarm landing while the timer is being cancelled is caught too
                try:
                    model.fit(x[5 * BATCH:], y[5 * BATCH:], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except KeyboardInterrupt:
                pass
            stopped_at.add(model.optimizer.iterations)
            for got, want in zip(_resume(model, x, y), reference):
                np.testing.assert_array_equal(got, want)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert len(stopped_at) > 1   # the interrupts landed at different steps


def _ids_through_reshape():
    fgc.utils.set_random_seed(12)
    ids = Input((2, 3), dtype="int64")
    flat = layers.Reshape((6,))(ids)
    vectors = layers.Embedding(5, 2, name="table")(flat)
    model = Model(ids, layers.Dense(1)(layers.Flatten()(vectors)))
    model.compile(optimizer=optimizers.Adam(0.01), loss="mse", steps_per_execution=2)
    return model


@pytest.mark.parametrize("bad", [-1, 5, 99])
def test_out_of_range_ids_computed_in_the_model_are_refused_before_any_change(bad):
    model = _ids_through_reshape()
    good = np.random.default_rng(0).integers(0, 5, (4, 2, 3))
    y = np.zeros((4, 1), np.float32)
    model.fit(good, y, batch_size=2, verbose=0)
    before, iterations = model.get_weights(), model.optimizer.iterations
    wrong = good.copy()
    wrong[3, 1, 2] = bad
    message = r"Embedding layer 'table' \(input_dim=5\) got 1 id\(s\) outside \[0, 5\)"
    for call in (lambda: model.predict(wrong, verbose=0), lambda: model.train_on_batch(wrong, y),
                 lambda: model.fit(wrong, y, batch_size=2, verbose=0), lambda: model.evaluate(wrong, y, verbose=0)):
        with pytest.raises(ValueError, match=message):
            call()
        assert model.optimizer.iterations == iterations
        for got, want in zip(model.get_weights(), before):
            np.testing.assert_array_equal(got, want)
    model.fit(good, y, batch_size=2, verbose=0)   # and training goes on from there
    assert model.optimizer.iterations == iterations + 2
