"""Differential check of the train step's speed rewrites: one Adam step of each model of a small corpus gives
the same loss, updated weights and optimizer slots (Adam's first slot after one step is 0.1 x the gradient,
so the slots compare the gradients) with every rewrite switched on as with every one switched off, and with
each switch alone (slow). The unconditional rewrites (concat's vjp as one Split, the fused QKV projection, the
(AB)^T rule, static Like targets) are checked against central differences of the evaluation step's loss, and
the conv weight-gradient rules against each other and the textbook batch <-> channel swap Conv.
tests/training/test_general_step_agrees.py checks the equal-length train step against the general one.

Tolerances: float32 rounding of a reordered sum, relative to each tensor's scale (rtol 1e-5, plus an atol of
1e-5 of the tensor's max |value| and 1e-6 for tensors that are all but zero)."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.layers import layer_norm
from fgc.passes import fold_negation, fuse_conv_bias, fuse_scans, row_sums, simplify, transpose_ids
from fgc.primitives import autodiff, conv, elementwise, scan_grad
from fgc.training import losses as train_losses

# the size-gated rewrites (Relu's mask product, row sums) apply to these small models too
pytestmark = pytest.mark.usefixtures("size_rules_everywhere")

# name -> (module, attribute, value that switches the rewrite off)
SWITCHES = {
    "fuse_scans": (fuse_scans, "ENABLED", False),
    "transpose_ids": (transpose_ids, "ENABLED", False),
    "saved_stats": (layer_norm, "SAVED_STATS", False),
    "dot_rule": (simplify, "DOT_RULE", False),
    "flat_sums": (simplify, "FLAT_SUMS", False),
    "fold_through_joins": (fold_negation, "FOLD_THROUGH_JOINS", False),
    "bce_without_negations": (train_losses, "BCE_WITHOUT_NEGATIONS", False),
    "small_channels": (conv, "SMALL_CHANNELS", 0),       # 0: the narrow one-product rule never applies
    "one_sum_unbroadcast": (autodiff, "ONE_SUM", False),  # False: a bias gradient summed in two ReduceSums
    "conv_transpose_bias": (fuse_conv_bias, "TRANSPOSED", False),
    "max_unpool": (conv, "UNPOOL", False),                 # False: every MaxPool gradient a ScatterElements
    "tiled_max_pool": (conv, "TILED", False),              # False: tiling windows' gradients read Indices too
    "row_sums": (row_sums, "ENABLED", False),               # False: bias gradients summed by ReduceSum, not ones @ x
    "relu_mask_product": (elementwise, "RELU_MASK_PRODUCT", False),   # False: Relu's gradient a Where
    # the one-thread rule: a step on a pool of threads keeps the If on the stacked state's size
    "pooled_vectorize": (scan_grad, "POOLED_LOOP_FROM_ELEMENTS", scan_grad.LOOP_FROM_ELEMENTS),
}


@contextlib.contextmanager
def switched_off(names):
    saved = {n: getattr(SWITCHES[n][0], SWITCHES[n][1]) for n in names}
    try:
        for n in names:
            module, attr, off = SWITCHES[n]
            setattr(module, attr, off)
        yield
    finally:
        for n, value in saved.items():
            setattr(SWITCHES[n][0], SWITCHES[n][1], value)


# ---------------------------------------------------------------- the corpus: build() and batch(rng, n, lengths)
def _ids(rng, n, t, vocab):
    """Ids in [1, vocab) with each row zero-padded after a random length >= 1 (mask_zero's padding)."""
    ids = rng.integers(1, vocab, (n, t))
    ids[np.arange(t)[None, :] >= rng.integers(1, t + 1, n)[:, None]] = 0
    return ids


def _padded(rng, n, t, c):
    """Float sequences whose rows end in all-zero steps (Masking's padding)."""
    x = rng.normal(size=(n, t, c)).astype(np.float32)
    keep = rng.integers(1, t + 1, n)
    x[np.arange(t)[None, :] >= keep[:, None]] = 0
    return x


def shared_lstm_embedding():
    left, right = fgc.Input((None,), dtype="int32", name="left"), fgc.Input((None,), dtype="int32", name="right")
    embed, lstm = layers.Embedding(7, 3, mask_zero=True), layers.LSTM(4)
    joined = layers.concatenate([lstm(embed(left)), lstm(embed(right))])
    return fgc.Model([left, right], layers.Dense(2, activation="softmax")(joined)), "categorical_crossentropy"


def shared_lstm_embedding_batch(rng, n, lengths):
    return [_ids(rng, n, t, 7) for t in lengths], np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]


