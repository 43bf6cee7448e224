"""Random functional models (sequence and vector tensors, optionally masked; Dense, LayerNormalization,
BatchNormalization, merges, Concatenate, pooling, RepeatVector, Conv1D, self- and cross-attention, recurrent
layers, shared layers, Dot; one to three heads with mixed losses, loss weights and sample weights): one Adam step
agrees with every speed rewrite switched on and off, and the gradients match central differences.
The corpus of test_rewrites_agree.py targets each rewrite; this one looks for the combinations nobody wrote."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import fgc
from fgc import layers

_spec = importlib.util.spec_from_file_location("rewrites_agree", Path(__file__).with_name("test_rewrites_agree.py"))
agree = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agree)

# Flatten ends a mask (as in Keras), with a warning each time; the size-gated rewrites (Relu's mask product,
# row sums) apply to these small models too
pytestmark = [pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning"),
              pytest.mark.usefixtures("size_rules_everywhere")]

T = 4
MERGES = [layers.add, layers.subtract, layers.multiply, layers.average, layers.maximum]


class _Tensors:
    """The sequence (N, T, C) and vector (N, C) tensors built so far, and the rng that picks among them."""

    def __init__(self, rng, seq, vec):
        self.rng, self.seqs, self.vecs = rng, [seq], [vec]

    def pick(self, pool):
        return pool[self.rng.integers(len(pool))]

    def add_step(self):
        rng, s, v = self.rng, self.pick(self.seqs), self.pick(self.vecs)
        act = [None, "relu", "tanh", "sigmoid", "gelu", "softplus"][rng.integers(6)]
        units = int(rng.integers(2, 6))
        kind = rng.integers(14)
        if kind == 0:
            self.seqs.append(layers.Dense(units, activation=act)(s))
        elif kind == 1:
            self.vecs.append(layers.Dense(units, activation=act)(v))
        elif kind == 2:
            self.seqs.append(layers.LayerNormalization(center=bool(rng.integers(2)), scale=bool(rng.integers(2)))(s))
        elif kind == 3:
            self.vecs.append(layers.BatchNormalization()(v))
        elif kind in (4, 5):
            pool = self.seqs if kind == 4 else self.vecs
            a = self.pick(pool)
            same = [t for t in pool if t.shape == a.shape and t is not a]
            if same:
                pool.append(MERGES[rng.integers(len(MERGES))]([a, self.pick(same)]))
        elif kind == 6:
            a, b = self.pick(self.seqs), self.pick(self.seqs)
            if a is not b:
                self.seqs.append(layers.concatenate([a, b]))
        elif kind == 7:
            pool = [layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D, lambda: layers.Flatten()]
            self.vecs.append(pool[rng.integers(3)]()(s))
        elif kind == 8:
            self.seqs.append(layers.RepeatVector(T)(v))
        elif kind == 9:
            self.seqs.append(layers.Conv1D(units, int(rng.integers(1, 4)), padding="same", activation=act)(s))
        elif kind == 10:
            other = self.pick(self.seqs)
            self.seqs.append(layers.MultiHeadAttention(2, 2)(s, s) if rng.integers(2) else
                             layers.MultiHeadAttention(2, 3)(s, other))
        elif kind == 11:
            cell = [layers.LSTM, layers.GRU, layers.SimpleRNN][rng.integers(3)]
            sequences = bool(rng.integers(2))
            (self.seqs if sequences else self.vecs).append(cell(units, return_sequences=sequences)(s))
        elif kind == 12:
            shared = layers.Dense(units, activation=act)
            same = [t for t in self.seqs if t.shape[-1] == s.shape[-1]]
            self.seqs += [shared(s), shared(self.pick(same))]
        else:
            a, b = self.pick(self.vecs), self.pick(self.vecs)
            if a.shape == b.shape:
                self.vecs.append(layers.Dot(axes=1, normalize=bool(rng.integers(2)))([a, b]))


HEADS = {"cce": ("softmax", "categorical_crossentropy"), "sparse": ("softmax", "sparse_categorical_crossentropy"),
         "bce": ("sigmoid", "binary_crossentropy"), "mse": (None, "mse"), "huber": (None, "huber"),
         "bce_logits": (None, fgc.losses.BinaryCrossentropy(from_logits=True)),
         "cce_logits": (None, fgc.losses.CategoricalCrossentropy(from_logits=True))}


def random_model(rng):
    """(compiled model, masked, {output: (head kind, width)})."""
    seq_in, vec_in = fgc.Input((T, 3), name="seq"), fgc.Input((5,), name="vec")
    masked = bool(rng.integers(2))
    tensors = _Tensors(rng, layers.Masking(0.0)(seq_in) if masked else seq_in, vec_in)
    for _ in range(rng.integers(3, 9)):
        tensors.add_step()
    last = tensors.vecs[-1] if len(tensors.vecs) > 1 else layers.GlobalAveragePooling1D()(tensors.seqs[-1])
    sources = [last, tensors.pick(tensors.vecs), layers.Flatten()(tensors.seqs[-1])]
    outputs, losses, heads = [], {}, {}
    for i in range(rng.integers(1, 4)):
        kind, width = sorted(HEADS)[rng.integers(len(HEADS))], int(rng.integers(2, 4))
        activation, losses[f"out{i}"] = HEADS[kind]
        outputs.append(layers.Dense(width, activation=activation, name=f"out{i}")(sources[i]))
        heads[f"out{i}"] = (kind, width)
    model = fgc.Model([seq_in, vec_in], outputs)
    weights = {k: float(rng.uniform(0.3, 2)) for k in losses}
    return model, masked, heads, losses, weights


def random_batch(rng, heads, n, masked):
    x = [rng.normal(size=(n, T, 3)).astype(np.float32), rng.normal(size=(n, 5)).astype(np.float32)]
    if masked:
        x[0][np.arange(T)[None, :] >= rng.integers(1, T + 1, n)[:, None]] = 0
    ys = []
    for kind, width in heads.values():
        if kind in ("cce", "cce_logits"):
            ys.append(np.eye(width, dtype=np.float32)[rng.integers(0, width, n)])
        elif kind == "sparse":
            ys.append(rng.integers(0, width, n))
        elif kind in ("bce", "bce_logits"):
            ys.append(rng.integers(0, 2, (n, width)).astype(np.float32))
        else:
            ys.append(rng.normal(size=(n, width)).astype(np.float32))
    return x, ys, [rng.uniform(0.2, 2, n).astype(np.float32) for _ in ys]


def step(seed, off=(), optimizer=None):
    """(loss, weights after, slots, model, batch, weights before) of one step of random model ``seed``."""
    rng = np.random.default_rng(seed)
    with agree.switched_off(off):
        fgc.utils.clear_session(free_memory=False)
        model, masked, heads, losses, loss_weights = random_model(rng)
        model.compile(optimizer=optimizer or fgc.optimizers.Adam(0.01, epsilon=1e-4), loss=losses,
                      loss_weights=loss_weights)
        start = agree.start_weights(model, seed)
        model.set_weights(start)
        batch = random_batch(rng, heads, 5, masked)
        loss = model.train_on_batch(*batch)
    per_var, _ = model._trainer.slot_values()
    slots = [per_var[v][s] for v in model.trainable_weights for s in sorted(per_var.get(v, {}))]
    return np.atleast_1d(np.asarray(loss, np.float64)), model.get_weights(), slots, model, batch, start


def seeds(fast):
    """Seeds 0-23, those not in ``fast`` marked slow."""
    return [s if s in fast else pytest.param(s, marks=pytest.mark.slow) for s in range(24)]


@pytest.mark.parametrize("seed", seeds(fast={0, 1, 2}))   # 1 and 2 have BatchNormalization
def test_a_random_model_steps_alike_with_and_without_the_rewrites(seed):
    on, off = step(seed), step(seed, agree.ALL)
    agree.assert_steps_agree(on[:3], off[:3])


@pytest.mark.parametrize("seed", seeds(fast={0, 3, 4}))
def test_a_random_models_gradients_match_finite_differences(seed):
    _, after, _, model, batch, start = step(seed, optimizer=fgc.optimizers.SGD(1.0))
    if any("batch_normalization" in v.path for v in model.weights):
        pytest.skip("BatchNormalization evaluates with its moving statistics: not the loss the step differentiates")
    grads = [w0 - w1 for w0, w1 in zip(start, after)]
    scale = max(float(np.max(np.abs(g))) for g in grads)
    model.set_weights(start)
    loss = abs(float(np.atleast_1d(model.test_on_batch(*batch))[0]))
    misses = []
    # a kink (ReLU, max pooling, Maximum) within the step bends the difference by O(h), the float32 rounding of
    # the loss by O(1e-7 |loss| / h): a true gradient passes at one of two steps
    for h in (1e-3, 3e-4):
        fd = agree.sampled_central_differences(model, batch, start, per_weight=3, h=h)
        worst = max(abs(grads[i].reshape(-1)[j] - value) for (i, j), value in fd.items())
        if worst <= 1e-3 * scale + 2e-4 + 1e-7 * loss / h:
            return
        misses.append((h, worst))
    raise AssertionError(f"gradients differ from central differences: (step, worst) {misses}, scale {scale}")
