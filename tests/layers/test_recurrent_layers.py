"""SimpleRNN, LSTM, GRU and Bidirectional against numpy written from the Keras 3 formulas.

Inference runs ONNX's native RNN/LSTM/GRU ops, training (and masked inputs) a Scan over the cell:
both forms are checked against the same references, against each other, and the Scan's gradient
against central finite differences of ``evaluate``.
"""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fgc
from fgc import Input, Model, layers


# ---------------------------------------------------------------------------------------- numpy references
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACT = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda x: np.maximum(x, 0.0), "linear": lambda x: x,
       "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)}


def rnn_ref(kind, x, weights, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
            go_backwards=False, mask=None):
    """(sequence in processing order, last h, last c) for Keras 3 SimpleRNN / LSTM / GRU, in float64.

    ``weights`` are Keras' [kernel, recurrent_kernel(, bias)]; LSTM columns are gates i, f, c, o; GRU z, r, h
    with bias (2, 3u) (input, recurrent) when reset_after. A masked step keeps the previous states, so its
    output repeats the previous output (zeros before the first kept step)."""
    x = np.asarray(x, np.float64)
    kernel, rec = (np.asarray(w, np.float64) for w in weights[:2])
    bias = np.asarray(weights[2], np.float64) if len(weights) > 2 else None
    act, ract = ACT[activation], ACT[recurrent_activation]
    n, t, _ = x.shape
    u = rec.shape[0]
    h, c = np.zeros((n, u)), np.zeros((n, u))
    outs = []
    for s in (range(t - 1, -1, -1) if go_backwards else range(t)):
        xt = x[:, s]
        h_new, c_new = h, c
        if kind == "SimpleRNN":
            h_new = act(xt @ kernel + h @ rec + (0 if bias is None else bias))
        elif kind == "LSTM":
            i, f, g, o = np.split(xt @ kernel + h @ rec + (0 if bias is None else bias), 4, axis=-1)
            c_new = ract(f) * c + ract(i) * act(g)
            h_new = ract(o) * act(c_new)
        elif reset_after:
            bx, bh = (0, 0) if bias is None else (bias[0], bias[1])
            xz, xr, xh = np.split(xt @ kernel + bx, 3, axis=-1)
            hz, hr, hh = np.split(h @ rec + bh, 3, axis=-1)
            z, r = ract(xz + hz), ract(xr + hr)
            h_new = z * h + (1 - z) * act(xh + r * hh)
        else:
            xz, xr, xh = np.split(xt @ kernel + (0 if bias is None else bias), 3, axis=-1)
            z, r = ract(xz + h @ rec[:, :u]), ract(xr + h @ rec[:, u:2 * u])
            h_new = z * h + (1 - z) * act(xh + (r * h) @ rec[:, 2 * u:])
        if mask is not None:
            keep = mask[:, s][:, None].astype(bool)
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
        h, c = h_new, c_new
        outs.append(h)
    return np.stack(outs, axis=1), h, c


def _ref_kwargs(kw):
    return {k: v for k, v in kw.items() if k in ("activation", "recurrent_activation", "reset_after", "go_backwards")}


def _randomize(model, rng, scale=0.4):
    """Non-trivial weights (biases start at zero): add noise to every weight."""
    ws = [(w + rng.normal(0.0, scale, w.shape)).astype(np.float32) for w in model.get_weights()]
    model.set_weights(ws)
    return ws


def _close(actual, expected, tol=2e-5):
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------- forward numerics
FORWARD_CASES = [
    ("SimpleRNN", {}),
    ("SimpleRNN", dict(activation="relu")),
    ("SimpleRNN", dict(go_backwards=True)),
    ("LSTM", {}),
    ("LSTM", dict(unit_forget_bias=False)),
    ("LSTM", dict(go_backwards=True)),
    ("LSTM", dict(activation="relu")),
    ("LSTM", dict(recurrent_activation="hard_sigmoid")),
    ("LSTM", dict(use_bias=False)),
    ("GRU", {}),
    ("GRU", dict(reset_after=False)),
    ("GRU", dict(go_backwards=True)),
    ("GRU", dict(reset_after=False, go_backwards=True)),
    ("GRU", dict(activation="linear")),
    ("GRU", dict(use_bias=False)),
]