def shared_gru_masking():
    left, right = fgc.Input((None, 3), name="left"), fgc.Input((None, 3), name="right")
    mask, gru = layers.Masking(0.0), layers.GRU(4, return_sequences=True)
    pooled = [layers.GlobalAveragePooling1D()(gru(mask(x))) for x in (left, right)]
    return fgc.Model([left, right], layers.Dense(1)(layers.add(pooled))), "mse"


def shared_gru_masking_batch(rng, n, lengths):
    return [_padded(rng, n, t, 3) for t in lengths], rng.normal(size=(n, 1)).astype(np.float32)


def shared_bidirectional():
    left, right = fgc.Input((None, 3), name="left"), fgc.Input((None, 3), name="right")
    tower = layers.Bidirectional(layers.LSTM(3))
    distance = layers.Lambda(lambda t: fgc.ops.abs(t[0] - t[1]))([tower(left), tower(right)])
    return fgc.Model([left, right], layers.Dense(1, activation="sigmoid")(distance)), "binary_crossentropy"


def shared_bidirectional_batch(rng, n, lengths):
    return [rng.normal(size=(n, t, 3)).astype(np.float32) for t in lengths], \
        rng.integers(0, 2, (n, 1)).astype(np.float32)


def siamese_dense():
    left, right = fgc.Input((6,), name="left"), fgc.Input((6,), name="right")
    x = fgc.Input((6,))
    tower = fgc.Model(x, layers.Dense(5, activation="tanh")(layers.Dense(8, activation="relu")(x)))
    joined = layers.concatenate([tower(left), tower(right), layers.multiply([tower(left), tower(right)])])
    return fgc.Model([left, right], layers.Dense(1)(joined)), "binary_crossentropy_logits"


def siamese_dense_batch(rng, n, lengths):
    return [rng.normal(size=(n, 6)).astype(np.float32) for _ in range(2)], \
        rng.integers(0, 2, (n, 1)).astype(np.float32)


def transformer_block(mask_zero=True):
    def build():
        ids = fgc.Input((None,), dtype="int32", name="ids")
        x = layers.Embedding(9, 8, mask_zero=mask_zero)(ids)
        a = layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
        x = layers.LayerNormalization()(layers.add([x, a]))
        f = layers.Dense(8)(layers.Dense(12, activation="relu")(x))
        x = layers.LayerNormalization()(layers.add([x, f]))
        return fgc.Model(ids, layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling1D()(x))), \
            "sparse_categorical_crossentropy"
    return build


def transformer_block_batch(rng, n, lengths):
    return [_ids(rng, n, lengths[0], 9)], rng.integers(0, 3, n)


def multi_output():
    x = fgc.Input((5,), name="x")
    h = layers.Dense(6, activation="tanh")(x)
    heads = [layers.Dense(3, activation="softmax", name="cls")(h), layers.Dense(2, activation="sigmoid", name="tag")(h),
             layers.Dense(2, name="logit")(h)]
    loss = {"cls": "categorical_crossentropy", "tag": "binary_crossentropy",
            "logit": fgc.losses.BinaryCrossentropy(from_logits=True)}
    return fgc.Model(x, heads), (loss, {"cls": 0.5, "tag": 2.0, "logit": 1.5})


def multi_output_batch(rng, n, lengths):
    y = [np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)], rng.integers(0, 2, (n, 2)).astype(np.float32),
         rng.integers(0, 2, (n, 2)).astype(np.float32)]
    return [rng.normal(size=(n, 5)).astype(np.float32) * 2], y


def conv_stack(dim, conv_layers, channels=3, size=8, transpose=False):
    """A conv model on a (size,)*dim map of ``channels`` channels: each layer factory applied in turn,
    their outputs joined by a Concatenate where shapes allow, pooled to 2 outputs."""
    def build():
        x = fgc.Input((size,) * dim + (channels,), name="x")
        h, outs = x, []
        for make in conv_layers:
            h = make()(h)
            outs.append(h)
        pool = [layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D, layers.GlobalAveragePooling3D][dim - 1]
        pooled = [pool()(o) for o in outs]
        joined = layers.concatenate(pooled) if len(pooled) > 1 else pooled[0]
        return fgc.Model(x, layers.Dense(2)(joined)), "mse"
    return build


