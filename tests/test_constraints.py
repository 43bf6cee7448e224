"""fgc.constraints: projections against numpy written from Keras' formulas, names, configs."""
import numpy as np
import pytest

from fgc import constraints

pytestmark = pytest.mark.usefixtures("fresh_keras_names")


EPS = 1e-7


@pytest.fixture
def weight(rng):
    return rng.normal(size=(4, 3)).astype(np.float32)


def _norms(w, axis):
    return np.sqrt((w.astype(np.float64) ** 2).sum(axis=axis, keepdims=True))


def test_projections_match_their_formulas(weight):
    n0 = _norms(weight, 0)
    np.testing.assert_allclose(constraints.MaxNorm(1.5)(weight), weight * np.clip(n0, 0, 1.5) / (EPS + n0),
                               rtol=1e-5)
    np.testing.assert_allclose(constraints.NonNeg()(weight), np.maximum(weight, 0))
    n1 = _norms(weight, 1)
    np.testing.assert_allclose(constraints.UnitNorm(axis=1)(weight), weight / (EPS + n1), rtol=1e-5)
    n01 = _norms(weight, (0, 1))
    desired = 0.3 * np.clip(n01, 0.5, 2.0) + 0.7 * n01
    np.testing.assert_allclose(constraints.MinMaxNorm(0.5, 2.0, rate=0.3, axis=[0, 1])(weight),
                               weight * desired / (EPS + n01), rtol=1e-5)
    np.testing.assert_array_equal(constraints.Constraint()(weight), weight)


def test_names_configs_round_trip():
    assert type(constraints.get("max_norm")) is constraints.MaxNorm
    assert type(constraints.get("non_neg")) is constraints.NonNeg
    assert type(constraints.get("UnitNorm")) is constraints.UnitNorm
    assert constraints.get("min_max_norm").get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert constraints.max_norm is constraints.MaxNorm and constraints.non_neg is constraints.NonNeg
    assert constraints.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    for c in (constraints.MaxNorm(3, axis=[0, 1]), constraints.NonNeg(), constraints.UnitNorm(1),
              constraints.MinMaxNorm(0.1, 0.9, 0.5, 1)):
        config = constraints.serialize(c)
        assert config["module"] == "keras.constraints"
        back = constraints.get(config)
        assert type(back) is type(c) and back.get_config() == c.get_config()
    with pytest.raises(ValueError, match="could not interpret constraint.*did you mean 'non_neg'"):
        constraints.get("non_negg")


def test_axis_out_of_range_is_refused(weight):
    with pytest.raises(ValueError, match="axis 2 does not fit a weight of rank 2"):
        constraints.MaxNorm(axis=2)(weight)


def test_same_numbers_as_keras(weight):
    keras = pytest.importorskip("keras")
    x = keras.ops.convert_to_tensor(weight)
    pairs = [(constraints.MaxNorm(1.5), keras.constraints.MaxNorm(1.5)),
             (constraints.NonNeg(), keras.constraints.NonNeg()),
             (constraints.UnitNorm(1), keras.constraints.UnitNorm(1)),
             (constraints.MinMaxNorm(0.5, 2.0, 0.3, [0, 1]), keras.constraints.MinMaxNorm(0.5, 2.0, 0.3, [0, 1]))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(weight), np.asarray(theirs(x)), rtol=1e-5, atol=1e-7)
        assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
