"""Keras callbacks: History, the progress bar, EarlyStopping, ModelCheckpoint, TerminateOnNaN,
LearningRateScheduler, ReduceLROnPlateau, CSVLogger, LambdaCallback."""
from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
import time
import warnings

import numpy as np


HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
         "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin",
         "on_test_batch_end", "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
         "on_predict_batch_end")


class Callback:
    """Keras' callback base: every hook is a no-op; train batch hooks default to ``on_batch_*``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...
    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...

    def _release(self):
        """Free what the callback holds open (files) when fit stops on an exception (not a Keras hook)."""


def _overrides(cb: Callback, hook: str) -> bool:
    return hook in vars(cb) or getattr(type(cb), hook) is not getattr(Callback, hook)


def _listens(cb: Callback, hook: str) -> bool:
    """Whether calling ``hook`` on ``cb`` can do anything (train batch hooks fall back to on_batch_*)."""
    if _overrides(cb, hook):
        return True
    alias = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}.get(hook)
    return alias is not None and _overrides(cb, alias)


class CallbackList:
    """Calls each hook on every callback in order, with Keras' arguments (``logs`` is always a dict).

    Batch hooks run once per step, so a hook that no callback overrides is skipped: a fit with only
    the default callbacks pays nothing for it."""

    def __init__(self, callbacks, model, params):
        self.callbacks = as_list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._hooks: dict = {}   # mode -> (begin, end): who listens is found once, not every epoch

    def _call(self, hook, *args, **kwargs):
        for cb in self.callbacks:
            getattr(cb, hook)(*args, **kwargs)

    def batch_hooks(self, mode: str):
        """(begin, end) for 'train', 'test' or 'predict' batches: each a function or None if nobody listens.

        ``end(batch, logs)`` takes the logs dict or a function that makes it: then it is made only if a
        listener reads it (the progress bar reads it only when it redraws), once per batch."""
        if mode not in self._hooks:
            found = []
            for when in ("begin", "end"):
                hook = f"on_{mode}_batch_{when}"
                listeners = [_listener(cb, hook) for cb in self.callbacks if _listens(cb, hook)]
                found.append(_batch_caller(listeners) if listeners else None)
            self._hooks[mode] = tuple(found)
        return self._hooks[mode]

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs or {})

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs or {})

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs if logs is not None else {})

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs or {})

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs or {})

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs or {})

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs or {})

    def release(self):
        """After an exception: let every callback free what it holds, even if one of them fails."""
        for cb in self.callbacks:
            try:
                cb._release()
            except Exception:  # noqa: BLE001 - the exception being propagated matters more
                pass


def as_list(callbacks) -> list:
    """``callbacks=`` as a list of Callback instances (one callback alone is accepted, as Keras does)."""
    if callbacks is None:
        return []
    found = [callbacks] if isinstance(callbacks, Callback) else callbacks
    if not isinstance(found, (list, tuple)):
        raise TypeError(f"callbacks must be a list of fgc.callbacks.Callback instances, got "
                        f"{type(callbacks).__name__}")
    for i, cb in enumerate(found):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}] is a {type(cb).__name__}; callbacks must be fgc.callbacks.Callback "
                            f"instances (for a plain function use fgc.callbacks.LambdaCallback)")
    return list(found)


def _listener(cb: Callback, hook: str):
    """(the bound hook, whether it takes the logs lazily: a dict or a function making it)."""
    lazy = getattr(cb, "_lazy_" + hook, None)
    if lazy is not None and hook not in vars(cb) and getattr(type(cb), hook, None) is getattr(ProgbarLogger, hook):
        return lazy, True
    return getattr(cb, hook), False


def _batch_caller(listeners):
    if len(listeners) == 1 and listeners[0][1]:   # the progress bar alone: it takes the lazy logs itself
        return listeners[0][0]

    def call(batch, logs=None):
        made = None
        for hook, lazy in listeners:
            if lazy:
                hook(batch, logs)
                continue
            if made is None:
                made = {} if logs is None else logs() if callable(logs) else logs
            hook(batch, logs=made)
    return call


class History(Callback):
    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _fmt(v, signed: bool = True) -> str:
    """Keras' Progbar: 4 decimals above 1e-3, else scientific (verbose=2 compares the signed value); a
    metric whose result is a vector (F1Score per class) shows its mean, as Keras does."""
    if type(v) is not float:   # the logs' floats as they are (checking for an array cost more than the format)
        v = float(np.mean(v)) if isinstance(v, np.ndarray) else float(v)   # np.mean of a float costs ~40 us
    return f"{v:.4f}" if (abs(v) if signed else v) > 1e-3 else f"{v:.4e}"


def _duration(sec: float) -> str:
    if sec < 1e-3:
        return f"{sec * 1e6:.0f}us"
    return f"{sec * 1e3:.0f}ms" if sec < 1 else f"{sec:.0f}s"


def _eta(sec: float) -> str:
    if sec > 3600:
        return f"{int(sec // 3600)}:{int(sec % 3600 // 60):02d}:{int(sec % 60):02d}"
    return f"{int(sec // 60)}:{int(sec % 60):02d}" if sec > 60 else f"{int(sec)}s"


class ProgbarLogger(Callback):
    """``Epoch 1/10`` then ``8/8 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.10 - loss: 2.30``."""

    INTERVAL = 0.05   # seconds between redraws of the bar, as Keras' Progbar

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose, self.stream = verbose, stream or sys.stdout
        self._last_draw = 0.0
        self._redraws = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self._seen = 0   # steps done: the epoch's length when params['steps'] is None (a generator)
        # only a terminal shows a bar redrawn in place; asked once per epoch, not every step
        self._redraws = self.verbose == 1 and self.stream.isatty()
        print(f"Epoch {epoch + 1}/{self.params['epochs']}", file=self.stream)

    def _line(self, step, logs, final):
        steps = self.params["steps"] or (step if final else None)
        elapsed = time.perf_counter() - self.epoch_start
        per_step = elapsed / max(step, 1)
        signed = self.verbose != 2
        metrics = "".join([f" - {k}: {_fmt(v, signed)}" for k, v in sorted(logs.items())]) if logs else ""
        if self.verbose == 2:   # Keras: the epoch's time in whole seconds
            return f"{steps}/{steps} - {elapsed:.0f}s - {_duration(per_step)}/step{metrics}"
        if steps is None:   # Keras: an unknown epoch length shows the count alone
            return f"{step}/Unknown {_duration(elapsed)} {_duration(per_step)}/step{metrics}"
        done = int(20 * step / steps) if steps else 20
        bar = "━" * done + " " * (20 - done) if not final else "━" * 20
        when = f"{elapsed:.0f}s" if final else _eta(per_step * (steps - step))
        return f"{step}/{steps} {bar} {when} {_duration(per_step)}/step{metrics}"

    def on_train_batch_end(self, batch, logs=None):
        self._lazy_on_train_batch_end(batch, logs)

    def _lazy_on_train_batch_end(self, batch, logs):
        """``logs``: the dict, or a function making it (CallbackList): called only for a redraw."""
        self._seen = batch + 1
        if not self._redraws:
            return
        now = time.perf_counter()
        if now - self._last_draw > self.INTERVAL:
            self._last_draw = now
            logs = logs() if callable(logs) else logs
            print("\r" + self._line(batch + 1, logs, False), end="", file=self.stream, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params["steps"] or getattr(self, "_seen", 0)
        prefix = "\r" if self.verbose == 1 and self.stream.isatty() else ""
        print(prefix + self._line(steps, logs, True), file=self.stream, flush=True)


class EarlyStopping(Callback):
    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.min_delta, self.patience, self.verbose = monitor, abs(min_delta), patience, verbose
        self.baseline, self.restore_best_weights, self.start_from_epoch = baseline, restore_best_weights, start_from_epoch
        self.mode = _mode(mode, monitor)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0
        self.best = None

    def _better(self, current, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping monitors '{self.monitor}', which is not in the logs "
                          f"{sorted(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._better(current, self.best):  # Keras 3: the best so far is kept even if it misses the baseline,
            self.best, self.best_epoch = current, epoch  # but only beating the baseline too resets the patience
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


def _mode(mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) else "min"


class ModelCheckpoint(Callback):
    """Saves after each epoch (weights as .npz, or the model as .onnx); writes are atomic."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _mode(mode, monitor)
        self.best = initial_value_threshold
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint supports save_freq='epoch'")
        if not save_weights_only and not self.filepath.endswith(".onnx"):
            raise ValueError(f"ModelCheckpoint('{self.filepath}'): fgc saves whole models as ONNX; use a path ending "
                             f"in '.onnx', or save_weights_only=True with a '.weights.npz' path")

    def on_train_begin(self, logs=None):
        check_writable_folder(self.filepath, "ModelCheckpoint")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint monitors '{self.monitor}', which is not in the logs", stacklevel=2)
                return
            better = self.best is None or (current < self.best if self.mode == "min" else current > self.best)
            if not better:
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved to {current:.5f}, saving model to {path}")
            self.best = current
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.export(path)


