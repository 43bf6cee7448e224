"""The train step specialised on equal input lengths (passes/fuse_scans.py) and the general one agree, wherever
a batch goes: the exported train step (the general one) run by plain onnxruntime gives train_on_batch's update
for batches of other sizes and lengths than the first; fit with batches of changing lengths, a last partial
batch, train_on_batch then fit on other shapes, and several steps per call end with the weights of the same
training on the unfused step."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fgc
import fgc.passes.fuse_scans as fuse_scans
from fgc import layers


def masked_siamese(vocab=7):
    """Shared Embedding(mask_zero) + LSTM on two id sequences: fused into one Scan under equal lengths."""
    left, right = fgc.Input((None,), dtype="int32", name="left"), fgc.Input((None,), dtype="int32", name="right")
    embed, lstm = layers.Embedding(vocab, 3, mask_zero=True, name="embed"), layers.LSTM(4, name="lstm")
    joined = layers.concatenate([lstm(embed(left)), lstm(embed(right))])
    return fgc.Model([left, right], layers.Dense(2, activation="softmax", name="out")(joined))


def gru_tower_pair():
    """Masking + a shared GRU returning sequences, and a shared Bidirectional LSTM: two fusable pairs."""
    left, right = fgc.Input((None, 3), name="left"), fgc.Input((None, 3), name="right")
    mask, gru = layers.Masking(0.0), layers.GRU(3, return_sequences=True, name="gru")
    bi = layers.Bidirectional(layers.LSTM(2), name="bi")
    pooled = [bi(gru(mask(x))) for x in (left, right)]
    return fgc.Model([left, right], layers.Dense(1, name="out")(layers.subtract(pooled)))


def masked_tagger():
    """A per-step output of a masked recurrence: the loss is masked per step, normalised in the graph."""
    ids = fgc.Input((None,), dtype="int32", name="ids")
    h = layers.GRU(4, return_sequences=True, name="gru")(layers.Embedding(7, 3, mask_zero=True, name="embed")(ids))
    return fgc.Model(ids, layers.Dense(3, activation="softmax", name="out")(h))


MODELS = {"masked_siamese": (masked_siamese, "categorical_crossentropy"),
          # a state over HOST_STATE_LIMIT (fgc/training/runtime.py): bound ping-pong buffers on the CPU too
          "bound_siamese": (lambda: masked_siamese(vocab=40000), "categorical_crossentropy"),
          "gru_tower_pair": (gru_tower_pair, "mse"),
          "masked_tagger": (masked_tagger, "sparse_categorical_crossentropy")}
FUSED = ["masked_siamese", "bound_siamese", "gru_tower_pair"]


def fused_models(fast=("masked_siamese",)):
    """The fused models, the ones not in ``fast`` marked slow (the default suite keeps one)."""
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in FUSED]


def padded_ids(rng, n, t):
    ids = rng.integers(1, 7, (n, t))
    ids[np.arange(t)[None, :] >= rng.integers(1, t + 1, n)[:, None]] = 0
    return ids.astype(np.int32)


def padded_floats(rng, n, t):
    x = rng.normal(size=(n, t, 3)).astype(np.float32)
    x[np.arange(t)[None, :] >= rng.integers(1, t + 1, n)[:, None]] = 0
    return x


def make_batch(name, n, lengths, seed):
    rng = np.random.default_rng(seed)
    if name in ("masked_siamese", "bound_siamese"):
        return [padded_ids(rng, n, t) for t in lengths], np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
    if name == "masked_tagger":
        return [padded_ids(rng, n, lengths[0])], rng.integers(0, 3, (n, lengths[0]))
    return [padded_floats(rng, n, t) for t in lengths], rng.normal(size=(n, 1)).astype(np.float32)


def compiled(name, weights=None, fused=True, steps_per_execution=1):
    build, loss = MODELS[name]
    fuse_scans.ENABLED = fused
    try:
        model = build()
        if weights is None:
            rng = np.random.default_rng(0)
            weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()]
        model.set_weights(weights)
        model.compile(optimizer=fgc.optimizers.Adam(0.01), loss=loss, steps_per_execution=steps_per_execution)
        model._trainer.step(True)   # built under the switch
    finally:
        fuse_scans.ENABLED = True
    return model


def assert_weights_close(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        scale = float(np.max(np.abs(w)))
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * scale + 1e-6, err_msg=f"weight {i}")


# ---------------------------------------------------------------- the exported step in plain onnxruntime
class BareStep:
    """The exported train step driven by onnxruntime alone, as fgc/training/export.py documents it."""

    def __init__(self, path, model):
        proto = onnx.load(str(path))
        self.layout = json.loads(proto.doc_string[proto.doc_string.index("{"):])
        self.sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.sess.get_inputs()}
        self.names = [v.path for v in model.weights]
        perms = self.layout["weight_layouts"]
        by_name = {n: np.transpose(w, perms[n]) if n in perms else w for n, w in zip(self.names, model.get_weights())}
        self.state = {}
        if "params" in self.inputs:
            flat = np.zeros(sum(v[1] for v in self.layout["flat_params"].values()), np.float32)
            for n, (offset, size, _) in self.layout["flat_params"].items():
                flat[offset:offset + size] = by_name[n].reshape(-1)
            self.state["params"] = flat
        self.state.update({n: by_name[n] for n in self.names if n in self.inputs})
        for n, fill in self.layout["state_init"].items():
            self.state[n] = np.full(self.inputs[n].shape, fill, np.float32)
        self.steps = 0

    def run(self, model, x, y, lr):
        feeds = dict(self.state, lr=np.array(lr, np.float32), step=np.array(self.steps, np.float32))
        for inp, value in zip(model.input_names, x):
            dtype = np.int32 if self.inputs[inp].type == "tensor(int32)" else np.float32
            feeds[inp] = value.astype(dtype)
        out = model.output_names[0]
        target = self.inputs[f"y/{out}"]
        feeds[f"y/{out}"] = y.astype(np.int64 if target.type == "tensor(int64)" else np.float32)
        # each sample's weight over the loss elements of the batch: N, or N*T for per-step sparse targets
        elements = y.size if target.type == "tensor(int64)" else len(y)
        feeds[f"sw/{out}"] = np.full(len(y), 1.0 / elements, np.float32)
        outs = dict(zip([o.name for o in self.sess.get_outputs()], self.sess.run(None, feeds)))
        for inp, name in self.layout["updates"].items():
            self.state[inp] = outs[name]
        self.steps += 1
        return float(outs["loss"])

    def weights(self):
        flat, perms = self.layout["flat_params"], self.layout["weight_layouts"]
        stored = [self.state["params"][flat[n][0]:flat[n][0] + flat[n][1]].reshape(flat[n][2]) if n in flat
                  else self.state[n] for n in self.names]
        return [np.transpose(w, np.argsort(perms[n])) if n in perms else w for n, w in zip(self.names, stored)]


# first batch equal lengths (the fused step is the primary one), then other sizes and unequal lengths
SCHEDULE = [(4, (5, 5)), (3, (5, 5)), (6, (2, 7)), (1, (4, 4)), (5, (8, 3))]


@pytest.mark.parametrize("name", [n if n in ("masked_siamese", "masked_tagger") else
                                  pytest.param(n, marks=pytest.mark.slow) for n in sorted(MODELS)])
def test_the_exported_step_gives_train_on_batchs_updates(name, tmp_path):
    model = compiled(name)
    path = tmp_path / "step.onnx"
    model.export(str(path), training=True)
    bare = BareStep(path, model)
    for seed, (n, lengths) in enumerate(SCHEDULE):
        x, y = make_batch(name, n, lengths, seed)
        loss = float(model.train_on_batch(x, y))
        np.testing.assert_allclose(bare.run(model, x, y, 0.01), loss, rtol=1e-5, err_msg=f"step {seed}")
        assert_weights_close(bare.weights(), model.get_weights())
    if name in FUSED:
        assert model._trainer.step(True).spec.equal_dims   # the fused step did take the equal-length batches


# ---------------------------------------------------------------- fit and train_on_batch on changing shapes
def _weights_after(name, train, fused, steps_per_execution=1):
    model = compiled(name, fused=fused, steps_per_execution=steps_per_execution)
    history = train(model)
    return model.get_weights(), history


def _agree(name, train, steps_per_execution=1):
    got, got_history = _weights_after(name, train, True, steps_per_execution)
    want, want_history = _weights_after(name, train, False, steps_per_execution)
    assert_weights_close(got, want)
    if got_history is not None:
        np.testing.assert_allclose(got_history, want_history, rtol=1e-5)


def _fit_on(name, lengths, n, batch_size, epochs=1):
    def train(model):
        x, y = make_batch(name, n, lengths, 11)
        return model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history["loss"]
    return train


@pytest.mark.parametrize("name", fused_models())
@pytest.mark.parametrize("lengths, n, batch_size", [pytest.param((6, 6), 7, 3, marks=pytest.mark.slow), ((6, 4), 7, 3),
                                                     pytest.param((5, 5), 9, 4, marks=pytest.mark.slow)],
                         ids=["equal_partial_last", "unequal_partial_last", "equal_partial_of_one"])
def test_fit_with_a_partial_last_batch_agrees(name, lengths, n, batch_size):
    _agree(name, _fit_on(name, lengths, n, batch_size, epochs=2))


@pytest.mark.parametrize("name", fused_models())
def test_train_on_batch_then_fit_on_other_lengths_agrees(name):
    def train(model):
        model.train_on_batch(*make_batch(name, 3, (4, 4), 0))
        model.train_on_batch(*make_batch(name, 2, (3, 6), 1))
        x, y = make_batch(name, 5, (7, 7), 2)
        first = model.fit(x, y, batch_size=2, shuffle=False, verbose=0).history["loss"]
        x, y = make_batch(name, 5, (2, 9), 3)
        return first + model.fit(x, y, batch_size=3, shuffle=False, verbose=0).history["loss"]
    _agree(name, train)


@pytest.mark.parametrize("name", fused_models())
@pytest.mark.parametrize("lengths", [pytest.param((5, 5), marks=pytest.mark.slow), (5, 3)])
def test_several_steps_per_call_with_a_partial_last_batch_agree(name, lengths):
    _agree(name, _fit_on(name, lengths, 7, 2, epochs=2), steps_per_execution=3)


@pytest.mark.parametrize("steps_per_execution", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_a_generator_of_changing_lengths_agrees(steps_per_execution):
    """fit over batches whose lengths change from batch to batch (equal within some, not others)."""
    schedule = [(4, (5, 5)), (4, (3, 6)), (4, (7, 7)), (2, (2, 2)), (3, (6, 2))]

    def train(model):
        batches = [make_batch("masked_siamese", n, lengths, seed) for seed, (n, lengths) in enumerate(schedule)]

        def data():
            while True:
                yield from ((tuple(x), y) for x, y in batches)
        return model.fit(data(), steps_per_epoch=len(schedule), epochs=2, shuffle=False, verbose=0).history["loss"]
    _agree("masked_siamese", train, steps_per_execution)