@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("kind, kw", FORWARD_CASES, ids=[f"{k}-{'-'.join(f'{a}={b}' for a, b in kw.items())}"
                                                          for k, kw in FORWARD_CASES])
def test_forward_matches_keras_formulas(kind, kw, return_sequences):
    rng = np.random.default_rng(0)
    inp = Input(shape=(None, 4))
    outs = getattr(layers, kind)(3, return_sequences=return_sequences, return_state=True, **kw)(inp)
    model = Model(inp, outs)
    ws = _randomize(model, rng)
    n_states = 2 if kind == "LSTM" else 1
    assert len(outs) == 1 + n_states
    for batch, steps in ((7, 5), (1, 2), (7, 3)):  # one session serves every batch size and sequence length
        x = rng.normal(size=(batch, steps, 4)).astype(np.float32)
        got = model.predict(x)
        seq, h, c = rnn_ref(kind, x, ws, **_ref_kwargs(kw))
        _close(got[0], seq if return_sequences else h)
        _close(got[1], h)
        if kind == "LSTM":
            _close(got[2], c)
    assert len(model._runners) == 1


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_go_backwards_returns_outputs_in_processing_order(kind):
    rng = np.random.default_rng(1)
    inp = Input(shape=(6, 2))
    fwd_layer = getattr(layers, kind)(3, return_sequences=True)
    bwd_layer = getattr(layers, kind)(3, return_sequences=True, go_backwards=True)
    model = Model(inp, [fwd_layer(inp), bwd_layer(inp)])
    bwd_layer.set_weights(fwd_layer.get_weights())
    x = rng.normal(size=(2, 6, 2)).astype(np.float32)
    fwd, bwd = model.predict(x)
    # going backwards over x is going forwards over x reversed; the outputs are NOT flipped back
    fwd_of_reversed = Model(inp, fwd_layer(inp)).predict(x[:, ::-1])
    _close(bwd, fwd_of_reversed)
    assert not np.allclose(bwd, fwd)


