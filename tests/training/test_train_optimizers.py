"""Optimizers: three train_on_batch steps of Dense(2) + MSE against the Keras 3 update rules in numpy.

The MSE gradient of a linear layer is analytic: P = XW + b, dL/dP = 2(P - Y)/(n*units),
dW = X^T dL/dP, db = sum over the batch. The update formulas below are written from Keras 3
(keras/src/optimizers/*.py): step order clip -> weight decay (p -= p*wd*lr) -> update, t = iterations + 1.
Several cases use a large epsilon, so where epsilon sits (inside or outside the sqrt) is visible.
"""
import numpy as np
import pytest

from fgc import optimizers as O

rng = np.random.default_rng(0)
W0 = rng.standard_normal((3, 2))
B0 = np.array([0.3, -0.2])
# three batches; the later ones have smaller inputs, so gradients shrink (amsgrad's max matters)
BATCHES = [(rng.standard_normal((5, 3)) * s, rng.standard_normal((5, 2))) for s in (2.0, 0.3, 0.2)]


def mse_grads(params, x, y):
    w, b = params
    x = x.astype(np.float32).astype(np.float64)
    y = y.astype(np.float32).astype(np.float64)
    d = 2 * (x @ w + b - y) / y.size
    return [x.T @ d, d.sum(0)]


# ---------------------------------------------------------------- Keras 3 update rules
class Ref:
    def __init__(self, **hp):
        self.hp, self.s = hp, {}

    def slot(self, name, i, like, init=0.0):
        return self.s.setdefault((name, i), np.full_like(like, init))

    def begin_step(self, t):  # once per step, before the per-variable updates (Nadam's u_product)
        pass


class SGD(Ref):
    def update(self, i, p, g, lr, t):
        mu, nesterov = self.hp.get("momentum", 0.0), self.hp.get("nesterov", False)
        if not mu:
            return p - lr * g
        m = self.slot("m", i, p) * mu - lr * g
        self.s[("m", i)] = m
        return p + (m * mu - lr * g if nesterov else m)


class RMSprop(Ref):
    def update(self, i, p, g, lr, t):
        rho, mu, eps = self.hp.get("rho", 0.9), self.hp.get("momentum", 0.0), self.hp.get("epsilon", 1e-7)
        v = rho * self.slot("v", i, p) + (1 - rho) * g * g
        self.s[("v", i)] = v
        if self.hp.get("centered"):
            mg = rho * self.slot("mg", i, p) + (1 - rho) * g
            self.s[("mg", i)] = mg
            denom = v - mg * mg + eps
        else:
            denom = v + eps
        inc = lr * g / np.sqrt(denom)                       # eps inside the sqrt
        if mu:
            m = mu * self.slot("m", i, p) + inc
            self.s[("m", i)] = m
            return p - m
        return p - inc


class Adam(Ref):
    def update(self, i, p, g, lr, t):
        b1, b2 = self.hp.get("beta_1", 0.9), self.hp.get("beta_2", 0.999)
        eps = self.hp.get("epsilon", 1e-7)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = self.slot("m", i, p) + (g - self.slot("m", i, p)) * (1 - b1)
        v = self.slot("v", i, p) + (g * g - self.slot("v", i, p)) * (1 - b2)
        self.s[("m", i)], self.s[("v", i)] = m, v
        if self.hp.get("amsgrad"):
            v = np.maximum(self.slot("vhat", i, p), v)
            self.s[("vhat", i)] = v
        return p - m * alpha / (np.sqrt(v) + eps)           # eps outside the sqrt


class Adagrad(Ref):
    def update(self, i, p, g, lr, t):
        acc = self.slot("acc", i, p, self.hp.get("initial_accumulator_value", 0.1)) + g * g
        self.s[("acc", i)] = acc
        return p - lr * g / np.sqrt(acc + self.hp.get("epsilon", 1e-7))


class Adadelta(Ref):
    def update(self, i, p, g, lr, t):
        rho, eps = self.hp.get("rho", 0.95), self.hp.get("epsilon", 1e-7)
        ag = rho * self.slot("ag", i, p) + (1 - rho) * g * g
        adv = self.slot("adv", i, p)
        delta = -np.sqrt(adv + eps) * g / np.sqrt(ag + eps)
        self.s[("ag", i)] = ag
        self.s[("adv", i)] = rho * adv + (1 - rho) * delta * delta
        return p + lr * delta


