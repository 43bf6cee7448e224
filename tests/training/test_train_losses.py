"""Every loss against its numpy formula, written here from the Keras 3 definitions.

The model is Input -> Activation, so y_pred is a known function of what we feed. Keras
computes in float32 (floatx): the crossentropy clip bounds are float32 numbers, so
``1 - clip(p, 1e-7, 1 - 1e-7)`` bottoms out at 2**-23, not 1e-7; the references clip in float32
the same way and do everything else in float64.
"""
import math

import numpy as np
import pytest

import fgc
from fgc import losses

EPS = 1e-7
LO, HI = np.float32(EPS), np.float32(1.0 - EPS)     # Keras' clip bounds as float32 numbers


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(z):
    s = z - z.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def clip32(p):
    """Keras' clip(p, eps, 1 - eps) with its float32 bounds (kept in float64: smooth for finite differences)."""
    return np.clip(p, np.float64(LO), np.float64(HI))


# ---------------------------------------------------------------- references (per sample)
def ref_mse(t, p):
    return ((p - t) ** 2).mean(-1)


def ref_mae(t, p):
    return np.abs(p - t).mean(-1)


def ref_mape(t, p):
    return 100.0 * np.abs((t - p) / np.maximum(np.abs(t), EPS)).mean(-1)


def ref_msle(t, p):
    return ((np.log(np.maximum(p, EPS) + 1.0) - np.log(np.maximum(t, EPS) + 1.0)) ** 2).mean(-1)


def ref_huber(t, p, delta=1.0):
    e = p - t
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e ** 2, delta * a - 0.5 * delta ** 2).mean(-1)


def ref_log_cosh(t, p):
    x = p - t
    return (x + np.logaddexp(0.0, -2.0 * x) - math.log(2.0)).mean(-1)


def ref_cce(t, p, from_logits=False, label_smoothing=0.0):
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    if from_logits:
        logp = log_softmax(p)
    else:
        p = p / p.sum(-1, keepdims=True)
        logp = np.log(clip32(p))
    return -(t * logp).sum(-1)


def ref_sparse_cce(ids, p, from_logits=False):
    ids = np.asarray(ids)
    if ids.ndim == p.ndim:  # a trailing axis of 1
        ids = ids[..., 0]
    return ref_cce(np.eye(p.shape[-1])[ids], p, from_logits)


def ref_bce(t, p, from_logits=False, label_smoothing=0.0):
    if label_smoothing:
        t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return -(t * log_sigmoid(p) + (1 - t) * log_sigmoid(-p)).mean(-1)
    pc = clip32(p)
    log_p, log_q = np.log(pc), np.log(1.0 - pc)     # 1 - HI == 2**-23 exactly
    return -(t * log_p + (1 - t) * log_q).mean(-1)


def ref_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return (t * np.log(t / p)).sum(-1)


def hinge_labels(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def ref_hinge(t, p):
    return np.maximum(1 - hinge_labels(t) * p, 0).mean(-1)


def ref_squared_hinge(t, p):
    return (np.maximum(1 - hinge_labels(t) * p, 0) ** 2).mean(-1)


def ref_categorical_hinge(t, p):
    pos = (t * p).sum(-1)
    neg = ((1 - t) * p).max(-1)
    return np.maximum(neg - pos + 1, 0)


def ref_poisson(t, p):
    return (p - t * np.log(p + EPS)).mean(-1)


def ref_cosine(t, p):
    def l2n(x):  # Keras 3 ops.normalize: x * rsqrt(max(sum(x^2), eps^2))
        return x / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), EPS * EPS))
    return -(l2n(t) * l2n(p)).sum(-1)


