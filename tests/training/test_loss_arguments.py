"""Every argument Keras 3 documents for a loss is honoured (checked against numpy) or refused with
an error that says what to do: axis, from_logits, label_smoothing, ignore_class, delta, dtype,
name, and each class's get_config keys."""
import numpy as np
import pytest

import fgc
from fgc import layers, losses

EPS = 1e-7
LO, HI = float(np.float32(EPS)), float(np.float32(1 - EPS))
rng = np.random.default_rng(3)
N, K, C = 4, 3, 5       # predictions (N, K, C): the class axis may be 1 (K classes) or 2 (C classes)
Z = rng.standard_normal((N, K, C)).astype(np.float32)


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def log_softmax(z, axis=-1):
    s = z - z.max(axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis, keepdims=True))


def ref_cce(t, p, axis=-1, from_logits=False, label_smoothing=0.0):
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / p.shape[axis]
    logp = log_softmax(p, axis) if from_logits else np.log(np.clip(p / p.sum(axis, keepdims=True), LO, HI))
    return -(t * logp).sum(axis)


def ref_bce(t, p, axis=-1):
    pc = np.clip(p, LO, HI)
    return -(t * np.log(pc) + (1 - t) * np.log(1 - pc)).mean(axis)


def _model(activation, shape=(K, C)):
    x = fgc.Input(shape, name="x")
    return fgc.Model(x, layers.Activation(activation, name="out")(x))


def _onehot(axis):
    ids = rng.integers(0, Z.shape[axis], (N, C if axis == 1 else K))
    onehot = np.eye(Z.shape[axis])[ids]                    # (N, other, classes)
    return onehot.transpose(0, 2, 1) if axis == 1 else onehot


Z64 = Z.astype(np.float64)


@pytest.mark.parametrize("axis", [1, -2, 2, -1])
@pytest.mark.parametrize("activation, kwargs", [
    ("softmax", {}),
    ("linear", {"from_logits": True}),
    ("softmax", {"label_smoothing": 0.2}),
], ids=["probabilities", "from_logits", "label_smoothing"])
def test_categorical_crossentropy_axis(axis, activation, kwargs):
    """The softmax layer normalizes the last axis; the loss normalizes (and smooths) over `axis`."""
    t = _onehot(axis % 3)
    p = Z64 if activation == "linear" else softmax(Z64)
    expected = ref_cce(t, p, axis=axis, **kwargs)
    loss = losses.CategoricalCrossentropy(axis=axis, **kwargs)
    model = _model(activation)
    model.compile("sgd", loss)
    assert model.evaluate(Z, t, batch_size=N, verbose=0) == pytest.approx(expected.mean(), rel=1e-5)
    # the same loss called on arrays, unreduced: one value per (sample, other axis)
    per_element = losses.CategoricalCrossentropy(axis=axis, reduction=None, **kwargs)(t, p)
    np.testing.assert_allclose(per_element, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [1, -1])
def test_binary_crossentropy_axis_is_the_mean_axis(axis):
    t = rng.integers(0, 2, Z.shape).astype(np.float32)
    p = 1 / (1 + np.exp(-Z64))
    model = _model("sigmoid")
    model.compile("sgd", losses.BinaryCrossentropy(axis=axis))
    expected = ref_bce(t, p, axis)
    assert model.evaluate(Z, t, batch_size=N, verbose=0) == pytest.approx(expected.mean(), rel=1e-5)


@pytest.mark.parametrize("axis", [1, -1])
def test_cosine_similarity_axis(axis):
    t = rng.standard_normal(Z.shape)
    model = _model("linear")
    model.compile("sgd", losses.CosineSimilarity(axis=axis))
    n = lambda v: v / np.linalg.norm(v, axis=axis, keepdims=True)   # noqa: E731 (no vector is near zero)
    expected = -(n(t) * n(Z64)).sum(axis)
    assert model.evaluate(Z, t, batch_size=N, verbose=0) == pytest.approx(expected.mean(), rel=1e-5)


def test_axis_out_of_range_is_an_error_naming_the_rank():
    model = _model("softmax")
    model.compile("sgd", losses.CategoricalCrossentropy(axis=3))
    with pytest.raises(ValueError, match=r"axis=3 is out of range for predictions of rank 3"):
        model.evaluate(Z, _onehot(2), verbose=0)


