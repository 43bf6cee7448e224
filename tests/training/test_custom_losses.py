"""Custom losses: functions and ``Loss`` subclasses written with fgc.ops, in compile() and on arrays.

References are numpy written from the same formulas, and Keras' reduction rules
(keras/src/losses/loss.py): a function's values are weighted by the sample weights and divided by
their number of elements (``sum_over_batch_size``); a scalar result is multiplied by the weights,
which then average over the batch. Gradients come from the primitives' vjps: each is checked
against finite differences of the numpy formula through one SGD step with learning rate 1.
"""
import os

import numpy as np
import pytest

import fgc
from fgc import layers, losses, ops
from fgc.saving import register_keras_serializable

rng = np.random.default_rng(11)
N, D, C = 5, 3, 2
X = rng.standard_normal((N, D)).astype(np.float32)
Y = rng.standard_normal((N, C)).astype(np.float32)
W0 = (rng.standard_normal((D, C)) * 0.5).astype(np.float32)
B0 = np.array([0.1, -0.2], np.float32)
SW = np.array([1.0, 0.0, 2.0, 0.5, 3.0], np.float32)


def linear_model(outputs=1):
    x = fgc.Input((D,), name="x")
    outs = [layers.Dense(C, name=f"out{i}")(x) for i in range(outputs)]
    model = fgc.Model(x, outs if outputs > 1 else outs[0])
    model.set_weights([W0, B0] * outputs)
    return model


def sgd_gradient(model, x, y, **kwargs):
    before = model.get_weights()
    model.train_on_batch(x, y, **kwargs)
    return [b - a for b, a in zip(before, model.get_weights())]


def linear_pred(params):
    return X.astype(np.float64) @ params[0] + params[1]


PARAMS = [W0.astype(np.float64), B0.astype(np.float64)]


# ---------------------------------------------------------------- the functions and their references
def soft_margin(y_true, y_pred):
    """A loss per sample with a where, a log, an exp and operators."""
    err = y_pred - y_true
    return ops.mean(ops.where(err > 0, ops.log(1.0 + ops.exp(err)), ops.square(err) * 0.5 + np.log(2.0)), axis=-1)


def ref_soft_margin(t, p):
    err = p - t
    return np.where(err > 0, np.log1p(np.exp(err)), 0.5 * err ** 2 + np.log(2.0)).mean(-1)


def per_element(y_true, y_pred):
    return ops.abs(y_pred - y_true) * 2.0


def ref_per_element(t, p):
    return 2.0 * np.abs(p - t)


def batch_scalar(y_true, y_pred):
    return ops.sqrt(ops.mean(ops.square(y_pred - y_true)))


def ref_batch_scalar(t, p):
    return np.sqrt(((p - t) ** 2).mean())


def keras_reduce(values, sw=None, reduction="sum_over_batch_size"):
    values = np.asarray(values, np.float64)
    if sw is not None:
        per_sample = sw.ndim == 1 and values.ndim > 1   # fit's (N,) weights over a sample's elements
        values = values * (sw.reshape(-1, *[1] * (values.ndim - 1)) if per_sample else sw)
    if reduction is None or values.ndim == 0:
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and sw is not None:   # fit counts a sample's weight per element
        return values.sum() / (sw.sum() * (values.size / sw.size))
    return values.sum() / values.size


FUNCTIONS = [(soft_margin, ref_soft_margin), (per_element, ref_per_element), (batch_scalar, ref_batch_scalar)]


@pytest.mark.parametrize("fn, ref", FUNCTIONS, ids=lambda f: getattr(f, "__name__", ""))
@pytest.mark.parametrize("weighted", [False, True])
def test_function_loss_in_fit_matches_numpy_and_finite_differences(fd_grads, fn, ref, weighted):
    model = linear_model()
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), fn)
    sw = SW if weighted else None

    def batch_loss(params):
        return keras_reduce(ref(Y, linear_pred(params)), sw)

    assert model.evaluate(X, Y, sample_weight=sw, batch_size=N, verbose=0) == pytest.approx(batch_loss(PARAMS),
                                                                                            rel=1e-5)
    got = sgd_gradient(model, X, Y, sample_weight=sw)
    for g, w in zip(got, fd_grads(batch_loss, [p.copy() for p in PARAMS])):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fn, ref", FUNCTIONS, ids=lambda f: getattr(f, "__name__", ""))
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight", None])
def test_function_loss_standalone_with_reductions(fn, ref, reduction):
    p = linear_pred(PARAMS).astype(np.float32)
    # Keras broadcasts the weights against the values as they are: per-element losses need per-element weights
    weights = SW[:, None] * np.array([1.0, 0.5], np.float32) if fn is per_element else SW
    for sw in (None, weights):
        got = losses.LossFunctionWrapper(fn, reduction=reduction)(Y, p, sample_weight=sw)
        np.testing.assert_allclose(got, keras_reduce(ref(Y, p), sw, reduction), rtol=1e-5, atol=1e-6)