# ---------------------------------------------------------------- data
rng = np.random.default_rng(0)
N, C = 6, 4
REG_T = rng.standard_normal((N, C))
REG_P = rng.standard_normal((N, C))
REG_P[0, 0] = REG_T[0, 0] + 3.0         # huber: beyond delta
REG_P[1] = REG_T[1] + 40.0              # log_cosh: large |x|, stable formula
POS_T = rng.uniform(0, 3, (N, C))
POS_P = rng.uniform(0, 3, (N, C))
MAPE_T = REG_T.copy()
MAPE_T[2, 1] = 0.0                      # |t| < eps: divided by eps
MSLE_P = REG_P.copy()                   # negative predictions: max(p, eps)
IDS = np.array([0, 1, 2, 3, 0, 2])
ONEHOT = np.eye(C)[IDS]
SOFT_T = rng.dirichlet(np.ones(C), size=N)
SOFT_T[0] = [1, 0, 0, 0]
# saturated logits: softmax probabilities below 1e-7 and above 1 - 1e-7 hit the clip
LOGITS = 2 * rng.standard_normal((N, C))
LOGITS[0] = [40.0, 0.0, 0.0, 0.0]       # true class saturated high
LOGITS[1] = [0.0, -35.0, 0.0, 0.0]      # true class (1) saturated low: -log(1e-7)
LOGITS[4] = [0.0, 30.0, 0.0, 0.0]       # true class 0 saturated low, another class saturated high
# raw probability rows (linear activation): not normalized, zeros, ones
PROB_ROWS = rng.uniform(0.05, 1.0, (N, C))
PROB_ROWS[0] = [0.2, 0.2, 0.0, 0.0]     # renormalized, then 0 -> 1e-7
PROB_ROWS[1] = [1.0, 0.0, 0.0, 0.0]
BIN_T = rng.integers(0, 2, (N, 3)).astype(float)
BIN_LOGITS = 2 * rng.standard_normal((N, 3))
BIN_LOGITS[0] = [30.0, -30.0, 25.0]     # sigmoid saturates to exactly 1.0 / 0.0 in float32
BIN_T[0] = [0.0, 1.0, 1.0]
BIN_P = rng.uniform(0, 1, (N, 3))
BIN_P[1] = [0.0, 1.0, 1.0]
PM1_T = np.where(BIN_T > 0, 1.0, -1.0)
COS_T = rng.standard_normal((N, C))
COS_P = rng.standard_normal((N, C))
COS_P[0] = [3e-8, 4e-8, 0.0, 0.0]        # norm 5e-8 < 1e-7: clamped to 1e-7
COS_P[1] = [3e-7, 4e-7, 0.0, 0.0]        # norm 5e-7: above Keras' clamp, fully normalized
COS_P[2] = 0.0                           # a zero vector: loss 0


CASES = [
    # id, loss, activation, y_true, x fed, reference(y_true, y_pred)
    ("mse", "mse", "linear", REG_T, REG_P, ref_mse),
    ("mae", "mae", "linear", REG_T, REG_P, ref_mae),
    ("mape", "mape", "linear", MAPE_T, REG_P, ref_mape),
    ("msle", "msle", "linear", POS_T, MSLE_P, ref_msle),
    ("huber", "huber", "linear", REG_T, REG_P, ref_huber),
    ("huber_delta2", losses.Huber(delta=2.0), "linear", REG_T, REG_P, lambda t, p: ref_huber(t, p, 2.0)),
    ("log_cosh", "log_cosh", "linear", REG_T, REG_P, ref_log_cosh),
    ("cce_softmax_saturated", "categorical_crossentropy", "softmax", ONEHOT, LOGITS, ref_cce),
    ("cce_softmax_soft_targets", "categorical_crossentropy", "softmax", SOFT_T, LOGITS, ref_cce),
    ("cce_probability_rows", "categorical_crossentropy", "linear", SOFT_T, PROB_ROWS, ref_cce),
    ("cce_from_logits", losses.CategoricalCrossentropy(from_logits=True), "linear", ONEHOT, LOGITS,
     lambda t, p: ref_cce(t, p, from_logits=True)),
    ("cce_label_smoothing", losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax", ONEHOT, LOGITS,
     lambda t, p: ref_cce(t, p, label_smoothing=0.1)),
    ("cce_logits_label_smoothing", losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
     "linear", ONEHOT, LOGITS, lambda t, p: ref_cce(t, p, from_logits=True, label_smoothing=0.2)),
    ("scce_softmax_saturated", "sparse_categorical_crossentropy", "softmax", IDS, LOGITS, ref_sparse_cce),
    ("scce_column_ids", "sparse_categorical_crossentropy", "softmax", IDS[:, None], LOGITS, ref_sparse_cce),
    ("scce_probability_rows", "sparse_categorical_crossentropy", "linear", IDS, PROB_ROWS, ref_sparse_cce),
    ("scce_from_logits", losses.SparseCategoricalCrossentropy(from_logits=True), "linear", IDS, LOGITS,
     lambda t, p: ref_sparse_cce(t, p, from_logits=True)),
    ("bce_sigmoid_saturated", "binary_crossentropy", "sigmoid", BIN_T, BIN_LOGITS, ref_bce),
    ("bce_probabilities", "binary_crossentropy", "linear", BIN_T, BIN_P, ref_bce),
    ("bce_from_logits", losses.BinaryCrossentropy(from_logits=True), "linear", BIN_T, BIN_LOGITS,
     lambda t, p: ref_bce(t, p, from_logits=True)),
    ("bce_label_smoothing", losses.BinaryCrossentropy(label_smoothing=0.1), "sigmoid", BIN_T, BIN_LOGITS,
     lambda t, p: ref_bce(t, p, label_smoothing=0.1)),
    ("bce_logits_label_smoothing", losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3), "linear",
     BIN_T, BIN_LOGITS, lambda t, p: ref_bce(t, p, from_logits=True, label_smoothing=0.3)),
    ("kl_divergence", "kl_divergence", "softmax", SOFT_T, LOGITS, ref_kld),
    ("hinge_01_labels", "hinge", "linear", BIN_T, BIN_LOGITS / 10, ref_hinge),
    ("hinge_pm1_labels", "hinge", "linear", PM1_T, BIN_LOGITS / 10, ref_hinge),
    ("squared_hinge_01_labels", "squared_hinge", "linear", BIN_T, BIN_LOGITS / 10, ref_squared_hinge),
    ("squared_hinge_pm1_labels", "squared_hinge", "linear", PM1_T, BIN_LOGITS / 10, ref_squared_hinge),
    ("categorical_hinge", "categorical_hinge", "linear", ONEHOT, REG_P, ref_categorical_hinge),
    ("poisson", "poisson", "linear", POS_T, np.where(POS_P < 0.3, 0.0, POS_P), ref_poisson),
    ("cosine_similarity", "cosine_similarity", "linear", COS_T, COS_P, ref_cosine),
]