def test_keras_weight_layouts_and_initial_biases():
    inp = Input(shape=(None, 5))
    lstm, lstm_nf = layers.LSTM(3), layers.LSTM(3, unit_forget_bias=False)
    gru, gru_ra = layers.GRU(3, reset_after=False), layers.GRU(3)
    rnn = layers.SimpleRNN(3)
    for layer in (lstm, lstm_nf, gru, gru_ra, rnn):
        layer(inp)
    assert [w.shape for w in lstm.get_weights()] == [(5, 12), (3, 12), (12,)]
    np.testing.assert_array_equal(lstm.get_weights()[2], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # i, f, c, o
    np.testing.assert_array_equal(lstm_nf.get_weights()[2], np.zeros(12))
    assert [w.shape for w in gru.get_weights()] == [(5, 9), (3, 9), (9,)]
    assert [w.shape for w in gru_ra.get_weights()] == [(5, 9), (3, 9), (2, 9)]
    assert [w.shape for w in rnn.get_weights()] == [(5, 3), (3, 3), (3,)]
    rec = lstm.get_weights()[1]  # orthogonal: Keras initializes the whole (u, 4u) matrix at once
    np.testing.assert_allclose(rec @ rec.T, np.eye(3), atol=1e-5)


def test_dropout_is_inactive_at_inference():
    rng = np.random.default_rng(2)
    inp = Input(shape=(4, 3))
    layer = layers.LSTM(5, dropout=0.5, recurrent_dropout=0.5)
    model = Model(inp, layer(inp))
    ws = _randomize(model, rng)
    x = rng.normal(size=(3, 4, 3)).astype(np.float32)
    _close(model.predict(x), rnn_ref("LSTM", x, ws)[1])


# ---------------------------------------------------------------------------------------- masks
def _ids_with_padding(rng, n=7, t=6, vocab=10):
    ids = rng.integers(1, vocab, size=(n, t))
    ids[0, :2] = 0      # leading padding: zeros before the first kept step
    ids[1, 3:] = 0      # trailing padding: the last output repeats
    ids[2, 2] = 0       # a hole in the middle
    ids[3, :] = 0       # nothing kept at all
    return ids


@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("kind, kw", [("LSTM", {}), ("GRU", {}), ("GRU", dict(reset_after=False)),
                                      ("SimpleRNN", {})], ids=["LSTM", "GRU", "GRU-v1", "SimpleRNN"])
def test_embedding_mask_zero_skips_padded_steps(kind, kw, return_sequences, go_backwards):
    rng = np.random.default_rng(3)
    ids_in = Input(shape=(None,), dtype="int32")
    emb = layers.Embedding(10, 4, mask_zero=True)
    out = getattr(layers, kind)(3, return_sequences=return_sequences, go_backwards=go_backwards, **kw)(emb(ids_in))
    model = Model(ids_in, out)
    ws = _randomize(model, rng)
    for ids in (_ids_with_padding(rng), _ids_with_padding(rng, n=5, t=4)):
        got = model.predict(ids)
        seq, h, _ = rnn_ref(kind, ws[0][ids], ws[1:], mask=ids != 0, go_backwards=go_backwards, **_ref_kwargs(kw))
        _close(got, seq if return_sequences else h)
        if return_sequences and not go_backwards:
            np.testing.assert_array_equal(got[0, :2], 0.0)         # before the first kept step
            np.testing.assert_array_equal(got[3], 0.0)             # an all-padding row
            np.testing.assert_array_equal(got[2, 2], got[2, 1])    # a skipped step repeats the previous output
            np.testing.assert_array_equal(got[1, 3:], np.broadcast_to(got[1, 2], (ids.shape[1] - 3, 3)))


def test_masking_layer_feeds_its_mask_to_lstm():
    rng = np.random.default_rng(4)
    inp = Input(shape=(None, 4))
    out = layers.LSTM(3, return_sequences=True)(layers.Masking(mask_value=-1.0)(inp))
    model = Model(inp, out)
    ws = _randomize(model, rng)
    x = rng.normal(size=(4, 5, 4)).astype(np.float32)
    x[0, 1] = -1.0
    x[1, 3:] = -1.0
    x[2, 0, 0] = -1.0      # only one feature equals mask_value: the step is kept
    x[3, :2] = -1.0
    got = model.predict(x)
    seq, _, _ = rnn_ref("LSTM", x, ws, mask=(x != -1.0).any(-1))
    _close(got, seq)
    np.testing.assert_array_equal(got[0, 1], got[0, 0])
    np.testing.assert_array_equal(got[3, :2], 0.0)
    # without the Masking layer the -1 steps would count
    assert not np.allclose(got, rnn_ref("LSTM", x, ws)[0], atol=1e-3)


def test_mask_passes_through_a_sequence_returning_lstm_to_the_next_one():
    rng = np.random.default_rng(5)
    ids_in = Input(shape=(None,), dtype="int32")
    x = layers.Embedding(10, 4, mask_zero=True)(ids_in)
    x = layers.LSTM(3, return_sequences=True)(x)
    model = Model(ids_in, layers.GRU(2)(x))
    ws = _randomize(model, rng)
    ids = _ids_with_padding(rng)
    seq1, _, _ = rnn_ref("LSTM", ws[0][ids], ws[1:4], mask=ids != 0)
    _, h2, _ = rnn_ref("GRU", seq1, ws[4:], mask=ids != 0)
    _close(model.predict(ids), h2)


# ---------------------------------------------------------------------------------------- Bidirectional
def _merge(mode, f, b):
    return {"concat": lambda: np.concatenate([f, b], -1), "sum": lambda: f + b, "mul": lambda: f * b,
            "ave": lambda: (f + b) / 2, None: lambda: [f, b]}[mode]()


@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("kind, merge_mode", [("LSTM", "concat"), ("LSTM", "sum"), ("LSTM", "mul"), ("LSTM", "ave"),
                                              ("LSTM", None), ("GRU", "concat"), ("SimpleRNN", "ave"),
                                              ("GRU", None)])
def test_bidirectional_merge_modes(kind, merge_mode, return_sequences):
    rng = np.random.default_rng(6)
    inp = Input(shape=(None, 4))
    bidi = layers.Bidirectional(getattr(layers, kind)(3, return_sequences=return_sequences), merge_mode=merge_mode)
    model = Model(inp, bidi(inp))
    ws = _randomize(model, rng)
    k = len(ws) // 2
    for batch, steps in ((7, 5), (1, 3)):
        x = rng.normal(size=(batch, steps, 4)).astype(np.float32)
        seq_f, h_f, _ = rnn_ref(kind, x, ws[:k])
        seq_b, h_b, _ = rnn_ref(kind, x, ws[k:], go_backwards=True)
        # the backward sequence is flipped back to input positions before merging
        f, b = (seq_f, seq_b[:, ::-1]) if return_sequences else (h_f, h_b)
        expected = _merge(merge_mode, f, b)
        got = model.predict(x)
        if merge_mode is None:
            assert len(got) == 2
            _close(got[0], expected[0])
            _close(got[1], expected[1])
        else:
            _close(got, expected)
    assert len(model._runners) == 1


def test_bidirectional_return_state_and_weight_order():
    rng = np.random.default_rng(7)
    inp = Input(shape=(None, 4))
    bidi = layers.Bidirectional(layers.LSTM(3, return_state=True))
    outs = bidi(inp)
    assert [t.shape for t in outs] == [(None, 6)] + [(None, 3)] * 4
    model = Model(inp, outs)
    assert [w.shape for w in model.get_weights()] == [(4, 12), (3, 12), (12,)] * 2
    ws = _randomize(model, rng)
    x = rng.normal(size=(2, 5, 4)).astype(np.float32)
    y, hf, cf, hb, cb = model.predict(x)
    _, rhf, rcf = rnn_ref("LSTM", x, ws[:3])
    _, rhb, rcb = rnn_ref("LSTM", x, ws[3:], go_backwards=True)
    for got, ref in ((y, np.concatenate([rhf, rhb], -1)), (hf, rhf), (cf, rcf), (hb, rhb), (cb, rcb)):
        _close(got, ref)


def test_bidirectional_backward_copy_has_the_forward_configuration():
    bidi = layers.Bidirectional(layers.LSTM(3, unit_forget_bias=False, activation="relu", dropout=0.25,
                                            recurrent_dropout=0.5))
    bwd = bidi.backward_layer
    assert bwd.go_backwards and not bidi.forward_layer.go_backwards
    assert (bwd.unit_forget_bias, bwd.activation, bwd.dropout, bwd.recurrent_dropout) == (False, "relu", 0.25, 0.5)
    gru = layers.Bidirectional(layers.GRU(2, reset_after=False, recurrent_activation="hard_sigmoid")).backward_layer
    assert (gru.reset_after, gru.recurrent_activation) == (False, "hard_sigmoid")


@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
def test_bidirectional_honours_the_mask(return_sequences):
    """Keras 3: both directions skip masked steps; with return_sequences the masked steps output zeros."""
    rng = np.random.default_rng(8)
    ids_in = Input(shape=(None,), dtype="int32")
    emb = layers.Embedding(10, 4, mask_zero=True)(ids_in)
    model = Model(ids_in, layers.Bidirectional(layers.LSTM(3, return_sequences=return_sequences))(emb))
    ws = _randomize(model, rng)
    ids = _ids_with_padding(rng)
    x, keep = ws[0][ids], ids != 0
    seq_f, h_f, _ = rnn_ref("LSTM", x, ws[1:4], mask=keep)
    seq_b, h_b, _ = rnn_ref("LSTM", x, ws[4:], mask=keep, go_backwards=True)
    if return_sequences:
        expected = np.concatenate([seq_f, seq_b[:, ::-1]], -1) * keep[..., None]
    else:
        expected = np.concatenate([h_f, h_b], -1)
    _close(model.predict(ids), expected)


# ---------------------------------------------------------------------------------------- training == inference form
def _training_form_outputs(model, arrays):
    """Run the model's forward as the training pipeline lowers it (Scan), in plain onnxruntime."""
    from fgc.export.onnx import to_onnx
    from fgc.passes import PassManager, lowering_pipeline, optimization_pipeline

    graph = model.to_graph()
    PassManager(lowering_pipeline(training=True) + optimization_pipeline()).run(graph)
    ops = {graph.node(n)["op"] for n in graph.topo_order()}
    assert "Scan" in ops and not ops & {"LSTM", "GRU", "RNN"}
    proto = to_onnx(graph, params_as_inputs=False, param_values={w.path: w.numpy() for w in _variables(model)})
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {i.name: a for i, a in zip(sess.get_inputs(), arrays)}
    return sess.run(list(graph.output_names), feed)


def _variables(model):
    seen, out = set(), []
    for layer in model.layers:
        for w in layer.weights:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
    return out


TRAIN_FORM_CASES = [
    ("SimpleRNN", dict(return_sequences=True)),
    ("LSTM", dict(return_sequences=True, return_state=True)),
    ("LSTM", dict(go_backwards=True, return_sequences=True, return_state=True)),
    ("GRU", dict(return_state=True)),
    ("GRU", dict(reset_after=False, return_sequences=True, go_backwards=True)),
]


@pytest.mark.parametrize("kind, kw", TRAIN_FORM_CASES)
def test_training_form_equals_inference_form(kind, kw):
    rng = np.random.default_rng(9)
    inp = Input(shape=(None, 4))
    model = Model(inp, getattr(layers, kind)(3, **kw)(inp))
    _randomize(model, rng)
    assert any(op in model.ir() for op in (" = LSTM(", " = GRU(", " = RNN("))
    x = rng.normal(size=(7, 5, 4)).astype(np.float32)
    native = model.predict(x)
    native = native if isinstance(native, list) else [native]
    scanned = _training_form_outputs(model, [x])
    assert len(scanned) >= len(native)
    for a, b in zip(native, scanned):
        _close(a, b, tol=1e-5)


def test_training_form_equals_inference_form_for_bidirectional():
    rng = np.random.default_rng(10)
    inp = Input(shape=(None, 4))
    model = Model(inp, layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="sum")(inp))
    _randomize(model, rng)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    _close(model.predict(x), _training_form_outputs(model, [x])[0], tol=1e-5)