def conv_batch(dim, channels=3, size=8):
    def batch(rng, n, lengths):
        return [rng.normal(size=(n,) + (size,) * dim + (channels,)).astype(np.float32)], \
            rng.normal(size=(n, 2)).astype(np.float32)
    return batch


def sequence_conv1d():
    """Conv1D over sequences of unknown length: the weight gradient's rule is chosen at run time (an If)."""
    x = fgc.Input((None, 4), name="x")
    h = layers.Conv1D(40, 3, padding="same", activation="relu")(x)
    h = layers.Conv1D(36, 3, dilation_rate=2)(h)
    return fgc.Model(x, layers.Dense(2)(layers.GlobalMaxPooling1D()(h))), "mse"


def sequence_conv1d_batch(rng, n, lengths):
    return [rng.normal(size=(n, lengths[0], 4)).astype(np.float32)], rng.normal(size=(n, 2)).astype(np.float32)


def sequence_dense():
    """Dense layers on (N, T, C): their bias gradients sum over (N, T), the first one's cotangent comes from a
    Reshape's vjp (FLAT_SUMS)."""
    x = fgc.Input((5, 6), name="x")
    h = layers.Reshape((10, 2))(layers.Dense(4)(x))
    h = layers.Dense(8, activation="relu")(h)
    return fgc.Model(x, layers.Dense(3)(layers.GlobalAveragePooling1D()(h))), "mse"


def sequence_dense_batch(rng, n, lengths):
    return [rng.normal(size=(n, 5, 6)).astype(np.float32)], rng.normal(size=(n, 3)).astype(np.float32)


def layer_norm_variants():
    """LayerNormalization over a middle axis, two axes, without centering or scaling, and RMS scaling."""
    x = fgc.Input((4, 5, 3), name="x")
    h = layers.LayerNormalization(axis=1)(x)
    h = layers.LayerNormalization(axis=[1, 2], center=False)(layers.Dense(3, activation="tanh")(h))
    h = layers.LayerNormalization(scale=False, epsilon=0.1)(h)
    h = layers.LayerNormalization(rms_scaling=True)(h)
    return fgc.Model(x, layers.Dense(2)(layers.Flatten()(h))), "mse"


def layer_norm_variants_batch(rng, n, lengths):
    return [rng.normal(size=(n, 4, 5, 3)).astype(np.float32) * 3 + 1], rng.normal(size=(n, 2)).astype(np.float32)


def saturated_bce():
    """Sigmoid outputs driven into Keras' probability clip, soft targets and label smoothing."""
    x = fgc.Input((4,), name="x")
    h = layers.Dense(6)(x)
    heads = [layers.Dense(3, activation="sigmoid", name=name)(h) for name in ("hard", "soft")]
    loss = {"hard": "binary_crossentropy", "soft": fgc.losses.BinaryCrossentropy(label_smoothing=0.2)}
    return fgc.Model(x, heads), (loss, {"hard": 1.0, "soft": 0.7})


def saturated_bce_batch(rng, n, lengths):
    return [rng.normal(size=(n, 4)).astype(np.float32) * 12], \
        [rng.integers(0, 2, (n, 3)).astype(np.float32), rng.random((n, 3)).astype(np.float32)]


def masked_sequence_output():
    """Per-step outputs of a masked recurrence: the loss is masked per step (N, T) and weighted per sample."""
    ids = fgc.Input((None,), dtype="int32", name="ids")
    h = layers.LSTM(4, return_sequences=True)(layers.Embedding(7, 3, mask_zero=True)(ids))
    h = layers.Bidirectional(layers.GRU(2, return_sequences=True))(h)
    return fgc.Model(ids, layers.Dense(3, activation="softmax")(h)), "sparse_categorical_crossentropy"


def masked_sequence_output_batch(rng, n, lengths):
    return [_ids(rng, n, lengths[0], 7)], rng.integers(0, 3, (n, lengths[0]))


