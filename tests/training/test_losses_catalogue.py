"""The rest of Keras 3's loss catalogue (focal crossentropies, Dice, Tversky, generalized
crossentropy, Circle): values against numpy written from Keras' formulas, every reduction with and
without sample weights, function forms, configs, the fit gradient against finite differences, and
Keras itself where it is installed.

The numpy references follow keras/src/losses/losses.py: probabilities clipped to [1e-7, 1 - 1e-7]
with float32 bounds, the focal factor computed from the unclipped probability, Tversky with alpha on
the false positives (Keras fixed a swap of alpha and beta after 3.15, #23333).
"""
import os

import numpy as np
import pytest

import fgc
from fgc import layers, losses

EPS = 1e-7
LO, HI = float(np.float32(EPS)), float(np.float32(1.0 - EPS))

rng = np.random.default_rng(3)
N, C = 4, 5
T01 = (rng.random((N, C)) > 0.5).astype(np.float32)
P = rng.uniform(0.02, 0.98, (N, C)).astype(np.float32)
Z = (rng.standard_normal((N, C)) * 3).astype(np.float32)
IDS = np.array([0, 2, 4, 1])
ONEHOT = np.eye(C, dtype=np.float32)[IDS]
PROBS = (P / P.sum(-1, keepdims=True)).astype(np.float32)
SW = np.array([0.3, 1.0, 2.0, 0.5], np.float32)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# ---------------------------------------------------------------- numpy references (unreduced)
def ref_binary_focal(t, p, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                     label_smoothing=0.0, axis=-1):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = sigmoid(p)
    q = np.clip(p, LO, HI)
    bce = -(t * np.log(q) + (1 - t) * np.log(1 - q))
    p_t = t * p + (1 - t) * (1 - p)
    focal = (1 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (t * alpha + (1 - t) * (1 - alpha)) * focal
    return focal.mean(axis)


def ref_categorical_focal(t, p, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    t = t * (1 - label_smoothing) + label_smoothing / p.shape[axis]
    if from_logits:
        p = softmax(p, axis)
    out = np.clip(p / p.sum(axis, keepdims=True), LO, HI)
    return (np.asarray(alpha) * (1 - out) ** gamma * -t * np.log(out)).sum(axis)


def ref_dice(t, p, axis=None):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    return 1 - 2 * (t * p).sum(axis) / (t.sum(axis) + p.sum(axis) + EPS)


def ref_tversky(t, p, alpha=0.5, beta=0.5, axis=None):
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    tp, fp, fn = (t * p).sum(axis), ((1 - t) * p).sum(axis), (t * (1 - p)).sum(axis)
    return 1 - tp / (tp + alpha * fp + beta * fn + EPS)


def ref_gce(ids, p, q=0.5):
    picked = np.asarray(p, np.float64)[np.arange(len(ids)), np.asarray(ids).reshape(-1)]
    return (1 - picked ** q) / q


def ref_circle(labels, emb, gamma=80.0, margin=0.4, remove_diagonal=True):
    labels, emb = np.asarray(labels).reshape(-1), np.asarray(emb, np.float64)
    d = np.maximum(1 - emb @ emb.T, 0.0)
    pos = labels[:, None] == labels[None, :]
    neg = ~pos
    if remove_diagonal:
        pos &= ~np.eye(len(labels), dtype=bool)
    pos_w = np.maximum((margin + d) * pos, 0.0)
    neg_w = np.maximum((1 + margin - d) * neg, 0.0)
    pos_l = -gamma * pos_w * (margin - d)
    neg_l = gamma * neg_w * (1 - margin - d)

    def lse(x, mask):
        out = np.full(len(x), -np.inf)
        for i in range(len(x)):
            if mask[i].any():
                v = x[i][mask[i]]
                out[i] = v.max() + np.log(np.exp(v - v.max()).sum())
        return out
    return np.logaddexp(0.0, lse(pos_l, pos) + lse(neg_l, neg))


def reduce(values, reduction, sw=None, mask=None):
    """Keras' reduce_weighted_values (mask: the valid elements; the mean runs over them)."""
    values = np.asarray(values, np.float64)
    weight = None if sw is None else np.asarray(sw, np.float64)
    if mask is not None:
        keep = mask.astype(np.float64)
        if reduction in ("sum_over_batch_size", "mean"):
            keep = keep * (keep.size / keep.sum())
        weight = keep if weight is None else weight * keep
    if weight is not None:
        values = values * (weight if values.ndim <= 1 else weight[:, None])
    if reduction is None or values.ndim == 0:
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and weight is not None:
        return values.sum() / weight.sum()
    return values.sum() / values.size


# (class, kwargs, y_true, y_pred, reference, mask of the reference values or None)
CASES = [
    ("BinaryFocalCrossentropy", {}, T01, P, ref_binary_focal),
    ("BinaryFocalCrossentropy", dict(apply_class_balancing=True, alpha=0.3, gamma=3.0, label_smoothing=0.1), T01, P,
     ref_binary_focal),
    ("BinaryFocalCrossentropy", dict(from_logits=True, gamma=0.0), T01, Z, ref_binary_focal),
    ("CategoricalFocalCrossentropy", {}, ONEHOT, P, ref_categorical_focal),
    ("CategoricalFocalCrossentropy", dict(from_logits=True, alpha=[0.1, 0.2, 0.3, 0.2, 0.2], label_smoothing=0.2),
     ONEHOT, Z, ref_categorical_focal),
    ("Dice", {}, T01, P, ref_dice),
    ("Dice", dict(axis=(1,)), T01, P, ref_dice),
    ("Tversky", dict(alpha=0.3, beta=0.7), T01, P, ref_tversky),
    ("Tversky", dict(alpha=0.8, beta=0.2, axis=1), T01, P, ref_tversky),
    ("CategoricalGeneralizedCrossEntropy", dict(q=0.3), IDS, PROBS, ref_gce),
]
IDS_OF = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]
REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", None]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred, ref", CASES, ids=IDS_OF)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_standalone_values_match_numpy(name, kwargs, y_true, y_pred, ref, reduction):
    loss = getattr(losses, name)(reduction=reduction, **kwargs)
    values = ref(y_true, y_pred, **kwargs)
    for sw in (None, SW):
        got = loss(y_true, y_pred, sample_weight=sw)
        np.testing.assert_allclose(got, reduce(values, reduction, sw), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs, y_true, y_pred, ref", CASES, ids=IDS_OF)
def test_function_form_is_the_unreduced_loss(name, kwargs, y_true, y_pred, ref):
    fn = getattr(losses, getattr(losses, name).name)
    np.testing.assert_allclose(fn(y_true, y_pred, **kwargs), ref(y_true, y_pred, **kwargs), rtol=2e-5, atol=1e-6)


EMB = rng.standard_normal((6, 4)).astype(np.float32)
EMB /= np.linalg.norm(EMB, axis=-1, keepdims=True)
LABELS = np.array([0, 1, 0, 2, 1, 3])   # sample 5 has no positive pair: loss 0, masked out of the mean


@pytest.mark.parametrize("kwargs", [{}, dict(remove_diagonal=False, gamma=10.0, margin=0.2)])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight", None])
def test_circle_matches_numpy_with_its_mask(kwargs, reduction):
    values = ref_circle(LABELS, EMB, **kwargs)
    mask = values > 0
    sw = np.linspace(0.5, 2.0, 6).astype(np.float32)
    for w in (None, sw):
        got = losses.Circle(reduction=reduction, **kwargs)(LABELS, EMB, sample_weight=w)
        want = reduce(values, reduction, w, mask) if reduction is not None else \
            values * (1.0 if w is None else w) * mask   # unreduced: Keras leaves the masked zeros (= values)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- fit: loss and gradient
GX = np.array([[0.5, -1.0, 0.3], [1.0, 2.0, -3.0], [-0.8, 0.9, 1.0], [0.2, 0.1, -0.4], [1.0, -1.0, 1.2]])
GW = np.array([[0.4, -0.3, 0.5, 0.0, 0.2], [0.3, 0.5, -0.6, 0.4, -0.1], [-0.5, 0.2, 0.4, 0.5, 0.3]])
GB = np.array([0.1, -0.2, 0.0, 0.3, -0.1])
GT = np.array([[1, 0, 1, 0, 1], [0, 0, 1, 1, 0], [1, 1, 0, 0, 0], [0, 1, 0, 1, 1], [1, 0, 0, 1, 0]], float)
GIDS = np.array([0, 3, 1, 4, 2])


FIT_CASES = [
    (losses.BinaryFocalCrossentropy(), "sigmoid", GT, lambda t, p: ref_binary_focal(t, p).mean()),
    (losses.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True, gamma=1.5), None, GT,
     lambda t, z: ref_binary_focal(t, z, True, 0.25, 1.5, True).mean()),
    (losses.CategoricalFocalCrossentropy(), "softmax", np.eye(5)[GIDS],
     lambda t, p: ref_categorical_focal(t, p).mean()),
    (losses.CategoricalFocalCrossentropy(from_logits=True, gamma=3.0), None, np.eye(5)[GIDS],
     lambda t, z: ref_categorical_focal(t, z, gamma=3.0, from_logits=True).mean()),
    (losses.Dice(), "sigmoid", GT, lambda t, p: ref_dice(t, p)),
    (losses.Dice(axis=1), "sigmoid", GT, lambda t, p: ref_dice(t, p, axis=1).mean()),
    (losses.Tversky(alpha=0.7, beta=0.3, axis=-1), "sigmoid", GT, lambda t, p: ref_tversky(t, p, 0.7, 0.3, -1).mean()),
    (losses.CategoricalGeneralizedCrossEntropy(q=0.7), "softmax", GIDS, lambda t, p: ref_gce(t, p, 0.7).mean()),
    ("binary_focal_crossentropy", "sigmoid", GT, lambda t, p: ref_binary_focal(t, p).mean()),
    ("dice", "sigmoid", GT, lambda t, p: ref_dice(t, p)),
]


