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

from fgc import Input, Model, layers, optimizers

T, F, UNITS, VOCAB = 5, 3, 3, 9
LENGTHS = (3, 5, 1)  # one sequence per row of the batch: padded, full length, a single step
KINDS = ("LSTM", "GRU", "SimpleRNN", "Bidirectional")
# (return_sequences, go_backwards); Keras returns a go_backwards sequence in processing order.
DIRECTIONS = [(False, False), (True, False), (False, True), (True, True)]


def _rnn(kind, return_sequences, go_backwards, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "Bidirectional":
        layer = layers.Bidirectional(layers.LSTM(UNITS, return_sequences=return_sequences, go_backwards=go_backwards))
    else:
        layer = getattr(layers, kind)(UNITS, return_sequences=return_sequences, go_backwards=go_backwards)
    layer._noise = rng  # weights get noise once built (biases start at zero)
    return layer


def _randomize(layer):
    layer.set_weights([(w + layer._noise.normal(0, 0.4, w.shape)).astype(np.float32) for w in layer.get_weights()])


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
