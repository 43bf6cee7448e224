"""LossScaleOptimizer: dynamic loss scaling in the step graph, against a numpy reference written from
Keras 3's rules (skip a non-finite step and halve the scale; double it after dynamic_growth_steps
finite steps), its Keras config and .weights.h5 layout, and compile's wrapping under mixed_float16."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

import fgc
from fgc import layers, mixed_precision
from fgc.optimizers import SGD, Adam, LossScaleOptimizer

W0 = np.array([[0.5], [-0.25], [1.0]], np.float32)
LR, B1, B2, EPS = 0.01, 0.9, 0.999, 1e-7


def _batches():
    """Six batches; the third overflows float32 (its loss and gradients are inf): a skipped step."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(6):
        x = rng.standard_normal((4, 3)).astype(np.float32)
        if i == 2:
            x = np.full((4, 3), 1e30, np.float32)
        out.append((x, rng.standard_normal((4, 1)).astype(np.float32)))
    return out


def _model(optimizer):
    x = fgc.Input(shape=(3,))
    model = fgc.Model(x, layers.Dense(1, use_bias=False)(x))
    model.set_weights([W0])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _reference(batches, initial_scale, growth):
    """numpy: Adam under Keras' dynamic loss scaling; t counts the applied steps only."""
    w, m, v = W0.astype(np.float64), np.zeros((3, 1)), np.zeros((3, 1))
    scale, counter, t = float(initial_scale), 0, 0
    history = []
    for x, y in batches:
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            g = 2.0 / len(x) * x64.T @ (x64 @ w - y64)
            finite = np.all(np.isfinite((g * scale).astype(np.float32)))
        if finite:
            t += 1
            m += (g - m) * (1 - B1)
            v += (g * g - v) * (1 - B2)
            w = w - m * (LR * np.sqrt(1 - B2 ** t) / (1 - B1 ** t)) / (np.sqrt(v) + EPS)
            if counter == growth - 1:
                scale, counter = scale * 2, 0
            else:
                counter += 1
        else:
            scale, counter = scale / 2, 0
        history.append((w.copy(), scale, counter, t, finite))
    return history


def _state(model):
    return model._trainer.optimizer_state()[2]


def test_steps_match_numpy_including_a_skipped_step_and_growth():
    batches = _batches()
    model = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    assert (model.optimizer.dynamic_scale, model.optimizer.step_counter) == (8.0, 0)
    for (x, y), (w, scale, counter, t, finite) in zip(batches, _reference(batches, 8.0, 2)):
        before = model.get_weights()[0]
        loss = model.train_on_batch(x, y)
        state = _state(model)
        assert (float(state["dynamic_scale"]), int(state["step_counter"]), int(state["inner_iteration"])) == \
            (scale, counter, t)
        assert (model.optimizer.dynamic_scale, model.optimizer.step_counter) == (scale, counter)
        if finite:
            np.testing.assert_allclose(loss, np.mean((x.astype(np.float64) @ before - y) ** 2), rtol=1e-5)
        else:   # skipped: the weights and the inner optimizer's slots are exactly as they were
            np.testing.assert_array_equal(model.get_weights()[0], before)
        np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-7)
    assert model.optimizer.iterations == len(batches)   # fgc counts the steps run, skipped ones included


def test_skipped_step_keeps_inner_slots():
    batches = _batches()
    model = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    for x, y in batches[:2]:
        model.train_on_batch(x, y)
    slots_before = {k: v.copy() for k, v in model._trainer.optimizer_state()[1][model.weights[0]].items()}
    model.train_on_batch(*batches[2])
    slots_after = model._trainer.optimizer_state()[1][model.weights[0]]
    for name in ("momentum", "velocity"):
        np.testing.assert_array_equal(slots_after[name], slots_before[name])


def test_multistep_execution_gives_the_same_numbers():
    batches = _batches()
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    one = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    for xb, yb in batches:
        one.train_on_batch(xb, yb)
    many = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    many.compile(optimizer=many.optimizer, loss="mse", steps_per_execution=3)
    many.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(many.get_weights()[0], one.get_weights()[0], rtol=1e-6)
    assert {k: float(v) for k, v in _state(many).items()} == {k: float(v) for k, v in _state(one).items()}


def test_matches_keras_loss_scale_optimizer():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("run with KERAS_BACKEND=jax")
    batches = _batches()
    kx = keras.Input((3,))
    kmodel = keras.Model(kx, keras.layers.Dense(1, use_bias=False)(kx))
    kmodel.set_weights([W0])
    kopt = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(LR), initial_scale=8.0, dynamic_growth_steps=2)
    kmodel.compile(optimizer=kopt, loss="mse")
    model = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    for x, y in batches:
        kmodel.train_on_batch(x, y)
        model.train_on_batch(x, y)
        np.testing.assert_allclose(model.get_weights()[0], kmodel.get_weights()[0], rtol=1e-5, atol=1e-7)
        state = _state(model)
        assert float(state["dynamic_scale"]) == float(kopt.dynamic_scale.numpy())
        assert int(state["step_counter"]) == int(kopt.step_counter.numpy())
        assert int(state["inner_iteration"]) == int(kopt.inner_optimizer.iterations.numpy())


