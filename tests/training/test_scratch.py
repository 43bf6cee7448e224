"""ScratchArrays (fgc/training/scratch.py): fit's and evaluate's data-sized arrays are reused by the next
call, never while a call still reads them, never a caller's own array, and the numbers do not change."""
import numpy as np

import fgc
from fgc import Input, Model, layers
from fgc.training.scratch import Loan, ScratchArrays


def test_a_kept_array_is_handed_out_again_once_and_only_for_its_shape_and_dtype():
    pool = ScratchArrays()
    a = pool.empty((4, 3), np.float32)
    pool.keep([a])
    assert pool.empty((4, 3), np.float64) is not a
    assert pool.empty((3, 4), np.float32) is not a
    assert pool.empty((4, 3), np.float32) is a
    assert pool.empty((4, 3), np.float32) is not a   # checked out: not handed twice


def test_the_pool_keeps_at_most_its_limit():
    pool = ScratchArrays(limit=100)
    small, large = np.empty(10, np.float32), np.empty(30, np.float32)   # 40 and 120 bytes
    pool.keep([large, small])
    assert pool.nbytes == 40
    assert pool.empty((30,), np.float32) is not large


def test_a_loan_puts_back_what_it_took():
    pool = ScratchArrays()
    loan = Loan(pool)
    a, b = loan.empty((2,), np.int64), loan.empty((5, 2), np.float32)
    assert pool.nbytes == 0
    loan.close()
    assert pool.nbytes == a.nbytes + b.nbytes


def _model(seed=3):
    fgc.utils.set_random_seed(seed)
    inputs = Input(shape=(6,))
    x = layers.Dense(5, activation="relu")(inputs)
    model = Model(inputs, layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6)), np.eye(3)[rng.integers(0, 3, n)]   # float64, cast to float32 by fit


class _EvaluateEachBatch(fgc.callbacks.Callback):
    """Runs evaluate on other data of the same shapes inside fit: it must get arrays of its own."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.results = x, y, []

    def on_train_batch_begin(self, batch, logs=None):
        self.results.append(self.model.evaluate(self.x, self.y, batch_size=64, verbose=0))


def _train(model, calls, callback=None):
    x, y = _data()
    losses = []
    fgc.utils.set_random_seed(11)   # the shuffles' order
    for _ in range(calls):
        history = model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[callback] if callback else None)
        losses.append(history.history["loss"][0])
    return losses, model.get_weights()


def test_repeated_fits_reuse_the_arrays_and_train_as_with_new_arrays_each_time():
    pooled, plain = _model(), _model()
    plain._trainer.scratch.limit = 0   # keeps nothing: every call makes new arrays
    got, expected = _train(pooled, 3), _train(plain, 3)
    np.testing.assert_array_equal(got[0], expected[0])
    for a, b in zip(got[1], expected[1]):
        np.testing.assert_array_equal(a, b)
    assert pooled._trainer.scratch.nbytes >= 300 * 6 * 4 * 2   # the cast inputs and their shuffled copy
    assert plain._trainer.scratch.nbytes == 0


def test_an_evaluate_inside_fit_does_not_write_into_the_arrays_fit_reads():
    x2, y2 = _data(seed=5)
    pooled, plain = _model(), _model()
    plain._trainer.scratch.limit = 0
    inner, inner_plain = _EvaluateEachBatch(x2, y2), _EvaluateEachBatch(x2, y2)
    got, expected = _train(pooled, 2, inner), _train(plain, 2, inner_plain)
    np.testing.assert_array_equal(got[0], expected[0])
    for a, b in zip(got[1], expected[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.array(inner.results), np.array(inner_plain.results))
    # and against a model trained without the callback: evaluate changes no weight
    alone = _train(_model(), 2)
    for a, b in zip(got[1], alone[1]):
        np.testing.assert_array_equal(a, b)


def test_the_callers_arrays_are_neither_written_nor_kept():
    model = _model()
    x, y = _data()
    x, y = x.astype(np.float32), y.astype(np.float32)   # already the model's dtype: fit reads them as they are
    x0, y0 = x.copy(), y.copy()
    for _ in range(2):
        model.fit(x, y, batch_size=64, epochs=2, verbose=0)
        model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    kept = [a for free in model._trainer.scratch._free.values() for a in free]
    assert kept and not any(np.shares_memory(a, x) or np.shares_memory(a, y) for a in kept)


def _ids_model(seed=5):
    fgc.utils.set_random_seed(seed)
    ids = Input(shape=(7,), dtype="int32")
    x = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4)(ids))
    model = Model(ids, layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_ids_sparse_targets_weights_and_validation_train_as_with_new_arrays():
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 20, (150, 7)), rng.integers(0, 3, 150).astype(np.float64)   # int64 -> int32, float ids
    w = rng.random(150)
    val = (rng.integers(0, 20, (40, 7)), rng.integers(0, 3, 40))
    runs = []
    for limit in (64 << 20, 0):
        model = _ids_model()
        model._trainer.scratch.limit = limit
        fgc.utils.set_random_seed(4)
        histories = [model.fit(x, y, sample_weight=w, validation_data=val, batch_size=32, epochs=2, verbose=0).history
                     for _ in range(2)]
        runs.append((histories, model.get_weights(), model.evaluate(*val, verbose=0), model._trainer.scratch.nbytes))
    (h1, w1, e1, kept), (h0, w0, e0, none) = runs
    assert h1 == h0 and e1 == e0
    for a, b in zip(w1, w0):
        np.testing.assert_array_equal(a, b)
    assert kept > 0 and none == 0
