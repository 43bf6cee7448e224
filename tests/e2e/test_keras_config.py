"""Configs against Keras 3 itself (skipped without it): for the same construction arguments fgc's
``get_config()`` has Keras' keys and values, Keras' serialized objects deserialize in fgc (and give
back the same config), and fgc's deserialize in Keras."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import fgc
from fgc.saving import deserialize_keras_object, serialize_keras_object

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

# Keys fgc writes that Keras 3.15 leaves out of these classes' configs (fgc keeps the argument, so a
# round trip through fgc does not lose it; Keras' own from_config accepts it).
FGC_EXTRA_KEYS = {"Huber": {"delta"}, "CosineSimilarity": {"axis"}, "SparseCategoricalCrossentropy": {"axis"}}


def normalized(config):
    """JSON's view of a config (tuples as lists), as config.json stores it."""
    return json.loads(json.dumps(config))


def assert_same(fgc_value, keras_value, path="config"):
    """Equal configs; floats compare at float32 precision (Keras stores learning rates as float32)."""
    if isinstance(keras_value, dict):
        assert isinstance(fgc_value, dict), f"{path}: fgc has {fgc_value!r}, Keras {keras_value!r}"
        extra = FGC_EXTRA_KEYS.get(keras_value.get("class_name"), set()) if "class_name" in keras_value else set()
        assert set(fgc_value) == set(keras_value), (
            f"{path}: keys differ; fgc only {sorted(set(fgc_value) - set(keras_value))}, "
            f"Keras only {sorted(set(keras_value) - set(fgc_value))}")
        for key in keras_value:
            if key == "config" and extra:
                fgc_inner = {k: v for k, v in fgc_value[key].items() if k not in extra}
                assert_same(fgc_inner, keras_value[key], f"{path}.{key}")
            else:
                assert_same(fgc_value[key], keras_value[key], f"{path}.{key}")
    elif isinstance(keras_value, list):
        assert isinstance(fgc_value, list) and len(fgc_value) == len(keras_value), \
            f"{path}: fgc has {fgc_value!r}, Keras {keras_value!r}"
        for i, (a, b) in enumerate(zip(fgc_value, keras_value)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(keras_value, float) and not isinstance(fgc_value, bool):
        assert fgc_value == pytest.approx(keras_value, rel=1e-6), f"{path}: fgc {fgc_value!r}, Keras {keras_value!r}"
    else:
        assert fgc_value == keras_value, f"{path}: fgc {fgc_value!r}, Keras {keras_value!r}"


# (class name, positional args, keyword args): non-default arguments wherever fgc supports them
LAYER_CASES = [
    ("Dense", (3,), dict(activation="relu", use_bias=False, kernel_initializer="he_normal")),
    ("Dense", (4,), dict(bias_initializer="ones", kernel_initializer="random_normal")),
    ("Activation", ("tanh",), {}),
    ("Dropout", (0.3,), dict(noise_shape=(None, 1), seed=4)),
    ("Flatten", (), dict(data_format="channels_first")),
    ("Reshape", ((3, 2),), {}),
    ("RepeatVector", (5,), {}),
    ("Permute", ((2, 1),), {}),
    ("Masking", (-1.0,), {}),
    ("Add", (), {}), ("Subtract", (), {}), ("Multiply", (), {}), ("Average", (), {}), ("Maximum", (), {}),
    ("Minimum", (), {}), ("Concatenate", (), dict(axis=1)),
    ("Embedding", (10, 3), dict(mask_zero=True, embeddings_initializer="glorot_uniform")),
    ("SimpleRNN", (3,), dict(activation="relu", return_sequences=True, dropout=0.1)),
    ("LSTM", (3,), dict(unit_forget_bias=False, return_state=True, go_backwards=True, recurrent_dropout=0.2, seed=3)),
    ("GRU", (3,), dict(reset_after=False, recurrent_activation="hard_sigmoid", use_bias=False)),
    ("Conv1D", (2, 3), dict(strides=2, padding="causal", activation="relu")),
    ("Conv2D", (4, (3, 2)), dict(padding="same", dilation_rate=2, groups=2, data_format="channels_first")),
    ("SeparableConv2D", (2, 3), dict(depth_multiplier=2, strides=(2, 1), pointwise_initializer="he_uniform")),
    ("BatchNormalization", (), dict(axis=1, momentum=0.9, epsilon=1e-5, center=False, gamma_initializer="zeros")),
    ("MaxPooling1D", (3,), dict(strides=1, padding="same")),
    ("MaxPooling2D", ((2, 3),), {}),
    ("AveragePooling1D", (2,), {}),
    ("AveragePooling2D", ((2, 2),), dict(strides=1, data_format="channels_first")),
    ("GlobalMaxPooling1D", (), dict(keepdims=True)),
    ("GlobalMaxPooling2D", (), {}),
    ("GlobalAveragePooling1D", (), {}),
    ("GlobalAveragePooling2D", (), dict(data_format="channels_first")),
]


def _make(api, name, args, kwargs):
    return getattr(api.layers, name)(*args, name=f"{name.lower()}_case", **kwargs)


@pytest.mark.parametrize("name,args,kwargs", LAYER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)])
def test_layer_config_matches_keras(name, args, kwargs):
    ours, theirs = _make(fgc, name, args, kwargs), _make(keras, name, args, kwargs)
    assert_same(normalized(serialize_keras_object(ours)), normalized(keras.saving.serialize_keras_object(theirs)))