class Adamax(Ref):
    def update(self, i, p, g, lr, t):
        b1, b2, eps = self.hp.get("beta_1", 0.9), self.hp.get("beta_2", 0.999), self.hp.get("epsilon", 1e-7)
        m = self.slot("m", i, p) + (g - self.slot("m", i, p)) * (1 - b1)
        u = np.maximum(b2 * self.slot("u", i, p), np.abs(g))
        self.s[("m", i)], self.s[("u", i)] = m, u
        return p - lr * m / ((1 - b1 ** t) * (u + eps))


class Nadam(Ref):
    def begin_step(self, t):
        b1 = self.hp.get("beta_1", 0.9)
        self.s["u_product"] = self.s.get("u_product", 1.0) * b1 * (1.0 - 0.5 * 0.96 ** t)

    def update(self, i, p, g, lr, t):
        b1, b2, eps = self.hp.get("beta_1", 0.9), self.hp.get("beta_2", 0.999), self.hp.get("epsilon", 1e-7)
        u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
        u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_prod = self.s["u_product"]
        u_prod_t1 = u_prod * u_t1
        m = self.slot("m", i, p) + (g - self.slot("m", i, p)) * (1 - b1)
        v = self.slot("v", i, p) + (g * g - self.slot("v", i, p)) * (1 - b2)
        self.s[("m", i)], self.s[("v", i)] = m, v
        m_hat = u_t1 * m / (1 - u_prod_t1) + (1 - u_t) * g / (1 - u_prod)
        v_hat = v / (1 - b2 ** t)
        return p - m_hat * lr / (np.sqrt(v_hat) + eps)


