"""Subclassed layers and models in Keras 3's files: weights by attribute path in .weights.h5, and .keras
files that rebuild registered subclasses; the files cross between Keras and fgc (skipped without Keras)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import fgc
import fgc.ops


def make_classes(api, ops, package):
    register = api.saving.register_keras_serializable

    @register(package=package)
    class Block(api.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = api.layers.Dense(units)
            self.norm = api.layers.LayerNormalization()

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="random_normal", name="scale")

        def call(self, x):
            return self.norm(self.inner(x)) * self.scale

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @register(package=package)
    class Net(api.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = Block(3)
            self.heads = [api.layers.Dense(2), api.layers.Dense(2)]
            self.out_layer = api.layers.Dense(1)
            self._private = api.layers.Dense(1)

        def call(self, x):
            h = self.block(x)
            return self.out_layer(self.heads[0](h) + self.heads[1](h)) + self._private(h)

    return Block, Net


# Keras 3's layout for Net (saving_lib._walk_saveable): attributes in name order, the `layers` property
# among them (out_layer is first reached through it), private attributes last, sublayers' own groups.
NET_GROUPS = {
    "vars": [],
    "block/vars": [(3,)],
    "block/inner/vars": [(4, 3), (3,)],
    "block/norm/vars": [(3,), (3,)],
    "heads/dense/vars": [(3, 2), (2,)],
    "heads/dense_1/vars": [(3, 2), (2,)],
    "layers/dense_2/vars": [(2, 1), (1,)],
    "layers/dense_3/vars": [(3, 1), (1,)],
}


def _groups(path):
    import h5py

    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.endswith("vars"):
                found[name] = [obj[k].shape for k in sorted(obj, key=int)]
        f.visititems(visit)
        if "vars" in f:
            found["vars"] = [f["vars"][k].shape for k in sorted(f["vars"], key=int)]
    return found


def _x(n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 4)).astype("float32")


def _numpy_net(net, x):
    """Net's forward in numpy from its sublayers' weights (LayerNormalization: epsilon 1e-3)."""
    kernel, bias = net.block.inner.get_weights()
    gamma, beta = net.block.norm.get_weights()
    z = x @ kernel + bias
    z = (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-3) * gamma + beta
    h = z * net.block.scale.numpy()
    heads = sum(h @ layer.get_weights()[0] + layer.get_weights()[1] for layer in net.heads)
    out_k, out_b = net.out_layer.get_weights()
    priv_k, priv_b = net._private.get_weights()
    return heads @ out_k + out_b + h @ priv_k + priv_b


def test_weights_file_uses_keras_attribute_paths(tmp_path):
    _, Net = make_classes(fgc, fgc.ops, "t_paths")
    net = Net()
    x = _x()
    np.testing.assert_allclose(net.predict(x, verbose=0), _numpy_net(net, x), rtol=1e-5, atol=1e-6)
    net.save_weights(tmp_path / "net.weights.h5")
    assert _groups(tmp_path / "net.weights.h5") == NET_GROUPS
    other = Net()
    other.build((None, 4))
    other.load_weights(tmp_path / "net.weights.h5")
    np.testing.assert_allclose(other.predict(x, verbose=0), _numpy_net(net, x), rtol=1e-5, atol=1e-6)


def test_keras_file_round_trips_a_registered_subclassed_model(tmp_path):
    _, Net = make_classes(fgc, fgc.ops, "t_keras_file")
    net = Net()
    net.build((None, 4))
    x = _x(seed=1)
    want = _numpy_net(net, x)
    net.compile(optimizer="adam", loss="mse")
    net.save(tmp_path / "net.keras")
    loaded = fgc.models.load_model(tmp_path / "net.keras")
    assert type(loaded) is Net and loaded.optimizer is not None
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_keras_file_round_trips_a_functional_model_with_a_subclassed_layer(tmp_path):
    Block, _ = make_classes(fgc, fgc.ops, "t_functional")
    inputs = fgc.Input((4,))
    block = Block(3)
    model = fgc.Model(inputs, fgc.layers.Dense(1, name="head")(block(inputs)))
    model.save_weights(tmp_path / "m.weights.h5")
    assert set(_groups(tmp_path / "m.weights.h5")) >= {"layers/block/vars", "layers/block/inner/vars",
                                                       "layers/block/norm/vars", "layers/dense/vars"}
    model.save(tmp_path / "m.keras")
    loaded = fgc.models.load_model(tmp_path / "m.keras")
    x = _x(seed=2)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_plain_constructor_arguments_are_recorded_as_keras_does(tmp_path):
    @fgc.saving.register_keras_serializable(package="t_auto")
    class Sized(fgc.Model):
        def __init__(self, units, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.dense = fgc.layers.Dense(units, activation=activation)

        def call(self, x):
            return self.dense(x)

    model = Sized(2, activation="tanh")
    model.build((None, 3))
    assert model.get_config()["units"] == 2 and model.get_config()["activation"] == "tanh"
    model.save(tmp_path / "sized.keras")
    loaded = fgc.models.load_model(tmp_path / "sized.keras")
    x = _x()[:, :3]
    kernel, bias = model.dense.get_weights()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_a_model_with_arguments_that_are_not_plain_values_needs_get_config():
    class Wrapping(fgc.Model):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    model = Wrapping(fgc.layers.Dense(2))
    model.build((None, 3))
    with pytest.raises(NotImplementedError, match=r"takes \['inner'\].*define get_config"):
        model.get_config()


# ------------------------------------------------------------------------------------------ with Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


def test_fgc_weights_and_keras_file_load_in_keras(tmp_path):
    keras = _keras()
    _, Net = make_classes(fgc, fgc.ops, "t_to_keras")
    _, KerasNet = make_classes(keras, keras.ops, "t_to_keras")
    net = Net()
    net.build((None, 4))
    x = _x(seed=3)
    want = _numpy_net(net, x)
    net.save_weights(tmp_path / "net.weights.h5")
    twin = KerasNet()
    twin(x)
    twin.load_weights(tmp_path / "net.weights.h5")
    np.testing.assert_allclose(np.asarray(twin(x)), want, rtol=1e-5, atol=1e-6)
    net.save(tmp_path / "net.keras")
    loaded = keras.models.load_model(tmp_path / "net.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), want, rtol=1e-5, atol=1e-6)


def test_keras_weights_and_keras_file_load_in_fgc(tmp_path):
    keras = _keras()
    _, Net = make_classes(fgc, fgc.ops, "t_from_keras")
    _, KerasNet = make_classes(keras, keras.ops, "t_from_keras")
    twin = KerasNet()
    x = _x(seed=4)
    want = np.asarray(twin(x))
    assert _groups_of_keras(twin, tmp_path) == NET_GROUPS
    net = Net()
    net.build((None, 4))
    net.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(net.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    twin.save(tmp_path / "k.keras")
    loaded = fgc.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def _groups_of_keras(model, tmp_path):
    model.save_weights(tmp_path / "k.weights.h5")
    return _groups(tmp_path / "k.weights.h5")


def test_automatic_layer_config_matches_keras():
    keras = _keras()

    def make(api):
        class Scale(api.layers.Layer):
            def __init__(self, factor=2.0, offsets=(0, 1), **kwargs):
                super().__init__(**kwargs)
                self.factor, self.offsets = factor, offsets

            def call(self, x):
                return x * self.factor
        return Scale

    ours = make(fgc)(factor=3.0, name="scale").get_config()
    theirs = make(keras)(factor=3.0, name="scale").get_config()
    assert ours == {**theirs, "offsets": tuple(theirs["offsets"])}