def test_train_on_batch_loss_equals_evaluate_loss():
    """train_on_batch reports the loss of the Scan forward; evaluate runs the native op."""
    rng = np.random.default_rng(11)
    ids_in = Input(shape=(None,), dtype="int32")
    aux = Input(shape=(None, 3))
    a = layers.LSTM(4)(layers.Embedding(20, 5)(ids_in))
    b = layers.GRU(4)(aux)
    model = Model([ids_in, aux], layers.Dense(2)(layers.concatenate([a, b])))
    _randomize(model, rng, scale=0.2)
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=0.0), loss="mse")
    x = [rng.integers(0, 20, size=(7, 6)), rng.normal(size=(7, 6, 3))]
    y = rng.normal(size=(7, 2))
    w0 = model.get_weights()
    train_loss = model.train_on_batch(x, y)
    for a_, b_ in zip(w0, model.get_weights()):
        np.testing.assert_array_equal(a_, b_)
    np.testing.assert_allclose(train_loss, model.evaluate(x, y, verbose=0), rtol=1e-5)


# ---------------------------------------------------------------------------------------- gradients through Scan
def _check_gradients(model, x, y, rng, eps=1e-2, tol=1e-2, loss="mse"):
    """SGD(lr=1) moves each weight by -grad; compare with central differences of evaluate along a random
    direction within each weight tensor (and on a few single entries)."""
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=1.0), loss=loss)
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    grads = [(a.astype(np.float64) - b) for a, b in zip(w0, model.get_weights())]

    def loss_at(ws):
        model.set_weights(ws)
        return float(model.evaluate(x, y, verbose=0, batch_size=len(y)))

    for k, g in enumerate(grads):
        if w0[k].dtype.kind != "f":
            continue
        direction = rng.normal(size=g.shape)
        direction /= np.linalg.norm(direction)
        plus = [w.copy() for w in w0]
        minus = [w.copy() for w in w0]
        plus[k] = (w0[k] + eps * direction).astype(np.float32)
        minus[k] = (w0[k] - eps * direction).astype(np.float32)
        fd = (loss_at(plus) - loss_at(minus)) / (2 * eps)
        analytic = float(np.sum(g * direction))
        assert abs(fd - analytic) <= tol * (abs(analytic) + 1e-2), (k, fd, analytic)
        for _ in range(2):
            idx = tuple(int(rng.integers(0, s)) for s in g.shape)
            plus, minus = [w.copy() for w in w0], [w.copy() for w in w0]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            fd = (loss_at(plus) - loss_at(minus)) / (2 * eps)
            assert abs(fd - g[idx]) <= tol * (abs(g[idx]) + 1e-2), (k, idx, fd, g[idx])
    model.set_weights(w0)
    return grads