def _y_pred(activation, x):
    x = np.asarray(x, np.float32).astype(np.float64)
    return {"linear": x, "softmax": softmax(x), "sigmoid": sigmoid(x)}[activation]


@pytest.mark.parametrize("loss, activation, y_true, x, ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_loss_matches_keras_formula(activation_model, loss, activation, y_true, x, ref):
    model = activation_model(x.shape[-1], activation)
    model.compile("sgd", loss)
    expected = ref(y_true, _y_pred(activation, x)).mean()
    got = model.test_on_batch(x, y_true)
    assert got == pytest.approx(expected, rel=1e-5, abs=2e-6)
    # evaluate in uneven batches (2, 2, 2 and 4, 2): the epoch value is the batch-size-weighted mean
    assert model.evaluate(x, y_true, batch_size=4, verbose=0) == pytest.approx(expected, rel=1e-5, abs=2e-6)


def test_sample_weights_reduce_as_sum_over_batch_size(activation_model):
    model = activation_model(C, "linear")
    model.compile("sgd", "mse")
    sw = np.array([1.0, 0.0, 2.0, 0.5, 0.0, 3.0])
    got = model.test_on_batch(REG_P, REG_T, sample_weight=sw)
    assert got == pytest.approx((ref_mse(REG_T, REG_P) * sw).sum() / N, rel=1e-5)


def test_unknown_loss_name_suggests_the_near_match(dense_model):
    model = dense_model(3, 2)
    with pytest.raises(ValueError, match="did you mean 'categorical_crossentropy'"):
        model.compile("sgd", "categorical_cross_entropy")


# ---------------------------------------------------------------- gradients of the logits rewrite

def _sgd_gradient(model, x, y):
    """One SGD step with lr 1: the gradient fgc used is the weight change."""
    before = model.get_weights()
    model.train_on_batch(x, y)
    return [b - a for b, a in zip(before, model.get_weights())]


GX = np.array([[0.5, -1.0, 0.3], [10.0, 2.0, -3.0], [-8.0, 9.0, 1.0], [0.2, 0.1, -0.4], [1.0, -1.0, 12.0]])
GW = np.array([[2.0, -1.0, 0.5, 0.0], [0.3, 1.5, -2.0, 1.0], [-0.5, 0.2, 0.4, 2.5]])
GB = np.array([0.1, -0.2, 0.0, 0.3])


@pytest.mark.parametrize("loss, activation", [
    ("categorical_crossentropy", "softmax"),
    (losses.CategoricalCrossentropy(from_logits=True), None),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax"),
])
def test_softmax_crossentropy_gradient_matches_finite_differences(fd_grads, dense_model, loss, activation):
    """Dense + softmax + crossentropy (computed from the logits by fgc): the SGD step equals the
    finite-difference gradient of the Keras formula, including the samples whose probabilities
    are clipped (zero gradient there, as in Keras)."""
    y = np.eye(4)[[0, 1, 2, 3, 1]]
    logits = GX @ GW + GB
    assert softmax(logits).max() > 1 - 1e-7 and softmax(logits).min() < 1e-7   # the clip really bites
    model = dense_model(3, 4, activation, weights=[GW, GB])
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), loss)
    got = _sgd_gradient(model, GX, y)

    def ref(params):
        z = GX.astype(np.float32).astype(np.float64) @ params[0] + params[1]
        if activation is None:
            return ref_cce(y, z, from_logits=True).mean()
        return ref_cce(y, softmax(z), label_smoothing=getattr(loss, "label_smoothing", 0.0)).mean()

    want = fd_grads(ref, [GW.copy(), GB.copy()])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("loss, activation", [
    ("binary_crossentropy", "sigmoid"),
    (losses.BinaryCrossentropy(from_logits=True), None),
])
def test_sigmoid_crossentropy_gradient_matches_finite_differences(fd_grads, dense_model, loss, activation):
    y = np.array([[1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 1]], float)
    model = dense_model(3, 4, activation, weights=[GW / 2, GB])
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), loss)
    got = _sgd_gradient(model, GX, y)

    def ref(params):
        z = GX.astype(np.float32).astype(np.float64) @ params[0] + params[1]
        return ref_bce(y, z, from_logits=True).mean() if activation is None else ref_bce(y, sigmoid(z)).mean()

    want = fd_grads(ref, [GW / 2, GB.copy()])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-6)


