"""model.save('x.keras') / fgc.models.load_model: Keras 3's zip (metadata.json, config.json,
model.weights.h5), a round trip that predicts the same numbers and resumes training exactly, a
Keras-written file loaded whole, a killed save that leaves the previous file loadable, and damaged
files refused with the file's name and what is wrong."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers, optimizers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _model(seed=0):
    fgc.utils.set_random_seed(seed)
    vec = Input((6,), name="vec")
    ids = Input((5,), dtype="int32", name="ids")
    shared = layers.Dense(4, activation="tanh", name="shared")
    seq = layers.LSTM(3, name="lstm")(layers.Embedding(12, 3, mask_zero=True, name="emb")(ids))
    x = layers.concatenate([shared(vec), shared(layers.Dense(6, name="pre")(vec)), seq], name="merged")
    x = layers.BatchNormalization(name="bn")(x)
    return Model([vec, ids], [layers.Dense(1, name="score")(x), layers.Dense(2, activation="softmax", name="cls")(x)],
                 name="saved")


def _data(n=8):
    rng = np.random.default_rng(0)
    x = [rng.random((n, 6)).astype(np.float32), rng.integers(0, 12, (n, 5))]
    y = [rng.random((n, 1)).astype(np.float32), np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]]
    return x, y


def _compiled(seed=0):
    model = _model(seed)
    model.compile(optimizer=optimizers.Adam(0.01), loss=["mse", "categorical_crossentropy"],
                  metrics=[[], ["accuracy"]])
    return model


def test_file_holds_keras_members(tmp_path):
    model = _compiled()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(z.read("config.json"))
        meta = json.loads(z.read("metadata.json"))
    assert config["class_name"] == "Functional" and config["config"]["name"] == "saved"
    assert config["compile_config"]["loss"] and meta["keras_version"].startswith("3.")


def test_round_trip_predicts_the_same_and_resumes_training_exactly(tmp_path):
    x, y = _data()
    straight = _compiled()
    straight.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    first = _compiled()
    first.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "half.keras")
    loaded = fgc.models.load_model(tmp_path / "half.keras")
    assert [l.name for l in loaded.layers] == [l.name for l in first.layers]
    for got, want in zip(loaded.predict(x, verbose=0), first.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)
    assert loaded.optimizer.iterations == 2
    loaded.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_a_file_keras_wrote_loads_whole():
    model = fgc.models.load_model(FIXTURES / "keras_small.keras")
    with np.load(FIXTURES / "keras_small_io.npz") as f:
        io_ = {k: f[k] for k in f.files}
    x = [io_["vec"], io_["ids"], io_["image"]]
    score, label = model.predict(x, verbose=0)
    np.testing.assert_allclose(score, io_["score"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(label, io_["label"], rtol=1e-5, atol=1e-5)
    assert model.optimizer.iterations == 2
    loss = model.train_on_batch(x, [io_["y_score"], io_["y_label"]])
    np.testing.assert_allclose(loss[0] if np.ndim(loss) else loss, io_["next_loss"], rtol=1e-5)


_SAVER = """
import sys, fgc
from fgc import Input, Model, layers
i = Input((512,))
model = Model(i, layers.Dense(512)(layers.Dense(512)(i)), name="big")
print("ready", flush=True)
while True:
    model.save(sys.argv[1])
"""


def test_a_killed_save_leaves_the_previous_file_loadable(tmp_path):
    """A process saving over the file in a loop is killed at several moments: the file is always either the
    previous model or one complete new one (a temporary file may be left behind, never a torn target)."""
    target = tmp_path / "kept.keras"
    model = _compiled()
    model.save(target)
    x = _data()[0]
    before = model.predict(x, verbose=0)
    seen = set()
    for delay in (0.0, 0.1, 0.3, 0.6):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(target)], stdout=subprocess.PIPE, cwd=tmp_path)
        saver.stdout.readline()
        time.sleep(delay)
        os.kill(saver.pid, signal.SIGKILL)
        saver.wait()
        loaded = fgc.models.load_model(target)
        seen.add(loaded.name)
        if loaded.name == "saved":
            for got, want in zip(loaded.predict(x, verbose=0), before):
                np.testing.assert_array_equal(got, want)
        else:
            assert loaded.count_params() == 2 * (512 * 512 + 512)


def _damaged_variants(tmp_path) -> list[tuple[Path, str]]:
    good = tmp_path / "good.keras"
    _compiled().save(good)
    raw = good.read_bytes()
    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}

    def rezip(name, replace=None, drop=None):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for n, data in members.items():
                if n != drop:
                    z.writestr(n, (replace or {}).get(n, data))
        path = tmp_path / name
        path.write_bytes(buf.getvalue())
        return path

    config = json.loads(members["config.json"])
    unknown = json.loads(json.dumps(config))
    unknown["config"]["layers"][1]["class_name"] = "FancyDense"
    wrong_units = json.loads(json.dumps(config))
    for layer in wrong_units["config"]["layers"]:
        if layer["class_name"] == "LSTM":
            layer["config"]["units"] = 4
    (tmp_path / "empty.keras").write_bytes(b"")
    (tmp_path / "text.keras").write_text("not a model\n")
    (tmp_path / "cut.keras").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "legacy.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    return [
        (tmp_path / "empty.keras", "not a .keras file"),
        (tmp_path / "text.keras", "not a .keras file"),
        (tmp_path / "cut.keras", "not a .keras file, or a damaged one"),
        (tmp_path / "legacy.h5", "Keras 2's whole-model .h5 files are not supported"),
        (rezip("no_config.keras", drop="config.json"), r"lacks \['config.json'\]"),
        (rezip("no_weights.keras", drop="model.weights.h5"), r"lacks \['model.weights.h5'\]"),
        (rezip("bad_json.keras", {"config.json": b"{not json"}), "config.json is not valid JSON"),
        (rezip("not_model.keras", {"config.json": b"[1, 2]"}), "does not describe a model"),
        (rezip("unknown.keras", {"config.json": json.dumps(unknown).encode()}), "FancyDense"),
        (rezip("shapes.keras", {"config.json": json.dumps(wrong_units).encode()}),
         r"weight 'lstm/kernel' has shape \(3, 16\), but 'layers/lstm/cell/vars/0' in the file has shape \(3, 12\)"),
        (rezip("cut_weights.keras", {"model.weights.h5": members["model.weights.h5"][:200]}),
         "not a readable HDF5 file"),
    ]


def test_damaged_files_are_refused_by_name(tmp_path):
    for path, reason in _damaged_variants(tmp_path):
        with pytest.raises(ValueError, match=rf"'{path}'.*{reason}"):
            fgc.models.load_model(path)


def test_save_refuses_what_it_does_not_do(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match=r"zipped=False.*zipped \.keras file only"):
        model.save(tmp_path / "m.keras", zipped=False)
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(tmp_path / "m.keras", overwrite=False)
    with pytest.raises(ValueError, match=r"must end in '\.keras'"):
        model.save(tmp_path / "m.h5")
