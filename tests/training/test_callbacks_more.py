"""BackupAndRestore, RemoteMonitor and SwapEMAWeights (Keras 3's keras/src/callbacks/)."""
import http.server
import json
import os
import threading
import urllib.parse

import numpy as np
import pytest

import fgc
from fgc import callbacks as C
from fgc import layers, optimizers as O

BATCH, STEPS, EPOCHS = 8, 4, 4


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * STEPS, 5)).astype(np.float32)
    return x, (x @ rng.standard_normal((5, 2))).astype(np.float32)


def _model(optimizer=None):
    fgc.utils.set_random_seed(7)
    x = fgc.Input((5,))
    model = fgc.Model(x, layers.Dense(2)(layers.Dense(6, activation="tanh")(x)))
    model.compile(optimizer or O.Adam(0.05), "mse")
    return model


class StopAt(C.Callback):
    """Interrupts fit at (epoch, batch) like a Ctrl-C."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt


class Epochs(C.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


# ---------------------------------------------------------------------------------------------- BackupAndRestore
@pytest.mark.parametrize("save_freq, stop, resumed_epoch", [("epoch", (2, 1), 2), (2, (2, 1), 2), (3, (1, 3), 1)])
def test_an_interrupted_fit_resumes_like_an_uninterrupted_one(tmp_path, save_freq, stop, resumed_epoch):
    x, y = _data()
    reference = _model()
    reference.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    backup = str(tmp_path / "backup")
    first = _model()
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                  callbacks=[C.BackupAndRestore(backup, save_freq=save_freq), StopAt(*stop)])
    assert sorted(os.listdir(backup)) == ["latest.weights.h5", "training_metadata.json"]
    # a new process would build and compile the model afresh: its weights and Adam state come from the backup
    again, epochs = _model(), Epochs()
    history = again.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                        callbacks=[C.BackupAndRestore(backup, save_freq=save_freq), epochs])
    assert epochs.seen == list(range(resumed_epoch, EPOCHS)) and history.epoch == epochs.seen
    if save_freq == "epoch":   # resumed exactly at an epoch boundary: the same numbers
        for got, want in zip(again.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        assert again.optimizer.iterations == reference.optimizer.iterations
    else:   # Keras: the weights of the last save (mid-epoch), and that epoch runs again from its start
        saved_at = (stop[0] * STEPS + stop[1] + 1) // save_freq * save_freq   # global steps at the last save
        full, partial = divmod(saved_at, STEPS)
        want = _model()
        if full:
            want.fit(x, y, batch_size=BATCH, epochs=full, shuffle=False, verbose=0)
        if partial:
            want.fit(x[:partial * BATCH], y[:partial * BATCH], batch_size=BATCH, shuffle=False, verbose=0)
        want.fit(x, y, batch_size=BATCH, epochs=EPOCHS - resumed_epoch, shuffle=False, verbose=0)
        for got, exp in zip(again.get_weights(), want.get_weights()):
            np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-7)
        assert again.optimizer.iterations == saved_at + (EPOCHS - resumed_epoch) * STEPS
    assert not os.path.exists(backup)   # delete_checkpoint=True after a fit that ended


def test_the_backup_holds_weights_and_optimizer_state(tmp_path):
    """After epoch 2 the backup is exactly the model's state then (what resuming relies on)."""
    x, y = _data()
    backup = str(tmp_path / "b")
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                  callbacks=[C.BackupAndRestore(backup), StopAt(2, 0)])
    two = _model()
    two.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    with open(os.path.join(backup, "training_metadata.json")) as f:
        assert json.load(f) == {"epoch": 2, "batch": 0, "iteration": 2 * STEPS}
    probe = _model()
    probe.load_weights(os.path.join(backup, "latest.weights.h5"))
    for got, want in zip(probe.get_weights(), two.get_weights()):
        np.testing.assert_array_equal(got, want)
    (slots, _), (want_slots, _) = probe._trainer.slot_values(), two._trainer.slot_values()
    for var, want_var in zip(probe.trainable_weights, two.trainable_weights):
        for slot in ("momentum", "velocity"):
            np.testing.assert_array_equal(slots[var][slot], want_slots[want_var][slot])


def test_double_checkpoint_keeps_the_previous_pair_and_a_torn_backup_falls_back(tmp_path):
    x, y = _data()
    backup = str(tmp_path / "b")
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                  callbacks=[C.BackupAndRestore(backup, double_checkpoint=True), StopAt(2, 0)])
    names = sorted(os.listdir(backup))
    assert names == ["latest.weights.h5", "latest.weights.h5.bkp", "training_metadata.json",
                     "training_metadata.json.bkp"]
    # a crash between the two writes: newer weights, older metadata -> the consistent .bkp pair is used
    os.replace(os.path.join(backup, "training_metadata.json.bkp"), os.path.join(backup, "training_metadata.json"))
    with open(os.path.join(backup, "training_metadata.json.bkp"), "w") as f:
        json.dump({"epoch": 1, "batch": 0, "iteration": STEPS}, f)
    again, epochs = _model(), Epochs()
    again.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
              callbacks=[C.BackupAndRestore(backup, double_checkpoint=True, delete_checkpoint=False), epochs])
    assert epochs.seen == [1]
    assert again.optimizer.iterations == 2 * STEPS


