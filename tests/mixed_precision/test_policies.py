"""Dtype policies (Keras 3's keras.dtype_policies / keras.mixed_precision): names, the global policy,
a layer's dtype properties and the config Keras writes for them."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import fgc
from fgc import dtype_policies, layers, mixed_precision
from fgc.dtype_policies import DTypePolicy


@pytest.mark.parametrize("name, compute, variable", [
    ("mixed_float16", "float16", "float32"),
    ("mixed_bfloat16", "bfloat16", "float32"),
    ("float32", "float32", "float32"),
    ("float16", "float16", "float16"),
    ("float64", "float64", "float64"),
    ("bfloat16", "bfloat16", "bfloat16"),
])
def test_policy_dtypes(name, compute, variable):
    policy = DTypePolicy(name)
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == (name, compute, variable)
    assert repr(policy) == f'<DTypePolicy "{name}">'
    assert policy.get_config() == {"name": name}
    assert DTypePolicy.from_config(policy.get_config()) == policy


def test_policy_errors_say_what_is_valid():
    with pytest.raises(ValueError, match="mixed_float16"):
        DTypePolicy("mixed_float8")
    with pytest.raises(TypeError, match="must be a string"):
        DTypePolicy(16)
    with pytest.raises(ValueError, match="policy"):
        dtype_policies.set_dtype_policy(3.0)
    assert dtype_policies.dtype_policy().name == "float32"   # a refused call changed nothing


def test_legacy_names_and_global_policy():
    assert mixed_precision.Policy is DTypePolicy
    assert mixed_precision.global_policy().name == "float32"
    mixed_precision.set_global_policy("mixed_float16")
    assert mixed_precision.global_policy() == DTypePolicy("mixed_float16")
    assert DTypePolicy().name == "mixed_float16"   # no name: the global one
    fgc.utils.clear_session()                      # Keras' clear_session resets the policy too
    assert dtype_policies.dtype_policy().name == "float32"


def test_get_accepts_names_dicts_numpy_dtypes_and_policies():
    p = DTypePolicy("mixed_float16")
    assert dtype_policies.get(p) is p
    assert dtype_policies.get("mixed_float16") == p
    assert dtype_policies.get(np.float64).name == "float64"
    assert dtype_policies.get({"module": "keras", "class_name": "DTypePolicy",
                               "config": {"name": "mixed_bfloat16"}, "registered_name": None}).compute_dtype == "bfloat16"
    assert dtype_policies.get({"class_name": "FloatDTypePolicy", "config": {"name": "float16"}}).name == "float16"
    with pytest.raises(ValueError, match="quantized"):
        dtype_policies.get({"class_name": "QuantizedDTypePolicy", "config": {"mode": "int8", "source_name": "float32"}})


def test_layer_dtype_properties_follow_the_global_policy_at_creation():
    mixed_precision.set_global_policy("mixed_float16")
    dense = layers.Dense(4)
    plain = layers.Dense(4, dtype="float32")
    mixed_precision.set_global_policy("float32")
    later = layers.Dense(4)
    assert dense.dtype_policy == DTypePolicy("mixed_float16")
    assert (dense.compute_dtype, dense.variable_dtype, dense.dtype) == ("float16", "float32", "float32")
    assert plain.compute_dtype == "float32" and later.compute_dtype == "float32"
    assert layers.Dense(4, dtype=DTypePolicy("mixed_float16")).compute_dtype == "float16"
    dense.dtype_policy = "float32"                 # Keras' setter takes a name or a policy
    assert dense.compute_dtype == "float32"


def test_inputs_stay_float32_under_a_mixed_policy():
    mixed_precision.set_global_policy("mixed_float16")
    x = fgc.Input(shape=(3,))
    assert x.dtype == "float32"
    assert fgc.Input(shape=(3,), dtype="int32").dtype == "int32"


def test_weights_are_created_in_the_variable_dtype():
    mixed_precision.set_global_policy("mixed_float16")
    x = fgc.Input(shape=(3,))
    y = layers.BatchNormalization()(layers.Dense(4)(x))
    model = fgc.Model(x, y)
    assert [w.dtype for w in model.weights] == ["float32"] * 6
    assert all(a.dtype == np.float32 for a in model.get_weights())


def _keras_dtype(name):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def test_config_writes_and_reads_the_policy_as_keras_does():
    mixed_precision.set_global_policy("mixed_float16")
    dense = layers.Dense(4, name="d")
    config = dense.get_config()
    assert config["dtype"] == _keras_dtype("mixed_float16")
    mixed_precision.set_global_policy("float32")
    again = layers.Dense.from_config(json.loads(json.dumps(config)))
    assert again.dtype_policy.name == "mixed_float16"
    x = fgc.Input(shape=(3,))
    model = fgc.Model(x, layers.Activation("linear", dtype="float32")(layers.Dense(2, dtype="mixed_float16")(x)))
    restored = fgc.Model.from_config(json.loads(json.dumps(model.get_config())))
    assert [layer.dtype_policy.name for layer in restored.layers[1:]] == ["mixed_float16", "float32"]
    assert restored.layers[0].get_config()["dtype"] == "float32"


def test_saved_mixed_model_loads_with_its_policies_and_numbers(tmp_path):
    mixed_precision.set_global_policy("mixed_float16")
    x = fgc.Input(shape=(5,))
    y = layers.Activation("softmax", dtype="float32")(layers.Dense(3)(layers.Dense(8, activation="relu")(x)))
    model = fgc.Model(x, y)
    data = np.random.default_rng(0).random((4, 5)).astype(np.float32)
    expected = model.predict(data, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        layer_configs = json.loads(z.read("config.json"))["config"]["layers"]
    assert [c["config"]["dtype"] for c in layer_configs[1:]] == [_keras_dtype("mixed_float16")] * 2 + \
        [_keras_dtype("float32")]
    mixed_precision.set_global_policy("float32")
    loaded = fgc.models.load_model(tmp_path / "m.keras")
    assert [layer.compute_dtype for layer in loaded.layers[1:]] == ["float16", "float16", "float32"]
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), expected)


def test_keras_written_mixed_model_loads(tmp_path):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("run with KERAS_BACKEND=jax")
    keras.config.set_dtype_policy("mixed_float16")
    try:
        kx = keras.Input((6,))
        kh = keras.layers.Dense(8, activation="relu")(kx)
        ky = keras.layers.Activation("softmax", dtype="float32")(keras.layers.Dense(3)(kh))
        kmodel = keras.Model(kx, ky)
        assert kmodel.layers[1].get_config()["dtype"] == fgc.layers.Dense(2, dtype="mixed_float16").get_config()["dtype"]
        kmodel.save(tmp_path / "k.keras")
        data = np.random.default_rng(1).random((5, 6)).astype(np.float32)
        expected = np.asarray(kmodel.predict(data, verbose=0))
    finally:
        keras.config.set_dtype_policy("float32")
    loaded = fgc.models.load_model(tmp_path / "k.keras")
    assert [layer.dtype_policy.name for layer in loaded.layers[1:]] == ["mixed_float16", "mixed_float16", "float32"]
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, atol=2e-3)
