"""Masks wherever Keras 3 honours them.

The recurrent layers' reference is the layer itself run on the unpadded prefix of each sequence
(no mask involved): a right-padded, masked sequence must give exactly that, whether the mask comes
from an explicit ``mask=`` tensor, from Masking or Embedding(mask_zero=True) through a merge layer,
in predict and in one SGD step. The other layers are checked against numpy written from Keras'
formulas (keras/src/layers/...: merging/base_merge.py, merging/concatenate.py, multiply.py,
pooling/global_average_pooling1d.py, normalization/batch_normalization.py).
"""
import numpy as np
import pytest

from fgc import Input, Model, Sequential, layers, optimizers

T, F, UNITS, VOCAB = 5, 3, 3, 9
LENGTHS = (3, 5, 1)  # one sequence per row of the batch: padded, full length, a single step
KINDS = ("LSTM", "GRU", "SimpleRNN", "Bidirectional")
# (return_sequences, go_backwards); Keras returns a go_backwards sequence in processing order.
DIRECTIONS = [(False, False), (True, False), (False, True), (True, True)]


def _rnn(kind, return_sequences, go_backwards):
    if kind == "Bidirectional":
        return layers.Bidirectional(layers.LSTM(UNITS, return_sequences=return_sequences, go_backwards=go_backwards))
    return getattr(layers, kind)(UNITS, return_sequences=return_sequences, go_backwards=go_backwards)


def _randomize(layer, seed=0):
    """Noise on every weight of a built layer (its biases start at zero)."""
    noise = np.random.default_rng(seed)
    layer.set_weights([(w + noise.normal(0, 0.4, w.shape)).astype(np.float32) for w in layer.get_weights()])


# ---------------------------------------------------------------------------------------- mask sources
# Each builds (model inputs, the tensor the recurrent layer reads, call kwargs) and makes
# (feeds, per-row features the layer reads for that row's prefix) from the lengths.

def _explicit(rng, width=F):
    x_in, m_in = Input(shape=(T, width)), Input(shape=(T,), dtype="bool")

    def data(lengths):
        x = rng.normal(size=(len(lengths), T, width)).astype(np.float32)  # padding holds garbage: the mask decides
        keep = np.arange(T)[None, :] < np.array(lengths)[:, None]
        return [x, keep], [x[i, :n] for i, n in enumerate(lengths)]
    return [x_in, m_in], x_in, {"mask": m_in}, data


def _masking_concat(rng):
    a, c = Input(shape=(T, F)), Input(shape=(T, 2))
    merged = layers.Concatenate()([layers.Masking()(a), layers.Masking()(c)])

    def data(lengths):
        keep = (np.arange(T)[None, :] < np.array(lengths)[:, None])[..., None]
        xa = rng.normal(size=(len(lengths), T, F)).astype(np.float32) * keep
        xc = rng.normal(size=(len(lengths), T, 2)).astype(np.float32) * keep
        both = np.concatenate([xa, xc], axis=-1)
        return [xa, xc], [both[i, :n] for i, n in enumerate(lengths)]
    return [a, c], merged, {}, data


def _embedding_merge(merge):
    def build(rng):
        ids = Input(shape=(T,), dtype="int32")
        e1, e2 = layers.Embedding(VOCAB, F, mask_zero=True), layers.Embedding(VOCAB, F, mask_zero=True)
        merged = merge()([e1(ids), e2(ids)])

        def data(lengths):
            x = np.zeros((len(lengths), T), np.int32)
            for i, n in enumerate(lengths):
                x[i, :n] = rng.integers(1, VOCAB, n)
            w1, w2 = e1.get_weights()[0], e2.get_weights()[0]
            feats = w1[x] + w2[x] if merge is layers.Add else np.concatenate([w1[x], w2[x]], axis=-1)
            return [x], [feats[i, :n] for i, n in enumerate(lengths)]
        return [ids], merged, {}, data
    return build


SOURCES = {"explicit": _explicit, "masking_concat": _masking_concat,
           "embedding_add": _embedding_merge(layers.Add), "embedding_concat": _embedding_merge(layers.Concatenate)}


def _prefix_model(rnn, width):
    """The same layer (same weights) on an unpadded sequence, with no mask anywhere."""
    inp = Input(shape=(None, width))
    return Model(inp, rnn(inp))


