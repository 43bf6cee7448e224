"""fit on a learnable task, validation_split, and the callbacks, checked against numpy."""
import csv
import os

import numpy as np
import pytest

import fgc
from fgc import callbacks as C
from fgc.optimizers import SGD, Adam

rng = np.random.default_rng(0)
W = rng.standard_normal((3, 2))
B = np.array([0.1, -0.3])
X = rng.standard_normal((8, 3))
Y = rng.standard_normal((8, 2))


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


def mse_grads(w, b, x, y):
    d = 2 * (f32(x) @ w + b - f32(y)) / y.size
    return f32(x).T @ d, d.sum(0)


def test_adam_learns_a_separable_three_class_problem(dense_model, blobs):
    fgc.utils.set_random_seed(0)
    x, ids = blobs(240)
    model = dense_model(2, 3, "softmax")
    model.compile(Adam(0.05), "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, fgc.utils.to_categorical(ids, 3), epochs=8, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] >= 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    # independent of fgc's metric: argmax of predict() after fit (weights synced back from the device)
    xt, it = blobs(200, seed=1)
    assert (model.predict(xt, verbose=0).argmax(-1) == it).mean() >= 0.9


def test_sparse_targets_and_accuracy_resolution(dense_model, blobs):
    fgc.utils.set_random_seed(0)
    x, ids = blobs(120)
    model = dense_model(2, 3, "softmax")
    model.compile(Adam(0.05), "sparse_categorical_crossentropy", metrics=["acc"])
    model.fit(x, ids, epochs=6, batch_size=16, verbose=0)
    logs = model.evaluate(x, ids, verbose=0, return_dict=True)
    assert logs["acc"] == pytest.approx((model.predict(x, verbose=0).argmax(-1) == ids).mean())
    assert logs["acc"] >= 0.9


def test_validation_split_takes_the_last_fraction_before_shuffling(dense_model):
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = rng.standard_normal((20, 2)).astype(np.float32)
    y[15:] += 5.0  # the last quarter is unlike the rest: its loss is far larger
    model = dense_model(3, 2)
    model.compile(SGD(0.05), "mse")
    steps = []
    cb = C.LambdaCallback(on_train_begin=lambda logs=None: steps.append(cb.params["steps"]))
    history = model.fit(x, y, validation_split=0.25, epochs=2, batch_size=4, shuffle=True, verbose=0, callbacks=[cb])
    assert steps == [4]                                      # 15 training samples in batches of 4
    # the last epoch's val_loss was computed with the final weights on x[15:]
    val = model.evaluate(x[15:], y[15:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val, rel=1e-6)
    assert model.evaluate(x[:5], y[:5], verbose=0) != pytest.approx(val, rel=1e-2)


def test_early_stopping_restores_the_best_epochs_weights(dense_model):
    """Gradient descent for three epochs, then ascent (negative lr): val_loss turns up; the weights
    after fit must be the ones captured at the end of the best epoch."""
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse")
    snapshots = []
    snap = C.LambdaCallback(on_epoch_end=lambda epoch, logs=None: snapshots.append(model.get_weights()))
    lr = C.LearningRateScheduler(lambda epoch, lr: 0.1 if epoch < 3 else -0.2)
    stop = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(X, Y, validation_data=(X[:4], Y[:4]), epochs=20, batch_size=8, shuffle=False, verbose=0,
                        callbacks=[lr, snap, stop])
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert best == 2 and len(val) == best + 3      # stopped after `patience` epochs without improvement
    for got, want in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(got, want)
    assert model.evaluate(X[:4], Y[:4], verbose=0) == pytest.approx(val[best], rel=1e-6)
    # and training continues from the restored weights (the device copy was refreshed)
    model.compile(SGD(0.0), "mse")
    assert model.train_on_batch(X[:4], Y[:4]) == pytest.approx(val[best], rel=1e-6)


def test_terminate_on_nan_stops_at_the_first_non_finite_batch(dense_model):
    x = np.concatenate([X, X])
    y = np.concatenate([Y, np.full_like(Y, 1e30)])  # finite data whose squared error overflows float32
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(1e-3), "mse")
    seen = []
    record = C.LambdaCallback(on_train_batch_end=lambda batch, logs=None: seen.append(logs["loss"]))
    history = model.fit(x, y, epochs=5, batch_size=4, shuffle=False, verbose=0,
                        callbacks=[record, C.TerminateOnNaN()])
    assert len(seen) == 3 and np.isfinite(seen[:2]).all() and not np.isfinite(seen[2])
    assert len(history.epoch) == 1


def _checkpoint_bytes(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.parametrize("filename, weights_only", [("ck.weights.npz", True), ("ck.onnx", False)])
def test_model_checkpoint_write_is_atomic(dense_model, tmp_path, monkeypatch, filename, weights_only):
    import fgc.export.files as files

    path = tmp_path / filename
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse")
    ck = C.ModelCheckpoint(str(path), save_weights_only=weights_only, monitor="loss")
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[ck])
    before = _checkpoint_bytes(path)

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[ck])
    assert _checkpoint_bytes(path) == before                 # the previous checkpoint is intact
    assert sorted(os.listdir(tmp_path)) == [filename]        # and no temporary file is left behind
    monkeypatch.undo()
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[ck])
    assert _checkpoint_bytes(path) != before