@pytest.mark.parametrize("name,args,kwargs", LAYER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)])
def test_keras_layer_config_round_trips_through_fgc_and_back(name, args, kwargs):
    keras_config = normalized(keras.saving.serialize_keras_object(_make(keras, name, args, kwargs)))
    ours = deserialize_keras_object(keras_config)
    assert type(ours).__name__ == name
    assert_same(normalized(serialize_keras_object(ours)), keras_config)
    back = keras.saving.deserialize_keras_object(normalized(serialize_keras_object(ours)))
    assert_same(normalized(serialize_keras_object(ours)), normalized(keras.saving.serialize_keras_object(back)))


def _wrappers(api):
    L = api.layers
    return [L.Bidirectional(L.LSTM(3, return_sequences=True, name="lstm"), merge_mode="sum", name="bi"),
            L.TimeDistributed(L.Dense(2, activation="relu", name="inner_dense"), name="td")]


def test_wrapper_configs_match_keras():
    for ours, theirs in zip(_wrappers(fgc), _wrappers(keras)):
        assert_same(normalized(serialize_keras_object(ours)), normalized(keras.saving.serialize_keras_object(theirs)))
        back = deserialize_keras_object(normalized(keras.saving.serialize_keras_object(theirs)))
        assert_same(normalized(serialize_keras_object(back)), normalized(keras.saving.serialize_keras_object(theirs)))


# ---------------------------------------------------------------------------------------------- models
def shared_nested(api):
    L = api.layers
    a, b = api.Input(shape=(4,), name="a"), api.Input(shape=(4,), name="b")
    shared = L.Dense(3, name="shared")
    inner_in = api.Input(shape=(3,), name="inner_in")
    inner = api.Model(inner_in, L.Dense(2, name="inner_dense")(inner_in), name="inner")
    merged = L.Concatenate(name="cat")([shared(a), shared(b)])
    return api.Model([a, b], [inner(shared(a)), L.Dense(1, name="z")(merged)], name="outer")


def dict_io(api):
    L = api.layers
    a, b = api.Input(shape=(4,), name="a"), api.Input(shape=(2,), name="b")
    x = L.add([L.Dense(2, name="da")(a), b], name="sum")
    return api.Model({"a": a, "b": b}, {"y": L.Dense(1, name="y")(x), "x": x}, name="dicts")


def recurrent_text(api):
    L = api.layers
    text = api.Input(shape=(None,), dtype="int32", name="text")
    # (no mask_zero: Keras records its mask computation as extra ops in the config, which fgc does not read)
    e = L.Embedding(50, 6, name="emb")(text)
    h = L.Bidirectional(L.GRU(4, return_sequences=True), name="bi")(e)
    h = L.TimeDistributed(L.Dense(3), name="td")(h)
    return api.Model(text, L.GlobalAveragePooling1D(name="pool")(h), name="text_model")


def vision(api):
    L = api.layers
    x = api.Input(shape=(8, 8, 3), name="image")
    y = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    y = L.BatchNormalization(name="bn")(y)
    y = L.MaxPooling2D(name="pool")(y)
    y = L.SeparableConv2D(4, 3, name="sep")(y)
    return api.Model(x, L.Dense(2, activation="softmax", name="out")(L.Flatten(name="flat")(y)), name="vision")


def sequential(api):
    L = api.layers
    return api.Sequential([api.Input(shape=(5,), name="seq_in"), L.Dense(4, activation="relu", name="h"),
                           L.Dropout(0.2, name="drop"), L.Dense(1, name="o")], name="seq")


