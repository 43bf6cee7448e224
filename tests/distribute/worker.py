"""Run under mpirun by test_mpirun.py: ``worker.py MODE OUTDIR``; each rank writes OUTDIR/rank<r>.npz."""
import os
import sys
import time

import numpy as np

import fgc
from fgc import Input, Model, layers
from fgc.distribute import DataParallel

RANK = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))


def mixed_model(units=4):
    """Dense weights in the flat buffer and an Embedding too big for it (a gradient of its own)."""
    fgc.utils.set_random_seed(1)
    x = Input(shape=(6,), name="x")
    ids = Input(shape=(2,), dtype="int32", name="ids")
    e = layers.Flatten()(layers.Embedding(70000, 4)(ids))
    h = layers.Dense(units, activation="tanh")(x)
    out = layers.Dense(3, activation="softmax")(layers.Concatenate()([h, e]))
    return Model([x, ids], out)


def mixed_data(n):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    ids = rng.integers(0, 50, size=(n, 2))
    y = np.eye(3)[rng.integers(0, 3, size=n)]
    return [x, ids], y


def decaying_lr():
    """Runs on rank 0 only: the other ranks learn its learning rate from the step's Allreduce."""
    return fgc.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 / (epoch + 1))


def fit_mixed(distribute, n=100, batch_size=33, units=4, callbacks=None):
    model = mixed_model(units)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"], distribute=distribute)
    x, y = mixed_data(n)
    vx, vy = mixed_data(41)
    history = model.fit(x, y, batch_size=batch_size, epochs=3, verbose=0, validation_data=(vx, vy),
                        callbacks=callbacks)
    return model, history


def linear_sgd(distribute):
    """One full-batch SGD step of a linear model (the test checks it against numpy)."""
    fgc.utils.set_random_seed(2)
    inp = Input(shape=(3,))
    model = Model(inp, layers.Dense(1)(inp))
    model.compile(optimizer=fgc.optimizers.SGD(0.1), loss="mse", distribute=distribute)
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    before = model.get_weights()
    model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    return before, model.get_weights(), x, y


def batchnorm(distribute):
    fgc.utils.set_random_seed(3 + RANK)    # different initial weights on purpose: rank 0's must win
    inp = Input(shape=(5,))
    h = layers.BatchNormalization()(layers.Dense(8)(inp))
    model = Model(inp, layers.Dense(1)(layers.Dropout(0.3)(h)))
    model.compile(optimizer="rmsprop", loss="mse", distribute=distribute)
    rng = np.random.default_rng(4)
    model.fit(rng.normal(size=(64, 5)), rng.normal(size=(64, 1)), batch_size=16, epochs=2, verbose=0)
    return model


class StopAt(fgc.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            self.model.stop_training = True


def sabotage(model, at_step, action):
    """Make this rank misbehave at its ``at_step``-th gradient computation."""
    trainer, calls = model._trainer, []
    original = trainer._gradients

    def patched(*args):
        calls.append(1)
        if len(calls) == at_step:
            action()
        return original(*args)
    trainer._gradients = patched


def main(MODE, OUT):
    if MODE == "equal":
        model, history = fit_mixed(DataParallel(timeout=60), callbacks=[decaying_lr()])
        evaluated = model.evaluate(*mixed_data(23), batch_size=9, verbose=0)   # shards of 4 and 5, then 2 and 3
        before, after, _, _ = linear_sgd(DataParallel(timeout=60))
        bn = batchnorm(DataParallel(timeout=60))
        stopped, _ = fit_mixed(DataParallel(timeout=60), callbacks=[StopAt()])
        np.savez(os.path.join(OUT, f"rank{RANK}.npz"), *model.get_weights(),
                 history=np.array([history.history[k] for k in sorted(history.history)]),
                 keys=np.array(sorted(history.history)), evaluated=np.array(evaluated), iterations=model.optimizer.iterations,
                 linear_before=np.concatenate([w.ravel() for w in before]),
                 linear_after=np.concatenate([w.ravel() for w in after]),
                 bn=np.concatenate([w.ravel() for w in bn.get_weights()]),
                 stopped_iterations=stopped.optimizer.iterations)
    elif MODE == "different_models":
        fit_mixed(DataParallel(timeout=30), units=4 + RANK)
    elif MODE == "different_data":
        fit_mixed(DataParallel(timeout=30), n=100 - 10 * RANK)
    elif MODE in ("raises", "stuck", "dies"):
        model = mixed_model()
        model.compile(optimizer="adam", loss="categorical_crossentropy", distribute=DataParallel(timeout=3))
        if RANK == 1:
            def boom():
                raise RuntimeError("boom on purpose")
            action = {"raises": boom, "stuck": lambda: time.sleep(3600), "dies": lambda: os._exit(3)}[MODE]
            sabotage(model, 3, action)
        x, y = mixed_data(100)
        model.fit(x, y, batch_size=20, epochs=2, verbose=0)
    print(f"rank {RANK}: done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
