"""TensorBoard event files: TFRecord framing (masked CRC32C) and the Event / Summary protobuf fields
for scalars, decoded here by a reader written from the protobuf wire-format spec and checked
against published byte sequences; and by the ``tensorboard`` package when it is installed."""
import glob
import os
import struct

import numpy as np
import pytest

import fgc
from fgc import callbacks as C
from fgc import layers
from fgc.training import tensorboard as tb


# ---------------------------------------------------------------------------------------------- an independent reader
def _varint(data, i):
    shift = value = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return value, i


def _fields(data):
    """[(field number, wire type, value)] of one protobuf message."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        else:
            raise AssertionError(f"wire type {wire}")
        out.append((field, wire, value))
    return out


def _crc32c_bitwise(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 * (crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path):
    """Every Event of a file as a dict: wall_time, step, file_version, scalars {tag: value}."""
    with open(path, "rb") as f:
        data = f.read()
    events, i = [], 0
    while i < len(data):
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[i + 8:i + 12])[0] == _masked(_crc32c_bitwise(header))
        payload = data[i + 12:i + 12 + length]
        assert struct.unpack("<I", data[i + 12 + length:i + 16 + length])[0] == _masked(_crc32c_bitwise(payload))
        i += 16 + length
        event = {"step": 0, "scalars": {}}
        for field, wire, value in _fields(payload):
            if field == 1 and wire == 1:
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif field == 2 and wire == 0:
                event["step"] = value
            elif field == 3 and wire == 2:
                event["file_version"] = value.decode()
            elif field == 5 and wire == 2:
                for vfield, _, summary_value in _fields(value):
                    assert vfield == 1
                    parts = {f: v for f, _, v in _fields(summary_value)}
                    event["scalars"][parts[1].decode()] = struct.unpack("<f", parts[2])[0]
        events.append(event)
    return events


# ---------------------------------------------------------------------------------------------- known bytes
def test_crc32c_and_protobuf_encoding_match_published_values():
    assert tb.crc32c(b"123456789") == 0xE3069283          # the CRC-32C check value (RFC 3720, B.4)
    assert tb.crc32c(bytes(32)) == 0x8A9136AA             # RFC 3720 B.4: 32 bytes of zeros
    assert tb.crc32c(b"\xff" * 32) == 0x62A8AB43          # RFC 3720 B.4: 32 bytes of ones
    assert _crc32c_bitwise(b"123456789") == 0xE3069283    # the reader's own CRC is right too
    assert tb._key(1, 0) + tb.varint(150) == b"\x08\x96\x01"   # protobuf encoding guide: field 1 = 150
    assert tb._bytes_field(2, b"testing") == b"\x12\x07testing"  # the guide's string example
    assert tb.varint(-1) == b"\xff" * 9 + b"\x01"          # int64 -1 takes ten bytes
    event = tb.encode_event(1.5, 7, scalars={"epoch_loss": 0.25})
    assert event == (b"\x09" + struct.pack("<d", 1.5) + b"\x10\x07" + b"\x2a\x13" + b"\x0a\x11"
                     + b"\x0a\x0aepoch_loss" + b"\x15" + struct.pack("<f", 0.25))


# ---------------------------------------------------------------------------------------------- the callback
def _fit(log_dir, **kwargs):
    fgc.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x @ rng.standard_normal((3, 1))).astype(np.float32)
    inp = fgc.Input((3,))
    model = fgc.Model(inp, layers.Dense(1)(inp))
    model.compile(fgc.optimizers.SGD(0.05), "mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0,
                        callbacks=[C.TensorBoard(log_dir, **kwargs)])
    return model, history


def _one_file(folder):
    files = glob.glob(os.path.join(folder, "events.out.tfevents.*"))
    assert len(files) == 1, files
    return files[0]


def test_epoch_scalars_go_to_train_and_validation_as_keras_names_them(tmp_path):
    model, history = _fit(str(tmp_path))
    train = read_events(_one_file(tmp_path / "train"))
    val = read_events(_one_file(tmp_path / "validation"))
    assert train[0]["file_version"] == "brain.Event:2" and val[0]["file_version"] == "brain.Event:2"
    epochs = [e for e in train[1:] if "epoch_loss" in e["scalars"]]
    assert [e["step"] for e in epochs] == [0, 1, 2]
    assert set(epochs[0]["scalars"]) == {"epoch_loss", "epoch_mae", "epoch_learning_rate"}
    np.testing.assert_allclose([e["scalars"]["epoch_loss"] for e in epochs], history.history["loss"], rtol=1e-6)
    assert epochs[2]["scalars"]["epoch_learning_rate"] == pytest.approx(0.05)
    val_epochs = [e for e in val[1:] if "epoch_loss" in e["scalars"]]
    np.testing.assert_allclose([e["scalars"]["epoch_loss"] for e in val_epochs], history.history["val_loss"],
                               rtol=1e-6)
    evaluation = [e for e in val[1:] if "evaluation_loss_vs_iterations" in e["scalars"]]
    assert [e["step"] for e in evaluation] == [4, 8, 12]   # after each epoch's 4 steps


def test_batch_scalars_every_update_freq_steps(tmp_path):
    _fit(str(tmp_path), update_freq=3)
    batches = [e for e in read_events(_one_file(tmp_path / "train")) if "batch_loss" in e["scalars"]]
    assert [e["step"] for e in batches] == [3, 6, 9, 12]


def test_unsupported_arguments_are_refused(tmp_path):
    for kwargs in ({"histogram_freq": 1}, {"write_images": True}, {"embeddings_freq": 1}, {"profile_batch": 2}):
        with pytest.raises(NotImplementedError, match=next(iter(kwargs))):
            C.TensorBoard(str(tmp_path), **kwargs)
    with pytest.raises(ValueError, match="update_freq"):
        C.TensorBoard(str(tmp_path), update_freq="step")


def test_tensorboard_reads_the_files(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    _, history = _fit(str(tmp_path))
    acc = event_accumulator.EventAccumulator(str(tmp_path / "train"))
    acc.Reload()
    losses = [s.value for s in acc.Scalars("epoch_loss")]
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-6)


def test_steps_per_second_when_asked(tmp_path):
    _fit(str(tmp_path), update_freq="batch", write_steps_per_second=True)
    events = read_events(_one_file(tmp_path / "train"))
    epochs = [e["scalars"] for e in events if "epoch_loss" in e["scalars"]]
    batches = [e for e in events if "batch_loss" in e["scalars"]]
    assert all(s["epoch_steps_per_second"] > 0 for s in epochs) and len(epochs) == 3
    assert [e["step"] for e in batches] == list(range(1, 13))
    assert all(e["scalars"]["batch_steps_per_second"] > 0 for e in batches)