def check_writable_folder(filepath: str, who: str) -> None:
    """Fail before training, not after the first epoch, when the files cannot be written (created like Keras)."""
    folder = os.path.dirname(os.path.abspath(filepath))
    if "{" in folder:  # the folder itself depends on the epoch or the logs: nothing to check yet
        return
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise ValueError(f"{who}('{filepath}'): cannot write to the folder '{folder}' ({e.strerror}); choose a "
                         f"writable location") from None


class TerminateOnNaN(Callback):
    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = float(self.schedule(epoch, opt.current_lr()))
        except TypeError:  # the Keras 2 form schedule(epoch), which Keras 3 still accepts
            lr = float(self.schedule(epoch))
        opt.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.current_lr()


class ReduceLROnPlateau(Callback):
    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau factor must be < 1, got {factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode, self.min_delta, self.cooldown, self.min_lr = _mode(mode, monitor), min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = current < self.best - self.min_delta if self.mode == "min" else current > self.best + self.min_delta
        if better:
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                opt = self.model.optimizer
                old = opt.current_lr()
                if old > self.min_lr:  # at min_lr already: nothing changes, no cooldown (as Keras)
                    new = max(old * self.factor, self.min_lr)
                    opt.learning_rate = new
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs=None):
        self.keys = None
        self.file = open(self.filename, "a" if self.append else "w", newline="")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch"] + self.keys, delimiter=self.separator)
            if not self.append or self.file.tell() == 0:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        self._release()

    def _release(self):
        file = getattr(self, "file", None)
        if file is not None and not file.closed:
            file.close()


class LambdaCallback(Callback):
    """Hooks from plain functions, with Keras' arguments: ``on_epoch_begin(epoch, logs)``,
    ``on_train_begin(logs)``, ``on_train_batch_end(batch, logs)``; any other hook by keyword."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        from fgc.naming import check_kwargs

        check_kwargs("LambdaCallback()", kwargs, HOOKS)
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for hook, fn in given.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback({hook}=...) must be a function, got {type(fn).__name__}")
                setattr(self, hook, fn)