GRAD_CASES = [
    ("SimpleRNN", dict(return_sequences=True)),
    ("LSTM", {}),
    ("LSTM", dict(dropout=0.0, recurrent_dropout=0.0)),
    ("LSTM", dict(go_backwards=True, return_sequences=True)),
    ("GRU", {}),
    ("GRU", dict(reset_after=False, return_sequences=True)),
]


# ------------------------------------------------------- the reverse loop's two forms (fgc/primitives/scan_grad.py)
@pytest.fixture(params=["vectorized", "in_loop"])
def reverse_loop_form(request, monkeypatch):
    """Force the run-time choice of the reverse Scan's form: its elementwise work vectorized over time
    outside the loop (a limit no size reaches) or kept in the loop (a limit every size reaches)."""
    from fgc.primitives import scan_grad

    limit = 1 << 62 if request.param == "vectorized" else 0
    monkeypatch.setattr(scan_grad, "LOOP_FROM_ELEMENTS", limit)
    monkeypatch.setattr(scan_grad, "POOLED_LOOP_FROM_ELEMENTS", limit)   # whatever the session's threads
    return request.param


@pytest.mark.parametrize("kind, kw", GRAD_CASES)
def test_gradients_through_scan(kind, kw, reverse_loop_form):
    rng = np.random.default_rng(12)
    inp = Input(shape=(None, 4))
    model = Model(inp, getattr(layers, kind)(3, **kw)(inp))
    _randomize(model, rng, scale=0.2)
    x = rng.normal(size=(4, 5, 4)).astype(np.float32)
    y = rng.normal(size=model.predict(x).shape).astype(np.float32)
    _check_gradients(model, x, y, rng)