def test_the_batch_axis_cannot_be_the_loss_axis_in_training():
    model = _model("softmax")
    model.compile("sgd", losses.CategoricalCrossentropy(axis=0))
    with pytest.raises(ValueError, match="reduces the batch axis"):
        model.fit(Z, _onehot(2), verbose=0)


# ---------------------------------------------------------------- Keras' documented examples
def test_keras_docstring_examples():
    """Values from Keras' own loss docstrings (computed by hand there)."""
    cce = losses.CategoricalCrossentropy()([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert cce == pytest.approx(1.177, abs=1e-3)
    scce = losses.SparseCategoricalCrossentropy()([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    assert scce == pytest.approx(1.177, abs=1e-3)
    bce = losses.BinaryCrossentropy(reduction=None)([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(bce, [0.916, 0.714], atol=1e-3)
    huber = losses.Huber(reduction=None)([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(huber, [0.18, 0.13], atol=1e-3)
    cos = losses.CosineSimilarity(reduction=None)([[0., 1.], [1., 1.], [1., 1.]], [[1., 0.], [1., 1.], [-1., -1.]])
    np.testing.assert_allclose(cos, [0.0, -1.0, 1.0], atol=1e-6)


# ---------------------------------------------------------------- ignore_class
IDS = np.array([[0, 4, -1], [2, -1, -1], [1, 1, 3], [-1, -1, -1]])   # (N, K): -1 is ignored, row 3 entirely
SW = np.array([1.0, 2.0, 0.5, 4.0], np.float32)


def _scce_values(ids, logp):
    safe = np.where(ids == -1, 0, ids)
    picked = -np.take_along_axis(logp, safe[..., None], -1)[..., 0]
    return np.where(ids == -1, 0.0, picked)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_ignore_class_counts_only_the_other_elements(reduction):
    """Keras masks ignored elements: their loss and weight are 0, and the means run over the rest."""
    model = _model("softmax")
    model.compile("sgd", losses.SparseCategoricalCrossentropy(ignore_class=-1, reduction=reduction))
    values = _scce_values(IDS, np.log(np.clip(softmax(Z64), LO, HI)))
    valid = IDS != -1
    weights = SW[:, None] * valid
    total = (values * weights).sum()
    expected = {"sum_over_batch_size": total / valid.sum(), "sum": total,
                "mean_with_sample_weight": total / weights.sum()}[reduction]
    got = model.evaluate(Z, IDS, batch_size=N, sample_weight=SW, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5)
    called = losses.SparseCategoricalCrossentropy(ignore_class=-1, reduction=reduction)(
        IDS, softmax(Z64), sample_weight=np.broadcast_to(SW[:, None], IDS.shape))
    assert called == pytest.approx(expected, rel=1e-5)


def test_ignore_class_gradient_is_zero_for_ignored_elements():
    """One SGD step (lr 1) on logits held as a bias: the bias moves by -dL/dz, compared with the
    analytic softmax-crossentropy gradient over the counted elements only."""
    ids = np.array([[2, 255], [255, 0]])
    x = fgc.Input((2, 3), name="x")
    model = fgc.Model(x, layers.Dense(3, activation="softmax", name="d")(x))
    kernel = np.zeros((3, 3), np.float32)
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), losses.SparseCategoricalCrossentropy(ignore_class=255))
    xs = np.ones((2, 2, 3), np.float32)
    model.set_weights([kernel, np.zeros(3, np.float32)])
    model.train_on_batch(xs, ids)
    p = softmax(np.zeros((2, 2, 3)))                  # zero kernel and bias: uniform probabilities
    grad_z = p - np.eye(3)[np.where(ids == 255, 0, ids)]
    grad_z[ids == 255] = 0.0
    grad_z /= (ids != 255).sum()                       # the mean over the 2 counted elements
    np.testing.assert_allclose(model.get_weights()[1], -grad_z.sum((0, 1)), rtol=1e-5, atol=1e-7)


def test_ignore_class_ids_may_be_outside_the_class_range():
    model = _model("softmax")
    model.compile("sgd", losses.SparseCategoricalCrossentropy(ignore_class=99))
    model.evaluate(Z, np.where(IDS == -1, 99, IDS), verbose=0)
    model.compile("sgd", losses.SparseCategoricalCrossentropy())
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 5\)"):
        model.evaluate(Z, IDS, verbose=0)


def test_sparse_class_axis_must_be_last():
    model = _model("softmax")
    model.compile("sgd", losses.SparseCategoricalCrossentropy(axis=1))
    with pytest.raises(ValueError, match="only the last axis"):
        model.evaluate(Z, IDS.clip(0), verbose=0)
    model.compile("sgd", losses.SparseCategoricalCrossentropy(axis=2))   # the last axis, spelled positively
    model.evaluate(Z, IDS.clip(0), verbose=0)


# ---------------------------------------------------------------- refused arguments
@pytest.mark.parametrize("make, error, match", [
    (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5), ValueError, r"label_smoothing.*\[0, 1\]"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=-0.1), ValueError, r"label_smoothing.*\[0, 1\]"),
    (lambda: losses.CategoricalCrossentropy(from_logits="yes"), TypeError, "from_logits.*True or False"),
    (lambda: losses.CategoricalCrossentropy(axis=1.0), TypeError, r"axis=\.\.\.\) must be an int"),
    (lambda: losses.CategoricalCrossentropy(axis=True), TypeError, r"axis=\.\.\.\) must be an int"),
    (lambda: losses.BinaryCrossentropy(axis="last"), TypeError, r"axis=\.\.\.\) must be an int"),
    (lambda: losses.CosineSimilarity(axis=None), TypeError, r"axis=\.\.\.\) must be an int"),
    (lambda: losses.SparseCategoricalCrossentropy(ignore_class=0.5), TypeError, "ignore_class.*int or None"),
    (lambda: losses.SparseCategoricalCrossentropy(label_smoothing=0.1), TypeError, "no label_smoothing"),
    (lambda: losses.Huber(delta=0), ValueError, "delta.*positive"),
    (lambda: losses.Huber(delta="1"), ValueError, "delta.*positive"),
    (lambda: losses.MeanSquaredError(dtype="float16"), ValueError, "float32"),
    (lambda: losses.MeanSquaredError(name=""), TypeError, "non-empty string"),
    (lambda: losses.MeanSquaredError(axis=1), TypeError, "unexpected keyword argument 'axis'"),
    (lambda: losses.Huber(detla=2.0), TypeError, "did you mean 'delta'"),
], ids=["cce_smoothing", "bce_smoothing", "from_logits", "axis_float", "axis_bool", "axis_str", "cos_axis",
        "ignore_class", "scce_smoothing", "delta_zero", "delta_str", "dtype", "name", "mse_axis", "typo"])
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------- get_config (Keras 3 keys)
@pytest.mark.parametrize("loss, keys", [
    (losses.MeanSquaredError(), {}),
    (losses.Huber(delta=2.5), {"delta": 2.5}),
    (losses.CosineSimilarity(axis=1), {"axis": 1}),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, axis=1),
     {"from_logits": True, "label_smoothing": 0.1, "axis": 1}),
    (losses.CategoricalCrossentropy(label_smoothing=0.2, axis=0),
     {"from_logits": False, "label_smoothing": 0.2, "axis": 0}),
    (losses.SparseCategoricalCrossentropy(ignore_class=-1), {"from_logits": False, "ignore_class": -1, "axis": -1}),
])
def test_get_config_has_the_keras_keys_and_round_trips(loss, keys):
    config = loss.get_config()
    assert config == {"name": loss.name, "reduction": "sum_over_batch_size", **keys}
    again = type(loss).from_config(config)
    assert again.get_config() == config


def test_float32_dtype_is_accepted_in_any_spelling():
    for dtype in (None, "float32", np.float32, np.dtype("float32")):
        assert losses.MeanSquaredError(dtype=dtype)([[1.0, 2.0]], [[1.0, 4.0]]) == pytest.approx(2.0)


def test_name_and_reduction_in_config():
    loss = losses.MeanAbsoluteError(reduction="sum", name="my_mae")
    assert loss.get_config() == {"name": "my_mae", "reduction": "sum"}
    assert losses.Huber().name == "huber_loss"