def nested_sequential(api):
    L = api.layers
    x = api.Input(shape=(5,), name="x")
    inner = api.Sequential([api.Input(shape=(5,), name="seq_in"), L.Dense(3, name="h")], name="seq")
    return api.Model(x, L.Dense(1, name="o")(inner(x)), name="holder")


MODELS = [shared_nested, dict_io, recurrent_text, vision, sequential, nested_sequential]


@pytest.mark.parametrize("build", MODELS, ids=[m.__name__ for m in MODELS])
def test_model_config_matches_keras(build):
    fgc.utils.clear_session()
    keras.utils.clear_session()
    ours, theirs = build(fgc), build(keras)
    assert_same(normalized(serialize_keras_object(ours)), normalized(keras.saving.serialize_keras_object(theirs)))


@pytest.mark.parametrize("build", MODELS, ids=[m.__name__ for m in MODELS])
def test_keras_model_json_loads_in_fgc_and_predicts_the_same(build):
    keras.utils.clear_session()
    theirs = build(keras)
    ours = fgc.models.model_from_json(theirs.to_json())
    assert_same(json.loads(ours.to_json()), json.loads(theirs.to_json()))
    ours.set_weights(theirs.get_weights())
    inputs = _inputs(ours)
    expected, got = theirs.predict(inputs, verbose=0), ours.predict(inputs)
    for e, g in zip(_flat(expected), _flat(got)):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("build", MODELS, ids=[m.__name__ for m in MODELS])
def test_fgc_model_json_loads_in_keras(build):
    fgc.utils.clear_session()
    ours = build(fgc)
    theirs = keras.models.model_from_json(ours.to_json())
    assert_same(json.loads(ours.to_json()), json.loads(theirs.to_json()))


def _inputs(model):
    """Random data for an fgc model's inputs (a dict when the model takes a dict)."""
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 50, tuple(3 if d is None else d for d in t.shape)) if "int" in t.dtype
              else rng.random(tuple(3 if d is None else d for d in t.shape), dtype=np.float32) for t in model.inputs]
    return dict(zip(model.input_names, arrays)) if model._input_keys else arrays


def _flat(x):
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x) if isinstance(x, (list, tuple)) else [x]


