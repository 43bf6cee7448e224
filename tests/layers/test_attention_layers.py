"""MultiHeadAttention, Attention, AdditiveAttention and Dot against Keras 3's formulas in numpy:
values, masks, finite-difference gradients, ONNX export."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(0)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def mha(p, query, value, key=None, allowed=None, zero_masked_rows=False, use_bias=True):
    """Keras' einsum equations: projections 'abc,cde->abde', scores 'aecd,abcd->acbe' on the query
    scaled by 1/sqrt(key_dim), combination 'acbe,aecd->abcd', output 'abcd,cde->abe'."""
    key = value if key is None else key
    it = iter(p)
    wq, bq = next(it), (next(it) if use_bias else 0)
    wk, bk = next(it), (next(it) if use_bias else 0)
    wv, bv = next(it), (next(it) if use_bias else 0)
    wo, bo = next(it), (next(it) if use_bias else 0)
    q = np.einsum("abc,cde->abde", query, wq) + bq
    k = np.einsum("abc,cde->abde", key, wk) + bk
    v = np.einsum("abc,cde->abde", value, wv) + bv
    scores = np.einsum("aecd,abcd->acbe", k, q / np.sqrt(wq.shape[-1]))      # (B, H, T, S)
    if allowed is not None:
        allowed = np.broadcast_to(allowed[:, None], scores.shape)
        scores = np.where(allowed, scores, -1e9)
    probs = softmax(scores)
    if allowed is not None and zero_masked_rows:
        probs = np.where(allowed, probs, 0.0)
    heads = np.einsum("acbe,aecd->abcd", probs, v)
    return np.einsum("abcd,cde->abe", heads, wo) + bo, probs


def _randomize(model, scale=0.5):
    model.set_weights([w + rng.uniform(-scale, scale, w.shape) for w in model.get_weights()])


def test_weight_layout_and_order_follow_keras():
    q_in, v_in = fgc.Input((3, 6)), fgc.Input((5, 4))
    att = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5, output_shape=7)
    out = att(q_in, v_in)
    assert out.shape == (None, 3, 7)
    assert [(w.name, w.shape) for w in att.weights] == [
        ("query/kernel", (6, 2, 3)), ("query/bias", (2, 3)), ("key/kernel", (4, 2, 3)), ("key/bias", (2, 3)),
        ("value/kernel", (4, 2, 5)), ("value/bias", (2, 5)), ("attention_output/kernel", (2, 5, 7)),
        ("attention_output/bias", (7,))]
    config = att.get_config()
    assert (config["num_heads"], config["key_dim"], config["value_dim"], config["output_shape"]) == (2, 3, 5, (7,))


def test_self_attention_values_and_gradients(gradcheck):
    x_in = fgc.Input((4, 6))
    att = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    model = fgc.Model(x_in, att(x_in, x_in))
    _randomize(model)
    x, y = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 6))
    gradcheck(model, lambda p, x: mha(p, x, x)[0], x, y)


@pytest.mark.parametrize("value_dim, use_bias", [(5, True), (None, False)])
def test_self_attention_projects_query_key_value_with_one_matmul(value_dim, use_bias, gradcheck):
    x_in = fgc.Input((4, 6), name="x")
    att = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=value_dim, use_bias=use_bias)
    model = fgc.Model(x_in, att(x_in, x_in))
    _randomize(model)
    x, y = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 6))
    gradcheck(model, lambda p, x: mha(p, x, x, use_bias=use_bias)[0], x, y)
    step = model._trainer.step(True).proto.graph
    assert sum(n.op_type == "MatMul" and "x" in n.input for n in step.node) == 1


def test_cross_attention_with_key_causal_mask_and_attention_mask(gradcheck):
    q_in, v_in, k_in = fgc.Input((4, 5)), fgc.Input((4, 3)), fgc.Input((4, 2))
    m_in = fgc.Input((4, 4), dtype="bool")
    att = layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=2, use_bias=False)
    out, scores = att(q_in, v_in, key=k_in, attention_mask=m_in, use_causal_mask=True,
                      return_attention_scores=True)
    assert scores.shape == (None, 3, 4, 4)
    model = fgc.Model([q_in, v_in, k_in, m_in], [out, scores])
    _randomize(model)
    q, v, k = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 2))
    m = rng.random((2, 4, 4)) > 0.3
    m[1, 2] = False                                          # one fully masked row: zeros (scores returned)
    allowed = m & np.tril(np.ones((4, 4), bool))
    p = [np.float64(w) for w in model.get_weights()]
    got_out, got_scores = model.predict([q, v, k, m], verbose=0)
    want_out, want_scores = mha(p, q, v, k, allowed, zero_masked_rows=True, use_bias=False)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-4, atol=1e-5)
    assert not got_scores[1, :, 2].any()

    single = fgc.Model([q_in, v_in, k_in, m_in], out)
    y = rng.standard_normal((2, 4, 5))
    gradcheck(single, lambda p, xs: mha(p, xs[0], xs[1], xs[2], allowed, True, use_bias=False)[0],
              [q, v, k, m], y)


def test_keras_masks_from_embedding_mask_zero():
    ids_in = fgc.Input((5,), dtype="int32")
    emb = layers.Embedding(7, 4, mask_zero=True)
    x = emb(ids_in)
    att = layers.MultiHeadAttention(num_heads=2, key_dim=2)
    out = att(x, x)
    model = fgc.Model(ids_in, out)
    _randomize(model)
    ids = np.array([[3, 1, 4, 0, 0], [2, 6, 5, 1, 3]])
    p = [np.float64(w) for w in model.get_weights()]
    e = p[0][ids]
    keep = ids != 0
    allowed = keep[:, :, None] & keep[:, None, :]
    # padded query rows are masked everywhere: Keras' default path leaves them uniform
    want, _ = mha(p[1:], e, e, None, allowed, zero_masked_rows=False)
    np.testing.assert_allclose(model.predict(ids, verbose=0), want, rtol=1e-4, atol=1e-5)
    assert out._mask is not None        # the query's mask passes on


def test_dropout_is_identity_at_inference_and_trains(rng):
    x_in = fgc.Input((4, 6))
    att = layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=1)
    model = fgc.Model(x_in, att(x_in, x_in))
    x = rng.standard_normal((3, 4, 6)).astype(np.float32)
    p = [np.float64(w) for w in model.get_weights()]
    np.testing.assert_allclose(model.predict(x, verbose=0), mha(p, x, x)[0], rtol=1e-4, atol=1e-5)
    model.compile("adam", "mse")
    assert np.isfinite(model.train_on_batch(x, x))


def test_mha_export_runs_in_onnxruntime(onnx_export):
    x_in = fgc.Input((None, 6))
    model = fgc.Model(x_in, layers.MultiHeadAttention(2, 3)(x_in, x_in, use_causal_mask=True))
    _randomize(model)
    onnx_export(model, rng.standard_normal((2, 5, 6)).astype(np.float32))


def test_mha_errors():
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        layers.MultiHeadAttention(0, 3)
    with pytest.raises(TypeError, match="needs a value"):
        layers.MultiHeadAttention(2, 3)(fgc.Input((4, 6)))
    with pytest.raises(ValueError, match="same number of steps"):
        layers.MultiHeadAttention(2, 3)(fgc.Input((4, 6)), fgc.Input((5, 6)), key=fgc.Input((3, 6)))
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        layers.MultiHeadAttention(2, 3)(fgc.Input((4, 6)), fgc.Input((5, 6)), attention_mask=fgc.Input((5, 4)))


# ---------------------------------------------------------------- Attention / AdditiveAttention
def dense_attention(scores, value, v_keep=None, q_keep=None, causal=False):
    allowed = np.ones(scores.shape, bool)
    if v_keep is not None:
        allowed &= v_keep[:, None, :]
    if causal:
        allowed &= np.tril(np.ones(scores.shape[-2:], bool))
    probs = softmax(np.where(allowed, scores, scores - 1e9))
    out = probs @ value
    return (out if q_keep is None else out * q_keep[..., None]), probs


@pytest.mark.parametrize("kind", ["dot", "dot_scaled", "concat", "additive"])
def test_dense_attention_values_and_gradients(kind, gradcheck):
    q_in, v_in = fgc.Input((3, 4)), fgc.Input((5, 4))
    att = {"dot": lambda: layers.Attention(), "dot_scaled": lambda: layers.Attention(use_scale=True),
           "concat": lambda: layers.Attention(use_scale=True, score_mode="concat"),
           "additive": lambda: layers.AdditiveAttention()}[kind]()
    q_pre, v_pre = layers.Dense(4, name="q_pre"), layers.Dense(4, name="v_pre")
    model = fgc.Model([q_in, v_in], att([q_pre(q_in), v_pre(v_in)], use_causal_mask=True))
    _randomize(model)

    def forward(p, xs):
        q, v = xs[0] @ p[0] + p[1], xs[1] @ p[2] + p[3]
        extra = p[4:]
        if kind.startswith("dot"):
            scores = q @ v.transpose(0, 2, 1) * (extra[0] if extra else 1.0)
        elif kind == "concat":
            scores = extra[1] * np.tanh(extra[0] * (q[:, :, None] + v[:, None])).sum(-1)
        else:
            scores = (extra[0] * np.tanh(q[:, :, None] + v[:, None])).sum(-1)
        return dense_attention(scores, v, causal=True)[0]

    xs = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))]
    gradcheck(model, forward, xs, rng.standard_normal((2, 3, 4)))


def test_dense_attention_reads_the_query_and_value_masks():
    q_ids, v_ids = fgc.Input((3,), dtype="int32"), fgc.Input((4,), dtype="int32")
    emb = layers.Embedding(6, 2, mask_zero=True)
    out, probs = layers.Attention()([emb(q_ids), emb(v_ids)], return_attention_scores=True)
    model = fgc.Model([q_ids, v_ids], [out, probs])
    q, v = np.array([[1, 2, 0], [3, 0, 0]]), np.array([[4, 5, 1, 0], [2, 0, 0, 0]])
    table = np.float64(model.get_weights()[0])
    want_out, want_probs = dense_attention(table[q] @ table[v].transpose(0, 2, 1), table[v], v != 0, q != 0)
    got_out, got_probs = model.predict([q, v], verbose=0)
    np.testing.assert_allclose(got_probs, want_probs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-7)


def test_dense_attention_takes_an_explicit_mask_list():
    q_in, v_in = fgc.Input((3, 2)), fgc.Input((4, 2))
    qm_in, vm_in = fgc.Input((3,), dtype="bool"), fgc.Input((4,), dtype="bool")
    out = layers.Attention()([q_in, v_in], mask=[qm_in, vm_in])
    model = fgc.Model([q_in, v_in, qm_in, vm_in], out)
    q, v = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 2))
    qm, vm = np.array([[1, 1, 0], [1, 0, 1]], bool), np.array([[1, 0, 1, 1], [1, 1, 1, 0]], bool)
    want, _ = dense_attention(q @ v.transpose(0, 2, 1), v, vm, qm)
    np.testing.assert_allclose(model.predict([q, v, qm, vm], verbose=0), want, rtol=1e-5, atol=1e-6)


def test_dense_attention_errors():
    with pytest.raises(ValueError, match=r"must be called on a list \[query, value\]"):
        layers.Attention()(fgc.Input((3, 4)))
    with pytest.raises(ValueError, match=r"mask must be a list \[query_mask, value_mask\]"):
        layers.Attention()([fgc.Input((3, 4)), fgc.Input((3, 4))], mask=fgc.Input((3,)))
    with pytest.raises(ValueError, match="score_mode must be 'dot' or 'concat'"):
        layers.Attention(score_mode="add")


# ---------------------------------------------------------------- Dot
def batch_dot(x, y, ax, ay, normalize=False):
    if normalize:
        x = x / np.sqrt(np.maximum((x ** 2).sum(ax, keepdims=True), 1e-14))
        y = y / np.sqrt(np.maximum((y ** 2).sum(ay, keepdims=True), 1e-14))
    out = np.stack([np.tensordot(xi, yi, axes=(ax - 1, ay - 1)) for xi, yi in zip(x, y)])
    return out.reshape(len(x), 1) if out.ndim == 1 else out


@pytest.mark.parametrize("shapes, axes, normalize", [
    (((4,), (4,)), 1, False),
    (((3, 4), (5, 4)), (2, 2), True),
    (((4, 3), (2, 4)), (1, 2), False),
    (((2, 3, 4), (4,)), -1, False),
])
def test_dot_values_and_gradients(shapes, axes, normalize, gradcheck):
    a_in, b_in = fgc.Input(shapes[0]), fgc.Input(shapes[1])
    pre_a, pre_b = layers.Dense(shapes[0][-1]), layers.Dense(shapes[1][-1])
    model = fgc.Model([a_in, b_in], layers.Dot(axes, normalize=normalize)([pre_a(a_in), pre_b(b_in)]))
    _randomize(model)
    ax, ay = (axes, axes) if isinstance(axes, int) else axes
    ax, ay = ax % (len(shapes[0]) + 1), ay % (len(shapes[1]) + 1)

    def forward(p, xs):
        return batch_dot(xs[0] @ p[0] + p[1], xs[1] @ p[2] + p[3], ax, ay, normalize)

    xs = [rng.standard_normal((3, *shapes[0])), rng.standard_normal((3, *shapes[1]))]
    out_shape = model.outputs[0].shape[1:]
    gradcheck(model, forward, xs, rng.standard_normal((3, *out_shape)))


def test_dot_errors():
    with pytest.raises(ValueError, match="incompatible input shapes"):
        layers.Dot(1)([fgc.Input((3,)), fgc.Input((4,))])
    with pytest.raises(ValueError, match="axes must be an int or a pair"):
        layers.Dot((1, 2, 3))


def test_gate_and_sliding_window(gradcheck):
    x_in = fgc.Input((5, 4))
    att = layers.MultiHeadAttention(num_heads=2, key_dim=2, use_gate=True, sliding_window=2)
    model = fgc.Model(x_in, att(x_in, x_in))
    assert [w.name for w in att.weights][4:6] == ["gate/kernel", "gate/bias"]   # Keras: between key and value
    _randomize(model)
    i, j = np.indices((5, 5))
    band = np.abs(i - j) < 2

    def forward(p, x):
        wq, bq, wk, bk, wg, bg, wv, bv, wo, bo = p
        q = np.einsum("abc,cde->abde", x, wq) + bq
        k = np.einsum("abc,cde->abde", x, wk) + bk
        v = np.einsum("abc,cde->abde", x, wv) + bv
        gate = 1 / (1 + np.exp(-(np.einsum("abc,cde->abde", x, wg) + bg)))
        scores = np.einsum("aecd,abcd->acbe", k, q / np.sqrt(2))
        probs = softmax(np.where(band, scores, -1e9))
        heads = np.einsum("acbe,aecd->abcd", probs, v) * gate
        return np.einsum("abcd,cde->abe", heads, wo) + bo

    gradcheck(model, forward, rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 4)))


@pytest.mark.parametrize("axes", [None, (2,), (1,)])
def test_rank4_inputs_attend_over_the_attention_axes(axes, gradcheck):
    q_in, v_in = fgc.Input((2, 3, 4)), fgc.Input((2, 5, 3))
    if axes is None:
        v_in = fgc.Input((4, 2, 3))               # both axes attended: any sizes there
    elif axes == (1,):
        q_in, v_in = fgc.Input((3, 2, 4)), fgc.Input((5, 2, 3))
    att = layers.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=axes)
    out, scores = att(q_in, v_in, return_attention_scores=True)
    model = fgc.Model([q_in, v_in], out)
    _randomize(model)

    def forward(p, xs, with_scores=False):
        query, value = xs
        wq, bq, wk, bk, wv, bv, wo, bo = p
        q = (np.einsum("bxyc,cnk->bxynk", query, wq) + bq) / np.sqrt(wq.shape[-1])
        k = np.einsum("bxyc,cnk->bxynk", value, wk) + bk
        v = np.einsum("bxyc,cnk->bxynk", value, wv) + bv
        if axes is None:                           # softmax over both key axes together
            s = np.einsum("bxynk,buvnk->bnxyuv", q, k)
            e = np.exp(s - s.max(axis=(-2, -1), keepdims=True))
            probs = e / e.sum(axis=(-2, -1), keepdims=True)
            heads = np.einsum("bnxyuv,buvnd->bxynd", probs, v)
        elif axes == (2,):
            probs = softmax(np.einsum("bxynk,bxvnk->bxnyv", q, k))
            heads = np.einsum("bxnyv,bxvnd->bxynd", probs, v)
        else:
            probs = softmax(np.einsum("bxynk,buynk->bynxu", q, k))
            heads = np.einsum("bynxu,buynd->bxynd", probs, v)
        y = np.einsum("bxynd,nde->bxye", heads, wo) + bo
        return (y, probs) if with_scores else y

    xs = [rng.standard_normal((2, *q_in.shape[1:])), rng.standard_normal((2, *v_in.shape[1:]))]
    p = [np.float64(w) for w in model.get_weights()]
    want_y, want_scores = forward(p, xs, with_scores=True)
    assert scores.shape[1:] == want_scores.shape[1:]
    got_y, got_scores = fgc.Model([q_in, v_in], [out, scores]).predict(xs, verbose=0)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)
    gradcheck(model, forward, xs, rng.standard_normal((2, *out.shape[1:])))


def test_rank4_refuses_masks_it_cannot_apply():
    x = fgc.Input((2, 3, 4))
    with pytest.raises(ValueError, match="rank 4"):
        layers.MultiHeadAttention(2, 2)(x, x, use_causal_mask=True)
    with pytest.raises(ValueError, match="attention_axes"):
        layers.MultiHeadAttention(2, 2, attention_axes=(3,))(x, x)