def test_gradients_through_lstm_return_state():
    rng = np.random.default_rng(13)
    inp = Input(shape=(4, 4))  # a fixed length: Flatten then gives a known width
    seq, h, c = layers.LSTM(3, return_sequences=True, return_state=True)(inp)
    model = Model(inp, layers.concatenate([layers.Flatten()(seq), h, c]))
    _randomize(model, rng, scale=0.2)
    x = rng.normal(size=(3, 4, 4)).astype(np.float32)
    _check_gradients(model, x, rng.normal(size=(3, 18)).astype(np.float32), rng)


def test_gradients_through_bidirectional():
    rng = np.random.default_rng(14)
    inp = Input(shape=(None, 4))
    x1 = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(inp)
    model = Model(inp, layers.Dense(2)(layers.Bidirectional(layers.GRU(2), merge_mode="ave")(x1)))
    _randomize(model, rng, scale=0.2)
    x = rng.normal(size=(4, 5, 4)).astype(np.float32)
    _check_gradients(model, x, rng.normal(size=(4, 2)).astype(np.float32), rng)


def test_gradients_through_masked_lstm():
    rng = np.random.default_rng(15)
    ids_in = Input(shape=(None,), dtype="int32")
    x = layers.Embedding(10, 4, mask_zero=True)(ids_in)
    x = layers.LSTM(3, return_sequences=True)(x)
    model = Model(ids_in, layers.GRU(2)(x))
    _randomize(model, rng, scale=0.3)
    ids = _ids_with_padding(rng, n=5, t=5)
    y = rng.normal(size=(5, 2)).astype(np.float32)
    grads = _check_gradients(model, ids, y, rng)
    np.testing.assert_array_equal(grads[0][0], 0.0)  # the padding id's row gets no gradient: it is never used


def test_gradients_through_masked_bidirectional():
    rng = np.random.default_rng(22)
    ids_in = Input(shape=(None,), dtype="int32")
    x = layers.Embedding(10, 3, mask_zero=True)(ids_in)
    x = layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode="concat")(x)
    model = Model(ids_in, layers.SimpleRNN(2)(x))
    _randomize(model, rng, scale=0.3)
    ids = _ids_with_padding(rng, n=5, t=5)
    _check_gradients(model, ids, rng.normal(size=(5, 2)).astype(np.float32), rng)


