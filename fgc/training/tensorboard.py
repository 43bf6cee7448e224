"""Keras 3's ``TensorBoard`` callback for scalars, writing TensorBoard event files without TensorFlow.

An event file is a sequence of TFRecords (little-endian uint64 length, masked CRC32C of the length
bytes, the payload, masked CRC32C of the payload), each payload a serialized ``tensorflow.Event``
protobuf. fgc writes two kinds of Event: the first one of every file (``wall_time``, ``file_version
= "brain.Event:2"``) and scalar summaries (``wall_time``, ``step``, ``summary { value { tag,
simple_value } }``), which TensorBoard's scalar dashboard reads. The few protobuf fields are
encoded by hand (field numbers from tensorflow/core/util/event.proto and summary.proto).

Files go where Keras puts them: ``<log_dir>/train`` and ``<log_dir>/validation``, one
``events.out.tfevents.<time>.<host>.<pid>.<n>.v2`` each per fit.
"""
from __future__ import annotations

import os
import socket
import struct
import time

from .callbacks import Callback

# ---------------------------------------------------------------------------------------------- CRC32C
_CRC32C_POLY = 0x82F63B78   # Castagnoli, reflected


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's mask: a CRC stored next to data that is itself CRC'd would otherwise be weak."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked_crc32c(length)) + payload + struct.pack("<I", masked_crc32c(payload))


# ---------------------------------------------------------------------------------------------- protobuf
def varint(value: int) -> bytes:
    if value < 0:   # int64 negatives take ten bytes (two's complement)
        value += 1 << 64
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def _bytes_field(field: int, data: bytes) -> bytes:
    return _key(field, 2) + varint(len(data)) + data


def encode_scalar_value(tag: str, value: float) -> bytes:
    """Summary.Value: tag = 1 (string), simple_value = 2 (float)."""
    return _bytes_field(1, tag.encode("utf-8")) + _key(2, 5) + struct.pack("<f", value)


def encode_event(wall_time: float, step: int = 0, file_version: str | None = None,
                 scalars: dict | None = None) -> bytes:
    """Event: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5
    (Summary, whose repeated value = 1)."""
    out = _key(1, 1) + struct.pack("<d", wall_time)
    if step:
        out += _key(2, 0) + varint(int(step))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode("utf-8"))
    if scalars:
        summary = b"".join(_bytes_field(1, encode_scalar_value(tag, float(v))) for tag, v in scalars.items())
        out += _bytes_field(5, summary)
    return out


class EventFileWriter:
    """Appends events to one new event file in ``folder`` (created on the first write)."""

    _count = 0

    def __init__(self, folder: str):
        self.folder = folder
        self._file = None

    def _open(self):
        os.makedirs(self.folder, exist_ok=True)
        EventFileWriter._count += 1
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}."
                f"{EventFileWriter._count}.v2")
        self.path = os.path.join(self.folder, name)
        self._file = open(self.path, "ab")
        self._file.write(tfrecord(encode_event(time.time(), file_version="brain.Event:2")))

    def scalars(self, step: int, values: dict) -> None:
        if not values:
            return
        if self._file is None:
            self._open()
        self._file.write(tfrecord(encode_event(time.time(), step, scalars=values)))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# ---------------------------------------------------------------------------------------------- callback
class TensorBoard(Callback):
    """Scalars as Keras 3 logs them: ``epoch_<name>`` per epoch (train logs and the learning rate in
    ``train/``, ``val_`` logs without the prefix in ``validation/``), ``batch_<name>`` every
    ``update_freq`` train batches, ``evaluation_<name>_vs_iterations`` after each validation.
    ``write_graph`` (a TensorFlow graph) has no fgc equivalent and writes nothing; histograms,
    images, profiling and embeddings are not supported and refused."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        refused = {"histogram_freq": histogram_freq, "write_images": write_images, "profile_batch": profile_batch,
                   "embeddings_freq": embeddings_freq, "embeddings_metadata": embeddings_metadata}
        for key, value in refused.items():
            if value:
                raise NotImplementedError(f"TensorBoard({key}={value!r}) is not supported by fgc, which writes "
                                          f"scalar summaries only; leave {key} at its default")
        if update_freq not in ("epoch", "batch") and not (isinstance(update_freq, int) and update_freq >= 1
                                                          and not isinstance(update_freq, bool)):
            raise ValueError(f"TensorBoard(update_freq={update_freq!r}): use 'epoch', 'batch' or a number of "
                             f"batches >= 1")
        self.log_dir = str(log_dir)
        self.histogram_freq, self.write_graph, self.write_images = histogram_freq, write_graph, write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq, self.embeddings_metadata = embeddings_freq, embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_start = None
        self._epoch_start_iterations = 0

    def _writer(self, kind: str) -> EventFileWriter:
        if kind not in self._writers:
            self._writers[kind] = EventFileWriter(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        values = {f"batch_{k}": v for k, v in (logs or {}).items()}
        if self.write_steps_per_second:
            values["batch_steps_per_second"] = 1.0 / max(time.time() - self._batch_start, 1e-9)
        self._writer("train").scalars(self._global_train_batch, values)

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start, self._epoch_start_iterations = time.time(), self.model.optimizer.iterations

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)   # a LossScaleOptimizer's
        if optimizer is not None and hasattr(optimizer, "current_lr"):
            train["epoch_learning_rate"] = optimizer.current_lr()
        if self.write_steps_per_second and self._epoch_start is not None:
            steps = self.model.optimizer.iterations - self._epoch_start_iterations
            train["epoch_steps_per_second"] = steps / max(time.time() - self._epoch_start, 1e-9)
        val = {f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")}
        if logs:
            self._writer("train").scalars(epoch, train)
            self._writer("validation").scalars(epoch, val)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        if self.model is not None and self.model.optimizer is not None:
            self._writer("validation").scalars(
                self.model.optimizer.iterations,
                {f"evaluation_{k}_vs_iterations": v for k, v in (logs or {}).items()})

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _release(self):   # an interrupted fit still closes its files
        self._close()