def test_inner_clipnorm_clips_each_weight_on_its_own():
    """clipnorm is per weight: the inner optimizer's clipnorm must not become a norm over all weights."""
    x = fgc.Input(shape=(3,))
    model = fgc.Model(x, layers.Dense(2)(x))
    kernel, bias = np.full((3, 2), 0.5, np.float32), np.zeros(2, np.float32)
    model.set_weights([kernel, bias])
    model.compile(optimizer=LossScaleOptimizer(SGD(1.0, clipnorm=0.1), initial_scale=4.0), loss="mse")
    data, target = np.ones((2, 3), np.float32), np.full((2, 2), 9.0, np.float32)
    model.train_on_batch(data, target)
    grad_kernel = 2.0 / 2 * data.T @ (data @ kernel + bias - target) / 2     # mse: mean over 2 outputs too
    grad_bias = 2.0 / 2 * (data @ kernel + bias - target).sum(0) / 2
    for before, grad, after in ((kernel, grad_kernel, model.get_weights()[0]), (bias, grad_bias, model.get_weights()[1])):
        np.testing.assert_allclose(after, before - grad * min(1.0, 0.1 / np.linalg.norm(grad)), rtol=1e-5)


def test_config_is_keras_and_round_trips():
    opt = LossScaleOptimizer(SGD(0.05, momentum=0.5), initial_scale=64, dynamic_growth_steps=10)
    config = opt.get_config()
    assert list(config) == ["name", "inner_optimizer", "initial_scale", "dynamic_growth_steps"]
    assert config["name"] == "loss_scale_optimizer"
    assert config["inner_optimizer"]["class_name"] == "SGD"
    assert config["inner_optimizer"]["module"] == "keras.optimizers"
    serialized = fgc.optimizers.serialize(opt)
    assert (serialized["module"], serialized["class_name"]) == ("keras.optimizers", "LossScaleOptimizer")
    again = fgc.optimizers.deserialize(serialized)
    assert isinstance(again, LossScaleOptimizer) and isinstance(again.inner_optimizer, SGD)
    assert (again.initial_scale, again.dynamic_growth_steps, again.inner_optimizer.momentum) == (64.0, 10, 0.5)
    assert again.learning_rate == 0.05