def test_class_weight_equals_the_matching_sample_weights(dense_model):
    w0 = [np.array([[0.5, -0.5, 0.2], [0.1, 0.3, -0.2], [0.0, 0.4, 0.1], [0.2, -0.1, 0.3]]), np.zeros(3)]
    x = REG_T.astype(np.float32)
    model = dense_model(C, 3, "softmax", weights=w0)
    model.compile("sgd", "categorical_crossentropy")
    ids = np.array([0, 1, 2, 1, 0, 2])
    y = np.eye(3)[ids]
    loss = model.train_on_batch(x, y, class_weight={0: 2.0, 2: 0.5})
    p = softmax(x.astype(np.float64) @ w0[0] + w0[1])
    weights = np.array([2.0, 1.0, 0.5])[ids]
    assert loss == pytest.approx((ref_cce(y, p) * weights).sum() / len(ids), rel=1e-5)


T = 5
SEQ_T = rng.standard_normal((N, T, C))
SEQ_P = rng.standard_normal((N, T, C))
SEQ_IDS = rng.integers(0, C, (N, T))


def _sequence_model(activation):
    x = fgc.Input((T, C), name="x")
    return fgc.Model(x, fgc.layers.Activation(activation)(x))


@pytest.mark.parametrize("loss, activation, y_true, ref", [
    ("mse", "linear", SEQ_T, ref_mse),
    ("categorical_crossentropy", "softmax", np.eye(C)[SEQ_IDS], ref_cce),
    ("sparse_categorical_crossentropy", "softmax", SEQ_IDS, ref_sparse_cce),
], ids=["mse", "cce", "sparse_cce"])
def test_sequence_outputs_average_over_samples_and_timesteps(loss, activation, y_true, ref):
    """A (N, T, C) output: one loss value per (sample, timestep); sum_over_batch_size divides by N*T, and a
    per-sample weight applies to all of that sample's timesteps."""
    model = _sequence_model(activation)
    model.compile("sgd", loss)
    values = ref(y_true, _y_pred(activation, SEQ_P))
    assert values.shape == (N, T)
    assert model.evaluate(SEQ_P, y_true, batch_size=4, verbose=0) == pytest.approx(values.mean(), rel=1e-5)
    sw = np.array([1.0, 0.0, 2.0, 0.5, 3.0, 1.0])
    got = model.test_on_batch(SEQ_P, y_true, sample_weight=sw)
    assert got == pytest.approx((values * sw[:, None]).sum() / (N * T), rel=1e-5)


@pytest.mark.parametrize("loss, activation, metric, y_true, x, ref", [
    ("binary_crossentropy", "sigmoid", "acc", BIN_T[:, :1], BIN_LOGITS[:, :1],
     lambda t, p: (t[:, 0] == (p[:, 0] > 0.5)).mean()),
    ("binary_crossentropy", "sigmoid", "accuracy", BIN_T, BIN_LOGITS, lambda t, p: (t == (p > 0.5)).mean()),
    ("categorical_crossentropy", "softmax", "acc", SOFT_T, LOGITS,
     lambda t, p: (t.argmax(-1) == p.argmax(-1)).mean()),
    ("sparse_categorical_crossentropy", "softmax", "accuracy", IDS, LOGITS + 0.5 * REG_P,
     lambda t, p: (t == p.argmax(-1)).mean()),
    ("mse", "linear", fgc.metrics.TopKCategoricalAccuracy(k=2), ONEHOT, REG_P,
     lambda t, p: np.mean([(p[i] > p[i, t[i].argmax()]).sum() < 2 for i in range(len(t))])),
], ids=["binary_acc_column", "binary_accuracy", "categorical_acc", "sparse_acc", "top2"])
def test_metrics_match_numpy(activation_model, loss, activation, metric, y_true, x, ref):
    model = activation_model(x.shape[-1], activation)
    model.compile("sgd", loss, metrics=[metric])
    logs = model.evaluate(x, y_true, verbose=0, return_dict=True)
    key = metric if isinstance(metric, str) else metric.name
    expected = ref(y_true, _y_pred(activation, x))
    assert 0 < expected < 1                      # the data is not all-right or all-wrong
    assert logs[key] == pytest.approx(expected)