@pytest.mark.parametrize("loss, activation, y, ref", FIT_CASES,
                         ids=[f"{getattr(c[0], 'name', c[0])}-{i}" for i, c in enumerate(FIT_CASES)])
def test_fit_gradient_matches_finite_differences(fd_grads, dense_model, loss, activation, y, ref):
    """One SGD step with learning rate 1 on Dense(+activation): the weight change is the gradient of
    the batch loss, which must equal the finite-difference gradient of the numpy formula."""
    model = dense_model(3, 5, activation, weights=[GW, GB])
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), loss)
    x32 = GX.astype(np.float32).astype(np.float64)

    def batch_loss(params):
        z = x32 @ params[0] + params[1]
        p = {None: z, "sigmoid": sigmoid(z), "softmax": softmax(z)}[activation]
        return ref(y, p)

    assert model.evaluate(GX, y, batch_size=5, verbose=0) == pytest.approx(batch_loss([GW, GB]), rel=1e-5, abs=1e-6)
    before = model.get_weights()
    model.train_on_batch(GX, y)
    got = [b - a for b, a in zip(before, model.get_weights())]
    for g, w in zip(got, fd_grads(batch_loss, [GW.copy(), GB.copy()])):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-6)


def test_circle_trains_embeddings_and_matches_its_gradient(fd_grads):
    x = fgc.Input((3,), name="x")
    model = fgc.Model(x, layers.UnitNormalization(name="norm")(layers.Dense(4, name="dense")(x)))
    w0 = rng.standard_normal((3, 4)) * 0.5
    model.set_weights([w0, np.zeros(4)])
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), losses.Circle(gamma=4.0))
    xs = rng.standard_normal((6, 3)).astype(np.float32)
    labels = np.array([0, 1, 0, 1, 2, 2])

    def batch_loss(params):
        e = xs.astype(np.float64) @ params[0] + params[1]
        e = e / np.linalg.norm(e, axis=-1, keepdims=True)
        v = ref_circle(labels, e, gamma=4.0)
        return reduce(v, "sum_over_batch_size", None, v > 0)

    assert model.evaluate(xs, labels, verbose=0) == pytest.approx(batch_loss([w0, np.zeros(4)]), rel=1e-4)
    before = model.get_weights()
    model.train_on_batch(xs, labels)
    got = [b - a for b, a in zip(before, model.get_weights())]
    for g, w in zip(got, fd_grads(batch_loss, [w0.copy(), np.zeros(4)])):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-5)


