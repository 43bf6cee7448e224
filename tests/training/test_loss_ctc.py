"""The CTC loss against the textbook forward algorithm (Graves et al., 2006) written in numpy: blanks
interleaved with the labels, log-space alpha over time, skips allowed between different labels.
Values standalone and in evaluate, the fit gradient against finite differences, Keras where installed."""
import os

import numpy as np
import pytest

import fgc
from fgc import layers, losses

rng = np.random.default_rng(5)
N, T, C, F = 3, 6, 4, 2
LOGITS = rng.standard_normal((N, T, C)).astype(np.float32)
# repeated labels need a blank between them; trailing zeros pad shorter label sequences
LABELS = np.array([[1, 2, 2], [3, 0, 0], [1, 1, 3]])


def log_softmax(z):
    s = z - z.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


def ref_ctc(labels, logits):
    out = []
    for label, z in zip(np.asarray(labels), np.asarray(logits, np.float64)):
        logp = log_softmax(z)
        ext = [0]
        for symbol in label[label != 0]:
            ext += [int(symbol), 0]
        alpha = np.full((len(z), len(ext)), -np.inf)
        alpha[0, 0] = logp[0, 0]
        if len(ext) > 1:
            alpha[0, 1] = logp[0, ext[1]]
        for t in range(1, len(z)):
            for s in range(len(ext)):
                a = alpha[t - 1, s]
                if s >= 1:
                    a = np.logaddexp(a, alpha[t - 1, s - 1])
                if s >= 2 and ext[s] != 0 and ext[s] != ext[s - 2]:
                    a = np.logaddexp(a, alpha[t - 1, s - 2])
                alpha[t, s] = a + logp[t, ext[s]]
        last = alpha[-1, -1] if len(ext) == 1 else np.logaddexp(alpha[-1, -1], alpha[-1, -2])
        out.append(-last)
    return np.array(out)


@pytest.mark.parametrize("labels", [LABELS, np.array([[2, 3], [1, 0], [0, 0]]), LABELS[:, :1],
                                    np.array([[1, 2, 1, 2, 1, 0]] * 3)])
def test_values_match_the_forward_algorithm(labels):
    want = ref_ctc(labels, LOGITS)
    np.testing.assert_allclose(losses.CTC(reduction=None)(labels, LOGITS), want, rtol=1e-5)
    np.testing.assert_allclose(losses.ctc(labels, LOGITS), want, rtol=1e-5)
    sw = np.array([0.5, 2.0, 1.0], np.float32)
    np.testing.assert_allclose(losses.CTC()(labels, LOGITS, sample_weight=sw), (want * sw).mean(), rtol=1e-5)


def _model(weights):
    x = fgc.Input((T, F), name="x")
    model = fgc.Model(x, layers.Dense(C, name="logits")(x))
    model.set_weights(weights)
    return model


def test_fit_loss_and_gradient_match_finite_differences(fd_grads):
    xs = rng.standard_normal((N, T, F)).astype(np.float32)
    w0 = [rng.standard_normal((F, C)) * 0.5, rng.standard_normal(C) * 0.1]
    model = _model(w0)
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), "ctc")

    def batch_loss(params):
        return ref_ctc(LABELS, xs.astype(np.float64) @ params[0] + params[1]).mean()

    assert model.evaluate(xs, LABELS, verbose=0) == pytest.approx(batch_loss(w0), rel=1e-5)
    before = model.get_weights()
    model.train_on_batch(xs, LABELS)
    got = [b - a for b, a in zip(before, model.get_weights())]
    for g, want in zip(got, fd_grads(batch_loss, w0)):
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-6)


def test_labels_longer_than_the_sequence_are_refused():
    with pytest.raises(ValueError, match="cannot be aligned with 6 timesteps"):
        losses.CTC()(np.ones((N, T + 1), int), LOGITS)
    model = _model([np.zeros((F, C)), np.zeros(C)])
    model.compile("sgd", losses.CTC())
    with pytest.raises(ValueError, match="class ids must be in"):
        model.fit(np.zeros((N, T, F)), np.full((N, 2), C), verbose=0)


def test_config_and_aliases():
    assert losses.CTC().get_config() == {"name": "ctc", "reduction": "sum_over_batch_size"}
    assert type(losses.get("ctc")) is losses.CTC


def test_matches_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    np.testing.assert_allclose(losses.ctc(LABELS, LOGITS), np.asarray(keras.losses.ctc(LABELS, LOGITS)), rtol=1e-5)
    assert losses.CTC().get_config() == keras.losses.CTC().get_config()