def attention_variants():
    """Self-attention's fused projections with value_dim != key_dim, no biases, an output shape, a causal mask, a
    gate and an explicit key, over a masked sequence; and cross-attention (not fused) between two lengths."""
    x, other = fgc.Input((None, 6), name="x"), fgc.Input((None, 6), name="other")
    h = layers.Masking(0.0)(x)
    a = layers.MultiHeadAttention(2, key_dim=3, value_dim=5)(h, h, use_causal_mask=True)
    b = layers.MultiHeadAttention(3, key_dim=2, use_bias=False, output_shape=4)(h, h)
    c = layers.MultiHeadAttention(2, key_dim=2, use_gate=True)(h, h, h)
    d = layers.MultiHeadAttention(2, key_dim=2)(h, other)
    joined = layers.concatenate([a, b, c, d])
    return fgc.Model([x, other], layers.Dense(2)(layers.GlobalAveragePooling1D()(joined))), "mse"


def attention_variants_batch(rng, n, lengths):
    return [_padded(rng, n, lengths[0], 6), rng.normal(size=(n, lengths[1], 6)).astype(np.float32)], \
        rng.normal(size=(n, 2)).astype(np.float32)


C = layers
CORPUS = {
    "attention_variants": (attention_variants, attention_variants_batch),
    "layer_norm_variants": (layer_norm_variants, layer_norm_variants_batch),
    "saturated_bce": (saturated_bce, saturated_bce_batch),
    "masked_sequence_output": (masked_sequence_output, masked_sequence_output_batch),
    "sequence_dense": (sequence_dense, sequence_dense_batch),
    "shared_lstm_embedding": (shared_lstm_embedding, shared_lstm_embedding_batch),
    "shared_gru_masking": (shared_gru_masking, shared_gru_masking_batch),
    "shared_bidirectional": (shared_bidirectional, shared_bidirectional_batch),
    "siamese_dense": (siamese_dense, siamese_dense_batch),
    "transformer_masked": (transformer_block(True), transformer_block_batch),
    "transformer": (transformer_block(False), transformer_block_batch),
    "multi_output": (multi_output, multi_output_batch),
    "conv2d_narrow": (conv_stack(2, [lambda: C.Conv2D(8, 3, padding="same", activation="relu"),
                                     lambda: C.Conv2D(6, 1), lambda: C.Conv2D(5, 3, strides=2)]), conv_batch(2)),
    "conv2d_wide": (conv_stack(2, [lambda: C.Conv2D(36, 3, padding="same", activation="relu"),
                                   lambda: C.Conv2D(34, 3, padding="valid"),
                                   lambda: C.Conv2D(40, 2, dilation_rate=2, padding="same"),
                                   lambda: C.Conv2D(33, 1, strides=2)], channels=35, size=6), conv_batch(2, 35, 6)),
    "conv2d_wide_in_narrow_out": (conv_stack(2, [lambda: C.Conv2D(4, 3, padding="same")], channels=40, size=5),
                                  conv_batch(2, 40, 5)),
    "conv2d_groups_depthwise": (conv_stack(2, [lambda: C.Conv2D(8, 3, groups=4, padding="same"),
                                               lambda: C.DepthwiseConv2D(3, depth_multiplier=2, strides=2),
                                               lambda: C.SeparableConv2D(6, 3, padding="same")],
                                           channels=4, size=7), conv_batch(2, 4, 7)),
    "conv1d": (conv_stack(1, [lambda: C.Conv1D(40, 3, padding="same", activation="relu"),
                              lambda: C.Conv1D(36, 3, strides=2), lambda: C.Conv1D(4, 3, dilation_rate=2)],
                          channels=35, size=16), conv_batch(1, 35, 16)),
    "conv3d": (conv_stack(3, [lambda: C.Conv3D(4, 3, padding="same"), lambda: C.Conv3D(5, 2, strides=2)],
                          channels=2, size=4), conv_batch(3, 2, 4)),
    "conv2d_transpose": (conv_stack(2, [lambda: C.Conv2DTranspose(5, 3, strides=2, padding="same"),
                                        lambda: C.Conv2DTranspose(34, 3, padding="valid"),
                                        lambda: C.Conv2D(36, 3, padding="same")], channels=3, size=4),
                         conv_batch(2, 3, 4)),
    "conv2d_pooled": (conv_stack(2, [lambda: C.Conv2D(6, 3, padding="same"), lambda: layers.MaxPooling2D(2),
                                     lambda: C.Conv2D(5, 3, padding="same", activation="relu"),
                                     lambda: layers.MaxPooling2D((1, 2), strides=2)]), conv_batch(2)),
    "sequence_conv1d": (sequence_conv1d, sequence_conv1d_batch),
}
RECURRENT = ["shared_lstm_embedding", "shared_gru_masking", "shared_bidirectional"]