def _expected_row(ref, n, return_sequences, go_backwards, bidirectional):
    """What the padded row must hold: the prefix result, and Keras' values on the masked steps."""
    if not return_sequences:
        return ref
    pad = T - n
    if go_backwards:  # processing order: the masked tail comes first, before any state: zeros
        return np.concatenate([np.zeros((pad, ref.shape[-1])), ref])
    if bidirectional:  # both directions output zeros on masked steps (zero_output_for_mask)
        return np.concatenate([ref, np.zeros((pad, ref.shape[-1]))])
    return np.concatenate([ref, np.repeat(ref[-1:], pad, axis=0)])  # a masked step repeats the last output


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("return_sequences,go_backwards", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_padded_masked_sequence_predicts_its_prefix(kind, return_sequences, go_backwards, source):
    rng = np.random.default_rng(1)
    inputs, seq, kwargs, data = SOURCES[source](rng)
    rnn = _rnn(kind, return_sequences, go_backwards)
    model = Model(inputs, rnn(seq, **kwargs))
    _randomize(rnn)
    feeds, prefixes = data(LENGTHS)
    out = model.predict(feeds, verbose=0)
    reference = _prefix_model(rnn, prefixes[0].shape[-1])
    for i, prefix in enumerate(prefixes):
        ref = reference.predict(prefix[None], verbose=0)[0]
        want = _expected_row(ref, len(prefix), return_sequences, go_backwards, kind == "Bidirectional")
        np.testing.assert_allclose(out[i], want, rtol=1e-5, atol=1e-6, err_msg=f"row {i} (length {len(prefix)})")
    # The test can fail: the unmasked layer on the padded row gives something else.
    padded = np.concatenate([prefixes[0], np.full((T - len(prefixes[0]), prefixes[0].shape[-1]), 0.7, np.float32)])
    assert not np.allclose(reference.predict(padded[None], verbose=0)[0][:len(out[0])], out[0], atol=1e-4)


def _sgd_step(model, feeds, target):
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="mse")
    model.train_on_batch(feeds, target)


@pytest.mark.parametrize("source", ["explicit", "masking_concat", "embedding_add"])
@pytest.mark.parametrize("return_sequences,go_backwards", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("kind", KINDS)
def test_one_sgd_step_on_padded_sequences_equals_the_prefix_steps(kind, return_sequences, go_backwards, source):
    """Mean-loss SGD is linear in the gradient: one step on a batch of padded rows must land on the
    average of the one-row steps taken on each unpadded prefix. A sequence output is averaged over
    its kept steps (masked GlobalAveragePooling1D), so the loss sees only the prefix too."""
    rng = np.random.default_rng(2)
    inputs, seq, kwargs, data = SOURCES[source](rng)
    rnn = _rnn(kind, return_sequences, go_backwards)
    y = rnn(seq, **kwargs)
    model = Model(inputs, layers.GlobalAveragePooling1D()(y) if return_sequences else y)
    _randomize(rnn)
    start = rnn.get_weights()
    lengths = (3, 5)
    feeds, prefixes = data(lengths)
    target = rng.normal(size=(len(lengths), model.outputs[0].shape[-1])).astype(np.float32)
    _sgd_step(model, feeds, target)
    stepped = rnn.get_weights()

    want = _prefix_steps(kind, return_sequences, go_backwards, start, prefixes, target)
    for got, w, w0 in zip(stepped, want, start):
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-6)
    assert any(not np.allclose(g, w0, atol=1e-4) for g, w0 in zip(stepped, start))  # the step moved the weights


def _prefix_steps(kind, return_sequences, go_backwards, start, prefixes, target):
    """Average over rows of the weights after one SGD step on that row's unpadded prefix alone."""
    results = []
    for i, prefix in enumerate(prefixes):
        twin = _rnn(kind, return_sequences, go_backwards)
        inp = Input(shape=(None, prefix.shape[-1]))
        z = twin(inp)
        model = Model(inp, layers.GlobalAveragePooling1D()(z) if return_sequences else z)
        twin.set_weights(start)
        _sgd_step(model, prefix[None], target[i:i + 1])
        results.append(twin.get_weights())
    return [np.mean(ws, axis=0) for ws in zip(*results)]


