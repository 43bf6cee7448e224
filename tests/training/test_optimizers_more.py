"""Lion, Ftrl, Lamb, Adafactor and the base-optimizer features (EMA, gradient accumulation,
loss_scale_factor, weight decay) over several train_on_batch steps of Dense(4, 3) + MSE, against
numpy written from Keras 3's update rules (keras/src/optimizers/*.py, base_optimizer.py and the
JAX backend's _backend_apply_gradients).

The MSE gradient of a linear layer is analytic: P = XW + b, dL/dP = 2(P - Y)/(n*units),
dW = X^T dL/dP, db = sum over the batch.
"""
import numpy as np
import pytest

from fgc import optimizers as O

rng = np.random.default_rng(1)
W0 = rng.standard_normal((4, 3))
B0 = np.array([0.3, -0.2, 0.1])
BATCHES = [(rng.standard_normal((6, 4)) * s, rng.standard_normal((6, 3))) for s in (2.0, 0.5, 1.0, 0.3, 0.7)]


def f32(a):
    return np.asarray(a, np.float32).astype(np.float64)


def mse_grads(params, x, y):
    w, b = params
    d = 2 * (f32(x) @ w + b - f32(y)) / y.size
    return [f32(x).T @ d, d.sum(0)]


# ---------------------------------------------------------------- per-weight rules (Keras' update_step)
def lion(hp):
    b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.99)

    def update(p, g, s, lr, t):
        m = s.get("m", np.zeros_like(p))
        s["m"] = m * b2 + g * (1 - b2)
        return p - lr * np.sign(m * b1 + g * (1 - b1))
    return update


def ftrl(hp):
    power, init = hp.get("learning_rate_power", -0.5), hp.get("initial_accumulator_value", 0.1)
    l1, l2 = hp.get("l1_regularization_strength", 0.0), hp.get("l2_regularization_strength", 0.0)
    shrink, beta = hp.get("l2_shrinkage_regularization_strength", 0.0), hp.get("beta", 0.0)

    def update(p, g, s, lr, t):
        acc = s.get("acc", np.full_like(p, init))
        l2_total = l2 + beta / (2 * lr)
        new_acc = acc + g * g
        lin = s.get("lin", np.zeros_like(p)) + g + 2 * shrink * p - (new_acc ** -power - acc ** -power) / lr * p
        quadratic = new_acc ** -power / lr + 2 * l2_total
        s["acc"], s["lin"] = new_acc, lin
        return (np.clip(lin, -l1, l1) - lin) / quadratic
    return update


def lamb(hp):
    b1, b2, eps = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999), hp.get("epsilon", 1e-7)

    def update(p, g, s, lr, t):
        m = s.get("m", np.zeros_like(p)) * b1 + g * (1 - b1)
        v = s.get("v", np.zeros_like(p)) * b2 + g * g * (1 - b2)
        s["m"], s["v"] = m, v
        step = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        w_norm, s_norm = np.linalg.norm(p), np.linalg.norm(step)
        ratio = w_norm / s_norm if w_norm > 0 and s_norm > 0 else 1.0
        return p - ratio * lr * step
    return update


def adafactor(hp):
    decay, eps1, eps2 = hp.get("beta_2_decay", -0.8), hp.get("epsilon_1", 1e-30), hp.get("epsilon_2", 1e-3)
    clip = hp.get("clip_threshold", 1.0)

    def rms(x):
        return np.sqrt(np.mean(x * x))

    def update(p, g, s, lr, t):
        rho = min(lr, 1 / np.sqrt(t))
        alpha = max(eps2, rms(p)) * rho
        sq = g * g + eps1
        beta_2 = 1 - t ** decay
        if p.ndim >= 2:
            r = beta_2 * s.get("r", np.zeros(p.shape[:-1])) + (1 - beta_2) * sq.mean(-1)
            c = beta_2 * s.get("c", np.zeros(p.shape[:-2] + p.shape[-1:])) + (1 - beta_2) * sq.mean(-2)
            s["r"], s["c"] = r, c
            v = (r / r.mean(-1, keepdims=True))[..., None] * c[..., None, :]
        else:
            v = beta_2 * s.get("v", np.zeros_like(p)) + (1 - beta_2) * sq
        s["v"] = v
        u = g / np.sqrt(v)
        return p - alpha * u / max(1.0, rms(u) / clip)
    return update