def _compiled(name, optimizer=None):
    build, _ = CORPUS[name]
    model, loss = build()
    loss, weights = loss if isinstance(loss, tuple) else (loss, None)
    if loss == "binary_crossentropy_logits":
        loss = fgc.losses.BinaryCrossentropy(from_logits=True)
    # Adam's epsilon above the float32 noise of gradients that are 0 in exact arithmetic (attention's key bias:
    # softmax ignores a shift shared by a row): with 1e-7, any rounding noise there is a full lr-sized step
    optimizer = optimizer or fgc.optimizers.Adam(0.01, epsilon=1e-4)
    model.compile(optimizer=optimizer, loss=loss, loss_weights=weights)
    return model


def start_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()]


def one_step(name, batch, weights, off=()):
    """(loss, weights after, [slot values in weight order]) of one Adam step from ``weights``."""
    with switched_off(off):
        model = _compiled(name)
        model.set_weights(weights)
        x, y, sw = batch
        loss = model.train_on_batch(x, y, sample_weight=sw)
    per_var, _ = model._trainer.slot_values()
    slots = [per_var[v][s] for v in model.trainable_weights for s in sorted(per_var[v])]
    return np.atleast_1d(np.asarray(loss, dtype=np.float64)), model.get_weights(), slots


def assert_close(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        scale = float(np.max(np.abs(w))) if w.size else 0.0
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * scale + 1e-6, err_msg=f"{what} {i}")


def assert_steps_agree(got, want):
    assert_close(got[0], want[0], "loss")
    assert_close(got[1], want[1], "weight")
    assert_close(got[2], want[2], "slot")


def make_batch(name, n=5, lengths=(5, 5), seed=1, weighted=True):
    rng = np.random.default_rng(seed)
    x, y = CORPUS[name][1](rng, n, lengths)
    sw = rng.uniform(0.2, 2.0, n).astype(np.float32) if weighted else None
    if isinstance(y, list) and weighted:
        sw = [rng.uniform(0.2, 2.0, n).astype(np.float32) for _ in y]
    return x, y, sw


ALL = tuple(SWITCHES)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_rewrite_on_agrees_with_every_rewrite_off(name):
    model = _compiled(name)
    weights = start_weights(model)
    batch = make_batch(name)
    assert_steps_agree(one_step(name, batch, weights), one_step(name, batch, weights, off=ALL))


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("lengths", [(4, 6), pytest.param((6, 3), marks=pytest.mark.slow)])
def test_unequal_lengths_agree_with_the_unfused_step(name, lengths):
    model = _compiled(name)
    weights = start_weights(model)
    batch = make_batch(name, lengths=lengths)
    assert_steps_agree(one_step(name, batch, weights), one_step(name, batch, weights, off=ALL))


@pytest.mark.slow
@pytest.mark.parametrize("switch", ALL)
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_rewrite_alone_agrees(name, switch):
    model = _compiled(name)
    weights = start_weights(model)
    batch = make_batch(name)
    assert_steps_agree(one_step(name, batch, weights, off=(switch,)), one_step(name, batch, weights))


# ---------------------------------------------------------------- conv weight-gradient rules
CONV_MODELS = [n for n in sorted(CORPUS) if n.startswith("conv")]


def forced_weight_grad(rule):
    """conv.weight_grad taking ``rule`` for every conv (the textbook batch <-> channel swap Conv where the
    rule cannot take the shape: grouped convs, or the shifted-dY rule at a stride)."""
    def weight_grad(b, x, gy, kernel, strides, pads, dilations, group, what="Conv"):
        if rule == "shifted_dy" and group == 1 and all(s == 1 for s in strides):
            return conv._shifted_dy_weight_grad(b, x, gy, kernel, pads, dilations)
        if rule in ("one_gemm", "im2col") and group == 1:
            return getattr(conv, f"_{rule}_weight_grad")(b, x, gy, kernel, strides, pads, dilations)
        return conv._batch_swap_weight_grad(b, x, gy, kernel, strides, pads, dilations, group, what)
    return weight_grad


def _slow_unless(value, fast):
    return value if value in fast else pytest.param(value, marks=pytest.mark.slow)