# ---------------------------------------------------------------------------------------------- training objects
OPTIMIZER_CASES = [("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True, clipnorm=1.0)),
                   ("RMSprop", dict(rho=0.8, centered=True, clipvalue=0.5)),
                   ("Adam", dict(beta_1=0.8, amsgrad=True, global_clipnorm=2.0)),
                   ("AdamW", dict(weight_decay=0.01)), ("Adagrad", dict(initial_accumulator_value=0.2)),
                   ("Adadelta", dict(rho=0.9)), ("Adamax", dict(epsilon=1e-6)), ("Nadam", dict(beta_2=0.99))]


@pytest.mark.parametrize("name,kwargs", OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
def test_optimizer_config_matches_keras(name, kwargs):
    ours, theirs = getattr(fgc.optimizers, name)(**kwargs), getattr(keras.optimizers, name)(**kwargs)
    keras_config = normalized(keras.optimizers.serialize(theirs))
    assert_same(normalized(fgc.optimizers.serialize(ours)), keras_config)
    assert_same(normalized(fgc.optimizers.serialize(fgc.optimizers.get(keras_config))), keras_config)
    back = keras.optimizers.deserialize(normalized(fgc.optimizers.serialize(ours)))
    assert_same(normalized(fgc.optimizers.serialize(ours)), normalized(keras.optimizers.serialize(back)))


def _schedules(api):
    s = api.optimizers.schedules
    return [s.ExponentialDecay(0.1, 10, 0.9, staircase=True), s.PiecewiseConstantDecay([5, 10], [0.1, 0.05, 0.01]),
            s.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=5)]


def test_schedule_configs_match_keras_and_load_in_optimizers():
    for ours, theirs in zip(_schedules(fgc), _schedules(keras)):
        keras_config = normalized(keras.saving.serialize_keras_object(theirs))
        assert_same(normalized(serialize_keras_object(ours)), keras_config)
        loaded = deserialize_keras_object(keras_config)
        for step in (0, 3, 7, 12, 150):
            assert loaded(step) == pytest.approx(float(theirs(step)), rel=1e-5)
    keras_adam = keras.optimizers.Adam(learning_rate=_schedules(keras)[0])
    ours = fgc.optimizers.get(normalized(keras.optimizers.serialize(keras_adam)))
    assert ours.current_lr(25) == pytest.approx(0.1 * 0.9 ** 2)


def _losses(api):
    L = api.losses
    return [L.MeanSquaredError(), L.MeanAbsoluteError(reduction="sum"), L.CategoricalCrossentropy(from_logits=True,
            label_smoothing=0.1), L.SparseCategoricalCrossentropy(ignore_class=0), L.BinaryCrossentropy(axis=1),
            L.Huber(), L.KLDivergence(), L.CosineSimilarity(), L.LogCosh(), L.Hinge(), L.SquaredHinge(),
            L.CategoricalHinge(), L.Poisson(), L.MeanAbsolutePercentageError(), L.MeanSquaredLogarithmicError()]


def test_loss_configs_match_keras():
    for ours, theirs in zip(_losses(fgc), _losses(keras)):
        keras_config = normalized(keras.losses.serialize(theirs))
        assert_same(normalized(fgc.losses.serialize(ours)), keras_config)
        assert_same(normalized(fgc.losses.serialize(fgc.losses.get(keras_config))), keras_config)


def _metrics(api):
    M = api.metrics
    return [M.BinaryAccuracy(threshold=0.7), M.CategoricalAccuracy(), M.SparseCategoricalAccuracy(),
            M.TopKCategoricalAccuracy(k=3), M.MeanSquaredError(), M.MeanAbsoluteError(name="mae_metric")]


def test_metric_configs_match_keras():
    for ours, theirs in zip(_metrics(fgc), _metrics(keras)):
        keras_config = normalized(keras.metrics.serialize(theirs))
        assert_same(normalized(fgc.metrics.serialize(ours)), keras_config)
        assert_same(normalized(fgc.metrics.serialize(fgc.metrics.get(keras_config))), keras_config)


INITIALIZER_NAMES = ["zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                     "lecun_normal", "random_uniform", "random_normal", "truncated_normal", "orthogonal"]


@pytest.mark.parametrize("name", INITIALIZER_NAMES)
def test_initializer_configs_match_keras(name):
    keras_config = normalized(keras.initializers.serialize(keras.initializers.get(name)))
    assert_same(normalized(fgc.initializers.serialize(name)), keras_config)
    assert_same(normalized(fgc.initializers.serialize(fgc.initializers.get(keras_config))), keras_config)


def test_compile_config_matches_keras():
    fgc.utils.clear_session()
    keras.utils.clear_session()
    ours, theirs = shared_nested(fgc), shared_nested(keras)
    args = dict(loss=["mse", "mae"], loss_weights=[1.0, 0.5], metrics=[["mae"], ["mse"]])
    ours.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.01), **args)
    theirs.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), **args)
    theirs_config = normalized(theirs.get_compile_config())
    theirs_config["optimizer"]["config"]["name"] = "adam"   # Keras numbers its optimizers (adam_1, ...)
    assert_same(normalized(ours.get_compile_config()), theirs_config)
    fresh = shared_nested(fgc)
    fresh.compile_from_config(theirs_config)
    assert_same(normalized(fresh.get_compile_config()), theirs_config)


def test_keras_xception_loads_in_fgc_and_fgc_xception_in_keras():
    theirs = keras.applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    ours = fgc.models.model_from_json(theirs.to_json())
    assert json.loads(ours.to_json()) == json.loads(theirs.to_json())
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).random((2, 71, 71, 3), dtype=np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    built_by_fgc = fgc.applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    assert json.loads(keras.models.model_from_json(built_by_fgc.to_json()).to_json()) == \
        json.loads(built_by_fgc.to_json())


def test_compiled_models_cross_over_with_their_compile_config():
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                   metrics=["accuracy", keras.metrics.categorical_accuracy, "mae"])
    ours = deserialize_keras_object(normalized(keras.saving.serialize_keras_object(theirs)))
    assert isinstance(ours.optimizer, fgc.optimizers.SGD) and ours.optimizer.current_lr() == pytest.approx(0.1)
    loss = ours._compiled.losses[ours.output_names[0]]
    assert isinstance(loss, fgc.losses.CategoricalCrossentropy) and loss.label_smoothing == pytest.approx(0.1)
    # one SGD step from the same weights moves both models' weights the same way
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 4), dtype=np.float32), np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    theirs.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    fgc_model = sequential(fgc)
    fgc_model.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    loaded = keras.saving.deserialize_keras_object(normalized(serialize_keras_object(fgc_model)))
    assert loaded.optimizer.learning_rate.numpy() == pytest.approx(0.01)
    assert_same(normalized(serialize_keras_object(fgc_model))["compile_config"],
                normalized(loaded.get_compile_config()))
