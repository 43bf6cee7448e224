"""fgc.initializers: every Keras 3 initializer class (but STFT), Keras' names and configs."""
import numpy as np
import pytest

from fgc import initializers

pytestmark = pytest.mark.usefixtures("fresh_keras_names")


KERAS_3_CLASSES = ["Constant", "Zeros", "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal", "GlorotUniform",
                   "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "VarianceScaling",
                   "Orthogonal", "Identity"]


def test_identity_is_a_scaled_eye():
    np.testing.assert_array_equal(initializers.Identity()((2, 3)), np.eye(2, 3))
    np.testing.assert_array_equal(initializers.get("identity")((3, 3)), np.eye(3))
    np.testing.assert_array_equal(initializers.Identity(gain=2.5)((2, 2)), 2.5 * np.eye(2))
    with pytest.raises(ValueError, match="2D matrices only"):
        initializers.Identity()((2, 2, 2))


def test_keras_aliases_and_compatibility_names():
    assert type(initializers.get("one")) is initializers.Ones and type(initializers.get("zero")) is initializers.Zeros
    config = {"module": "keras.initializers", "class_name": "IdentityInitializer", "config": {"gain": 2.0},
              "registered_name": None}
    np.testing.assert_array_equal(initializers.deserialize(config)((2, 2)), 2 * np.eye(2))
    assert type(initializers.get("OrthogonalInitializer")) is initializers.Orthogonal


def test_seeded_initializers_repeat_and_unseeded_do_not():
    for cls in (initializers.RandomNormal, initializers.GlorotUniform, initializers.Orthogonal,
                initializers.VarianceScaling):
        seeded = cls(seed=7)
        np.testing.assert_array_equal(seeded((3, 4)), seeded((3, 4)))
        unseeded = cls()
        assert not np.array_equal(unseeded((3, 4)), unseeded((3, 4)))


def test_variance_scaling_refuses_custom_fan_axes():
    with pytest.raises(ValueError, match="input_axes/output_axes are not supported"):
        initializers.VarianceScaling(input_axes=[0])


@pytest.mark.parametrize("name", KERAS_3_CLASSES)
def test_same_classes_and_configs_as_keras(name):
    keras = pytest.importorskip("keras")
    assert getattr(initializers, name)().get_config() == getattr(keras.initializers, name)().get_config()
    keras_names = {cls.__name__ for cls in keras.src.initializers.ALL_OBJECTS} - {"STFT", "Initializer"}
    assert keras_names <= set(KERAS_3_CLASSES)