@pytest.mark.parametrize("kwargs, match", [
    ({"dynamic": False}, "dynamic=False"),
    ({"clipnorm": 1.0}, "clipnorm"),
    ({"momentum": 0.9}, "does not support arguments"),
    ({"dynamic_growth_steps": 0}, "dynamic_growth_steps"),
    ({"initial_scale": -1.0}, "initial_scale"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LossScaleOptimizer(Adam(), **kwargs)


def test_cannot_wrap_twice():
    with pytest.raises(ValueError, match="scaled twice"):
        LossScaleOptimizer(LossScaleOptimizer(Adam()))


def test_compile_wraps_only_under_mixed_float16():
    mixed_precision.set_global_policy("mixed_float16")
    x = fgc.Input(shape=(3,))
    model = fgc.Model(x, layers.Dense(1)(x))
    inner = Adam(0.01)
    model.compile(optimizer=inner, loss="mse")
    assert isinstance(model.optimizer, LossScaleOptimizer) and model.optimizer.inner_optimizer is inner
    assert model.optimizer.name == "loss_scale_optimizer"
    given = LossScaleOptimizer(Adam(), initial_scale=4.0)
    model.compile(optimizer=given, loss="mse")
    assert model.optimizer is given
    for policy in ("float32", "mixed_bfloat16"):
        mixed_precision.set_global_policy(policy)
        x = fgc.Input(shape=(3,))
        model = fgc.Model(x, layers.Dense(1, dtype="float32")(x))
        assert model.dtype_policy.name == policy
        model.compile(optimizer="adam", loss="mse")
        assert isinstance(model.optimizer, Adam)


def test_compile_auto_scale_loss_false_keeps_the_optimizer_unwrapped():
    """Keras: auto_scale_loss=False trains mixed_float16 with the optimizer as given (no loss scaling)."""
    mixed_precision.set_global_policy("mixed_float16")
    try:
        x = fgc.Input(shape=(3,))
        model = fgc.Model(x, layers.Dense(1, dtype="float32")(x))
        inner = SGD(0.1)
        model.compile(optimizer=inner, loss="mse", auto_scale_loss=False)
        assert model.optimizer is inner
        assert "auto_scale_loss" not in model.get_compile_config()   # Keras' compile config has none
        with pytest.raises(TypeError, match="auto_scale_loss"):
            model.compile(optimizer="sgd", loss="mse", auto_scale_loss="no")
        assert model.optimizer is inner   # the refused compile changed nothing
        w0 = model.get_weights()
        xb, yb = np.ones((2, 3), np.float32), np.zeros((2, 1), np.float32)
        model.train_on_batch(xb, yb)
        kernel, bias = w0
        grad = 2 * (xb @ kernel + bias - yb) / yb.size
        np.testing.assert_allclose(model.get_weights()[0], kernel - 0.1 * xb.T @ grad, rtol=1e-3, atol=1e-4)
    finally:
        mixed_precision.set_global_policy("float32")


def test_weights_file_has_keras_layout_and_resumes(tmp_path):
    batches = _batches()
    model = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    for x, y in batches[:3]:
        model.train_on_batch(x, y)
    model.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5") as f:
        own = [f["optimizer/vars"][str(i)][()] for i in range(len(f["optimizer/vars"]))]
        inner = [f["optimizer/inner_optimizer/vars"][str(i)][()] for i in range(len(f["optimizer/inner_optimizer/vars"]))]
    # Keras: iteration 0 and learning rate 0.0 of its own, step_counter, dynamic_scale, then Adam's variables
    assert len(own) == 4 + 2 + 2 and len(inner) == 2 + 2
    assert (int(own[0]), float(own[1]), int(own[2]), float(own[3])) == (0, 0.0, 0, 8.0)
    assert int(inner[0]) == 2 and np.isclose(float(inner[1]), LR)
    for a, b in zip(own[4:], inner):
        np.testing.assert_array_equal(a, b)
    resumed = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    resumed.load_weights(tmp_path / "m.weights.h5")
    for x, y in batches[3:]:
        model.train_on_batch(x, y)
        resumed.train_on_batch(x, y)
    np.testing.assert_array_equal(resumed.get_weights()[0], model.get_weights()[0])
    assert {k: float(v) for k, v in _state(resumed).items()} == {k: float(v) for k, v in _state(model).items()}


def test_weights_file_moves_to_keras_and_back(tmp_path):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("run with KERAS_BACKEND=jax")
    batches = _batches()
    model = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    for x, y in batches[:4]:
        model.train_on_batch(x, y)
    model.save_weights(tmp_path / "fgc.weights.h5")
    kx = keras.Input((3,))
    kmodel = keras.Model(kx, keras.layers.Dense(1, use_bias=False)(kx))
    kopt = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(LR), initial_scale=8.0, dynamic_growth_steps=2)
    kmodel.compile(optimizer=kopt, loss="mse")
    kopt.build(kmodel.trainable_variables)
    kmodel.load_weights(tmp_path / "fgc.weights.h5")
    state = _state(model)
    assert float(kopt.dynamic_scale.numpy()) == float(state["dynamic_scale"])
    assert int(kopt.step_counter.numpy()) == int(state["step_counter"])
    assert int(kopt.inner_optimizer.iterations.numpy()) == int(state["inner_iteration"])
    kmodel.train_on_batch(*batches[4])
    kmodel.save_weights(tmp_path / "keras.weights.h5")
    model.train_on_batch(*batches[4])
    back = _model(LossScaleOptimizer(Adam(LR), initial_scale=8.0, dynamic_growth_steps=2))
    back.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(back.get_weights()[0], model.get_weights()[0], rtol=1e-5)
    assert {k: float(v) for k, v in _state(back).items()} == {k: float(v) for k, v in _state(model).items()}


def test_keras_saved_mixed_model_resumes_with_its_loss_scale(tmp_path):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("run with KERAS_BACKEND=jax")
    keras.config.set_dtype_policy("mixed_float16")
    try:
        kx = keras.Input((3,))
        kmodel = keras.Model(kx, keras.layers.Activation("linear", dtype="float32")(keras.layers.Dense(1)(kx)))
        kmodel.compile(optimizer=keras.optimizers.Adam(LR), loss="mse")
        for x, y in _batches()[:4]:   # the third batch overflows: one skipped step
            kmodel.train_on_batch(x, y)
        kmodel.save(tmp_path / "k.keras")
        kopt = kmodel.optimizer
        expected = (float(kopt.dynamic_scale.numpy()), int(kopt.step_counter.numpy()),
                    int(kopt.inner_optimizer.iterations.numpy()))
    finally:
        keras.config.set_dtype_policy("float32")
    # Keras' compile config holds the inner optimizer: compile wraps it again under the mixed policy
    with pytest.raises(ValueError, match="LossScaleOptimizer's state.*mixed_float16"):
        fgc.models.load_model(tmp_path / "k.keras")
    mixed_precision.set_global_policy("mixed_float16")
    model = fgc.models.load_model(tmp_path / "k.keras")
    assert isinstance(model.optimizer, LossScaleOptimizer) and isinstance(model.optimizer.inner_optimizer, Adam)
    state = _state(model)
    assert (float(state["dynamic_scale"]), int(state["step_counter"]), int(state["inner_iteration"])) == expected
    x, y = _batches()[4]
    kmodel.train_on_batch(x, y)
    model.train_on_batch(x, y)
    np.testing.assert_allclose(model.get_weights()[0], kmodel.get_weights()[0], rtol=2e-3, atol=1e-4)