@pytest.mark.parametrize("wrap", ["Bidirectional", "TimeDistributed"])
def test_a_wrapper_reads_its_trained_weights(wrap):
    """The wrapped layer owns the weights: the wrapper's get_weights must see the trained values."""
    inp = Input(shape=(4, 2))
    wrapper = layers.Bidirectional(layers.LSTM(2)) if wrap == "Bidirectional" else layers.TimeDistributed(layers.Dense(2))
    model = Model(inp, wrapper(inp))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="mse")
    model.train_on_batch(np.ones((2, 4, 2)), np.ones((2,) + model.outputs[0].shape[1:]))
    for got, want in zip(wrapper.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------- pooling and batch norm
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_average_pooling_1d_with_an_explicit_mask(data_format):
    """Keras: sum(x * mask) / sum(mask) over the steps; the mask is (batch, steps) in both layouts."""
    rng = np.random.default_rng(3)
    shape = (T, F) if data_format == "channels_last" else (F, T)
    x_in, m_in = Input(shape=shape), Input(shape=(T,), dtype="float32")
    model = Model([x_in, m_in], layers.GlobalAveragePooling1D(data_format=data_format)(x_in, mask=m_in))
    x = rng.normal(size=(4,) + shape).astype(np.float32)
    m = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1], [1, 0, 1, 0, 1]], np.float32)
    steps = x if data_format == "channels_last" else x.transpose(0, 2, 1)
    want = (steps * m[..., None]).sum(1) / m.sum(1, keepdims=True)
    steps[m == 0] = np.nan  # padding under the mask is selected away (Keras uses where), even NaN
    np.testing.assert_allclose(model.predict([x, m], verbose=0), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_value", [0.0, 0.1, 1.0])
def test_batch_normalization_moving_stats_ignore_masked_steps(mask_value):
    """Keras' own test (batch_normalization_test.test_bachnorm_ignore_masked_values): the moving
    statistics come from the kept steps only, [1.5, 5.0] and [0.25, 0.0]."""
    padded = np.array([[[1, 5], [2, 5], [mask_value] * 2, [mask_value] * 2] for _ in range(10)], np.float32)
    inputs = Input((None, 2))
    norm = layers.BatchNormalization(momentum=0.0)
    model = Model(inputs, norm(layers.Masking(mask_value=mask_value)(inputs)))
    model.compile("rmsprop", loss="mse")
    model.fit(padded, padded, batch_size=10, epochs=5, verbose=0)
    np.testing.assert_allclose(model.get_weights()[2], [1.5, 5.0], rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[3], [0.25, 0.0], atol=1e-6)


def test_batch_normalization_moments_weighted_by_an_explicit_mask():
    """Keras 3's masked moments: mask-weighted mean and variance (denominators sum(w) + 1e-7), folded
    into the moving statistics with the momentum; the mask passes through to the output."""
    rng = np.random.default_rng(4)
    x_in, m_in = Input(shape=(T, F)), Input(shape=(T,), dtype="bool")
    norm = layers.BatchNormalization(momentum=0.5)
    y = norm(x_in, mask=m_in)
    assert y._mask is not None
    model = Model([x_in, m_in], y)
    x = rng.normal(2.0, 3.0, size=(3, T, F)).astype(np.float32)
    m = rng.random((3, T)) > 0.4
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    model.train_on_batch([x, m], np.zeros_like(x))
    w = m[..., None].astype(np.float64)
    count = w.sum((0, 1)) + 1e-7
    mean = (x * w).sum((0, 1)) / count
    var = (((x - mean) * w) ** 2).sum((0, 1)) / count
    gamma, beta, moving_mean, moving_var = norm.get_weights()
    np.testing.assert_allclose(moving_mean, 0.5 * 0.0 + 0.5 * mean, rtol=1e-5)
    np.testing.assert_allclose(moving_var, 0.5 * 1.0 + 0.5 * var, rtol=1e-5)


def test_batch_normalization_fully_masked_batch_gives_zeros():
    """Keras' test_input_fully_masked: zero weights -> mean 0, variance 0, output 0 (no NaN)."""
    x_in, m_in = Input(shape=(5,)), Input(shape=(), dtype="float32")
    model = Model([x_in, m_in], layers.BatchNormalization(center=False, scale=False)(x_in, mask=m_in))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    loss = model.train_on_batch([np.zeros((4, 5)), np.zeros((4,))], np.zeros((4, 5)))
    assert loss == 0.0


# ---------------------------------------------------------------------------------------- merge layers
def _masked_pair(rng, shape=(3, T, F)):
    """Two Masking outputs with different masked steps (Masking zeroes its masked steps)."""
    xa, xc = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
    xa[0, 1], xa[1, 3:], xc[0, 1:3], xc[2, 4] = 0, 0, 0, 0
    return xa, xc, xa.any(-1), xc.any(-1)


def _keras_extremum(op, xs, masks):
    """Keras 3's Merge._apply_merge_op_and_or_mask in numpy."""
    out, out_mask = xs[0], None if masks[0] is None else np.broadcast_to(masks[0][..., None], xs[0].shape)
    for x, m in zip(xs[1:], masks[1:]):
        m = None if m is None else np.broadcast_to(m[..., None], x.shape)
        if m is not None:
            x = np.where(m, x, out)
        if out_mask is not None:
            out = np.where(out_mask, out, x)
        out_mask = out_mask | m if m is not None and out_mask is not None else None
        out = op(out, x)
    return out


def _keras_multiply(xs, masks):
    """Keras 3's Multiply._merge_function in numpy."""
    out, any_kept = 1.0, None
    for x, m in zip(xs, masks):
        if m is not None:
            x = np.where(m[..., None], x, 1.0)
            any_kept = m if any_kept is None else any_kept | m
        out = out * x
    return np.where(any_kept[..., None], out, 0.0) if all(m is not None for m in masks) else out


@pytest.mark.parametrize("second_masked", [True, False])
@pytest.mark.parametrize("merge", ["Add", "Subtract", "Average", "Multiply", "Maximum", "Minimum"])
def test_elementwise_merge_values_and_mask_follow_keras(merge, second_masked):
    rng = np.random.default_rng(5)
    xa, xc, ma, mc = _masked_pair(rng)
    a, c = Input(shape=(T, F)), Input(shape=(T, F))
    merged = getattr(layers, merge)()([layers.Masking()(a), layers.Masking()(c) if second_masked else c])
    # The merged mask reaches a GlobalAveragePooling1D: Keras ORs the masks, and drops the mask when an input has none.
    model = Model([a, c], [merged, layers.GlobalAveragePooling1D()(merged)])
    got, pooled = model.predict([xa, xc], verbose=0)
    masks = [ma, mc if second_masked else None]
    want = {"Add": lambda: xa + xc, "Subtract": lambda: xa - xc, "Average": lambda: (xa + xc) / 2,
            "Multiply": lambda: _keras_multiply([xa, xc], masks),
            "Maximum": lambda: _keras_extremum(np.maximum, [xa, xc], masks),
            "Minimum": lambda: _keras_extremum(np.minimum, [xa, xc], masks)}[merge]()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    keep = (ma | mc) if second_masked else np.ones_like(ma)
    np.testing.assert_allclose(pooled, (want * keep[..., None]).sum(1) / keep.sum(1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("second_masked", [True, False])
def test_concatenate_mask_reaches_an_lstm(axis, second_masked):
    """Keras 3's Concatenate.compute_mask: masks broadcast over their inputs (all True where missing),
    concatenated on the axis, any() over the last axis. The LSTM skips exactly the masked steps, so
    each row equals the same LSTM run on its kept steps alone."""
    rng = np.random.default_rng(6)
    xa, xc, ma, mc = _masked_pair(rng)
    a, c = Input(shape=(T, F)), Input(shape=(T, F))
    lstm = _rnn("LSTM", False, False)
    merged = layers.Concatenate(axis=axis)([layers.Masking()(a), layers.Masking()(c) if second_masked else c])
    model = Model([a, c], lstm(merged))
    _randomize(lstm)
    got = model.predict([xa, xc], verbose=0)
    mc_or_all = mc if second_masked else np.ones_like(mc)
    if axis == 1:
        feats, keep = np.concatenate([xa, xc], axis=1), np.concatenate([ma, mc_or_all], axis=1)
    else:
        feats, keep = np.concatenate([xa, xc], axis=-1), ma | mc_or_all
    reference = _prefix_model(lstm, feats.shape[-1])
    for i in range(len(feats)):
        want = reference.predict(feats[i][keep[i]][None], verbose=0)[0]
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6, err_msg=f"row {i}")


# ---------------------------------------------------------------------------------------- compute_mask, supports_masking
def test_compute_mask_on_arrays_follows_keras():
    ids = np.array([[3, 0, 1], [0, 0, 2]])
    np.testing.assert_array_equal(layers.Embedding(5, 2, mask_zero=True).compute_mask(ids), ids != 0)
    assert layers.Embedding(5, 2).compute_mask(ids) is None
    x = np.array([[[1.0, 2.0], [2.0, 2.0], [2.0, 0.5]]])
    np.testing.assert_array_equal(layers.Masking(mask_value=2.0).compute_mask(x), [[True, False, True]])
    m1, m2 = np.array([[True, False, False]]), np.array([[False, False, True]])
    xs = [np.zeros((1, 3, 2)), np.zeros((1, 3, 2))]
    for merge in (layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum):
        np.testing.assert_array_equal(merge().compute_mask(xs, [m1, m2]), [[True, False, True]])
        assert merge().compute_mask(xs, [m1, None]) is None
        assert merge().compute_mask(xs, None) is None
    np.testing.assert_array_equal(layers.Concatenate().compute_mask(xs, [m1, m2]), [[True, False, True]])
    np.testing.assert_array_equal(layers.Concatenate().compute_mask(xs, [m1, None]), [[True, True, True]])
    np.testing.assert_array_equal(layers.Concatenate(axis=1).compute_mask(xs, [m1, None]),
                                  [[True, False, False, True, True, True]])
    assert layers.Concatenate().compute_mask(xs, [None, None]) is None
    np.testing.assert_array_equal(layers.LSTM(2, return_sequences=True).compute_mask(xs[0], m1), m1)
    assert layers.LSTM(2).compute_mask(xs[0], m1) is None
    states = layers.GRU(2, return_sequences=True, return_state=True).compute_mask(xs[0], m1)
    assert len(states) == 2 and states[0] is m1 and states[1] is None
    assert layers.GlobalAveragePooling1D().compute_mask(xs[0], m1) is None
    for layer in (layers.Dense(2), layers.Activation("relu"), layers.Dropout(0.5), layers.BatchNormalization()):
        assert layer.compute_mask(xs[0], m1) is m1


@pytest.mark.parametrize("merge", [layers.Add, layers.Concatenate])
def test_compute_mask_rejects_masks_that_are_not_one_per_input(merge):
    xs = [np.zeros((1, 3, 2)), np.zeros((1, 3, 2))]
    with pytest.raises(ValueError, match="one mask"):
        merge().compute_mask(xs, [np.ones((1, 3), bool)])
    with pytest.raises(ValueError, match="list"):
        merge().compute_mask(xs, np.ones((1, 3), bool))


# Keras 3.15's values (keras/src/layers/*: `self.supports_masking = ...`, or an overridden compute_mask).
SUPPORTS_MASKING = [
    (lambda: layers.Dense(2), True), (lambda: layers.Activation("relu"), True), (lambda: layers.Dropout(0.1), True),
    (lambda: layers.Embedding(5, 2, mask_zero=True), True), (lambda: layers.Embedding(5, 2), False),
    (lambda: layers.Masking(), True), (lambda: layers.BatchNormalization(), True), (lambda: layers.Add(), True),
    (lambda: layers.Multiply(), True), (lambda: layers.Concatenate(), True), (lambda: layers.LSTM(2), True),
    (lambda: layers.GRU(2), True), (lambda: layers.SimpleRNN(2), True),
    (lambda: layers.Bidirectional(layers.LSTM(2)), True), (lambda: layers.TimeDistributed(layers.Dense(2)), True),
    (lambda: layers.GlobalAveragePooling1D(), True), (lambda: layers.GlobalMaxPooling1D(), False),
    (lambda: layers.Flatten(), False), (lambda: layers.Reshape((2,)), False), (lambda: layers.RepeatVector(2), False),
    (lambda: layers.Permute((2, 1)), False), (lambda: layers.Conv1D(2, 2), False),
    (lambda: layers.MaxPooling1D(), False),
]


@pytest.mark.parametrize("make,expected", SUPPORTS_MASKING)
def test_supports_masking_matches_keras(make, expected):
    assert make().supports_masking is expected


def test_a_layer_without_masking_support_drops_the_mask():
    """Keras: Flatten / Conv1D / GlobalMaxPooling1D do not support masking, so what follows sees no mask
    (and Keras warns that the mask stops there)."""
    ids = Input(shape=(T,), dtype="int32")
    emb = layers.Embedding(VOCAB, F, mask_zero=True)
    lstm = _rnn("LSTM", False, False)
    with pytest.warns(UserWarning, match="does not support masking, so the mask stops here"):
        conv = layers.Conv1D(F, 1)(emb(ids))
    model = Model(ids, lstm(conv))
    _randomize(lstm)
    x = np.array([[1, 2, 0, 0, 0]], np.int32)
    conv_w = model.layers[2].get_weights()
    feats = emb.get_weights()[0][x] @ conv_w[0][0] + conv_w[1]
    want = _prefix_model(lstm, F).predict(feats.astype(np.float32), verbose=0)   # all five steps, none skipped
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------- wrappers, errors, export
def test_time_distributed_passes_the_folded_mask_to_an_inner_lstm():
    """Keras: TimeDistributed hands each step's slice of the mask to a wrapped layer that takes one."""
    rng = np.random.default_rng(7)
    inp = Input(shape=(2, T, F))
    lstm = _rnn("LSTM", False, False)
    wrapped = layers.TimeDistributed(lstm)
    model = Model(inp, wrapped(layers.Masking()(inp)))
    _randomize(lstm)
    lengths = np.array([[3, 5], [1, 4]])
    x = rng.normal(size=(2, 2, T, F)).astype(np.float32) * (np.arange(T) < lengths[..., None])[..., None]
    got = model.predict(x, verbose=0)
    reference = _prefix_model(lstm, F)
    for i in range(2):
        for t in range(2):
            want = reference.predict(x[i, t, :lengths[i, t]][None], verbose=0)[0]
            np.testing.assert_allclose(got[i, t], want, rtol=1e-5, atol=1e-6)


def test_mask_argument_on_a_layer_that_reads_no_mask_is_a_type_error():
    x, m = Input(shape=(T, F)), Input(shape=(T,), dtype="bool")
    dense = layers.Dense(2)
    with pytest.raises(TypeError, match="does not take a mask"):
        dense(x, mask=m)
    assert not dense.built  # raised before anything changed


def test_mask_argument_must_be_a_symbolic_tensor_of_the_step_shape():
    x = Input(shape=(T, F))
    lstm = layers.LSTM(2)
    with pytest.raises(TypeError, match="symbolic boolean"):
        lstm(x, mask=np.ones((1, T), bool))
    with pytest.raises(ValueError, match=r"mask must have the shape \(None, 5\)"):
        lstm(x, mask=Input(shape=(T + 1,), dtype="bool"))
    with pytest.raises(ValueError, match="mask must have the shape"):
        lstm(x, mask=Input(shape=(T, F), dtype="bool"))
    assert not lstm.built and not lstm._inbound_nodes


def test_explicit_mask_model_exports_and_runs_in_plain_onnxruntime(tmp_path):
    import onnxruntime as ort

    rng = np.random.default_rng(8)
    x_in, m_in = Input(shape=(None, F), name="x"), Input(shape=(None,), dtype="bool", name="m")
    lstm = _rnn("GRU", True, False)
    model = Model([x_in, m_in], lstm(x_in, mask=m_in))
    _randomize(lstm)
    model.export(str(tmp_path / "masked.onnx"))
    x = rng.normal(size=(2, T, F)).astype(np.float32)
    m = np.arange(T)[None, :] < np.array([[2], [5]])
    sess = ort.InferenceSession(str(tmp_path / "masked.onnx"), providers=["CPUExecutionProvider"])
    (plain,) = sess.run(None, {"x": x, "m": m})
    np.testing.assert_allclose(plain, model.predict([x, m], verbose=0), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------- nested models
def _ids(lengths):
    rng = np.random.default_rng(9)
    x = np.zeros((len(lengths), T), np.int32)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.integers(1, VOCAB, n)
    return x


def _check_prefixes(got, lstm, feats, lengths):
    reference = _prefix_model(lstm, feats.shape[-1])
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(got[i], reference.predict(feats[i:i + 1, :n], verbose=0)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("nesting", ["functional", "sequential"])
def test_a_nested_models_output_mask_reaches_the_outer_lstm(nesting):
    """Keras runs a nested model's layers with masks, so its outputs carry the masks they made."""
    emb = layers.Embedding(VOCAB, F, mask_zero=True)
    if nesting == "functional":
        inner_ids = Input(shape=(T,), dtype="int32")
        encoder = Model(inner_ids, layers.Dense(F)(emb(inner_ids)))  # Dense passes the mask on
    else:
        encoder = Sequential([Input(shape=(T,), dtype="int32"), emb, layers.Dense(F)])
    ids = Input(shape=(T,), dtype="int32")
    lstm = _rnn("LSTM", False, False)
    model = Model(ids, lstm(encoder(ids)))
    _randomize(lstm)
    lengths = (2, 5, 4)
    x = _ids(lengths)
    kernel, bias = encoder.layers[-1].get_weights()
    feats = (emb.get_weights()[0][x] @ kernel + bias).astype(np.float32)
    _check_prefixes(model.predict(x, verbose=0), lstm, feats, lengths)


def test_an_outer_mask_passes_through_a_nested_model_of_dense_layers():
    inner_in = Input(shape=(T, F))
    dense = layers.Dense(F)
    block = Model(inner_in, dense(inner_in))
    ids = Input(shape=(T,), dtype="int32")
    emb = layers.Embedding(VOCAB, F, mask_zero=True)
    lstm = _rnn("GRU", False, False)
    model = Model(ids, lstm(block(emb(ids))))
    _randomize(lstm)
    lengths = (3, 1)
    x = _ids(lengths)
    kernel, bias = dense.get_weights()
    _check_prefixes(model.predict(x, verbose=0), lstm, (emb.get_weights()[0][x] @ kernel + bias).astype(np.float32),
                    lengths)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("kind", ["LSTM", "Bidirectional"])
def test_layers_inside_a_nested_model_read_the_mask_it_is_called_with(kind, depth):
    """Keras hands a nested model the masks of the tensors it is called on (Functional.call(mask=)):
    a recurrent layer inside skips the padded steps, in predict and in one SGD step."""
    rnn, dense = _rnn(kind, False, False), layers.Dense(F)
    inner_in = Input(shape=(T, F))
    block = Model(inner_in, rnn(dense(inner_in)))
    if depth == 2:
        outer_in = Input(shape=(T, F))
        block = Model(outer_in, block(outer_in))
    ids = Input(shape=(T,), dtype="int32")
    emb = layers.Embedding(VOCAB, F, mask_zero=True)
    model = Model(ids, block(emb(ids)))
    _randomize(rnn)
    lengths = (2, 5, 1)
    x = _ids(lengths)
    kernel, bias = dense.get_weights()
    feats = (emb.get_weights()[0][x] @ kernel + bias).astype(np.float32)
    _check_prefixes(model.predict(x, verbose=0), rnn, feats, lengths)

    start, target = rnn.get_weights(), np.random.default_rng(10).normal(size=(3, UNITS * (1 + (kind == "Bidirectional"))))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="mse")
    model.train_on_batch(x, target.astype(np.float32))
    want = _prefix_steps(kind, False, False, start, [feats[i, :n] for i, n in enumerate(lengths)], target)
    for got, w in zip(rnn.get_weights(), want):
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-6)


def test_a_mask_made_inside_a_nested_model_from_its_own_tensors_is_a_clear_error_only_when_read():
    inner_in = Input(shape=(T, F))
    block = Model(inner_in, layers.Masking()(layers.Dense(F)(inner_in)), name="block")
    x = Input(shape=(T, F))
    y = block(x)
    Model(x, layers.Dense(2)(y))  # nothing reads the mask: fine
    with pytest.raises(ValueError, match="output 0 of the nested model 'block'"):
        layers.LSTM(2)(y)


def test_a_model_called_with_an_explicit_mask_hands_it_to_its_layers():
    """Keras' Functional.call(inputs, mask=...): the mask is the first input's."""
    inner_in = Input(shape=(T, F))
    rnn = _rnn("GRU", False, False)
    block = Model(inner_in, rnn(inner_in))
    x_in, m_in = Input(shape=(T, F)), Input(shape=(T,), dtype="bool")
    model = Model([x_in, m_in], block(x_in, mask=m_in))
    _randomize(rnn)
    feeds, prefixes = _explicit(np.random.default_rng(11))[3](LENGTHS)
    got = model.predict(feeds, verbose=0)
    reference = _prefix_model(rnn, F)
    for i, prefix in enumerate(prefixes):
        np.testing.assert_allclose(got[i], reference.predict(prefix[None], verbose=0)[0], rtol=1e-5, atol=1e-6)


def test_time_distributed_takes_an_explicit_mask_for_its_inner_layer():
    rng = np.random.default_rng(12)
    x_in, m_in = Input(shape=(2, T, F)), Input(shape=(2, T), dtype="bool")
    lstm = _rnn("SimpleRNN", False, False)
    model = Model([x_in, m_in], layers.TimeDistributed(lstm)(x_in, mask=m_in))
    _randomize(lstm)
    lengths = np.array([[3, 5], [1, 4]])
    x = rng.normal(size=(2, 2, T, F)).astype(np.float32)  # garbage after each length: the mask decides
    got = model.predict([x, np.arange(T) < lengths[..., None]], verbose=0)
    reference = _prefix_model(lstm, F)
    for i in range(2):
        for t in range(2):
            want = reference.predict(x[i, t, :lengths[i, t]][None], verbose=0)[0]
            np.testing.assert_allclose(got[i, t], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_non_finite_padding_under_a_mask_does_not_leak_into_predict(kind):
    """Keras selects the previous state on a masked step, so NaN / inf padding never reaches the output."""
    x_in, m_in = Input(shape=(T, F)), Input(shape=(T,), dtype="bool")
    rnn = _rnn(kind, True, False)
    model = Model([x_in, m_in], rnn(x_in, mask=m_in))
    _randomize(rnn)
    feeds, prefixes = _explicit(np.random.default_rng(13))[3](LENGTHS)
    x, keep = feeds
    x[~keep] = np.nan
    x[0, -1, 0] = np.inf
    got = model.predict([x, keep], verbose=0)
    reference = _prefix_model(rnn, F)
    for i, prefix in enumerate(prefixes):
        ref = reference.predict(prefix[None], verbose=0)[0]
        want = _expected_row(ref, len(prefix), True, False, kind == "Bidirectional")
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-6)


def test_compute_mask_on_symbolic_tensors_gives_a_boolean_mask_of_the_step_shape():
    ids = Input(shape=(4,), dtype="int32")
    mask = layers.Embedding(5, 2, mask_zero=True).compute_mask(ids)
    assert (mask.shape, mask.dtype) == ((None, 4), "bool")
    a, c = Input(shape=(4, 2)), Input(shape=(3, 2))
    masked = layers.Masking()(a)
    joined = layers.Concatenate(axis=1).compute_mask([masked, c], [masked._mask, None])
    assert joined.shape == (None, 7)
    assert layers.Masking().compute_mask(c).shape == (None, 3)


def test_time_distributed_model_gets_the_folded_mask_and_a_wrapped_dense_passes_it_on():
    """TimeDistributed(model): each step's slice of the mask reaches the model's recurrent layer; the
    output keeps the input's (batch, time) mask, so an outer LSTM skips the masked outer steps."""
    rng = np.random.default_rng(14)
    step_in = Input(shape=(T, F))
    inner = _rnn("GRU", False, False)
    outer = _rnn("LSTM", False, False)
    model_in = Input(shape=(T, T, F))
    masked = layers.Masking()(model_in)  # (N, T, T) mask: outer step, inner step
    encoded = layers.TimeDistributed(Model(step_in, inner(step_in)))(masked)
    model = Model(model_in, outer(layers.TimeDistributed(layers.Dense(F))(encoded)))
    _randomize(inner)
    _randomize(outer, seed=1)
    inner_lengths = np.array([[2, 5, 1, 0, 0], [4, 4, 3, 2, 1]])  # an outer step is masked when all its steps are
    x = rng.normal(size=(2, T, T, F)).astype(np.float32) * (np.arange(T) < inner_lengths[..., None])[..., None]
    got = model.predict(x, verbose=0)
    inner_ref = _prefix_model(inner, F)
    dense_kernel, dense_bias = model.layers[-2].get_weights()
    outer_ref = _prefix_model(outer, F)
    for i in range(2):
        steps = [inner_ref.predict(x[i, t, :n][None], verbose=0)[0] for t, n in enumerate(inner_lengths[i]) if n]
        feats = (np.stack(steps) @ dense_kernel + dense_bias).astype(np.float32)
        np.testing.assert_allclose(got[i], outer_ref.predict(feats[None], verbose=0)[0], rtol=1e-5, atol=1e-6)


def test_time_distributed_output_masks():
    """Keras 2's rule: the wrapped layer's own mask, else the input's mask reduced to (batch, time)."""
    ids = np.array([[[1, 0, 2], [0, 0, 0]]])
    x, mask = np.zeros((1, 2, 3, 4)), ids != 0
    embed = layers.TimeDistributed(layers.Embedding(5, 2, mask_zero=True))
    np.testing.assert_array_equal(embed.compute_mask(ids), mask)
    np.testing.assert_array_equal(layers.TimeDistributed(layers.LSTM(2)).compute_mask(x, mask), [[True, False]])
    np.testing.assert_array_equal(layers.TimeDistributed(layers.LSTM(2, return_sequences=True)).compute_mask(x, mask),
                                  mask)
    assert layers.TimeDistributed(layers.Dense(2)).compute_mask(x, None) is None
