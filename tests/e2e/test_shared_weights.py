"""One truth for every weight: models that share layers (autoencoders, GANs, two heads on one body,
nested models) see each other's updates in every order of train / predict / get / set / export,
and each keeps its own optimizer state. References are numpy SGD written from the formulas."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc import Input, Model, layers, optimizers


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _dense(x, w, b):
    return x @ w + b


# ---------------------------------------------------------------------------------------------- autoencoder
def test_autoencoder_submodels_follow_every_training_step():
    fgc.utils.set_random_seed(1)
    x = np.random.default_rng(0).random((32, 6)).astype(np.float32)
    inp = Input((6,))
    code = layers.Dense(3, activation="tanh", name="enc")(inp)
    out = layers.Dense(6, name="dec")(code)
    auto, encoder = Model(inp, out), Model(inp, code)
    code_in = Input((3,))
    decoder = Model(code_in, auto.get_layer("dec")(code_in))
    encoder.predict(x, verbose=0)           # caches an inference session before training
    decoder.predict(np.zeros((2, 3)), verbose=0)
    auto.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    we, be, wd, bd = [w.astype(np.float64) for w in auto.get_weights()]
    for step in range(4):
        # numpy SGD on mse: L = mean((dec(enc(x)) - x)^2)
        h = np.tanh(_dense(x, we, be))
        err = _dense(h, wd, bd) - x
        d_out = 2 * err / err.size
        d_h = d_out @ wd.T * (1 - h ** 2)
        wd, bd = wd - 0.1 * h.T @ d_out, bd - 0.1 * d_out.sum(0)
        we, be = we - 0.1 * x.T @ d_h, be - 0.1 * d_h.sum(0)
        auto.train_on_batch(x, x)
        np.testing.assert_allclose(encoder.predict(x, verbose=0), np.tanh(_dense(x, we, be)), atol=2e-5)
        codes = np.random.default_rng(step).random((5, 3)).astype(np.float32)
        np.testing.assert_allclose(decoder(codes), _dense(codes, wd, bd), atol=2e-5)
        np.testing.assert_allclose(encoder.get_weights()[0], we, atol=2e-5)


# ---------------------------------------------------------------------------------------------- GAN
@pytest.mark.filterwarnings("ignore:.*trainable flag")  # the classic loop freezes D after compiling it
def test_gan_loop_alternating_models_matches_numpy():
    """The classic Keras GAN loop: D compiled, then frozen inside `combined`; alternate their steps."""
    fgc.utils.set_random_seed(2)
    rng = np.random.default_rng(0)
    z_in = Input((3,))
    generator = Model(z_in, layers.Dense(2, name="g")(z_in))
    x_in = Input((2,))
    discriminator = Model(x_in, layers.Dense(1, activation="sigmoid", name="d")(x_in))
    discriminator.compile(optimizer=optimizers.SGD(0.5), loss="binary_crossentropy")
    discriminator.trainable = False
    z = Input((3,))
    combined = Model(z, discriminator(generator(z)))
    combined.compile(optimizer=optimizers.SGD(0.5), loss="binary_crossentropy")
    wg, bg = [w.astype(np.float64) for w in generator.get_weights()]
    wd, bd = [w.astype(np.float64) for w in discriminator.get_weights()]
    for it in range(5):
        noise = rng.normal(size=(8, 3)).astype(np.float32)
        real = rng.normal(2.0, 0.5, size=(8, 2)).astype(np.float32)
        fake = generator.predict(noise, verbose=0)
        np.testing.assert_allclose(fake, _dense(noise, wg, bg), atol=1e-5)
        x = np.concatenate([real, fake])
        y = np.concatenate([np.ones((8, 1)), np.zeros((8, 1))]).astype(np.float32)
        # D step (D trains: it was compiled while trainable)
        d_logit = (_sigmoid(_dense(x, wd, bd)) - y) / len(x)
        wd, bd = wd - 0.5 * x.T @ d_logit, bd - 0.5 * d_logit.sum(0)
        discriminator.train_on_batch(x, y)
        np.testing.assert_allclose(discriminator.get_weights()[0], wd, atol=1e-5)
        # combined step: G trains through the frozen D
        g = _dense(noise, wg, bg)
        d_logit = (_sigmoid(_dense(g, wd, bd)) - 1.0) / len(noise)
        d_g = d_logit @ wd.T
        wg, bg = wg - 0.5 * noise.T @ d_g, bg - 0.5 * d_g.sum(0)
        combined.train_on_batch(noise, np.ones((8, 1), np.float32))
        np.testing.assert_allclose(discriminator.get_weights()[0], wd, atol=1e-5)   # frozen in combined
        np.testing.assert_allclose(generator.get_weights()[0], wg, atol=1e-5)
        np.testing.assert_allclose(combined.predict(noise, verbose=0), _sigmoid(_dense(_dense(noise, wg, bg), wd, bd)),
                                   atol=1e-5)


# ---------------------------------------------------------------------------------------------- two heads, one body
def _two_models(opt_a, opt_b):
    fgc.utils.set_random_seed(3)
    shared = layers.Dense(4, name="body")
    ia, ib = Input((5,)), Input((5,))
    a = Model(ia, layers.Dense(1, name="head_a")(shared(ia)))
    b = Model(ib, layers.Dense(2, name="head_b")(shared(ib)))
    a.compile(optimizer=opt_a, loss="mse")
    b.compile(optimizer=opt_b, loss="mse")
    return a, b, shared


def _mse_grads(x, y, w1, b1, w2, b2):
    h = _dense(x, w1, b1)
    d_out = 2 * (_dense(h, w2, b2) - y) / y.size
    d_h = d_out @ w2.T
    return x.T @ d_h, d_h.sum(0), h.T @ d_out, d_out.sum(0)


def test_two_models_sharing_a_layer_alternate_with_separate_momentum():
    a, b, shared = _two_models(optimizers.SGD(0.05, momentum=0.9), optimizers.SGD(0.05, momentum=0.9))
    rng = np.random.default_rng(1)
    body = [w.astype(np.float64) for w in shared.get_weights()]
    heads = {m: [w.astype(np.float64) for w in m.get_layer(f"head_{k}").get_weights()] for m, k in ((a, "a"), (b, "b"))}
    momentum = {m: {k: 0.0 for k in ("w1", "b1", "w2", "b2")} for m in (a, b)}
    for step in range(6):
        model = (a, b)[step % 2]
        x = rng.random((6, 5)).astype(np.float32)
        y = rng.random((6, model.outputs[0].shape[-1])).astype(np.float32)
        grads = dict(zip(("w1", "b1", "w2", "b2"), _mse_grads(x, y, *body, *heads[model])))
        values = {"w1": body[0], "b1": body[1], "w2": heads[model][0], "b2": heads[model][1]}
        for k, g in grads.items():  # Keras SGD momentum: m = 0.9 m - lr g; p += m (each model its own m)
            momentum[model][k] = 0.9 * momentum[model][k] - 0.05 * g
            values[k] = values[k] + momentum[model][k]
        body, heads[model] = [values["w1"], values["b1"]], [values["w2"], values["b2"]]
        model.train_on_batch(x, y)
        for m in (a, b):
            np.testing.assert_allclose(m.get_layer("body").get_weights()[0], body[0], atol=1e-5)
            np.testing.assert_allclose(m.predict(x, verbose=0), _dense(_dense(x, *body), *heads[m]), atol=1e-5)


def test_fit_with_zero_learning_rate_keeps_the_other_models_training():
    a, b, shared = _two_models(optimizers.SGD(0.1), optimizers.SGD(0.1))
    rng = np.random.default_rng(2)
    x = rng.random((16, 5)).astype(np.float32)
    b.fit(x, rng.random((16, 2)), epochs=1, batch_size=4, verbose=0)   # b's device copy exists first
    a.fit(x, rng.random((16, 1)), epochs=2, batch_size=4, verbose=0)
    b.optimizer.learning_rate = 0.0
    trained = shared.get_weights()
    b.fit(x, rng.random((16, 2)), epochs=1, batch_size=4, verbose=0)
    for got, want in zip(shared.get_weights(), trained):
        np.testing.assert_array_equal(got, want)


def test_set_weights_between_steps_is_seen_and_optimizer_state_is_kept():
    a, b, shared = _two_models(optimizers.SGD(0.05, momentum=0.9), optimizers.SGD(0.05))
    rng = np.random.default_rng(3)
    x, y = rng.random((6, 5)).astype(np.float32), rng.random((6, 1)).astype(np.float32)
    start = [w.astype(np.float64) for w in shared.get_weights() + a.get_layer("head_a").get_weights()]
    a.train_on_batch(x, y)
    momentum = [-0.05 * g for g in _mse_grads(x, y, *start)]       # after one step: m = -lr * g0
    w2, b2 = [w.astype(np.float64) for w in a.get_layer("head_a").get_weights()]
    new_body = [np.full(start[0].shape, 0.1), np.full(start[1].shape, -0.2)]
    b.get_layer("body").set_weights(new_body)                      # through the other model's handle
    grads = _mse_grads(x, y, *new_body, w2, b2)
    want = [p + 0.9 * m - 0.05 * g for p, m, g in zip(new_body + [w2, b2], momentum, grads)]
    a.train_on_batch(x, y)
    for got, w in zip(shared.get_weights() + a.get_layer("head_a").get_weights(), want):
        np.testing.assert_allclose(got, w, atol=1e-5)


# ---------------------------------------------------------------------------------------------- nested models
def test_inner_model_reads_after_outer_step(tmp_path):
    fgc.utils.set_random_seed(4)
    i = Input((3,))
    inner = Model(i, layers.Dense(2, name="inner_dense")(i), name="inner")
    o = Input((3,))
    outer = Model(o, layers.Dense(1, name="top")(inner(o)))
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    inner.predict(x, verbose=0)
    outer.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    before = inner.get_weights()
    outer.train_on_batch(x, np.ones((4, 1), np.float32))
    after = outer.get_layer("inner").get_weights()
    assert not np.allclose(before[0], after[0])
    for got, want in zip(inner.get_weights(), after):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(inner.predict(x, verbose=0), x @ after[0] + after[1], atol=1e-6)
    inner.export(tmp_path / "inner.onnx")
    sess = ort.InferenceSession(str(tmp_path / "inner.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], x @ after[0] + after[1], atol=1e-6)
    inner.save_weights(tmp_path / "inner.weights.npz")
    outer.train_on_batch(x, np.ones((4, 1), np.float32))
    np.testing.assert_allclose(inner(x), x @ inner.get_weights()[0] + inner.get_weights()[1], atol=1e-6)


# ---------------------------------------------------------------------------------------------- lifetime
def test_models_sharing_a_layer_are_collected():
    shared = layers.Dense(3, name="kept")
    refs = []
    x = np.ones((2, 4), np.float32)
    for k in range(200):
        i = Input((4,))
        m = Model(i, layers.Dense(1)(shared(i)))
        if k % 50 == 0:   # some of them trained: their trainers hold the shared weights for a while
            m.compile(optimizer="sgd", loss="mse")
            m.train_on_batch(x, np.ones((2, 1)))
            m.predict(x, verbose=0)
        refs.append(weakref.ref(m))
        del m, i
    gc.collect()
    assert sum(r() is not None for r in refs) == 0
    assert shared.get_weights()[0].shape == (4, 3)


def test_weights_trained_by_a_dropped_model_are_kept():
    shared = layers.Dense(2, name="survivor")
    i = Input((3,))
    m = Model(i, shared(i))
    m.compile(optimizer=optimizers.SGD(1.0), loss="mse")
    before = shared.get_weights()[0]
    m.train_on_batch(np.ones((2, 3), np.float32), np.full((2, 2), 5.0, np.float32))
    del m, i
    gc.collect()
    assert not np.allclose(shared.get_weights()[0], before)


# ---------------------------------------------------------------------------------------------- trainable flags
def test_trainable_flags_are_the_ones_compiled_with_and_a_change_warns():
    fgc.utils.set_random_seed(5)
    i = Input((3,))
    base = layers.Dense(3, name="base")
    model = Model(i, layers.Dense(1, name="head")(base(i)))
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
    model.train_on_batch(x, y)
    base.trainable = False
    assert base.trainable_weights == [] and len(model.trainable_weights) == 2
    frozen = base.get_weights()
    with pytest.warns(UserWarning, match=r"trainable flag of \['base'\] changed since compile\(\).*compile\(\) again"):
        model.train_on_batch(x, y)
    assert not np.allclose(base.get_weights()[0], frozen[0])   # Keras 3: flags take effect at compile()
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    frozen = base.get_weights()
    head = model.get_layer("head").get_weights()
    model.train_on_batch(x, y)
    np.testing.assert_array_equal(base.get_weights()[0], frozen[0])
    assert not np.allclose(model.get_layer("head").get_weights()[0], head[0])


def test_model_trainable_flag_reaches_every_layer_inside():
    i = Input((2,))
    inner = Model(i, layers.Dense(2, name="deep")(i))
    o = Input((2,))
    outer = Model(o, layers.Dense(1)(inner(o)))
    outer.trainable = False
    assert not inner.trainable and not inner.get_layer("deep").trainable and outer.trainable_weights == []
    outer.trainable = True
    assert inner.get_layer("deep").trainable and len(outer.trainable_weights) == 4


def test_recompile_with_the_same_optimizer_keeps_its_state():
    def run(split):
        fgc.utils.set_random_seed(6)
        i = Input((3,))
        model = Model(i, layers.Dense(2)(layers.Dense(4, activation="relu")(i)))
        opt = optimizers.Adam(0.01)
        model.compile(optimizer=opt, loss="mse")
        rng = np.random.default_rng(0)
        for step in range(6):
            if step == split:
                model.compile(optimizer=opt, loss="mse")
            model.train_on_batch(rng.random((5, 3)), rng.random((5, 2)))
        return model.get_weights(), opt.iterations

    (straight, n1), (recompiled, n2) = run(None), run(3)
    assert n1 == n2 == 6
    for a, b in zip(straight, recompiled):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------- Sequential.pop
def test_sequential_pop_returns_the_layer_and_rebuilds():
    model = fgc.Sequential([Input((4,)), layers.Dense(3, name="a"), layers.Dense(2, name="b")])
    popped = model.pop()
    assert popped.name == "b" and [l.name for l in model.layers] == ["a"]
    assert model.output_shape == (None, 3)
    x = np.ones((2, 4), np.float32)
    w, b = model.get_layer("a").get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ w + b, atol=1e-6)
    model.pop()
    assert model.layers == [] and not model.built
    with pytest.raises(TypeError, match="no layers to pop"):
        model.pop()
    assert model.layers == []