def test_several_outputs_with_lists_dicts_and_loss_weights(fd_grads):
    model = linear_model(outputs=2)
    y2 = Y[:, ::-1].copy()
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), {"out0": soft_margin, "out1": "mse"},
                  loss_weights={"out0": 0.3, "out1": 2.0})
    logs = model.evaluate(X, [Y, y2], batch_size=N, verbose=0, return_dict=True)
    p = linear_pred(PARAMS)
    want0, want1 = ref_soft_margin(Y, p).mean(), ((p - y2) ** 2).mean()
    assert logs["out0_loss"] == pytest.approx(want0, rel=1e-5)
    assert logs["out1_loss"] == pytest.approx(want1, rel=1e-5)
    assert logs["loss"] == pytest.approx(0.3 * want0 + 2.0 * want1, rel=1e-5)

    model.compile(fgc.optimizers.SGD(learning_rate=1.0), [per_element, soft_margin])
    got = sgd_gradient(model, X, [Y, y2])

    def total(params):
        return ref_per_element(Y, linear_pred(params[:2])).mean() + ref_soft_margin(y2, linear_pred(params[2:])).mean()

    want = fd_grads(total, [p.copy() for p in PARAMS * 2])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_a_custom_function_may_call_the_function_forms():
    model = linear_model()
    model.compile("sgd", lambda t, p: 2.0 * losses.mean_squared_error(t, p) + losses.huber(t, p, delta=0.5))
    p = linear_pred(PARAMS)
    err = np.abs(p - Y)
    huber = np.where(err <= 0.5, 0.5 * err ** 2, 0.5 * err - 0.125).mean(-1)
    assert model.evaluate(X, Y, verbose=0) == pytest.approx((2 * ((p - Y) ** 2).mean(-1) + huber).mean(), rel=1e-5)


def test_function_forms_in_compile_keep_their_targets():
    """compile(loss=fgc.losses.sparse_categorical_crossentropy) takes class ids, as the class does."""
    x = fgc.Input((D,), name="x")
    model = fgc.Model(x, layers.Dense(3, activation="softmax", name="out")(x))
    model.compile("sgd", losses.sparse_categorical_crossentropy)
    ids = np.array([0, 2, 1, 1, 0])
    probs = model.predict(X, verbose=0)
    want = -np.log(np.clip(probs[np.arange(N), ids], 1e-7, 1 - 1e-7)).mean()
    assert model.evaluate(X, ids, verbose=0) == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- Loss subclasses
class ScaledLogCosh(losses.Loss):
    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        err = y_pred - y_true
        return self.scale * ops.mean(ops.log((ops.exp(err) + ops.exp(-err)) / 2.0), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def ref_scaled_log_cosh(t, p, scale):
    return scale * np.log(np.cosh(p - t)).mean(-1)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_loss_subclass_in_fit_and_standalone(fd_grads, reduction):
    loss = ScaledLogCosh(scale=3.0, reduction=reduction)
    assert loss.name == "scaled_log_cosh"   # Keras' automatic name
    model = linear_model()
    model.compile(fgc.optimizers.SGD(learning_rate=1.0), loss)

    def batch_loss(params):
        return keras_reduce(ref_scaled_log_cosh(Y, linear_pred(params), 3.0), SW, reduction)

    assert model.evaluate(X, Y, sample_weight=SW, batch_size=N, verbose=0) == pytest.approx(batch_loss(PARAMS),
                                                                                            rel=1e-5)
    p = linear_pred(PARAMS).astype(np.float32)
    np.testing.assert_allclose(loss(Y, p, sample_weight=SW), batch_loss(PARAMS), rtol=1e-5)
    got = sgd_gradient(model, X, Y, sample_weight=SW)
    for g, w in zip(got, fd_grads(batch_loss, [q.copy() for q in PARAMS])):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_loss_subclass_unreduced_and_config():
    p = linear_pred(PARAMS).astype(np.float32)
    loss = ScaledLogCosh(scale=0.5, reduction=None, name="lc")
    np.testing.assert_allclose(loss(Y, p), ref_scaled_log_cosh(Y, p, 0.5), rtol=1e-5)
    assert loss.get_config() == {"name": "lc", "reduction": None, "scale": 0.5}
    again = ScaledLogCosh.from_config(loss.get_config())
    assert again.get_config() == loss.get_config()


def test_subclass_without_call_says_what_to_define():
    class Empty(losses.Loss):
        pass

    with pytest.raises(NotImplementedError, match=r"Empty must define call\(self, y_true, y_pred\)"):
        linear_model().compile("sgd", Empty()) or Empty()(Y, Y)


def test_wrapper_passes_its_keyword_arguments_and_serializes_them():
    @register_keras_serializable(package="test_custom_losses")
    def scaled_abs(y_true, y_pred, scale=1.0):
        return scale * ops.mean(ops.abs(y_pred - y_true), axis=-1)

    loss = losses.LossFunctionWrapper(scaled_abs, name="sa", scale=4.0)
    p = linear_pred(PARAMS).astype(np.float32)
    np.testing.assert_allclose(loss(Y, p), 4.0 * np.abs(p - Y).mean(), rtol=1e-5)
    config = loss.get_config()
    assert config["scale"] == 4.0 and config["name"] == "sa"
    assert config["fn"]["config"] == "test_custom_losses>scaled_abs"
    again = losses.deserialize(losses.serialize(loss))
    np.testing.assert_allclose(again(Y, p), loss(Y, p), rtol=1e-6)
    model = linear_model()
    model.compile("sgd", loss)
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(4.0 * np.abs(linear_pred(PARAMS) - Y).mean(), rel=1e-5)


# ---------------------------------------------------------------- saving
@register_keras_serializable(package="test_custom_losses")
def registered_loss(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true), axis=-1) * 0.5


