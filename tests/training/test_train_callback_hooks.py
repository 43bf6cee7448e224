"""Callback hooks in Keras' order and with Keras' arguments, in fit, evaluate and predict."""
import numpy as np
import pytest

import fgc
from fgc import callbacks as C
from fgc.optimizers import SGD

rng = np.random.default_rng(2)
W = rng.standard_normal((3, 2))
B = np.array([0.2, -0.1])
X = rng.standard_normal((8, 3))
Y = rng.standard_normal((8, 2))


@pytest.fixture
def model(dense_model):
    m = dense_model(3, 2, weights=[W, B])
    m.compile(SGD(0.0), "mse")  # lr 0: the weights stay W, B, so every loss has a closed form
    return m


def mse(x, y):
    return float(np.mean((x @ W + B - y) ** 2))


def _recording(hook, with_index):
    def record(self, *args, logs=None):
        logs = args[-1] if len(args) == (2 if with_index else 1) else logs
        self.calls.append((hook, args[0] if with_index else None, None if logs is None else dict(logs)))
    return record


class Recorder(C.Callback):
    """Writes down every Keras hook call as (hook, batch or epoch, copy of the logs)."""

    def __init__(self):
        super().__init__()
        self.calls = []


for _hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end"):
    setattr(Recorder, _hook, _recording(_hook, False))
for _hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
              "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(Recorder, _hook, _recording(_hook, True))


def test_fit_runs_keras_hook_order_with_validation_as_test_hooks(model):
    rec = Recorder()
    model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[rec],
              validation_data=(X[:3], Y[:3]), validation_batch_size=2)
    epoch = [("on_epoch_begin", "e"), ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
             ("on_train_batch_begin", 1), ("on_train_batch_end", 1), ("on_test_begin", None),
             ("on_test_batch_begin", 0), ("on_test_batch_end", 0), ("on_test_batch_begin", 1),
             ("on_test_batch_end", 1), ("on_test_end", None), ("on_epoch_end", "e")]
    expected = [("on_train_begin", None)]
    for e in (0, 1):
        expected += [(hook, e if index == "e" else index) for hook, index in epoch]
    expected += [("on_train_end", None)]
    assert [(hook, index) for hook, index, _ in rec.calls] == expected
    logs = {hook: logs for hook, _, logs in rec.calls}
    assert logs["on_train_begin"] == {} and logs["on_epoch_begin"] == {}
    np.testing.assert_allclose(logs["on_test_end"]["loss"], mse(X[:3], Y[:3]), rtol=1e-5)
    np.testing.assert_allclose(logs["on_train_end"]["val_loss"], mse(X[:3], Y[:3]), rtol=1e-5)
    np.testing.assert_allclose(logs["on_train_end"]["loss"], mse(X, Y), rtol=1e-5)
    # the first train batch's logs: that batch's own loss
    first_end = next(lg for hook, _, lg in rec.calls if hook == "on_train_batch_end")
    np.testing.assert_allclose(first_end["loss"], mse(X[:4], Y[:4]), rtol=1e-5)


def test_evaluate_and_predict_call_their_hooks(model):
    rec = Recorder()
    result = model.evaluate(X, Y, batch_size=5, verbose=0, callbacks=[rec], return_dict=True)
    assert [(h, i) for h, i, _ in rec.calls] == [("on_test_begin", None), ("on_test_batch_begin", 0),
                                                 ("on_test_batch_end", 0), ("on_test_batch_begin", 1),
                                                 ("on_test_batch_end", 1), ("on_test_end", None)]
    np.testing.assert_allclose(rec.calls[-1][2]["loss"], mse(X, Y), rtol=1e-5)
    assert rec.calls[-1][2] == result

    seen = []
    hooks = C.LambdaCallback(on_predict_begin=lambda logs: seen.append("begin"),
                             on_predict_batch_end=lambda batch, logs: seen.append((batch, logs["outputs"])),
                             on_predict_end=lambda logs: seen.append("end"))
    out = model.predict(X, batch_size=5, verbose=0, callbacks=[hooks])
    assert seen[0] == "begin" and seen[-1] == "end" and [b for b, _ in seen[1:-1]] == [0, 1]
    np.testing.assert_allclose(seen[1][1], X[:5] @ W + B, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, X @ W + B, rtol=1e-5, atol=1e-6)


