"""Keras 3's BackupAndRestore, RemoteMonitor and SwapEMAWeights callbacks."""
from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

from .callbacks import Callback


# ---------------------------------------------------------------------------------------------- BackupAndRestore
class BackupAndRestore(Callback):
    """Saves the weights *and optimizer state* (``latest.weights.h5``, Keras' file) and the epoch reached
    (``training_metadata.json``) in ``backup_dir``; a fit that starts with a backup there loads it and
    continues from that epoch, as Keras does (a backup taken mid-epoch, with an integer ``save_freq``,
    resumes at the start of that epoch with the mid-epoch weights). Both files are written to a
    temporary file and renamed; the metadata also records the iteration count of the weights it goes
    with, so a crash between the two writes is noticed (and the ``.bkp`` pair of ``double_checkpoint``
    used when it matches). ``delete_checkpoint`` removes the folder when fit ends normally."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"BackupAndRestore(backup_dir={backup_dir!r}): give the folder to keep the backup in")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and not isinstance(save_freq, bool)
                                         and save_freq >= 1):
            raise ValueError(f"BackupAndRestore(save_freq={save_freq!r}): use 'epoch' or a number of batches >= 1")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.double_checkpoint, self.delete_checkpoint = save_freq, double_checkpoint, \
            delete_checkpoint
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = self._weights_path + ".bkp"
        self._prev_metadata_path = self._metadata_path + ".bkp"
        self._current_epoch = 0
        self._last_batch_seen = 0
        self._batches_since_save = 0

    # ------------------------------------------------------------------ restoring
    def on_train_begin(self, logs=None):
        if getattr(getattr(self.model, "_trainer", None), "distributed", None) is not None:
            # the resumed epoch would have to reach every process before its first step
            raise NotImplementedError("BackupAndRestore is not supported with compile(distribute=...) yet")
        self._current_epoch, self._last_batch_seen, self._batches_since_save = 0, 0, 0
        pair = self._restorable_pair()
        if pair is None:
            return
        weights, metadata = pair
        try:
            self.model.load_weights(weights)
        except ValueError:   # an unreadable latest file: Keras falls back to the double_checkpoint copy
            previous = _read_json(self._prev_metadata_path)
            if weights == self._prev_weights_path or not os.path.exists(self._prev_weights_path):
                raise
            weights, metadata = self._prev_weights_path, previous
            self.model.load_weights(weights)
        if metadata is not None:
            self._current_epoch = int(metadata["epoch"])
            self.model._initial_epoch = self._current_epoch   # fit starts there (Keras' protocol)

    def _restorable_pair(self):
        """(weights path, metadata dict or None) to resume from, or None without a backup."""
        if not os.path.exists(self._weights_path):
            return None
        metadata = _read_json(self._metadata_path)
        if _consistent(self._weights_path, metadata):
            return self._weights_path, metadata
        previous = _read_json(self._prev_metadata_path)
        if os.path.exists(self._prev_weights_path) and _consistent(self._prev_weights_path, previous):
            return self._prev_weights_path, previous
        warnings.warn(f"BackupAndRestore: '{self._weights_path}' was written after '{self._metadata_path}' (a "
                      f"fit stopped between the two writes); resuming with the newer weights from epoch "
                      f"{(metadata or {}).get('epoch', 0) + 1}", stacklevel=2)
        return self._weights_path, metadata

    # ------------------------------------------------------------------ saving
    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # batches count from 0 in every epoch (and jump by steps_per_execution), as in Keras
        seen = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_since_save += seen
        self._last_batch_seen = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def _save(self):
        from fgc.export.files import atomic_write_bytes

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for src, dst in ((self._weights_path, self._prev_weights_path),
                             (self._metadata_path, self._prev_metadata_path)):
                if os.path.exists(src):
                    with open(src, "rb") as f:
                        atomic_write_bytes(dst, f.read())
        self.model.save_weights(self._weights_path)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen,
                    "iteration": int(getattr(self.model.optimizer, "_raw_iterations", self.model.optimizer.iterations))}
        atomic_write_bytes(self._metadata_path, json.dumps(metadata).encode("utf-8"))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


def _read_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def _consistent(weights_path: str, metadata) -> bool:
    """The metadata goes with these weights: its iteration count is the file's optimizer iteration
    (metadata written by Keras has none, and is trusted as Keras trusts it)."""
    if metadata is None or "epoch" not in metadata:
        return False
    if "iteration" not in metadata:
        return True
    try:
        import h5py

        with h5py.File(weights_path, "r") as f:
            stored = int(np.asarray(f["optimizer/vars/0"][()])) if "optimizer/vars/0" in f else None
    except (OSError, ValueError, KeyError):
        return False
    return stored is None or stored == int(metadata["iteration"])


# ---------------------------------------------------------------------------------------------- RemoteMonitor
class RemoteMonitor(Callback):
    """POSTs ``{"epoch": epoch, **logs}`` to ``root + path`` after every epoch: as the form field ``field``
    holding the JSON, or as a JSON body with ``send_as_json`` (Keras' two encodings). Uses the standard
    library's urllib; an unreachable server is a warning, as in Keras."""

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False, timeout=10.0):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json, self.timeout = headers, send_as_json, timeout

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as e:
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root} ({e})", stacklevel=2)


# ---------------------------------------------------------------------------------------------- SwapEMAWeights
class SwapEMAWeights(Callback):
    """Evaluates (and predicts) with the EMA weights of an optimizer built with ``use_ema=True``: they
    are swapped into the model for validation / evaluate / predict and back afterwards; with
    ``swap_on_epoch`` they are in the model from each epoch's end to the next epoch's start (so
    checkpoints taken at epoch end hold them)."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_in_model = False

    def _trainer(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)   # a LossScaleOptimizer's
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(f"SwapEMAWeights needs an optimizer built with use_ema=True; model "
                             f"'{self.model.name}' was compiled with {type(optimizer).__name__}"
                             f"(use_ema={getattr(optimizer, 'use_ema', None)})")
        return self.model._trainer

    def _swap(self):
        self._trainer().swap_with_slot("average")
        self._ema_in_model = not self._ema_in_model

    def on_train_begin(self, logs=None):
        self._trainer()   # refuse before the first step, not at the first validation

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_in_model:
            self._swap()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_in_model:
            self._swap()
            if epoch == self.params.get("epochs", 0) - 1:
                # fit ends by copying the averages into the weights: make them the weights now in the model
                self._trainer().copy_weights_to_slot("average")

    def on_test_begin(self, logs=None):
        if not self._ema_in_model:
            self._swap()

    def on_test_end(self, logs=None):
        if self._ema_in_model:
            self._swap()

    on_predict_begin = on_test_begin
    on_predict_end = on_test_end
