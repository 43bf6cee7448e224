"""save_weights / load_weights: exact round trips, order for any count, and every bad file refused with its
name and the first mismatching weight, leaving the model's weights bit-identical."""
import io
import zipfile

import numpy as np
import pytest

from fgc import Input, Model, layers
from fgc.saving import weights_npz as weights_file

rng = np.random.default_rng(3)


def mlp():
    inp = Input(shape=(4,))
    h = layers.Dense(3, activation="relu")(inp)
    return Model(inp, layers.Dense(2)(h))


def known_weights():
    return [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,), (3, 2), (2,)]]


def snapshot(model):
    return [w.tobytes() for w in model.get_weights()]


@pytest.fixture
def saved(tmp_path):
    """(path, the weights it holds) for an MLP with known weights."""
    model = mlp()
    values = known_weights()
    model.set_weights(values)
    path = tmp_path / "mlp.weights.npz"
    model.save_weights(path)
    return path, values


def test_round_trip_is_exact_and_works_for_the_same_code_built_again(saved):
    path, values = saved
    other = mlp()  # built again in the same process: its layers have other auto names (dense_2, ...)
    other.load_weights(path)
    for got, want in zip(other.get_weights(), values):
        assert got.tobytes() == want.tobytes()


class FakeLayer:
    pass


class FakeVariable:
    """What the weights module needs from a Variable: a layer, a name, a path, a shape and a value."""

    def __init__(self, layer, name, value):
        self.layer, self.name, self.value = layer, name, value
        self.path, self.shape = f"l{id(layer) % 997}/{name}", value.shape

    def numpy(self):
        return self.value


def test_more_than_ten_thousand_weights_keep_their_order(tmp_path):
    layer = FakeLayer()
    variables = [FakeVariable(layer, f"w{i}", np.array([i], np.float32)) for i in range(10_002)]
    path = tmp_path / "many.npz"
    weights_file.save(path, variables)
    loaded = weights_file.load(path, variables, "many")
    assert [int(a[0]) for a in loaded] == list(range(10_002))


def test_files_of_the_older_zero_padded_format_still_load(tmp_path):
    model = mlp()
    values = known_weights()
    buf = io.BytesIO()
    np.savez(buf, **{f"{i:04d}:{v.path}": w for i, (v, w) in enumerate(zip(model.weights, values))})
    path = tmp_path / "old.npz"
    path.write_bytes(buf.getvalue())
    model.load_weights(path)
    assert [w.tobytes() for w in model.get_weights()] == [w.tobytes() for w in values]


def test_weights_of_another_architecture_with_the_same_shapes_are_refused(tmp_path):
    ids = Input(shape=(5,), dtype="int32")
    embedding_model = Model(ids, layers.Embedding(4, 4)(ids))
    embedding_model.save_weights(tmp_path / "emb.npz")
    x = Input(shape=(4,))
    dense_model = Model(x, layers.Dense(4, use_bias=False)(x))
    assert [w.shape for w in dense_model.get_weights()] == [w.shape for w in embedding_model.get_weights()]
    before = snapshot(dense_model)
    with pytest.raises(ValueError, match=r"emb\.npz.*different architecture: weight 0 \('dense\w*/kernel'\) is "
                                         r"'dense/kernel' .* but 'embedding/embeddings'"):
        dense_model.load_weights(tmp_path / "emb.npz")
    assert snapshot(dense_model) == before


def test_shape_and_count_mismatches_name_the_file_and_the_weight(saved):
    path, _ = saved
    inp = Input(shape=(4,))
    wider = Model(inp, layers.Dense(2)(layers.Dense(5, activation="relu")(inp)))
    before = snapshot(wider)
    with pytest.raises(ValueError, match=r"mlp\.weights\.npz.*weight 0 \('dense\w*/kernel'\) has shape \(4, 5\), "
                                         r"but the file's 'dense\w*/kernel' has shape \(4, 3\)"):
        wider.load_weights(path)
    assert snapshot(wider) == before
    inp = Input(shape=(4,))
    single = Model(inp, layers.Dense(2)(inp))
    with pytest.raises(ValueError, match=r"mlp\.weights\.npz.*holds 4 weights, but model '\w+' has 2"):
        single.load_weights(path)


def test_older_files_are_checked_by_weight_name(tmp_path):
    model = mlp()
    buf = io.BytesIO()
    names = ["kernel", "gamma", "kernel", "bias"]
    np.savez(buf, **{f"{i:04d}:layer/{n}": w for i, (n, w) in enumerate(zip(names, known_weights()))})
    path = tmp_path / "old.npz"
    path.write_bytes(buf.getvalue())
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"weight 1 \('dense\w*/bias'\) is a 'bias', but the file holds 'layer/gamma'"):
        model.load_weights(path)
    assert snapshot(model) == before


@pytest.mark.parametrize("damage, pattern", [
    (lambda data: data[: len(data) // 2], "truncated or corrupt"),
    (lambda data: data[:40], "truncated or corrupt"),
    (lambda data: data[:200] + bytes(b ^ 0xFF for b in data[200:260]) + data[260:], "truncated or corrupt"),
    (lambda data: b"", "the file is empty"),
])
def test_damaged_files_name_the_file_and_change_nothing(saved, tmp_path, damage, pattern):
    path, _ = saved
    bad = tmp_path / "bad.weights.npz"
    bad.write_bytes(damage(path.read_bytes()))
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=rf"'{bad}'.*{pattern}"):
        model.load_weights(bad)
    assert snapshot(model) == before


def test_foreign_files_say_what_they_look_like(tmp_path):
    model = mlp()
    before = snapshot(model)
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros(3))
    h5 = tmp_path / "k.weights.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    text = tmp_path / "notes.txt"
    text.write_text("these are not weights\n")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes([0xFF, 0x00, 0xFE, 0x01]) * 8)
    cases = [(npy, r"single numpy array \(\.npy\)"), (h5, r"not a readable HDF5 file"),
             (text, "a text file"), (binary, "unknown format")]
    for path, pattern in cases:
        with pytest.raises(ValueError, match=rf"'{path}'.*{pattern}"):
            model.load_weights(path)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        model.load_weights(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError, match="folder"):
        model.load_weights(tmp_path)
    assert snapshot(model) == before


def test_zip_without_fgc_entries_and_pickled_arrays_are_refused(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    pickled = tmp_path / "pickled.npz"
    with zipfile.ZipFile(pickled, "w") as z:
        buf = io.BytesIO()
        np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        z.writestr("0:dense/kernel.npy", buf.getvalue())
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"'.*foreign\.npz'.*entry 'a' is not an fgc weight"):
        model.load_weights(foreign)
    with pytest.raises(ValueError, match=r"pickled\.npz.*truncated or corrupt"):
        model.load_weights(pickled)
    assert snapshot(model) == before


def test_zip_members_that_are_not_arrays_and_keras_archives_are_named(tmp_path):
    raw = tmp_path / "raw.npz"
    with zipfile.ZipFile(raw, "w") as z:
        z.writestr("0:dense/kernel", b"not an array")
    keras_archive = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_archive, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF")
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"raw\.npz.*entry '0:dense/kernel' is not a numpy array"):
        model.load_weights(raw)
    with pytest.raises(ValueError, match=r"model\.keras.*not a readable HDF5 file"):  # its weights member is cut
        model.load_weights(keras_archive)
    assert snapshot(model) == before
