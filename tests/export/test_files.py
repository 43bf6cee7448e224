"""Files fgc writes get the mode open() would give them, and a failed write names the target."""
import os
import stat

import numpy as np
import pytest

from fgc import Input, Model, layers
from fgc.export.files import atomic_write_bytes


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_respect_the_umask(tmp_path, umask, mask):
    umask(mask)
    path = tmp_path / "out.bin"
    atomic_write_bytes(path, b"abc")
    assert path.read_bytes() == b"abc"
    assert mode_of(path) == 0o666 & ~mask


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o077)
    path = tmp_path / "shared.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and mode_of(path) == 0o644


def test_save_weights_and_export_use_the_umask(tmp_path, umask):
    umask(0o022)
    inp = Input(shape=(2,))
    model = Model(inp, layers.Dense(1)(inp))
    model.save_weights(tmp_path / "w.npz")
    model.export(tmp_path / "m.onnx")
    assert mode_of(tmp_path / "w.npz") == 0o644 and mode_of(tmp_path / "m.onnx") == 0o644


def test_a_failed_write_names_the_target_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "missing_folder" / "w.npz"
    with pytest.raises(FileNotFoundError, match=rf"cannot write '{target}'") as e:
        atomic_write_bytes(target, b"x")
    assert ".fgc-" not in str(e.value)
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")
    with pytest.raises(OSError, match=rf"cannot write '{blocker / 'w.npz'}'"):
        atomic_write_bytes(blocker / "w.npz", b"x")
    folder = tmp_path / "folder_target"
    folder.mkdir()
    with pytest.raises(OSError, match=rf"cannot write '{folder}'"):
        atomic_write_bytes(folder, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "folder_target"]


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "w.bin"
    path.write_bytes(b"previous")

    def broken_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PermissionError, match=rf"cannot write '{path}'"):
        atomic_write_bytes(path, np.arange(3).tobytes())
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]