def test_focal_loss_fit_learns_a_separable_problem(blobs):
    x, ids = blobs(60, classes=3)
    inp = fgc.Input((2,), name="x")
    model = fgc.Model(inp, layers.Dense(3, activation="softmax", name="out")(inp))
    model.compile(fgc.optimizers.Adam(0.05), losses.CategoricalFocalCrossentropy(), metrics=["accuracy"])
    history = model.fit(x, np.eye(3)[ids], epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.5
    assert history.history["accuracy"][-1] > 0.9


# ---------------------------------------------------------------- names, configs, errors
@pytest.mark.parametrize("alias, cls", [
    ("binary_focal_crossentropy", "BinaryFocalCrossentropy"), ("categorical_focal_crossentropy",
                                                                "CategoricalFocalCrossentropy"),
    ("dice", "Dice"), ("tversky", "Tversky"), ("circle", "Circle"), ("bce", "BinaryCrossentropy"),
])
def test_string_aliases(alias, cls):
    assert type(losses.get(alias)).__name__ == cls


@pytest.mark.parametrize("loss, config", [
    (losses.BinaryFocalCrossentropy(), {"name": "binary_focal_crossentropy", "reduction": "sum_over_batch_size",
                                        "from_logits": False, "label_smoothing": 0.0, "axis": -1,
                                        "apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0}),
    (losses.CategoricalFocalCrossentropy(), {"name": "categorical_focal_crossentropy",
                                             "reduction": "sum_over_batch_size", "from_logits": False,
                                             "label_smoothing": 0.0, "axis": -1, "alpha": 0.25, "gamma": 2.0}),
    (losses.Dice(axis=(1, 2)), {"name": "dice", "reduction": "sum_over_batch_size", "axis": (1, 2)}),
    (losses.Tversky(), {"name": "tversky", "reduction": "sum_over_batch_size", "alpha": 0.5, "beta": 0.5,
                        "axis": None}),
    (losses.CategoricalGeneralizedCrossEntropy(), {"name": "categorical_generalized_cross_entropy",
                                                   "reduction": "sum_over_batch_size", "q": 0.5}),
    (losses.Circle(), {"name": "circle", "reduction": "sum_over_batch_size", "gamma": 80.0, "margin": 0.4,
                       "remove_diagonal": True}),
])
def test_get_config_keys_and_round_trip(loss, config):
    assert loss.get_config() == config
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == config


@pytest.mark.parametrize("make, error, match", [
    (lambda: losses.CategoricalGeneralizedCrossEntropy(q=1.0), ValueError, r"q=.*\(0, 1\)"),
    (lambda: losses.BinaryFocalCrossentropy(gamma="2"), TypeError, "gamma.*number"),
    (lambda: losses.BinaryFocalCrossentropy(apply_class_balancing=1), TypeError, "apply_class_balancing"),
    (lambda: losses.Dice(axis=1.5), TypeError, "axis"),
    (lambda: losses.Tversky(alpah=0.3), TypeError, "alpha"),
])
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_dice_over_the_batch_axis_alone_is_refused_in_training(dense_model):
    model = dense_model(3, 5, "sigmoid")
    model.compile("sgd", losses.Dice(axis=(0, 1)))
    with pytest.raises(ValueError, match=r"Dice\(axis=\(0, 1\)\).*batch axis"):
        model.fit(GX, GT, verbose=0)


# ---------------------------------------------------------------- Keras itself
@pytest.fixture(scope="module")
def keras_jax():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


KERAS_CASES = [c for c in CASES if not (c[0] == "Tversky" and c[1].get("alpha") != c[1].get("beta"))]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred, ref", KERAS_CASES + [
    ("Tversky", dict(alpha=0.4, beta=0.4, axis=1), T01, P, ref_tversky)])
def test_matches_keras(keras_jax, name, kwargs, y_true, y_pred, ref):
    for reduction in ("sum_over_batch_size", None):
        want = getattr(keras_jax.losses, name)(reduction=reduction, **kwargs)(y_true, y_pred, sample_weight=SW)
        got = getattr(losses, name)(reduction=reduction, **kwargs)(y_true, y_pred, sample_weight=SW)
        np.testing.assert_allclose(got, np.asarray(want), rtol=2e-5, atol=1e-6)
    assert getattr(losses, name)(**kwargs).get_config() == getattr(keras_jax.losses, name)(**kwargs).get_config()


def test_circle_matches_keras(keras_jax):
    want = keras_jax.losses.Circle()(LABELS, EMB, sample_weight=np.arange(1, 7, dtype=np.float32))
    got = losses.Circle()(LABELS, EMB, sample_weight=np.arange(1, 7, dtype=np.float32))
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-4)