def test_backup_and_restore_refuses_a_data_parallel_model(tmp_path):
    """Only rank 0 runs callbacks, so a resumed epoch would not reach the other processes: refused
    (a fake trainer stands in for compile(distribute=...); a real refusal ends the MPI job)."""
    class Distributed:
        distributed = object()

    class Fake:
        _trainer = Distributed()

    callback = C.BackupAndRestore(str(tmp_path / "b"))
    callback.set_model(Fake())
    with pytest.raises(NotImplementedError, match="distribute"):
        callback.on_train_begin()


def test_backup_arguments_are_checked():
    with pytest.raises(ValueError, match="backup_dir"):
        C.BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        C.BackupAndRestore("x", save_freq="batch")


# ---------------------------------------------------------------------------------------------- RemoteMonitor
class _Recorder(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Recorder.received = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_remote_monitor_posts_a_form_field_with_the_logs_as_json(server):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, validation_split=0.25,
              callbacks=[C.RemoteMonitor(root=server, headers={"X-Run": "7"})])
    assert len(_Recorder.received) == 2
    path, content_type, body = _Recorder.received[1]
    assert path == "/publish/epoch/end/" and content_type == "application/x-www-form-urlencoded"
    sent = json.loads(urllib.parse.parse_qs(body.decode())["data"][0])
    assert sent["epoch"] == 1 and set(sent) == {"epoch", "loss", "val_loss"}
    assert sent["loss"] == pytest.approx(model.history.history["loss"][1])


def test_remote_monitor_as_json_and_an_unreachable_server_warns(server):
    monitor = C.RemoteMonitor(root=server, path="/p", send_as_json=True)
    monitor.on_epoch_end(3, {"loss": np.float32(0.5)})
    assert _Recorder.received == [("/p", "application/json", b'{"epoch": 3, "loss": 0.5}')]
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server"):
        C.RemoteMonitor(root="http://127.0.0.1:9", timeout=2).on_epoch_end(0, {"loss": 1.0})


# ---------------------------------------------------------------------------------------------- SwapEMAWeights
def _ema_weights(model):
    slots, _ = model._trainer.slot_values()
    return [slots[v]["average"] for v in model.trainable_weights]


def test_swap_ema_weights_evaluates_with_the_averages_and_swaps_back():
    x, y = _data()
    model = _model(O.SGD(0.05, use_ema=True, ema_momentum=0.5))
    for k in range(3):
        model.train_on_batch(x[k * BATCH:(k + 1) * BATCH], y[k * BATCH:(k + 1) * BATCH])
    trained, ema = model.get_weights(), _ema_weights(model)
    assert not np.allclose(trained[0], ema[0])
    expected = _model(O.SGD(0.05))
    expected.set_weights([*ema[:2], *ema[2:]])
    want = expected.evaluate(x, y, verbose=0)
    swap = C.SwapEMAWeights()
    assert model.evaluate(x, y, verbose=0, callbacks=[swap]) == pytest.approx(want, rel=1e-6)
    for got, exp in zip(model.get_weights(), trained):   # the trained weights are back
        np.testing.assert_array_equal(got, exp)
    for got, exp in zip(_ema_weights(model), ema):       # and so are the averages
        np.testing.assert_array_equal(got, exp)
    np.testing.assert_allclose(model.predict(x, verbose=0, callbacks=[swap]), expected.predict(x, verbose=0),
                               rtol=1e-6)


def test_swap_on_epoch_leaves_ema_weights_after_fit_and_needs_use_ema():
    x, y = _data()
    model = _model(O.Adam(0.05, use_ema=True, ema_momentum=0.5))
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[C.SwapEMAWeights(True)])
    plain = _model(O.Adam(0.05, use_ema=True, ema_momentum=0.5))
    plain.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)   # ends with the averages too
    for got, want in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="use_ema=True"):
        _model().fit(x, y, verbose=0, callbacks=[C.SwapEMAWeights()])


def test_a_corrupt_latest_backup_falls_back_to_the_double_checkpoint(tmp_path):
    x, y = _data()
    backup = str(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                     callbacks=[C.BackupAndRestore(backup, double_checkpoint=True), StopAt(2, 0)])
    with open(os.path.join(backup, "latest.weights.h5"), "wb") as f:
        f.write(b"not hdf5")
    again, epochs = _model(), Epochs()
    again.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
              callbacks=[C.BackupAndRestore(backup, double_checkpoint=True), epochs])
    assert epochs.seen == [1] and again.optimizer.iterations == 2 * STEPS   # resumed after epoch 1's backup