def reference(rule, lr, clipnorm=None, clipvalue=None, global_clipnorm=None, weight_decay=None):
    params = [W0.astype(np.float32).astype(np.float64), B0.astype(np.float32).astype(np.float64)]
    for it, (x, y) in enumerate(BATCHES):
        grads = mse_grads(params, x, y)
        if clipnorm is not None:
            grads = [g * clipnorm / max(np.sqrt((g * g).sum()), clipnorm) for g in grads]
        elif global_clipnorm is not None:
            norm = np.sqrt(sum((g * g).sum() for g in grads))
            grads = [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
        elif clipvalue is not None:
            grads = [np.clip(g, -clipvalue, clipvalue) for g in grads]
        rate = lr(it) if callable(lr) else lr
        if weight_decay:
            params = [p - p * weight_decay * rate for p in params]
        t = it + 1
        rule.begin_step(t)
        params = [rule.update(i, p, g, rate, t) for i, (p, g) in enumerate(zip(params, grads))]
    return params


def _decay(it):  # ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    return 0.1 * 0.5 ** it


CASES = [
    ("sgd", lambda: O.SGD(0.1), SGD(), 0.1, {}),
    ("sgd_default_lr", lambda: O.SGD(), SGD(), 0.01, {}),
    ("sgd_momentum", lambda: O.SGD(0.1, momentum=0.9), SGD(momentum=0.9), 0.1, {}),
    ("sgd_nesterov", lambda: O.SGD(0.1, momentum=0.9, nesterov=True), SGD(momentum=0.9, nesterov=True), 0.1, {}),
    ("rmsprop", lambda: O.RMSprop(0.05), RMSprop(), 0.05, {}),
    ("rmsprop_default", lambda: O.RMSprop(), RMSprop(), 0.001, {}),
    ("rmsprop_big_eps", lambda: O.RMSprop(0.05, epsilon=0.5), RMSprop(epsilon=0.5), 0.05, {}),
    ("rmsprop_momentum", lambda: O.RMSprop(0.05, momentum=0.5), RMSprop(momentum=0.5), 0.05, {}),
    ("rmsprop_centered", lambda: O.RMSprop(0.05, centered=True, epsilon=0.1), RMSprop(centered=True, epsilon=0.1),
     0.05, {}),
    ("adam", lambda: O.Adam(0.1), Adam(), 0.1, {}),
    ("adam_default", lambda: O.Adam(), Adam(), 0.001, {}),
    ("adam_big_eps", lambda: O.Adam(0.1, epsilon=0.5), Adam(epsilon=0.5), 0.1, {}),
    ("adam_amsgrad", lambda: O.Adam(0.1, beta_2=0.5, amsgrad=True), Adam(beta_2=0.5, amsgrad=True), 0.1, {}),
    ("adamw", lambda: O.AdamW(0.1), Adam(), 0.1, {"weight_decay": 0.004}),
    ("adamw_strong", lambda: O.AdamW(0.1, weight_decay=0.5), Adam(), 0.1, {"weight_decay": 0.5}),
    ("adagrad", lambda: O.Adagrad(0.1), Adagrad(), 0.1, {}),
    ("adagrad_options", lambda: O.Adagrad(0.1, initial_accumulator_value=0.5, epsilon=0.3),
     Adagrad(initial_accumulator_value=0.5, epsilon=0.3), 0.1, {}),
    ("adadelta", lambda: O.Adadelta(1.0, epsilon=1e-2), Adadelta(epsilon=1e-2), 1.0, {}),
    ("adadelta_default", lambda: O.Adadelta(), Adadelta(), 0.001, {}),
    ("adamax", lambda: O.Adamax(0.1), Adamax(), 0.1, {}),
    ("adamax_big_eps", lambda: O.Adamax(0.1, epsilon=0.5), Adamax(epsilon=0.5), 0.1, {}),
    ("nadam", lambda: O.Nadam(0.1), Nadam(), 0.1, {}),
    ("nadam_big_eps", lambda: O.Nadam(0.1, epsilon=0.5, beta_1=0.8), Nadam(epsilon=0.5, beta_1=0.8), 0.1, {}),
    ("sgd_clipnorm", lambda: O.SGD(0.1, clipnorm=0.3), SGD(), 0.1, {"clipnorm": 0.3}),
    ("adam_clipnorm", lambda: O.Adam(0.1, clipnorm=0.3), Adam(), 0.1, {"clipnorm": 0.3}),
    ("sgd_clipvalue", lambda: O.SGD(0.1, clipvalue=0.2), SGD(), 0.1, {"clipvalue": 0.2}),
    ("sgd_global_clipnorm", lambda: O.SGD(0.1, global_clipnorm=0.5), SGD(), 0.1, {"global_clipnorm": 0.5}),
    ("rmsprop_global_clipnorm", lambda: O.RMSprop(0.05, global_clipnorm=0.5), RMSprop(), 0.05,
     {"global_clipnorm": 0.5}),
    ("sgd_weight_decay", lambda: O.SGD(0.1, weight_decay=0.2), SGD(), 0.1, {"weight_decay": 0.2}),
    ("adam_weight_decay", lambda: O.Adam(0.1, weight_decay=0.05), Adam(), 0.1, {"weight_decay": 0.05}),
    ("sgd_exponential_decay", lambda: O.SGD(O.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)),
     SGD(), _decay, {}),
    ("adam_exponential_decay_wd", lambda: O.Adam(O.schedules.ExponentialDecay(0.1, 1, 0.5), weight_decay=0.3),
     Adam(), _decay, {"weight_decay": 0.3}),
]


@pytest.mark.parametrize("make, rule, lr, extra", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_three_steps_match_keras_update_rule(dense_model, make, rule, lr, extra):
    model = dense_model(3, 2, weights=[W0, B0])
    opt = make()
    model.compile(opt, "mse")
    for x, y in BATCHES:
        model.train_on_batch(x, y)
    assert opt.iterations == 3
    want = reference(rule, lr, **extra)
    for got, exp in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, exp, rtol=2e-5, atol=2e-6)


def test_reference_cases_are_sensitive():
    """The chosen data really exercises what the cases claim (else they would pass vacuously)."""
    base = reference(Adam(beta_2=0.5), 0.1)
    ams = reference(Adam(beta_2=0.5, amsgrad=True), 0.1)
    assert not np.allclose(base[0], ams[0], rtol=1e-4)
    g = mse_grads([W0, B0], *BATCHES[0])
    assert np.sqrt((g[0] ** 2).sum()) > 0.3 and np.abs(g[0]).max() > 0.2   # clipnorm / clipvalue clip
    assert np.sqrt(sum((x ** 2).sum() for x in g)) > 0.5                    # global_clipnorm clips


def test_unknown_optimizer_and_bad_arguments():
    with pytest.raises(ValueError, match="did you mean 'rmsprop'"):
        O.get("rmsporp")
    with pytest.raises(ValueError, match="only one of"):
        O.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(TypeError, match="learning_rate"):
        O.Adam(learnin_rate=0.1)