@pytest.mark.parametrize("rule", [_slow_unless(r, {"batch_swap"})
                                  for r in ("batch_swap", "one_gemm", "im2col", "shifted_dy")])
@pytest.mark.parametrize("name", CONV_MODELS)
def test_conv_weight_gradient_rules_agree(name, rule, monkeypatch):
    model = _compiled(name)
    weights = start_weights(model)
    batch = make_batch(name)
    chosen = one_step(name, batch, weights)
    monkeypatch.setattr(conv, "weight_grad", forced_weight_grad(rule))
    assert_steps_agree(chosen, one_step(name, batch, weights))


@pytest.mark.parametrize("rule", ["one_gemm", pytest.param("im2col", marks=pytest.mark.slow)])
@pytest.mark.parametrize("length", [6, 45])   # fewer / more positions than output channels: each If branch
def test_the_run_time_choice_of_rule_agrees_with_each_rule(length, rule, monkeypatch):
    model = _compiled("sequence_conv1d")
    weights = start_weights(model)
    batch = make_batch("sequence_conv1d", lengths=(length,))
    chosen = one_step("sequence_conv1d", batch, weights)
    monkeypatch.setattr(conv, "weight_grad", forced_weight_grad(rule))
    assert_steps_agree(chosen, one_step("sequence_conv1d", batch, weights))


# ---------------------------------------------------------------- finite differences
def sgd_gradients(name, batch, weights):
    """Every weight's gradient, read off one SGD step at learning rate 1, and the model (weights restored)."""
    model = _compiled(name, fgc.optimizers.SGD(1.0))
    model.set_weights(weights)
    x, y, sw = batch
    model.train_on_batch(x, y, sample_weight=sw)
    grads = [w0 - w1 for w0, w1 in zip(weights, model.get_weights())]
    model.set_weights(weights)
    return grads, model


def sampled_central_differences(model, batch, weights, per_weight=6, h=1e-3, seed=0):
    """{(weight, flat index): central difference of the evaluation loss} at ``per_weight`` random entries of
    each weight. The losses are float32 (rounding error ~1e-7 / h), and a larger step than 1e-3 bends over
    ReLU kinks."""
    rng = np.random.default_rng(seed)
    x, y, sw = batch

    def loss(ws):
        model.set_weights(ws)
        value = model.test_on_batch(x, y, sample_weight=sw)
        return float(value[0] if isinstance(value, list) else value)

    out = {}
    for i, w in enumerate(weights):
        for j in rng.choice(w.size, min(per_weight, w.size), replace=False):
            up, dn = [v.copy() for v in weights], [v.copy() for v in weights]
            up[i].reshape(-1)[j] += h
            dn[i].reshape(-1)[j] -= h
            out[i, j] = (loss(up) - loss(dn)) / (2 * h)
    return out


FD_MODELS = ["attention_variants", "layer_norm_variants", "saturated_bce", "masked_sequence_output",
             "transformer_masked", "transformer", "shared_lstm_embedding", "shared_bidirectional", "multi_output",
             "conv2d_transpose", "conv2d_groups_depthwise", "sequence_dense", "conv2d_narrow", "conv3d", "conv1d",
             "siamese_dense", "shared_gru_masking", "sequence_conv1d", "conv2d_pooled"]


FD_FAST = {"transformer_masked", "shared_lstm_embedding", "conv2d_transpose", "saturated_bce", "layer_norm_variants",
           "multi_output", "conv2d_pooled"}


@pytest.mark.parametrize("name", [_slow_unless(n, FD_FAST) for n in FD_MODELS])
def test_gradients_match_finite_differences(name):
    model = _compiled(name)
    weights = start_weights(model)
    batch = make_batch(name, lengths=(5, 4))
    grads, model = sgd_gradients(name, batch, weights)
    fd = sampled_central_differences(model, batch, weights)
    scale = max(float(np.max(np.abs(g))) for g in grads)
    worst = max(abs(grads[i].reshape(-1)[j] - value) for (i, j), value in fd.items())
    # truncation and ReLU kinks ~1e-3 of the gradients' scale; float32 rounding of the loss ~1e-7 |loss| / h
    model.set_weights(weights)
    loss = model.test_on_batch(batch[0], batch[1], sample_weight=batch[2])
    loss = abs(float(loss[0] if isinstance(loss, list) else loss))
    assert worst <= 1e-3 * scale + 2e-4 + 1e-4 * loss, (worst, scale, loss)
