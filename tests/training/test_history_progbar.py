"""History and ProgbarLogger as Keras 3 has them (keras/src/callbacks/history.py, progbar_logger.py,
utils/progbar.py): ``history.params`` = {verbose, epochs, steps} in that order, ``history.epoch`` the
epochs run (from initial_epoch), and the verbose=2 line ``3/3 - 0s - 12ms/step - loss: 1.2345``."""
import io
import re

import numpy as np

import fgc
from fgc import callbacks as C
from fgc.training.callbacks import _fmt


def _model():
    model = fgc.Sequential([fgc.Input((3,)), fgc.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model


def test_history_params_and_epochs():
    x, y = np.ones((10, 3), np.float32), np.ones((10, 2), np.float32)
    history = _model().fit(x, y, epochs=3, batch_size=4, verbose=0, initial_epoch=1, validation_split=0.2)
    assert list(history.params.items()) == [("verbose", 0), ("epochs", 3), ("steps", 2)]
    assert history.epoch == [1, 2] and list(history.history) == ["loss", "val_loss"]


def test_verbose_2_line_and_number_format():
    x, y = np.ones((10, 3), np.float32), np.ones((10, 2), np.float32)
    stream = io.StringIO()
    model = _model()
    logger = C.ProgbarLogger(verbose=2, stream=stream)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[logger])
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{4}", lines[1]), lines[1]
    # Keras' Progbar: four decimals above 1e-3 (also for large values), scientific at or below it
    assert [_fmt(v) for v in (12345.678, 0.5, 0.001, 0.0, -0.25)] == \
        ["12345.6780", "0.5000", "1.0000e-03", "0.0000e+00", "-0.2500"]
    assert _fmt(-0.25, signed=False) == "-2.5000e-01"   # verbose=2 compares the signed value, as Keras does


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_on_a_terminal_redraws_with_the_running_logs_and_ends_with_the_epoch_line(monkeypatch):
    x, y = np.ones((10, 3), np.float32), np.ones((10, 2), np.float32)
    stream = _Terminal()
    logger = C.ProgbarLogger(verbose=1, stream=stream)
    monkeypatch.setattr(C.ProgbarLogger, "INTERVAL", -1.0)   # redraw after every step
    history = _model().fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    draws = stream.getvalue().split("\r")
    assert draws[0] == "Epoch 1/1\n" and len(draws) == 1 + 3 + 1   # a redraw per step, then the final line
    assert re.fullmatch(r"1/3 ━{6} {14} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4}", draws[1]), draws[1]
    assert draws[-1].endswith(f"loss: {history.history['loss'][0]:.4f}\n")


def test_a_batch_hook_gets_the_same_logs_dict_as_before_alongside_the_progress_bar():
    seen = []
    x, y = np.ones((10, 3), np.float32), np.ones((10, 2), np.float32)
    with_bar = C.ProgbarLogger(verbose=1, stream=_Terminal())
    record = C.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append((batch, type(logs), sorted(logs))))
    _model().fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[with_bar, record])
    assert seen == [(i, dict, ["loss"]) for i in range(3)]