def test_masked_steps_get_no_gradient_through_the_input():
    """What sits at a masked step cannot change the loss, so its embedding row's gradient is zero."""
    rng = np.random.default_rng(16)
    ids_in = Input(shape=(None,), dtype="int32")
    model = Model(ids_in, layers.LSTM(3)(layers.Masking(mask_value=0.0)(layers.Embedding(6, 4)(ids_in))))
    _randomize(model, rng)
    emb = model.get_weights()[0]
    emb[5] = 0.0  # id 5 embeds to the mask value: every step holding it is skipped
    model.set_weights([emb] + model.get_weights()[1:])
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=1.0), loss="mse")
    ids = np.array([[1, 5, 2, 5], [5, 3, 4, 5]])
    model.train_on_batch(ids, rng.normal(size=(2, 3)))
    np.testing.assert_array_equal(model.get_weights()[0][5], 0.0)


def test_lstm_with_dropout_trains():
    rng = np.random.default_rng(17)
    inp = Input(shape=(None, 4))
    model = Model(inp, layers.Dense(1)(layers.LSTM(8, dropout=0.2, recurrent_dropout=0.2)(inp)))
    model.compile(optimizer="adam", loss="mse")
    x = rng.normal(size=(32, 5, 4)).astype(np.float32)
    y = x[:, :, 0].sum(1, keepdims=True)
    history = model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]