def test_checkpoint_save_best_only_writes_only_on_improvement(dense_model, tmp_path):
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse")
    lr = C.LearningRateScheduler(lambda epoch, lr: 0.1 if epoch in (0, 1, 4) else -0.05)
    ck = C.ModelCheckpoint(str(tmp_path / "ck-{epoch}.weights.npz"), monitor="val_loss", save_best_only=True,
                           save_weights_only=True)
    history = model.fit(X, Y, validation_data=(X, Y), epochs=6, batch_size=8, shuffle=False, verbose=0,
                        callbacks=[lr, ck])
    val, best, improved = history.history["val_loss"], np.inf, []
    for epoch, v in enumerate(val):
        if v < best:
            best = v
            improved.append(epoch + 1)
    assert 0 < len(improved) < len(val)
    assert sorted(os.listdir(tmp_path)) == sorted(f"ck-{e}.weights.npz" for e in improved)
    # the last improving epoch's file holds the weights that reach the best val_loss
    model.load_weights(tmp_path / f"ck-{improved[-1]}.weights.npz")
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(best, rel=1e-6)


def test_csv_logger_writes_one_row_per_epoch(dense_model, tmp_path):
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse", metrics=["mae"])
    path = tmp_path / "log.csv"
    history = model.fit(X, Y, epochs=3, batch_size=4, verbose=0, callbacks=[C.CSVLogger(str(path))])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert set(rows[0]) == {"epoch", "loss", "mae"}
    np.testing.assert_allclose([float(r["loss"]) for r in rows], history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([float(r["mae"]) for r in rows], history.history["mae"], rtol=1e-6)


def test_learning_rate_scheduler_sets_the_rate_each_epoch(dense_model):
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.5), "mse")
    schedule = C.LearningRateScheduler(lambda epoch, lr: 0.1 * (epoch + 1))
    history = model.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[schedule])
    w, b = f32(W), f32(B)
    for epoch in range(3):  # one full batch per epoch
        gw, gb = mse_grads(w, b, X, Y)
        w, b = w - 0.1 * (epoch + 1) * gw, b - 0.1 * (epoch + 1) * gb
    got_w, got_b = model.get_weights()
    np.testing.assert_allclose(got_w, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.2, 0.3], rtol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 3, 9])
def test_sgd_epoch_over_uneven_batches_matches_numpy(dense_model, batch_size):
    """Each batch, including the short last one, is reduced over its own size (sum_over_batch_size)."""
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.1), "mse")
    history = model.fit(X, Y, epochs=1, batch_size=batch_size, shuffle=False, verbose=0)
    w, b = f32(W), f32(B)
    losses, sizes = [], []
    for start in range(0, len(X), batch_size):
        xb, yb = X[start:start + batch_size], Y[start:start + batch_size]
        losses.append(((f32(xb) @ w + b - f32(yb)) ** 2).mean())
        sizes.append(len(xb))
        gw, gb = mse_grads(w, b, xb, yb)
        w, b = w - 0.1 * gw, b - 0.1 * gb
    got_w, got_b = model.get_weights()
    np.testing.assert_allclose(got_w, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, b, rtol=1e-5, atol=1e-6)
    # the epoch loss is the batch-size-weighted mean of the batch losses
    assert history.history["loss"][0] == pytest.approx(np.average(losses, weights=sizes), rel=1e-5)


def test_early_stopping_with_an_unreached_baseline_follows_keras(dense_model):
    """Keras 3: every epoch that improves on the best so far is recorded (and restored) even when it
    misses the baseline; it only does not reset the patience. So a steadily improving run that never
    reaches the baseline trains every epoch and ends with its best weights."""
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.02), "mse")
    snapshots = []
    snap = C.LambdaCallback(on_epoch_end=lambda epoch, logs=None: snapshots.append(model.get_weights()))
    stop = C.EarlyStopping(monitor="loss", baseline=1e-6, patience=1, restore_best_weights=True)
    history = model.fit(X, Y, epochs=4, batch_size=8, shuffle=False, verbose=0, callbacks=[snap, stop])
    losses = history.history["loss"]
    assert np.all(np.diff(losses) < 0) and len(losses) == 4
    for got, want in zip(model.get_weights(), snapshots[-1]):
        np.testing.assert_array_equal(got, want)
    # no improvement at all: stops once patience runs out, and restores the best epoch
    model.compile(SGD(-0.02), "mse")                   # gradient ascent: the loss only grows
    snapshots.clear()
    stop = C.EarlyStopping(monitor="loss", baseline=1e-6, patience=2, restore_best_weights=True)
    history = model.fit(X, Y, epochs=10, batch_size=8, shuffle=False, verbose=0, callbacks=[snap, stop])
    assert len(history.history["loss"]) == 2          # epoch 0 is the best (never the baseline): wait 1, 2
    for got, want in zip(model.get_weights(), snapshots[0]):
        np.testing.assert_array_equal(got, want)


def test_learning_rate_scheduler_accepts_the_one_argument_form(dense_model):
    model = dense_model(3, 2, weights=[W, B])
    model.compile(SGD(0.5), "mse")
    history = model.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0,
                        callbacks=[C.LearningRateScheduler(lambda epoch: 0.05 / (epoch + 1))])
    w, b = f32(W), f32(B)
    for epoch in range(2):
        gw, gb = mse_grads(w, b, X, Y)
        w, b = w - 0.05 / (epoch + 1) * gw, b - 0.05 / (epoch + 1) * gb
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025], rtol=1e-6)
