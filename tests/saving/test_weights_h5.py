"""Keras 3's .weights.h5 written and read by fgc: the layout Keras uses (checked by path here, and
against Keras itself in tests/e2e/test_keras_interop.py), a round trip, exact resumption of
training from the saved optimizer state, and refusals that change nothing."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers, optimizers


def _model(seed=0):
    fgc.utils.set_random_seed(seed)
    ids = Input((5,), dtype="int32", name="ids")
    vec = Input((4,), name="vec")
    e = layers.Embedding(12, 3)(ids)
    seq = layers.Bidirectional(layers.LSTM(2, return_sequences=True))(e)
    td = layers.TimeDistributed(layers.Dense(2))(seq)
    shared = layers.Dense(3)
    x = layers.concatenate([layers.GRU(2)(td), shared(vec), layers.Flatten()(td)])
    x = layers.BatchNormalization()(x)
    return Model([ids, vec], [layers.Dense(1)(x), layers.Dense(2)(shared(vec))])


def _data(n=6):
    rng = np.random.default_rng(1)
    return [rng.integers(0, 12, (n, 5)), rng.random((n, 4))], [rng.random((n, 1)), rng.random((n, 2))]


def test_layout_is_keras_object_paths(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5") as f:
        groups = {}
        f.visititems(lambda name, obj: groups.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
        assert f["vars"].attrs["name"] == model.name
    assert sorted(groups) == sorted([
        "layers/embedding/vars/0",
        "layers/bidirectional/forward_layer/cell/vars/0", "layers/bidirectional/forward_layer/cell/vars/1",
        "layers/bidirectional/forward_layer/cell/vars/2", "layers/bidirectional/backward_layer/cell/vars/0",
        "layers/bidirectional/backward_layer/cell/vars/1", "layers/bidirectional/backward_layer/cell/vars/2",
        "layers/time_distributed/layer/vars/0", "layers/time_distributed/layer/vars/1",
        "layers/gru/cell/vars/0", "layers/gru/cell/vars/1", "layers/gru/cell/vars/2",
        "layers/dense/vars/0", "layers/dense/vars/1",   # the shared layer, by class: dense, dense_1, ...
        "layers/dense_1/vars/0", "layers/dense_1/vars/1", "layers/dense_2/vars/0", "layers/dense_2/vars/1",
        "layers/batch_normalization/vars/0", "layers/batch_normalization/vars/1",
        "layers/batch_normalization/vars/2", "layers/batch_normalization/vars/3"])
    np.testing.assert_array_equal(groups["layers/embedding/vars/0"], model.layers[1].get_weights()[0])


def test_round_trip_into_the_same_code_built_again(tmp_path):
    source, target = _model(0), _model(1)
    x, _ = _data()
    source.save_weights(tmp_path / "m.weights.h5")
    assert not np.allclose(target.predict(x, verbose=0)[0], source.predict(x, verbose=0)[0])
    target.load_weights(tmp_path / "m.weights.h5")
    for got, want in zip(target.predict(x, verbose=0), source.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("make_opt", [lambda: optimizers.Adam(0.01, amsgrad=True),
                                      lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
                                      lambda: optimizers.Nadam(0.01), lambda: optimizers.SGD(0.1, momentum=0.9)],
                         ids=["adam_amsgrad", "rmsprop_centered", "nadam", "sgd_momentum"])
def test_resume_from_saved_weights_and_optimizer_equals_uninterrupted(tmp_path, make_opt):
    x, y = _data(12)

    def compiled(seed=0):
        model = _model(seed)
        model.compile(optimizer=make_opt(), loss=["mse", "mse"])
        return model

    straight = compiled()
    straight.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    first = compiled()
    first.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    first.save_weights(tmp_path / "half.weights.h5")
    resumed = compiled(seed=7)
    resumed.load_weights(tmp_path / "half.weights.h5")
    assert resumed.optimizer.iterations == 3
    resumed.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_mismatches_are_refused_before_anything_changes(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "m.weights.h5")
    fgc.utils.set_random_seed(3)
    i = Input((4,))
    other = Model(i, layers.Dense(2)(layers.Dense(5)(i)))
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"m\.weights\.h5.*weight 'dense_\d+/kernel' has shape \(4, 5\), but "
                                         r"'layers/dense/vars/0' in the file has shape \(4, 3\)"):
        other.load_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5", "a") as f:
        del f["layers/gru/cell/vars/2"]
    model2 = _model(5)
    before2 = model2.get_weights()
    with pytest.raises(ValueError, match=r"layer 'gru\w*_cell'.*has 3 weights .* but the file holds 2"):
        model2.load_weights(tmp_path / "m.weights.h5")
    for got, want in zip(other.get_weights() + model2.get_weights(), before + before2):
        np.testing.assert_array_equal(got, want)
    truncated = tmp_path / "cut.weights.h5"
    truncated.write_bytes((tmp_path / "m.weights.h5").read_bytes()[:300])
    with pytest.raises(ValueError, match=r"cut\.weights\.h5.*not a readable HDF5 file"):
        model2.load_weights(truncated)


def test_save_weights_names_the_formats(tmp_path):
    with pytest.raises(ValueError, match=r"'x\.weights\.h5'.*'x\.npz'"):
        _model().save_weights(tmp_path / "weights.bin")
