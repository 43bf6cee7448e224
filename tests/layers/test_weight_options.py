"""Built-in layers' <weight>_regularizer / <weight>_constraint / activity_regularizer arguments:
attached to the right weight, written in get_config as Keras writes them, read back from configs."""
import numpy as np
import pytest

import fgc
from fgc import constraints, layers, regularizers

pytestmark = pytest.mark.usefixtures("fresh_keras_names")


# (layer class, args, input shape, input dtype, {argument prefix: weight name})
CASES = [
    (layers.Dense, (2,), (3,), "float32", {"kernel": "kernel", "bias": "bias"}),
    (layers.Conv1D, (2, 2), (5, 3), "float32", {"kernel": "kernel", "bias": "bias"}),
    (layers.Conv2D, (2, 2), (5, 5, 3), "float32", {"kernel": "kernel", "bias": "bias"}),
    (layers.Conv3D, (2, 2), (4, 4, 4, 2), "float32", {"kernel": "kernel", "bias": "bias"}),
    (layers.Conv1DTranspose, (2, 2), (5, 3), "float32", {"kernel": "kernel", "bias": "bias"}),
    (layers.Conv2DTranspose, (2, 2), (5, 5, 3), "float32", {"kernel": "kernel", "bias": "bias"}),
    (layers.DepthwiseConv2D, (2,), (5, 5, 3), "float32", {"depthwise": "kernel", "bias": "bias"}),  # Keras: "kernel"
    (layers.SeparableConv1D, (2, 2), (5, 3), "float32",
     {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel", "bias": "bias"}),
    (layers.SeparableConv2D, (2, 2), (5, 5, 3), "float32",
     {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel", "bias": "bias"}),
    (layers.Embedding, (10, 4), (3,), "int32", {"embeddings": "embeddings"}),
    (layers.BatchNormalization, (), (3,), "float32", {"gamma": "gamma", "beta": "beta"}),
    (layers.LayerNormalization, (), (3,), "float32", {"gamma": "gamma", "beta": "beta"}),
    (layers.GroupNormalization, (2,), (4,), "float32", {"gamma": "gamma", "beta": "beta"}),
    (layers.SimpleRNN, (2,), (4, 3), "float32", {"kernel": "kernel", "recurrent": "recurrent_kernel", "bias": "bias"}),
    (layers.LSTM, (2,), (4, 3), "float32", {"kernel": "kernel", "recurrent": "recurrent_kernel", "bias": "bias"}),
    (layers.GRU, (2,), (4, 3), "float32", {"kernel": "kernel", "recurrent": "recurrent_kernel", "bias": "bias"}),
    (layers.PReLU, (), (3,), "float32", {"alpha": "alpha"}),
]
IDS = [case[0].__name__ for case in CASES]


def _options(prefixes, make_reg, make_con):
    kwargs = {}
    for i, prefix in enumerate(prefixes):
        kwargs[f"{prefix}_regularizer"] = make_reg(0.01 * (i + 1))
        kwargs[f"{prefix}_constraint"] = make_con(1.0 + i)
    return kwargs


@pytest.mark.parametrize("cls, args, shape, dtype, weights", CASES, ids=IDS)
def test_options_reach_their_weights_and_the_config(cls, args, shape, dtype, weights):
    kwargs = _options(weights, regularizers.L2, constraints.MaxNorm)
    layer = cls(*args, **kwargs)
    layer(fgc.Input(shape, dtype=dtype))
    by_name = {w.name: w for w in layer.weights}
    for i, (prefix, weight) in enumerate(weights.items()):
        assert by_name[weight].regularizer.get_config() == {"l2": pytest.approx(0.01 * (i + 1))}
        assert by_name[weight].constraint.get_config() == {"max_value": 1.0 + i, "axis": 0}
        assert getattr(layer, f"{prefix}_regularizer") is kwargs[f"{prefix}_regularizer"]
    config = layer.get_config()
    for key, value in kwargs.items():
        assert config[key] == regularizers.serialize(value) if key.endswith("regularizer") \
            else config[key] == constraints.serialize(value)
    again = cls.from_config(config)
    assert again.get_config() == {**config, "name": again.name} or again.get_config() == config


@pytest.mark.parametrize("cls, args, shape, dtype, weights", CASES, ids=IDS)
def test_same_config_as_keras_and_loaded_from_keras(cls, args, shape, dtype, weights):
    keras = pytest.importorskip("keras")
    theirs = getattr(keras.layers, cls.__name__)(
        *args, **_options(weights, keras.regularizers.L2, keras.constraints.MaxNorm))
    ours = cls(*args, **_options(weights, regularizers.L2, constraints.MaxNorm))
    keras_config, our_config = theirs.get_config(), ours.get_config()
    assert set(our_config) == set(keras_config)
    for key in keras_config:
        if key.endswith(("_regularizer", "_constraint")):
            assert our_config[key] == keras_config[key], key
    loaded = cls.from_config(keras_config)
    for key in keras_config:
        if key.endswith(("_regularizer", "_constraint")):
            assert loaded.get_config()[key] == keras_config[key], key


def test_activity_regularizer_is_written_only_when_set_for_dense():
    assert "activity_regularizer" not in layers.Dense(2).get_config()
    config = layers.Dense(2, activity_regularizer="l2").get_config()
    assert config["activity_regularizer"] == {"module": "keras.regularizers", "class_name": "L2",
                                              "config": {"l2": 0.01}, "registered_name": None}
    assert layers.Dense.from_config(config).activity_regularizer.get_config() == {"l2": 0.01}
    # layers whose Keras config always has the key write None
    assert layers.Embedding(3, 2).get_config()["activity_regularizer"] is None
    assert layers.LSTM(2).get_config()["activity_regularizer"] is None


def test_bad_option_names_the_layer_and_argument():
    with pytest.raises(ValueError, match="Dense\\(\\): kernel_regularizer: could not interpret"):
        layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(TypeError, match="kernel_regulariser"):
        layers.Dense(2, kernel_regulariser="l2")


def test_layer_losses_are_the_current_weight_penalties():
    dense = layers.Dense(2, kernel_initializer="ones", kernel_regularizer=regularizers.L1(0.01),
                         bias_regularizer=regularizers.L2(0.5))
    dense(fgc.Input((5,)))
    losses = dense.losses
    np.testing.assert_allclose(losses, [0.01 * 10, 0.0])
    dense.set_weights([np.full((5, 2), 2.0), np.ones(2)])
    np.testing.assert_allclose(dense.losses, [0.01 * 20, 0.5 * 2])


def test_model_saved_and_loaded_keeps_regularizers_and_constraints(tmp_path, rng):
    x = fgc.Input((3,))
    y = layers.Dense(2, kernel_regularizer=regularizers.L2(0.3), kernel_constraint=constraints.NonNeg(),
                     activity_regularizer=regularizers.L1(0.1))(x)
    model = fgc.Model(x, layers.ActivityRegularization(l2=0.2)(y))
    model.compile("sgd", "mse")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = fgc.models.load_model(path)
    loaded.compile("sgd", "mse")
    X, Y = rng.random((4, 3)), rng.random((4, 2))
    np.testing.assert_allclose(loaded.evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0), rtol=1e-6)
    dense = loaded.layers[1]
    assert dense.kernel_constraint.get_config() == {} and type(dense.kernel_constraint) is constraints.NonNeg
    assert loaded.layers[2].activity_regularizer.get_config() == {"l1": 0.0, "l2": 0.2}


def test_multi_head_attention_options_reach_every_projection():
    mha = layers.MultiHeadAttention(2, 3, kernel_regularizer=regularizers.L2(0.1), bias_constraint="non_neg")
    q = fgc.Input((4, 5))
    mha(q, q)
    kernels = [w for w in mha.weights if w.name.endswith("/kernel")]
    biases = [w for w in mha.weights if w.name.endswith("/bias")]
    assert len(kernels) == 4 and len(biases) == 4
    assert all(type(w.regularizer) is regularizers.L2 and w.constraint is None for w in kernels)
    assert all(w.regularizer is None and type(w.constraint) is constraints.NonNeg for w in biases)
    config = mha.get_config()
    assert config["kernel_regularizer"]["class_name"] == "L2" and config["activity_regularizer"] is None
    assert layers.MultiHeadAttention.from_config(config).get_config()["bias_constraint"] == config["bias_constraint"]


def test_eager_call_reports_its_activity_penalty_then_the_weight_penalties():
    # Keras' own example: kernel penalty 0.01 * 25 = 0.25; activity 0.01 * sum(10^2 over 5x5) / 5 = 5.0
    dense = layers.Dense(5, kernel_initializer="ones", kernel_regularizer=regularizers.L1(0.01),
                         activity_regularizer=regularizers.L2(0.01))
    dense(np.full((5, 5), 2.0, np.float32))
    np.testing.assert_allclose(dense.losses, [5.0, 0.25], rtol=1e-6)
    dense(np.full((2, 5), 1.0, np.float32))   # only the last call counts
    np.testing.assert_allclose(dense.losses, [0.01 * (5.0 ** 2 * 10) / 2, 0.25], rtol=1e-6)   # outputs are 5


@pytest.mark.parametrize("use_gate", [False, True])
def test_multi_head_attention_activity_penalty_on_each_projection_as_keras(rng, use_gate):
    keras = pytest.importorskip("keras")

    def build(lib):
        q, v = lib.Input((4, 5)), lib.Input((3, 5))
        mha = lib.layers.MultiHeadAttention(2, 3, use_gate=use_gate, activity_regularizer=lib.regularizers.L2(0.1),
                                            kernel_regularizer=lib.regularizers.L1(0.01))
        model = lib.Model([q, v], mha(q, v))
        model.compile(optimizer="sgd", loss="mse")
        return model

    ours, theirs = build(fgc), build(keras)
    weights = [rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    data = [rng.normal(size=(6, 4, 5)).astype(np.float32), rng.normal(size=(6, 3, 5)).astype(np.float32)]
    target = rng.normal(size=(6, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(ours.evaluate(data, target, verbose=0), theirs.evaluate(data, target, verbose=0),
                               rtol=1e-5)
    our_config, keras_config = ours.layers[-1].get_config(), theirs.layers[-1].get_config()
    assert our_config["activity_regularizer"] == keras_config["activity_regularizer"]