# ---------------------------------------------------------------------------------------- shared (Siamese) LSTM
def test_shared_lstm_update_is_the_sum_of_both_branches():
    rng = np.random.default_rng(18)
    left, right = Input(shape=(None, 4)), Input(shape=(None, 4))
    lstm = layers.LSTM(3)
    head = layers.Dense(1, activation="sigmoid")
    shared = Model([left, right], head(layers.concatenate([lstm(left), lstm(right)])))
    ws = _randomize(shared, rng, scale=0.3)
    assert len(ws) == 5   # one LSTM weight set, one Dense

    l2, r2 = Input(shape=(None, 4)), Input(shape=(None, 4))
    lstm_a, lstm_b, head2 = layers.LSTM(3), layers.LSTM(3), layers.Dense(1, activation="sigmoid")
    unshared = Model([l2, r2], head2(layers.concatenate([lstm_a(l2), lstm_b(r2)])))
    unshared.set_weights(ws[:3] + ws[:3] + ws[3:])

    xl, xr = rng.normal(size=(6, 5, 4)), rng.normal(size=(6, 5, 4))
    y = rng.integers(0, 2, size=(6, 1)).astype(np.float32)
    _close(shared.predict([xl, xr]), unshared.predict([xl, xr]), tol=1e-6)
    for m in (shared, unshared):
        m.compile(optimizer=fgc.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
        m.train_on_batch([xl, xr], y)
    d_shared = [a - b for a, b in zip(ws, shared.get_weights())]
    d_unshared = [a - b for a, b in zip(ws[:3] + ws[:3] + ws[3:], unshared.get_weights())]
    for k in range(3):
        np.testing.assert_allclose(d_shared[k], d_unshared[k] + d_unshared[3 + k], rtol=1e-4, atol=1e-6)
        assert np.abs(d_unshared[k]).max() > 1e-4 and np.abs(d_unshared[3 + k]).max() > 1e-4
    for k in (3, 4):
        np.testing.assert_allclose(d_shared[k], d_unshared[k + 3], rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------------------- export
def _exported(model, tmp_path):
    path = tmp_path / "model.onnx"
    model.export(path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    return path, proto


@pytest.mark.parametrize("kind, op", [("SimpleRNN", "RNN"), ("LSTM", "LSTM"), ("GRU", "GRU")])
def test_export_uses_native_ops_and_matches_predict(kind, op, tmp_path):
    rng = np.random.default_rng(19)
    ids_in = Input(shape=(None,), dtype="int32", name="ids")
    x = layers.Embedding(20, 4)(ids_in)
    x = getattr(layers, kind)(3, return_sequences=True)(x)
    x = layers.Bidirectional(getattr(layers, kind)(2))(x)
    model = Model(ids_in, layers.Dense(2, activation="softmax")(x))
    _randomize(model, rng, scale=0.2)
    path, proto = _exported(model, tmp_path)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count(op) == 3 and "Scan" not in ops and "Loop" not in ops
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "ids"
    for batch, steps in ((7, 6), (1, 2)):
        ids = rng.integers(0, 20, size=(batch, steps)).astype(np.int32)
        (plain,) = sess.run(None, {"ids": ids.astype(np.int64)})
        np.testing.assert_allclose(plain, model.predict(ids), rtol=1e-6, atol=1e-7)


def test_export_of_a_masked_model_runs_in_plain_onnxruntime(tmp_path):
    rng = np.random.default_rng(20)
    ids_in = Input(shape=(None,), dtype="int64", name="ids")
    model = Model(ids_in, layers.LSTM(3)(layers.Embedding(10, 4, mask_zero=True)(ids_in)))
    _randomize(model, rng)
    path, proto = _exported(model, tmp_path)
    assert "Scan" in [n.op_type for n in proto.graph.node]   # masks need the Scan form
    ids = _ids_with_padding(rng)
    (plain,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})
    np.testing.assert_allclose(plain, model.predict(ids), rtol=1e-6, atol=1e-7)


def test_export_with_a_non_default_activation_stays_correct(tmp_path):
    rng = np.random.default_rng(21)
    inp = Input(shape=(None, 4), name="x")
    model = Model(inp, layers.SimpleRNN(3, activation="relu")(inp))
    ws = _randomize(model, rng)
    path, _ = _exported(model, tmp_path)
    x = rng.normal(size=(2, 5, 4)).astype(np.float32)
    (plain,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    _close(plain, rnn_ref("SimpleRNN", x, ws, activation="relu")[1])


# ---------------------------------------------------------------------------------------- seed 001's bugs
def test_stacked_lstm_without_return_sequences_says_how_to_fix_it():
    text = Input(shape=(None,), name="text")
    x = layers.Embedding(50, 8)(text)
    x = layers.LSTM(16, name="first_lstm")(x)
    with pytest.raises(ValueError) as err:
        layers.LSTM(16, name="second_lstm")(x)
    msg = str(err.value)
    assert "second_lstm" in msg and "first_lstm" in msg
    assert "return_sequences=True" in msg and "(None, 16)" in msg


def test_dense_one_unit_softmax_warns_that_the_output_is_constant():
    x = Input(shape=(4,))
    with pytest.warns(UserWarning, match=r"'income'.*softmax.*always 1\.0.*sigmoid"):
        layers.Dense(1, activation="softmax", name="income")(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers.Dense(2, activation="softmax")(x)
        layers.Dense(1, activation="sigmoid")(x)


def test_linear_rnn_whose_backward_loop_reads_no_step_input_trains():
    """With a linear activation and only the last state returned, the backward recurrence needs nothing per
    step; the reverse Scan still scans one input to count its steps. One SGD step against numpy BPTT."""
    from fgc import Input, Model, layers, optimizers

    fgc.utils.set_random_seed(0)
    i = Input((4, 2))
    model = Model(i, layers.SimpleRNN(1, activation="linear")(i))
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    x = np.random.default_rng(0).random((2, 4, 2)).astype("float32")
    y = np.ones((2, 1), "float32")
    w, r, b = [a.astype("float64") for a in model.get_weights()]
    states = [np.zeros((2, 1))]
    for t in range(4):
        states.append(x[:, t] @ w + states[-1] @ r + b)
    dh = 2 * (states[-1] - y) / 2
    gw, gr = np.zeros_like(w), np.zeros_like(r)
    for t in reversed(range(4)):
        gw, gr, dh = gw + x[:, t].T @ dh, gr + states[t].T @ dh, dh @ r.T
    model.train_on_batch(x, y)
    np.testing.assert_allclose(model.get_weights()[0], w - 0.1 * gw, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], r - 0.1 * gr, atol=1e-6)


def test_masked_bidirectional_gradients_in_both_reverse_loop_forms(reverse_loop_form):
    rng = np.random.default_rng(32)
    ids_in = Input(shape=(None,), dtype="int32")
    x = layers.Embedding(10, 3, mask_zero=True)(ids_in)
    x = layers.Bidirectional(layers.LSTM(2, return_sequences=True, recurrent_dropout=0.0))(x)
    model = Model(ids_in, layers.GRU(2)(x))
    _randomize(model, rng, scale=0.3)
    _check_gradients(model, _ids_with_padding(rng, n=5, t=5), rng.normal(size=(5, 2)).astype(np.float32), rng)
