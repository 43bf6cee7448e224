"""fgc.regularizers: penalties against numpy written from Keras' formulas, names, configs, errors."""
import numpy as np
import pytest

from fgc import regularizers

pytestmark = pytest.mark.usefixtures("fresh_keras_names")



@pytest.fixture
def weight(rng):
    return rng.normal(size=(4, 3)).astype(np.float32)


def _orthogonal_reference(w, factor, mode):
    vectors = w if mode == "rows" else w.T
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-7)
    product = unit @ unit.T
    n = product.shape[0]
    off = np.abs(product * (1 - np.eye(n))).sum()
    return factor * 0.5 * off / (n * (n - 1) / 2)


def test_penalties_match_their_formulas(weight):
    np.testing.assert_allclose(regularizers.L1(0.3)(weight), 0.3 * np.abs(weight).sum(), rtol=1e-6)
    np.testing.assert_allclose(regularizers.L2(0.2)(weight), 0.2 * (weight ** 2).sum(), rtol=1e-6)
    np.testing.assert_allclose(regularizers.L1L2(0.1, 0.4)(weight),
                               0.1 * np.abs(weight).sum() + 0.4 * (weight ** 2).sum(), rtol=1e-6)
    assert float(regularizers.L1L2()(weight)) == 0.0
    for mode in ("rows", "columns"):
        np.testing.assert_allclose(regularizers.OrthogonalRegularizer(0.5, mode)(weight),
                                   _orthogonal_reference(weight.astype(np.float64), 0.5, mode), rtol=1e-5)


def test_defaults_and_names_follow_keras(weight):
    assert regularizers.get("l1").get_config() == {"l1": 0.01}
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}   # the class default, not 0.01
    assert type(regularizers.get("l1_l2")) is regularizers.L1L2
    assert type(regularizers.get("OrthogonalRegularizer")) is regularizers.OrthogonalRegularizer
    assert regularizers.get("orthogonal_regularizer").get_config() == {"factor": 0.01, "mode": "rows"}
    assert regularizers.l1 is regularizers.L1 and regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.get(None) is None
    assert float(regularizers.Regularizer()(weight)) == 0.0
    fn = lambda x: x   # noqa: E731  any callable is a regularizer, as in Keras
    assert regularizers.get(fn) is fn


def test_config_round_trip():
    for reg in (regularizers.L1(0.5), regularizers.L2(0.25), regularizers.L1L2(0.1, 0.2),
                regularizers.OrthogonalRegularizer(0.3, "columns")):
        config = regularizers.serialize(reg)
        assert config["module"] == "keras.regularizers" and config["class_name"] == type(reg).__name__
        back = regularizers.get(config)
        assert type(back) is type(reg) and back.get_config() == reg.get_config()
    assert regularizers.serialize(regularizers.L1L2(0.1, 0.2))["config"] == {"l1": 0.1, "l2": 0.2}


@pytest.mark.parametrize("make, match", [
    (lambda: regularizers.L1(-1.0), "non-negative"),
    (lambda: regularizers.L2(float("nan")), "non-negative"),
    (lambda: regularizers.L1L2(l1="a"), "non-negative"),
    (lambda: regularizers.OrthogonalRegularizer(mode="diagonal"), "mode"),
    (lambda: regularizers.get("l3"), "could not interpret regularizer"),
    (lambda: regularizers.get(3), "could not interpret regularizer"),
])
def test_bad_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_orthogonal_needs_a_matrix():
    with pytest.raises(ValueError, match="rank 2"):
        regularizers.OrthogonalRegularizer()(np.ones((2, 2, 2), np.float32))


def test_same_numbers_as_keras(weight):
    keras = pytest.importorskip("keras")
    x = keras.ops.convert_to_tensor(weight)
    pairs = [(regularizers.L1(0.3), keras.regularizers.L1(0.3)), (regularizers.L2(0.2), keras.regularizers.L2(0.2)),
             (regularizers.L1L2(0.1, 0.4), keras.regularizers.L1L2(0.1, 0.4)),
             (regularizers.OrthogonalRegularizer(0.5), keras.regularizers.OrthogonalRegularizer(0.5)),
             (regularizers.OrthogonalRegularizer(0.5, "columns"),
              keras.regularizers.OrthogonalRegularizer(0.5, "columns"))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(weight), np.asarray(theirs(x)), rtol=1e-5)
        mine, keras_config = regularizers.serialize(ours), keras.regularizers.serialize(theirs)
        # Keras keeps L1's l1 and the orthogonal factor as float32 tensors: 0.3 is written 0.30000001192...
        assert {**mine, "config": None} == {**keras_config, "config": None}
        assert mine["config"] == pytest.approx(keras_config["config"])