@pytest.mark.parametrize("name, kwargs", [("BinaryFocalCrossentropy", dict(gamma=3.0)),
                                          ("CategoricalFocalCrossentropy", {}), ("Dice", dict(axis=(1, 2))),
                                          ("Tversky", dict(alpha=0.2)), ("Circle", {}), ("CTC", {})])
def test_serialized_like_keras(keras_jax, name, kwargs):
    ours = losses.serialize(getattr(losses, name)(**kwargs))
    theirs = keras_jax.losses.serialize(getattr(keras_jax.losses, name)(**kwargs))
    assert {k: ours[k] for k in ("module", "class_name", "registered_name")} == \
        {k: theirs[k] for k in ("module", "class_name", "registered_name")}
    assert ours["config"] == theirs["config"]


def test_losses_that_pair_samples_are_not_split_over_processes():
    from fgc.distribute.trainer import check_splittable
    from fgc.training.config import Compiled

    for loss in (losses.Dice(), losses.Tversky(axis=(0, 1)), losses.Circle()):
        with pytest.raises(ValueError, match="compares the samples of a batch"):
            check_splittable(Compiled(None, losses={"out": loss}))
    check_splittable(Compiled(None, losses={"out": losses.Dice(axis=1)}))   # per sample: splittable


def test_circle_function_form_follows_keras_argument_order():
    np.testing.assert_allclose(losses.circle(LABELS, EMB, None, None, False, 10.0),
                               ref_circle(LABELS, EMB, gamma=10.0, remove_diagonal=False), rtol=1e-4, atol=1e-5)
    with pytest.raises(NotImplementedError, match="ref_labels"):
        losses.circle(LABELS, EMB, ref_labels=LABELS)
