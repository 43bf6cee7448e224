"""Trainer.runner (fgc/training/runtime.py): the step function fit's loop calls once per batch runs the
same steps as Trainer.run, bit for bit: weights, optimizer slots, iterations and logs."""
import numpy as np

import fgc
from fgc import Input, Model, layers, optimizers


def _model(adam=False):
    fgc.utils.set_random_seed(5)
    i = Input((6,))
    model = Model(i, layers.Dense(3, activation="softmax")(layers.Dense(8, activation="relu")(i)))
    # a schedule: the learning rate fed changes every step; Adam's bias correction reads the step count fed
    lr = optimizers.schedules.ExponentialDecay(0.05, decay_steps=1, decay_rate=0.9)
    optimizer = optimizers.Adam(0.01) if adam else optimizers.RMSprop(lr)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _batches(n=4, size=16):
    rng = np.random.default_rng(1)
    return [{"x": rng.random((size, 6)).astype(np.float32),
             "y": np.eye(3, dtype=np.float32)[rng.integers(0, 3, size)]} for _ in range(n)]


def _feeds(model, batch):
    spec = model._trainer.step(True).spec
    return {spec.data_inputs[0]: batch["x"], spec.target_inputs[0]: batch["y"],
            **{k: np.full(len(batch["x"]), 1 / len(batch["x"]), np.float32) for k in spec.target_inputs[1:]}}


def _train(step_with_runner: bool, reset_at: int | None = None, adam=False):
    model = _model(adam)
    model.train_on_batch(_batches(1)[0]["x"], _batches(1)[0]["y"])   # builds the trainer and its state
    start = model.get_weights()
    trainer, logs = model._trainer, []
    step = trainer.runner(True) if step_with_runner else (lambda feeds: trainer.run(True, feeds))
    assert not step_with_runner or step.__name__ == "host_step"   # the path this test is about, not the fallback
    for k, batch in enumerate(_batches()):
        if k == reset_at:   # weights and a learning rate set between two steps reach the next step
            model.set_weights(start)
            model.optimizer.learning_rate = 0.02
        logs.append(step(_feeds(model, batch)))
    return model, logs


def test_runner_steps_equal_run_steps_bit_for_bit():
    for reset_at, adam in ((None, False), (2, False), (None, True)):
        (by_runner, runner_logs), (by_run, run_logs) = _train(True, reset_at, adam), _train(False, reset_at, adam)
        assert runner_logs == run_logs
        assert by_runner.optimizer.iterations == by_run.optimizer.iterations == 5
        for got, want in zip(by_runner.get_weights(), by_run.get_weights()):
            np.testing.assert_array_equal(got, want)
        state, reference = by_runner._trainer.now.arrays, by_run._trainer.now.arrays   # the optimizer's slots too
        assert state.keys() == reference.keys()
        for name in state:
            np.testing.assert_array_equal(np.asarray(state[name]), np.asarray(reference[name]))


def test_evaluation_runner_equals_run():
    model, _ = _train(True)
    trainer = model._trainer
    spec = trainer.step(False).spec
    batch = _batches(1)[0]
    feeds = {spec.data_inputs[0]: batch["x"], spec.target_inputs[0]: batch["y"],
             **{k: np.full(16, 1 / 16, np.float32) for k in spec.target_inputs[1:]}}
    assert trainer.runner(False)(dict(feeds)) == trainer.run(False, dict(feeds))
    assert model.optimizer.iterations == 5   # evaluation commits nothing