@register_keras_serializable(package="test_custom_losses")
class RegisteredLoss(ScaledLogCosh):
    pass


def unregistered_loss(y_true, y_pred):
    return ops.mean(ops.abs(y_pred - y_true), axis=-1)


@pytest.mark.parametrize("loss", [registered_loss, RegisteredLoss(scale=2.0)], ids=["function", "class"])
def test_keras_file_restores_registered_custom_losses(tmp_path, loss):
    model = linear_model()
    model.compile("sgd", loss)
    want = model.evaluate(X, Y, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = fgc.models.load_model(tmp_path / "m.keras")
    assert loaded.evaluate(X, Y, verbose=0) == pytest.approx(want, rel=1e-6)


def test_unregistered_custom_loss_fails_to_load_with_the_fix(tmp_path):
    model = linear_model()
    model.compile("sgd", unregistered_loss)
    model.save(tmp_path / "m.keras")
    with pytest.raises(TypeError, match=r"could not locate function 'unregistered_loss'.*register_keras_serializable"):
        fgc.models.load_model(tmp_path / "m.keras")
    loaded = fgc.models.load_model(tmp_path / "m.keras", custom_objects={"unregistered_loss": unregistered_loss})
    assert loaded.evaluate(X, Y, verbose=0) == pytest.approx(model.evaluate(X, Y, verbose=0), rel=1e-6)


# ---------------------------------------------------------------- errors
def test_a_loss_that_returns_no_tensor_is_refused():
    model = linear_model()
    model.compile("sgd", lambda t, p: 1.0)
    with pytest.raises(TypeError, match=r"returned float; a loss must return a tensor"):
        model.fit(X, Y, verbose=0)


def test_a_loss_that_reads_a_weight_is_refused():
    model = linear_model()
    kernel = model.get_layer("out0").kernel
    model.compile("sgd", lambda t, p: ops.mean(ops.square(p - t), axis=-1) + ops.sum(kernel))
    with pytest.raises(ValueError, match=r"reads the weight .*add_loss"):
        model.fit(X, Y, verbose=0)


def test_tracing_a_loss_does_not_shift_layer_names():
    """The trace records ops ('where', 'log', 'add', ...) as layers; their automatic names must not
    use up the names of layers the user makes afterwards."""
    from fgc import naming

    model = linear_model()
    model.compile("sgd", soft_margin)
    before = dict(naming._counts)
    model.fit(X, Y, verbose=0)
    assert dict(naming._counts) == before


# ---------------------------------------------------------------- Keras itself
@pytest.fixture(scope="module")
def keras_jax():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


def _written_with(namespace):
    def margin(y_true, y_pred):
        return namespace.mean(namespace.square(namespace.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)

    def elementwise(y_true, y_pred):
        return namespace.abs(y_pred - y_true)

    def scalar(y_true, y_pred):
        return namespace.sqrt(namespace.mean(namespace.square(y_pred - y_true)))
    return [margin, elementwise, scalar]


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight", None])
def test_wrapped_functions_reduce_as_in_keras(keras_jax, index, reduction):
    from keras.src.losses.losses import LossFunctionWrapper   # not exported by keras.losses in Keras 3.15

    p = linear_pred(PARAMS).astype(np.float32)
    theirs = LossFunctionWrapper(_written_with(keras_jax.ops)[index], reduction=reduction)
    ours = losses.LossFunctionWrapper(_written_with(ops)[index], reduction=reduction)
    for sw in (None, SW[:, None] * np.array([1.0, 0.5], np.float32) if index == 1 else SW):
        np.testing.assert_allclose(ours(Y, p, sample_weight=sw), np.asarray(theirs(Y, p, sample_weight=sw)),
                                   rtol=1e-5, atol=1e-6)


def test_losses_by_class_name_and_by_registered_name():
    assert type(losses.get("BinaryFocalCrossentropy")) is losses.BinaryFocalCrossentropy
    assert type(losses.get("test_custom_losses>RegisteredLoss")) is RegisteredLoss
    wrapped = losses.get("test_custom_losses>registered_loss")
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.fn is registered_loss
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        losses.get("nope")


def test_constructor_argument_order_follows_keras():
    """keras.losses.Loss takes name first; the built-in losses take reduction first."""
    class Named(losses.Loss):
        def __init__(self):
            super().__init__("named_loss", "sum")

        def call(self, y_true, y_pred):
            return ops.mean(ops.square(y_pred - y_true), axis=-1)

    assert (Named().name, Named().reduction) == ("named_loss", "sum")
    assert losses.MeanSquaredError("sum", "m").get_config() == {"name": "m", "reduction": "sum"}