def test_lambda_callback_takes_keras_documented_signatures(model):
    seen = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: seen.append(("train_begin", logs)),
                          on_epoch_begin=lambda epoch, logs: seen.append(("epoch_begin", epoch)),
                          on_train_batch_begin=lambda batch, logs: seen.append(("batch_begin", batch)),
                          on_epoch_end=lambda epoch, logs: seen.append(("epoch_end", epoch, round(logs["loss"], 5))),
                          on_train_end=lambda logs: seen.append(("train_end", round(logs["loss"], 5))))
    model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[cb])
    loss = round(mse(X, Y), 5)
    assert seen == [("train_begin", {}), ("epoch_begin", 0), ("batch_begin", 0), ("epoch_end", 0, loss),
                    ("epoch_begin", 1), ("batch_begin", 0), ("epoch_end", 1, loss), ("train_end", loss)]


def test_lambda_callback_refuses_unknown_hooks_and_non_functions():
    with pytest.raises(TypeError, match="on_epoch_ends.*did you mean 'on_epoch_end'"):
        C.LambdaCallback(on_epoch_ends=print)
    with pytest.raises(TypeError, match=r"LambdaCallback\(on_train_end=...\) must be a function"):
        C.LambdaCallback(on_train_end=3)


def test_on_batch_end_is_the_default_train_batch_hook(model):
    class Counter(C.Callback):
        ends = 0

        def on_batch_end(self, batch, logs=None):
            Counter.ends += 1

    model.fit(X, Y, batch_size=2, epochs=1, verbose=0, callbacks=[Counter()])
    assert Counter.ends == 4


def test_csv_logger_closes_its_file_when_another_callback_raises(model, tmp_path):
    class Boom(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    csv = C.CSVLogger(tmp_path / "log.csv")
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[csv, Boom()])
    assert csv.file.closed
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss" and rows[1].startswith("0,") and len(rows) == 2


def test_model_checkpoint_checks_its_folder_before_training(model, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    before = model.get_weights()
    ck = C.ModelCheckpoint(str(blocker / "ck.weights.npz"), save_weights_only=True, monitor="loss")
    epochs = []
    log = C.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
    with pytest.raises(ValueError, match=r"ModelCheckpoint\('.*ck\.weights\.npz'\): cannot write to the folder "
                                         r"'.*not_a_folder'"):
        model.fit(X, Y, verbose=0, callbacks=[ck, log])
    assert epochs == [] and model.optimizer.iterations == 0
    assert all(a.tobytes() == b.tobytes() for a, b in zip(model.get_weights(), before))


def test_model_checkpoint_creates_a_missing_folder(model, tmp_path):
    path = tmp_path / "new" / "deeper" / "ck.weights.npz"
    model.fit(X, Y, verbose=0, callbacks=[C.ModelCheckpoint(str(path), save_weights_only=True, monitor="loss")])
    assert path.exists()


def test_stop_training_in_a_batch_hook_still_ends_training(model):
    ended = []

    def stop(batch, logs):
        model.stop_training = True

    model.fit(X, Y, batch_size=2, epochs=3, verbose=0,
              callbacks=[C.LambdaCallback(on_train_batch_end=stop, on_train_end=lambda logs: ended.append(logs))])
    assert model.optimizer.iterations == 1 and len(ended) == 1


def test_fgc_callbacks_exports_the_base_and_list():
    assert fgc.callbacks.Callback is C.Callback


def test_one_callback_alone_is_accepted_and_a_function_is_refused(model):
    seen = []
    model.fit(X, Y, batch_size=8, verbose=0, callbacks=C.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)))
    assert seen == [0]
    before = [w.tobytes() for w in model.get_weights()]
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a function.*LambdaCallback"):
        model.fit(X, Y, verbose=0, callbacks=[lambda epoch, logs: None])
    with pytest.raises(TypeError, match="callbacks must be a list"):
        model.evaluate(X, Y, verbose=0, callbacks="csv")
    assert [w.tobytes() for w in model.get_weights()] == before