def adam(hp):
    b1, b2, eps = 0.9, 0.999, 1e-7

    def update(p, g, s, lr, t):
        m = s.get("m", np.zeros_like(p)) * b1 + g * (1 - b1)
        v = s.get("v", np.zeros_like(p)) * b2 + g * g * (1 - b2)
        s["m"], s["v"] = m, v
        return p - m * lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(v) + eps)
    return update


def reference(rule, lr, steps=len(BATCHES), weight_decay=None, use_ema=False, ema_momentum=0.99,
              ema_overwrite_frequency=None, gradient_accumulation_steps=None, loss_scale_factor=None,
              global_clipnorm=None):
    """Keras 3's apply: raw iteration k; iterations = k // N with accumulation; EMA after the update."""
    params = [f32(W0), f32(B0)]
    slots = [{}, {}]
    acc = [np.zeros_like(p) for p in params]
    ema = [np.zeros_like(p) for p in params]
    n = gradient_accumulation_steps
    for k in range(steps):
        x, y = BATCHES[k % len(BATCHES)]
        grads = mse_grads(params, x, y)
        if loss_scale_factor:   # the gradient of the scaled loss, divided back: the same to rounding
            grads = [g * loss_scale_factor / loss_scale_factor for g in grads]
        iterations = k // n if n else k
        rate = lr(k) if callable(lr) else lr
        if n and (k + 1) % n:   # an accumulating step: weights and slots stay
            acc = [a + g for a, g in zip(acc, grads)]
        else:
            if n:
                grads, acc = [(a + g) / n for a, g in zip(acc, grads)], [np.zeros_like(a) for a in acc]
            if global_clipnorm:
                norm = np.sqrt(sum((g * g).sum() for g in grads))
                grads = [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
            if weight_decay:
                params = [p - p * weight_decay * rate for p in params]
            params = [rule(p, g, s, rate, iterations + 1) for p, g, s in zip(params, grads, slots)]
        if use_ema:
            momentum = ema_momentum if iterations != 0 else 0.0
            ema = [momentum * e + (1 - momentum) * p for e, p in zip(ema, params)]
            if ema_overwrite_frequency and (iterations + 1) % ema_overwrite_frequency == 0:
                params = [e.copy() for e in ema]
    return params, ema


def train(dense_model, optimizer, steps=len(BATCHES)):
    model = dense_model(4, 3, weights=[W0, B0])
    model.compile(optimizer, "mse")
    for k in range(steps):
        model.train_on_batch(*BATCHES[k % len(BATCHES)])
    return model


CASES = [
    ("lion", lambda: O.Lion(0.05), lion({}), 0.05, {}),
    ("lion_betas", lambda: O.Lion(0.05, beta_1=0.5, beta_2=0.7), lion({"beta_1": 0.5, "beta_2": 0.7}), 0.05, {}),
    ("lion_weight_decay", lambda: O.Lion(0.05, weight_decay=0.3), lion({}), 0.05, {"weight_decay": 0.3}),
    ("ftrl", lambda: O.Ftrl(0.2), ftrl({}), 0.2, {}),
    ("ftrl_all", lambda: O.Ftrl(0.2, learning_rate_power=-0.3, initial_accumulator_value=0.5,
                                l1_regularization_strength=0.01, l2_regularization_strength=0.1,
                                l2_shrinkage_regularization_strength=0.05, beta=0.2),
     ftrl({"learning_rate_power": -0.3, "initial_accumulator_value": 0.5, "l1_regularization_strength": 0.01,
           "l2_regularization_strength": 0.1, "l2_shrinkage_regularization_strength": 0.05, "beta": 0.2}), 0.2, {}),
    ("lamb", lambda: O.Lamb(0.05), lamb({}), 0.05, {}),
    ("lamb_eps_wd", lambda: O.Lamb(0.05, epsilon=0.3, weight_decay=0.1), lamb({"epsilon": 0.3}), 0.05,
     {"weight_decay": 0.1}),
    ("adafactor", lambda: O.Adafactor(0.5), adafactor({}), 0.5, {}),
    ("adafactor_options", lambda: O.Adafactor(0.2, beta_2_decay=-0.5, epsilon_2=0.5, clip_threshold=0.1),
     adafactor({"beta_2_decay": -0.5, "epsilon_2": 0.5, "clip_threshold": 0.1}), 0.2, {}),
    ("lion_global_clipnorm", lambda: O.Lion(0.05, global_clipnorm=0.1), lion({}), 0.05, {"global_clipnorm": 0.1}),
    ("adam_ema", lambda: O.Adam(0.1, use_ema=True, ema_momentum=0.5), adam({}), 0.1,
     {"use_ema": True, "ema_momentum": 0.5}),
    ("adam_ema_overwrite", lambda: O.Adam(0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2),
     adam({}), 0.1, {"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2}),
    ("adam_accumulate", lambda: O.Adam(0.1, gradient_accumulation_steps=2), adam({}), 0.1,
     {"gradient_accumulation_steps": 2}),
    ("lamb_accumulate_ema", lambda: O.Lamb(0.1, gradient_accumulation_steps=2, use_ema=True, ema_momentum=0.7),
     lamb({}), 0.1, {"gradient_accumulation_steps": 2, "use_ema": True, "ema_momentum": 0.7}),
    ("adam_loss_scale", lambda: O.Adam(0.1, loss_scale_factor=128.0), adam({}), 0.1, {"loss_scale_factor": 128.0}),
]


@pytest.mark.parametrize("make, rule, lr, extra", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_steps_match_keras_update_rule(dense_model, make, rule, lr, extra):
    opt = make()
    model = train(dense_model, opt)
    want, _ = reference(rule, lr, **extra)
    for got, exp in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, exp, rtol=2e-5, atol=2e-6)


def test_ema_averages_are_the_optimizer_state(dense_model):
    opt = O.Adam(0.1, use_ema=True, ema_momentum=0.6)
    model = train(dense_model, opt)
    _, ema = reference(adam({}), 0.1, use_ema=True, ema_momentum=0.6)
    per_var, _ = model._trainer.slot_values()
    for var, exp in zip(model.trainable_weights, ema):
        np.testing.assert_allclose(per_var[var]["average"], exp, rtol=2e-5, atol=2e-6)


def test_fit_ends_with_the_ema_weights(dense_model):
    """Keras' finalize_variable_values at the end of fit: the weights become their averages."""
    model = dense_model(4, 3, weights=[W0, B0])
    model.compile(O.Adam(0.1, use_ema=True, ema_momentum=0.6), "mse")
    x = np.concatenate([b[0] for b in BATCHES[:3]])
    y = np.concatenate([b[1] for b in BATCHES[:3]])
    model.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0)
    _, ema = reference(adam({}), 0.1, steps=3, use_ema=True, ema_momentum=0.6)
    for got, exp in zip(model.get_weights(), ema):
        np.testing.assert_allclose(got, exp, rtol=2e-5, atol=2e-6)


def test_accumulation_changes_nothing_between_updates_and_counts_updates(dense_model, tmp_path):
    import h5py

    opt = O.SGD(0.1, gradient_accumulation_steps=3)
    model = train(dense_model, opt, steps=2)
    np.testing.assert_allclose(model.get_weights()[0], W0, rtol=1e-6)   # two steps of three: not yet applied
    assert opt.iterations == 0   # Keras: iterations counts updates (steps // 3) ...
    model.train_on_batch(*BATCHES[2])
    assert opt.iterations == 1 and not np.allclose(model.get_weights()[0], W0)
    model.save_weights(str(tmp_path / "m.weights.h5"))
    with h5py.File(tmp_path / "m.weights.h5") as f:
        assert int(f["optimizer/vars/0"][()]) == 3   # ... and saves the raw step count as "iteration"


def test_the_cases_are_sensitive():
    """The features change the numbers on this data (else the cases above would pass vacuously)."""
    plain = reference(adam({}), 0.1)[0][0]
    for extra in ({"use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 2},
                  {"gradient_accumulation_steps": 2}, {"weight_decay": 0.3}):
        assert not np.allclose(reference(adam({}), 0.1, **extra)[0][0], plain, rtol=1e-4)
    assert not np.allclose(reference(lion({}), 0.05, global_clipnorm=0.1)[0][0], reference(lion({}), 0.05)[0][0])
    ftrl_l1 = ftrl({"l1_regularization_strength": 10.0})(f32(W0), f32(W0), {}, 0.2, 1)
    assert np.all(ftrl_l1 == 0)   # a strong l1 zeroes the weights: the clip is exercised


def test_bad_arguments_are_refused_with_the_rule():
    with pytest.raises(ValueError, match="beta_1"):
        O.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="learning_rate_power"):
        O.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="l1_regularization_strength"):
        O.Ftrl(l1_regularization_strength=-1.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps.*>= 2"):
        O.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum"):
        O.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        O.Adam(use_ema=True, ema_overwrite_frequency=0.5)
    with pytest.raises(ValueError, match="loss_scale_factor"):
        O.SGD(loss_scale_factor=-2.0)
    with pytest.raises(TypeError, match="beta_2_decay"):
        O.Adafactor(beta2_decay=-0.8)


def test_configs_have_keras_keys_and_defaults():
    assert O.Lion().get_config() == {
        "name": "lion", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
        "clipvalue": None, "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
        "loss_scale_factor": None, "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.99}
    tail = lambda opt: {k: v for k, v in opt.get_config().items() if k not in O.Optimizer().get_config()}  # noqa
    assert tail(O.Ftrl()) == {"learning_rate_power": -0.5, "initial_accumulator_value": 0.1,
                              "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
                              "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}
    assert tail(O.Lamb()) == {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
    assert tail(O.Adafactor()) == {"beta_2_decay": -0.8, "epsilon_1": 1e-30, "epsilon_2": 1e-3,
                                   "clip_threshold": 1.0, "relative_step": True}
    config = O.Adam(use_ema=True, gradient_accumulation_steps=4).get_config()
    assert config["use_ema"] is True and config["gradient_accumulation_steps"] == 4
    rebuilt = O.deserialize(O.serialize(O.Adafactor(0.3, use_ema=True)))
    assert isinstance(rebuilt, O.Adafactor) and rebuilt.use_ema and rebuilt.learning_rate == 0.3
    assert isinstance(O.get("lamb"), O.Lamb) and isinstance(O.get("ftrl"), O.Ftrl)


@pytest.mark.parametrize("make, rule", [(lambda: O.AdamW(0.1, weight_decay=0.3), adam({})),   # flat buffer: a mask
                                        (lambda: O.Lamb(0.1, weight_decay=0.3), lamb({}))],   # weight by weight
                         ids=["adamw", "lamb"])
def test_exclude_from_weight_decay(dense_model, make, rule):
    """Keras: excluded weights (by object or by a name pattern) skip p -= p * wd * lr; the rest decay."""
    def reference_excluding_bias():
        params, slots = [f32(W0), f32(B0)], [{}, {}]
        for k, (x, y) in enumerate(BATCHES):
            grads = mse_grads(params, x, y)
            params = [params[0] - params[0] * 0.3 * 0.1, params[1]]
            params = [rule(p, g, s, 0.1, k + 1) for p, g, s in zip(params, grads, slots)]
        return params

    want = reference_excluding_bias()
    for how in ("names", "list"):
        model = dense_model(4, 3, weights=[W0, B0])
        opt = make()
        if how == "names":
            opt.exclude_from_weight_decay(var_names=["bias"])
        else:
            opt.exclude_from_weight_decay(var_list=[model.trainable_weights[1]])
        model.compile(opt, "mse")
        for x, y in BATCHES:
            model.train_on_batch(x, y)
        for got, exp in zip(model.get_weights(), want):
            np.testing.assert_allclose(got, exp, rtol=2e-5, atol=2e-6)
        with pytest.raises(ValueError, match="before the optimizer is built"):
            opt.exclude_from_weight_decay(var_names=["kernel"])
    plain, _ = reference(rule, 0.1, weight_decay=0.3)
    assert not np.allclose(plain[1], want[1], rtol=1e-4)   # the bias would have decayed


def test_steps_per_execution_gives_the_same_numbers_with_base_features(dense_model):
    """The Loop of several steps per call feeds each step its own count: accumulation and EMA see it."""
    x = np.concatenate([b[0] for b in BATCHES[:4]])
    y = np.concatenate([b[1] for b in BATCHES[:4]])
    results = []
    for per_call in (1, 2):
        model = dense_model(4, 3, weights=[W0, B0])
        model.compile(O.Nadam(0.1, gradient_accumulation_steps=2, use_ema=True, ema_momentum=0.5,
                              ema_overwrite_frequency=2), "mse", steps_per_execution=per_call)
        model.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0)
        results.append(model.get_weights())
    want, _ = reference(_nadam_like_keras(), 0.1, steps=4, gradient_accumulation_steps=2, use_ema=True,
                        ema_momentum=0.5, ema_overwrite_frequency=2)
    for a, b_, exp in zip(*results, want):
        np.testing.assert_allclose(a, b_, rtol=1e-6, atol=1e-7)
        # fit ends with finalize_variable_values: the weights are the averages, which the overwrite made
        # equal to the weights at the last update here
        np.testing.assert_allclose(a, exp, rtol=2e-5, atol=2e-6)


def _nadam_like_keras():
    """Keras' Nadam; u_product is global state, advanced once per applied update."""
    b1, b2, eps = 0.9, 0.999, 1e-7
    state = {"u_product": 1.0, "t": None}

    def update(p, g, s, lr, t):
        u_t, u_t1 = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        if state["t"] != t:   # the first weight of this update advances the product
            state["u_product"], state["t"] = state["u_product"] * u_t, t
        u_prod = state["u_product"]
        m = s.get("m", np.zeros_like(p)) * b1 + g * (1 - b1)
        v = s.get("v", np.zeros_like(p)) * b2 + g * g * (1 - b2)
        s["m"], s["v"] = m, v
        m_hat = u_t1 * m / (1 - u_prod * u_t1) + (1 - u_t) * g / (1 - u_prod)
        return p - m_hat * lr / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return update


@pytest.mark.parametrize("make", [lambda: O.Adafactor(0.5, use_ema=True, ema_momentum=0.5),
                                  lambda: O.Ftrl(0.2, gradient_accumulation_steps=3),
                                  lambda: O.Lion(0.05), lambda: O.Lamb(0.05, use_ema=True)],
                         ids=["adafactor_ema", "ftrl_accumulate", "lion", "lamb_ema"])
def test_a_saved_model_continues_exactly(dense_model, tmp_path, make):
    """.keras keeps the optimizer's class, config and every slot (EMA averages, accumulators, factors)."""
    import fgc

    straight = train(dense_model, make(), steps=4)
    half = train(dense_model, make(), steps=2)
    half.save(str(tmp_path / "m.keras"))
    again = fgc.models.load_model(str(tmp_path / "m.keras"))
    assert type(again.optimizer) is type(straight.optimizer)
    for x, y in BATCHES[2:4]:
        again.train_on_batch(x, y)
    for got, want in zip(again.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    (slots, _), (want_slots, _) = again._trainer.slot_values(), straight._trainer.slot_values()
    for var, want_var in zip(again.trainable_weights, straight.trainable_weights):
        for slot, value in want_slots[want_var].items():
            np.testing.assert_allclose(slots[var][slot], value, rtol=1e-6, atol=1e-7)


def test_clips_set_to_zero_are_off_and_negative_ones_refused(dense_model):
    """Keras' _clip_gradients applies a clip only when it is > 0."""
    plain = train(dense_model, O.Adam(0.1)).get_weights()
    for kwargs in ({"clipnorm": 0.0}, {"clipvalue": 0}, {"global_clipnorm": 0.0}):
        for got, want in zip(train(dense_model, O.Adam(0.1, **kwargs)).get_weights(), plain):
            np.testing.assert_array_equal(got, want)
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            O.Adam(**{k: -1.0 for k in kwargs})


def test_global_clipnorm_of_an_infinite_gradient_is_nan_as_in_keras(dense_model):
    """Keras scales by clip * min(1/norm, 1/clip) + (norm - norm): an infinite norm gives NaN, not 0."""
    model = dense_model(4, 3, weights=[W0, B0])
    model.compile(O.SGD(0.1, global_clipnorm=1.0), "mse")
    x = np.full((6, 4), 1e30, np.float32)   # the kernel's gradient overflows; the bias's stays finite
    model.train_on_batch(x, np.zeros((6, 3), np.float32))
    assert np.isnan(model.get_weights()[1]).all()   # a zero scale would have left the bias as it was


def test_bound_device_state_gives_the_host_numbers(dense_model, monkeypatch):
    """The bound (OrtValue, as on CUDA) state path: Adafactor's 0-d slots, EMA and the swap callback."""
    from fgc.callbacks import SwapEMAWeights
    from fgc.training import runtime

    results = []
    for limit in (runtime.HOST_STATE_LIMIT, 0):   # 0 bytes: every state is bound
        monkeypatch.setattr(runtime, "HOST_STATE_LIMIT", limit)
        model = train(dense_model, O.Adafactor(0.5, use_ema=True, ema_momentum=0.5))
        assert model._trainer.bind == (limit == 0)
        loss = model.evaluate(*BATCHES[0], verbose=0, callbacks=[SwapEMAWeights()])
        model.train_on_batch(*BATCHES[1])
        results.append((model.get_weights(), loss))
    (host, host_loss), (bound, bound_loss) = results
    assert bound_loss == pytest.approx(host_loss, rel=1e-6)
    for a, b_ in zip(host, bound):
        np.testing.assert_allclose(a, b_, rtol=1e-6, atol=1e-7)
