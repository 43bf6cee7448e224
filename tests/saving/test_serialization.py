"""Config round trips in Keras 3's format, without Keras: every layer, optimizer, schedule, loss,
metric and initializer; functional and Sequential models (shared layers, several inputs and outputs,
nested models); clone_model; the example models; custom objects; safe mode.

References: Keras 3's documented config format, written out by hand below, and the models' own
numbers (a rebuilt model with the same weights must predict the same values)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fgc
from fgc import Input, Model, Sequential, layers
from fgc.saving import (custom_object_scope, deserialize_keras_object, get_registered_object,
                        register_keras_serializable, serialize_keras_object)


def through_json(config):
    return json.loads(json.dumps(config))


def round_trip(obj, **kwargs):
    """serialize -> JSON text -> deserialize (what a config.json does)."""
    return deserialize_keras_object(through_json(serialize_keras_object(obj)), **kwargs)


def same_config(a, b) -> bool:
    return through_json(serialize_keras_object(a)) == through_json(serialize_keras_object(b))


# ---------------------------------------------------------------------------------------------- the format
FLOAT32_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def test_dense_is_written_in_keras_format():
    x = Input(shape=(4,), name="x")
    dense = layers.Dense(3, activation="relu", name="d")
    dense(x)
    expected = {
        "module": "keras.layers", "class_name": "Dense", "registered_name": None,
        "config": {"name": "d", "trainable": True, "dtype": FLOAT32_POLICY, "units": 3, "activation": "relu",
                   "use_bias": True,
                   "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                          "config": {"seed": None, "input_axes": None, "output_axes": None},
                                          "registered_name": None},
                   "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                        "registered_name": None},
                   "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
                   "bias_constraint": None, "quantization_config": None},
        "build_config": {"input_shape": [None, 4]},
    }
    assert through_json(serialize_keras_object(dense)) == expected


def test_functional_model_records_its_graph_the_keras_way():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = layers.Dense(3, name="shared")
    inner_in = Input(shape=(3,), name="inner_in")
    inner = Model(inner_in, layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    merged = layers.Concatenate(name="cat")([shared(a), shared(b)])
    model = Model([a, b], [inner(shared(a)), layers.Dense(1, name="z")(merged)], name="outer")
    config = through_json(serialize_keras_object(model))

    def ref(name, node, shape):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": shape, "dtype": "float32", "keras_history": [name, node, 0]}}

    assert (config["module"], config["class_name"], config["registered_name"]) == \
        ("keras.src.models.functional", "Functional", "Functional")
    body = config["config"]
    assert [entry["name"] for entry in body["layers"]] == ["a", "b", "shared", "cat", "inner", "z"]
    nodes = {entry["name"]: entry["inbound_nodes"] for entry in body["layers"]}
    assert nodes["a"] == nodes["b"] == []
    # a shared layer lists one node per call; a merge layer takes its inputs as one list argument
    assert nodes["shared"] == [{"args": [ref("a", 0, [None, 4])], "kwargs": {}},
                               {"args": [ref("b", 0, [None, 4])], "kwargs": {}},
                               {"args": [ref("a", 0, [None, 4])], "kwargs": {}}]
    assert nodes["cat"] == [{"args": [[ref("shared", 0, [None, 3]), ref("shared", 1, [None, 3])]], "kwargs": {}}]
    # a nested model is one layer, its calls numbered from 1 (node 0 is its own inputs -> outputs)
    assert nodes["inner"] == [{"args": [ref("shared", 2, [None, 3])], "kwargs": {"mask": None}}]
    assert body["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert body["output_layers"] == [["inner", 1, 0], ["z", 0, 0]]
    assert body["layers"][4]["config"]["output_layers"] == ["inner_dense", 0, 0]   # one output: no list


def test_sequential_is_written_in_keras_format():
    model = Sequential([layers.Dense(2, input_shape=(5,), name="h")], name="seq")
    config = through_json(serialize_keras_object(model))
    assert (config["module"], config["class_name"]) == ("keras", "Sequential")
    body = config["config"]
    assert body["build_input_shape"] == [None, 5] and body["dtype"] == FLOAT32_POLICY
    assert [entry["class_name"] for entry in body["layers"]] == ["InputLayer", "Dense"]
    assert body["layers"][0]["config"] == {"batch_shape": [None, 5], "dtype": "float32", "sparse": False,
                                           "ragged": False, "name": body["layers"][0]["config"]["name"],
                                           "optional": False}


# ---------------------------------------------------------------------------------------------- every layer
# (layer, input shapes, input dtype): non-default arguments wherever fgc supports them
def _layer_cases():
    L = layers
    return {
        "Dense": (L.Dense(3, activation="tanh", use_bias=False, kernel_initializer="he_normal"), [(5,)]),
        "Activation": (L.Activation("softplus"), [(4,)]),
        "Dropout": (L.Dropout(0.3, noise_shape=(None, 1), seed=5), [(4,)]),
        "Flatten": (L.Flatten(data_format="channels_first"), [(2, 3, 4)]),
        "Reshape": (L.Reshape((3, 2)), [(6,)]),
        "RepeatVector": (L.RepeatVector(3), [(4,)]),
        "Permute": (L.Permute((2, 1)), [(3, 4)]),
        "Masking": (L.Masking(mask_value=-1.0), [(3, 4)]),
        "Add": (L.Add(), [(4,), (4,)]), "Subtract": (L.Subtract(), [(4,), (4,)]),
        "Multiply": (L.Multiply(), [(4,), (4,)]), "Average": (L.Average(), [(4,), (4,)]),
        "Maximum": (L.Maximum(), [(4,), (4,)]), "Minimum": (L.Minimum(), [(4,), (4,)]),
        "Concatenate": (L.Concatenate(axis=1), [(2, 4), (3, 4)]),
        "Embedding": (L.Embedding(10, 3, mask_zero=True, embeddings_initializer="glorot_normal"), [(5,)], "int32"),
        "SimpleRNN": (L.SimpleRNN(3, activation="relu", return_sequences=True), [(5, 4)]),
        "LSTM": (L.LSTM(3, unit_forget_bias=False, go_backwards=True, seed=2, recurrent_initializer="glorot_uniform"),
                 [(5, 4)]),
        "GRU": (L.GRU(3, reset_after=False, return_state=True, recurrent_activation="hard_sigmoid"), [(5, 4)]),
        "Bidirectional": (L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="ave"), [(5, 4)]),
        "Conv1D": (L.Conv1D(2, 3, strides=2, padding="causal", activation="relu"), [(8, 3)]),
        "Conv2D": (L.Conv2D(4, (3, 2), padding="same", dilation_rate=2, groups=2), [(6, 6, 2)]),
        "SeparableConv2D": (L.SeparableConv2D(2, 3, depth_multiplier=2, pointwise_initializer="he_uniform"),
                            [(6, 6, 3)]),
        "BatchNormalization": (L.BatchNormalization(momentum=0.9, epsilon=1e-4, center=False), [(4,)]),
        "MaxPooling1D": (L.MaxPooling1D(3, strides=1, padding="same"), [(6, 2)]),
        "MaxPooling2D": (L.MaxPooling2D((2, 3)), [(6, 6, 2)]),
        "AveragePooling1D": (L.AveragePooling1D(2), [(6, 2)]),
        "AveragePooling2D": (L.AveragePooling2D((2, 2), strides=1, data_format="channels_first"), [(2, 6, 6)]),
        "GlobalMaxPooling1D": (L.GlobalMaxPooling1D(keepdims=True), [(6, 2)]),
        "GlobalMaxPooling2D": (L.GlobalMaxPooling2D(), [(6, 6, 2)]),
        "GlobalAveragePooling1D": (L.GlobalAveragePooling1D(), [(6, 2)]),
        "GlobalAveragePooling2D": (L.GlobalAveragePooling2D(data_format="channels_first"), [(2, 6, 6)]),
        "TimeDistributed": (L.TimeDistributed(L.Dense(2, activation="relu")), [(5, 4)]),
        "Lambda": (L.Lambda(fgc.ops.softplus), [(4,)]),
        # the catalogue (issue 11)
        "LayerNormalization": (L.LayerNormalization(epsilon=1e-4, center=False), [(3, 4)]),
        "GroupNormalization": (L.GroupNormalization(groups=2, epsilon=1e-4), [(5, 4)]),
        "UnitNormalization": (L.UnitNormalization(axis=1), [(3, 4)]),
        "ActivityRegularization": (L.ActivityRegularization(l1=0.1, l2=0.2), [(3, 4)]),
        "MultiHeadAttention": (L.MultiHeadAttention(2, 3, value_dim=4, use_bias=False), [(5, 6), (4, 6)], "float32",
                               lambda layer, ins: layer(ins[0], ins[1])),
        "Attention": (L.Attention(use_scale=True, score_mode="concat"), [(3, 4), (5, 4)]),
        "AdditiveAttention": (L.AdditiveAttention(use_scale=False), [(3, 4), (5, 4)]),
        "Dot": (L.Dot(axes=(2, 2), normalize=True), [(3, 4), (5, 4)]),
        "ReLU": (L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.2), [(4,)]),
        "LeakyReLU": (L.LeakyReLU(negative_slope=0.2), [(4,)]),
        "PReLU": (L.PReLU(alpha_initializer="ones", shared_axes=[1]), [(3, 4)]),
        "ELU": (L.ELU(alpha=0.5), [(4,)]),
        "Softmax": (L.Softmax(axis=1), [(3, 4)]),
        "Identity": (L.Identity(), [(4,)]),
        "Conv1DTranspose": (L.Conv1DTranspose(2, 3, strides=2, padding="same"), [(5, 3)]),
        "Conv2DTranspose": (L.Conv2DTranspose(2, (3, 2), strides=(2, 1), output_padding=(1, 0)), [(4, 4, 3)]),
        "Conv3DTranspose": (L.Conv3DTranspose(2, 2, strides=2), [(3, 3, 3, 2)]),
        "Conv3D": (L.Conv3D(2, 2, padding="same"), [(4, 4, 4, 2)]),
        "DepthwiseConv1D": (L.DepthwiseConv1D(3, depth_multiplier=2), [(6, 2)]),
        "DepthwiseConv2D": (L.DepthwiseConv2D(3, padding="same", depth_multiplier=2), [(5, 5, 2)]),
        "SeparableConv1D": (L.SeparableConv1D(3, 3, depth_multiplier=2), [(6, 2)]),
        "MaxPooling3D": (L.MaxPooling3D(2), [(4, 4, 4, 2)]),
        "AveragePooling3D": (L.AveragePooling3D(2, strides=1), [(4, 4, 4, 2)]),
        "GlobalMaxPooling3D": (L.GlobalMaxPooling3D(keepdims=True), [(3, 3, 3, 2)]),
        "GlobalAveragePooling3D": (L.GlobalAveragePooling3D(), [(3, 3, 3, 2)]),
        "UpSampling1D": (L.UpSampling1D(3), [(4, 2)]),
        "UpSampling2D": (L.UpSampling2D((2, 3)), [(3, 3, 2)]),
        "UpSampling3D": (L.UpSampling3D(2), [(2, 2, 2, 2)]),
        "ZeroPadding1D": (L.ZeroPadding1D((1, 2)), [(4, 2)]),
        "ZeroPadding2D": (L.ZeroPadding2D(((1, 0), (0, 2))), [(3, 3, 2)]),
        "ZeroPadding3D": (L.ZeroPadding3D(1), [(2, 2, 2, 2)]),
        "Cropping1D": (L.Cropping1D((1, 2)), [(6, 2)]),
        "Cropping2D": (L.Cropping2D(((1, 0), (0, 2))), [(5, 5, 2)]),
        "Cropping3D": (L.Cropping3D(1), [(4, 4, 4, 2)]),
        "GaussianNoise": (L.GaussianNoise(0.3, seed=3), [(4,)]),
        "GaussianDropout": (L.GaussianDropout(0.2, seed=3), [(4,)]),
        "AlphaDropout": (L.AlphaDropout(0.1, seed=3), [(4,)]),
        "SpatialDropout1D": (L.SpatialDropout1D(0.2), [(5, 3)]),
        "SpatialDropout2D": (L.SpatialDropout2D(0.2), [(4, 4, 3)]),
        "SpatialDropout3D": (L.SpatialDropout3D(0.2), [(3, 3, 3, 2)]),
        "Rescaling": (L.Rescaling(0.5, offset=-1.0), [(4,)]),
        "Normalization": (L.Normalization(mean=[0.5, 1.0, 1.5, 2.0], variance=[1.0, 2.0, 3.0, 4.0]), [(4,)]),
        "CenterCrop": (L.CenterCrop(3, 2), [(5, 5, 2)]),
        "Resizing": (L.Resizing(4, 6, interpolation="nearest"), [(3, 3, 2)]),
    }


def _layer_classes():
    """Every public layer class of fgc.layers under its Keras name (aliases such as MaxPool2D once)."""
    names = set()
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.Layer) and obj not in (layers.Layer, layers.InputLayer):
            names.add(obj.keras_class())
    return sorted(names)


def test_every_layer_class_has_a_round_trip_case():
    assert sorted(_layer_cases()) == _layer_classes()


@pytest.mark.parametrize("class_name", sorted(_layer_cases()))
def test_layer_round_trips_and_computes_the_same(class_name):
    case = _layer_cases()[class_name]
    layer, shapes, dtype = case[0], case[1], (case[2] if len(case) > 2 else "float32")
    call = case[3] if len(case) > 3 else (lambda layer_, ins: layer_(ins if len(ins) > 1 else ins[0]))
    inputs = [Input(shape=s, dtype=dtype) for s in shapes]
    outputs = call(layer, inputs)
    rebuilt = round_trip(layer)
    assert type(rebuilt) is type(layer)
    assert same_config(rebuilt, layer)
    # the rebuilt layer is built from build_config (where Keras writes one), so its weights exist
    if serialize_keras_object(layer).get("build_config"):
        assert [w.shape for w in rebuilt.weights] == [w.shape for w in layer.weights]
    # same numbers with the same weights: the arguments survived, not only the keys
    inputs2 = [Input(shape=s, dtype=dtype) for s in shapes]
    outputs2 = call(rebuilt, inputs2)
    model = Model(inputs, outputs)
    model2 = Model(inputs2, outputs2)
    model2.set_weights(model.get_weights())
    rng = np.random.default_rng(1)
    data = [rng.integers(0, 10, (3, *s)) if dtype == "int32" else rng.random((3, *s)) for s in shapes]
    for got, want in zip(_as_list(model2.predict(data)), _as_list(model.predict(data))):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def test_layer_serialize_deserialize_get():
    dense = layers.Dense(3, name="dd")
    config = layers.serialize(dense)
    assert config["class_name"] == "Dense"
    assert same_config(layers.deserialize(config), dense)
    assert layers.get(config).units == 3 and layers.get(dense) is dense
    assert type(layers.get("Flatten")) is layers.Flatten


def test_unsupported_keras_features_are_refused_not_ignored():
    config = through_json(serialize_keras_object(layers.Dense(3)))
    config["config"]["quantization_config"] = {"mode": "int8"}
    with pytest.raises(ValueError, match="quantization_config.*not supported by fgc"):
        deserialize_keras_object(config)
    config = through_json(serialize_keras_object(layers.Dense(3)))
    config["config"]["dtype"] = {"module": "keras", "class_name": "QuantizedDTypePolicy",
                                 "config": {"mode": "int8", "source_name": "float32"}, "registered_name": None}
    with pytest.raises(ValueError, match="QuantizedDTypePolicy"):
        deserialize_keras_object(config)


def test_keras_1_spellings_save_as_their_keras_3_class():
    conv = layers.Convolution2D(4, 3, 3, border_mode="same")
    config = serialize_keras_object(conv)
    assert config["class_name"] == "Conv2D" and config["config"]["padding"] == "same"
    assert config["config"]["kernel_size"] == (3, 3)
    assert type(round_trip(conv)) is layers.Conv2D


# ---------------------------------------------------------------------------------------------- models
def shared_multi_io_nested():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = layers.Dense(3, activation="tanh", name="shared")
    inner_in = Input(shape=(3,), name="inner_in")
    inner = Model(inner_in, layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    merged = layers.concatenate([shared(a), shared(b)], name="cat")
    return Model([a, b], [inner(shared(a)), layers.Dense(1, name="z")(merged)], name="outer")


def dict_io():
    a, b = Input(shape=(4,), name="a"), Input(shape=(2,), name="b")
    x = layers.add([layers.Dense(2, name="da")(a), b], name="sum")
    return Model({"a": a, "b": b}, {"y": layers.Dense(1, name="y")(x), "x": x}, name="dicts")


def nested_sequential_called_twice():
    x1, x2 = Input(shape=(5,), name="x1"), Input(shape=(5,), name="x2")
    encoder = Sequential([layers.Dense(3, input_shape=(5,), name="h"), layers.Dense(2, name="h2")], name="encoder")
    return Model([x1, x2], layers.subtract([encoder(x1), encoder(x2)], name="diff"), name="siamese")


def masked_text():
    text = Input(shape=(None,), dtype="int32", name="text")
    e = layers.Embedding(20, 4, mask_zero=True, name="emb")(text)
    h = layers.Bidirectional(layers.LSTM(3, return_sequences=True), name="bi")(e)
    return Model(text, layers.GlobalAveragePooling1D(name="pool")(h), name="masked")


def explicit_mask():
    x = Input(shape=(4, 3), name="x")
    m = Input(shape=(4,), dtype="bool", name="m")
    return Model([x, m], layers.LSTM(2, name="rnn")(x, mask=m), name="masked_call")


def sequential_mlp():
    return Sequential([layers.Dense(4, activation="relu", input_shape=(5,)), layers.Dropout(0.5),
                       layers.Dense(1, activation="sigmoid")], name="mlp")


MODELS = [shared_multi_io_nested, dict_io, nested_sequential_called_twice, masked_text, explicit_mask, sequential_mlp]


def _data(model, n=3):
    rng = np.random.default_rng(7)
    arrays = []
    for t in model.inputs:
        shape = (n, *(12 if d is None else d for d in t.shape[1:]))
        if t.dtype == "bool":
            arrays.append(rng.random(shape) > 0.3)
        elif "int" in t.dtype:
            arrays.append(rng.integers(0, 20, shape))
        else:
            arrays.append(rng.random(shape))
    return dict(zip(model.input_names, arrays)) if model._input_keys else arrays


def _outputs(y):
    if isinstance(y, dict):
        return [y[k] for k in sorted(y)]
    return _as_list(y)


def assert_same_predictions(model, other):
    other.set_weights(model.get_weights())
    data = _data(model)
    for got, want in zip(_outputs(other.predict(data)), _outputs(model.predict(data))):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def layer_structure(model):
    """(class, name, number of calls inside this model) per layer, nested models recursively."""
    out = []
    for layer in model.layers:
        calls = sum(1 for node in model._nodes if node.layer is layer)
        out.append((layer.keras_class(), layer.name, calls,
                    layer_structure(layer) if isinstance(layer, Model) else None))
    return out


@pytest.mark.parametrize("build", MODELS, ids=[m.__name__ for m in MODELS])
def test_model_config_round_trip(build):
    model = build()
    rebuilt = type(model).from_config(through_json(model.get_config()))
    assert through_json(rebuilt.get_config()) == through_json(model.get_config())
    assert layer_structure(rebuilt) == layer_structure(model)
    assert_same_predictions(model, rebuilt)


@pytest.mark.parametrize("build", MODELS, ids=[m.__name__ for m in MODELS])
def test_model_json_round_trip(build):
    model = build()
    rebuilt = fgc.models.model_from_json(model.to_json())
    assert json.loads(rebuilt.to_json()) == json.loads(model.to_json())
    assert_same_predictions(model, rebuilt)


def test_shared_layers_stay_shared_and_nested_models_stay_nested():
    rebuilt = fgc.models.model_from_json(shared_multi_io_nested().to_json())
    shared = rebuilt.get_layer("shared")
    assert len(shared._inbound_nodes) == 3 and len(shared.weights) == 2
    assert isinstance(rebuilt.get_layer("inner"), Model)
    assert len(rebuilt.get_weights()) == 2 + 2 + 2     # shared, inner_dense, z: one set each
    siamese = fgc.models.model_from_json(nested_sequential_called_twice().to_json())
    assert isinstance(siamese.get_layer("encoder"), Sequential)
    assert len(siamese.get_weights()) == 4


def test_trainable_flags_round_trip():
    model = shared_multi_io_nested()
    model.get_layer("z").trainable = False
    rebuilt = Model.from_config(through_json(model.get_config()))
    assert rebuilt.get_layer("z").trainable is False and rebuilt.get_layer("shared").trainable is True
    assert len(rebuilt.trainable_weights) == len(model.trainable_weights)


def test_unbuilt_sequential_round_trips_unbuilt():
    model = Sequential([layers.Dense(3), layers.Dense(1)], name="lazy")
    config = through_json(model.get_config())
    assert "build_input_shape" not in config
    rebuilt = Sequential.from_config(config)
    assert not rebuilt.built and len(rebuilt.layers) == 2
    rebuilt.build((None, 4))
    assert [w.shape for w in rebuilt.weights] == [(4, 3), (3,), (3, 1), (1,)]


def test_broken_model_config_is_a_clear_error():
    config = through_json(shared_multi_io_nested().get_config())
    config["layers"] = [entry for entry in config["layers"] if entry["name"] != "cat"]
    with pytest.raises(ValueError, match="cannot be rebuilt.*'z'"):
        Model.from_config(config)


# ---------------------------------------------------------------------------------------------- clone_model
def test_clone_model_has_the_architecture_and_fresh_weights():
    model = shared_multi_io_nested()
    clone = fgc.models.clone_model(model)
    assert through_json(clone.get_config()) == through_json(model.get_config())
    assert layer_structure(clone) == layer_structure(model)
    kernels = [w for w in model.get_weights() if w.ndim == 2]
    assert all(not np.allclose(a, b) for a, b in zip(kernels, [w for w in clone.get_weights() if w.ndim == 2]))
    assert all(a is not b for a, b in zip(model.weights, clone.weights))
    assert_same_predictions(model, clone)


def test_clone_keeps_shared_layers_shared():
    clone = fgc.models.clone_model(nested_sequential_called_twice())
    encoder = clone.get_layer("encoder")
    assert isinstance(encoder, Sequential) and len(encoder._inbound_nodes) == 2
    assert len(clone.get_weights()) == 4


def test_clone_model_with_input_tensors_and_clone_function():
    model = sequential_mlp()
    seen = []

    def clone_function(layer):
        seen.append(layer.name)
        return layer.__class__.from_config(layer.get_config())

    new_input = Input(shape=(5,), name="new_input")
    clone = fgc.models.clone_model(model, input_tensors=new_input, clone_function=clone_function)
    assert seen == [layer.name for layer in model.layers]
    assert clone.inputs[0] is new_input
    assert_same_predictions(model, clone)
    functional = shared_multi_io_nested()
    a, b = Input(shape=(4,)), Input(shape=(4,))
    clone = fgc.models.clone_model(functional, input_tensors=[a, b])
    assert clone.inputs == [a, b]
    with pytest.raises(ValueError, match="2 symbolic tensor"):
        fgc.models.clone_model(functional, input_tensors=[a])


# ---------------------------------------------------------------------------------------------- the examples
def mlp_functional():
    x = Input(shape=(64,))
    y = layers.Dense(32, activation="relu")(layers.Dense(32, activation="relu")(x))
    return Model(x, layers.Dense(10, activation="softmax")(y))


def mlp_sequential():
    model = Sequential()
    model.add(layers.Dense(32, activation="relu", input_shape=(64,)))
    model.add(layers.Dense(32, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def qa_model():
    text = Input(shape=(None,), dtype="int32", name="text")
    encoded_text = layers.LSTM(8)(layers.Embedding(20, 6)(text))
    question = Input(shape=(None,), dtype="int32", name="question")
    encoded_question = layers.LSTM(4)(layers.Embedding(20, 5)(question))
    merged = layers.concatenate([encoded_text, encoded_question], axis=-1)
    return Model([text, question], layers.Dense(7, activation="softmax")(merged))


def residual():
    x = Input(shape=(6, 6, 4))
    y = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    y = layers.MaxPooling2D(2, strides=2)(y)
    return Model(x, layers.add([y, layers.Conv2D(8, 1, strides=2, padding="same")(x)]))


def residual_keras1():
    x = Input(shape=(3, 6, 6))
    y = layers.Convolution2D(3, 3, 3, border_mode="same", dim_ordering="th")(x)
    return Model(x, layers.merge([x, y], mode="sum"))


def siamese_lstm():
    lstm = layers.LSTM(6)
    left, right = Input(shape=(None, 5)), Input(shape=(None, 5))
    merged = layers.concatenate([lstm(left), lstm(right)], axis=-1)
    return Model([left, right], layers.Dense(1, activation="sigmoid")(merged))


def three_heads():
    posts = Input(shape=(None,), dtype="int32", name="posts")
    x = layers.Conv1D(8, 3, activation="relu")(layers.Embedding(20, 6)(posts))
    x = layers.MaxPooling1D(2)(x)
    x = layers.Dense(8, activation="relu")(layers.GlobalMaxPooling1D()(layers.Conv1D(8, 3, activation="relu")(x)))
    return Model(posts, [layers.Dense(1, name="age")(x), layers.Dense(4, activation="softmax", name="income")(x),
                         layers.Dense(1, activation="sigmoid", name="gender")(x)])


def lstm_heads():
    text = Input(shape=(None,), name="text")
    x = layers.LSTM(4, return_sequences=True)(layers.Embedding(20, 5)(text))
    x = layers.Dense(8, activation="relu")(layers.LSTM(4)(x))
    return Model(inputs=text, outputs=[layers.Dense(1, name="age")(x),
                                       layers.Dense(3, activation="softmax", name="income")(x)])


def headline():
    main = Input(shape=(10,), dtype="int32", name="main_input")
    lstm_out = layers.LSTM(4)(layers.Embedding(output_dim=6, input_dim=20, input_length=10)(main))
    aux_out = layers.Dense(1, activation="sigmoid", name="aux_output")(lstm_out)
    aux_in = Input(shape=(5,), name="aux_input")
    x = layers.Dense(8, activation="relu")(layers.concatenate([lstm_out, aux_in]))
    return Model([main, aux_in], [layers.Dense(1, activation="sigmoid", name="main_output")(x), aux_out])


def inception_keras1():
    img = Input(shape=(3, 8, 8))
    t1 = layers.Convolution2D(4, 1, 1, border_mode="same", activation="relu", dim_ordering="th")(img)
    t2 = layers.Convolution2D(4, 3, 3, border_mode="same", activation="relu", dim_ordering="th")(img)
    t3 = layers.MaxPooling2D((3, 3), strides=(1, 1), border_mode="same", dim_ordering="th")(img)
    return Model(img, layers.merge([t1, t2, t3], mode="concat", concat_axis=1))


def shared_vision():
    digit = Input(shape=(1, 7, 7))
    x = layers.Convolution2D(4, 3, 3, dim_ordering="th")(digit)
    vision = Model(digit, layers.Flatten()(layers.MaxPooling2D((2, 2), dim_ordering="th")(x)))
    a, b = Input(shape=(1, 7, 7)), Input(shape=(1, 7, 7))
    merged = layers.merge([vision(a), vision(b)], mode="concat")
    return Model([a, b], layers.Dense(1, activation="sigmoid")(merged))


def vqa():
    vision = Sequential()
    vision.add(layers.Convolution2D(4, 3, 3, activation="relu", border_mode="same", input_shape=(3, 8, 8),
                                    dim_ordering="th"))
    vision.add(layers.MaxPooling2D((2, 2), dim_ordering="th"))
    vision.add(layers.Flatten())
    image = Input(shape=(3, 8, 8))
    question = Input(shape=(6,), dtype="int32")
    encoded_question = layers.LSTM(4)(layers.Embedding(input_dim=20, output_dim=5, input_length=6)(question))
    merged = layers.merge([encoded_question, vision(image)], mode="concat")
    video = Input(shape=(3, 3, 8, 8))
    encoded_video = layers.LSTM(4)(layers.TimeDistributed(vision)(video))
    return Model(input=[image, question, video], output=[layers.Dense(5, activation="softmax")(merged),
                                                          layers.Dense(2)(encoded_video)])


EXAMPLES = [mlp_functional, mlp_sequential, qa_model, residual, residual_keras1, siamese_lstm, three_heads,
            lstm_heads, headline, inception_keras1, shared_vision, vqa]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("build", EXAMPLES, ids=[m.__name__ for m in EXAMPLES])
def test_example_models_round_trip(build):
    model = build()
    rebuilt = fgc.models.model_from_json(model.to_json())
    assert json.loads(rebuilt.to_json()) == json.loads(model.to_json())
    assert layer_structure(rebuilt) == layer_structure(model)
    assert_same_predictions(model, rebuilt)


def test_xception_siamese_round_trips():
    base = fgc.applications.Xception(weights=None, include_top=False)
    left, right = Input(shape=(71, 71, 3)), Input(shape=(71, 71, 3))
    model = Model([left, right], layers.concatenate([base(left), base(right)], axis=-1))
    rebuilt = fgc.models.model_from_json(model.to_json())
    assert json.loads(rebuilt.to_json()) == json.loads(model.to_json())
    assert layer_structure(rebuilt) == layer_structure(model)
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


# ---------------------------------------------------------------------------------------------- training objects
OPTIMIZERS = [fgc.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True, clipnorm=1.0),
              fgc.optimizers.RMSprop(rho=0.8, momentum=0.1, centered=True, clipvalue=0.5),
              fgc.optimizers.Adam(beta_1=0.8, amsgrad=True, global_clipnorm=2.0),
              fgc.optimizers.AdamW(weight_decay=0.01, name="my_adamw"),
              fgc.optimizers.Adagrad(initial_accumulator_value=0.2), fgc.optimizers.Adadelta(rho=0.9),
              fgc.optimizers.Adamax(epsilon=1e-6), fgc.optimizers.Nadam(beta_2=0.99)]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=[type(o).__name__ for o in OPTIMIZERS])
def test_optimizer_round_trip(optimizer):
    config = through_json(fgc.optimizers.serialize(optimizer))
    assert config["module"] == "keras.optimizers" and config["class_name"] == type(optimizer).__name__
    base_keys = ["name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema",
                 "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps"]
    assert list(config["config"])[:len(base_keys)] == base_keys
    for getter in (fgc.optimizers.get, fgc.optimizers.deserialize):
        rebuilt = getter(config)
        assert type(rebuilt) is type(optimizer)
        assert through_json(fgc.optimizers.serialize(rebuilt)) == config


def test_optimizer_keys_and_defaults():
    config = fgc.optimizers.RMSprop().get_config()
    assert config == {"name": "rm_sprop", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None,
                      "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
                      "ema_overwrite_frequency": None, "loss_scale_factor": None, "gradient_accumulation_steps": None,
                      "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}
    assert fgc.optimizers.get({"class_name": "adam", "config": {"learning_rate": 0.5}}).learning_rate == 0.5


def test_bad_optimizer_features_are_refused():
    with pytest.raises(ValueError, match="ema_momentum"):
        fgc.optimizers.Adam(use_ema=True, ema_momentum=2.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        fgc.optimizers.get({"class_name": "SGD", "config": {"gradient_accumulation_steps": 1}})
    rebuilt = fgc.optimizers.get({"class_name": "SGD", "config": {"gradient_accumulation_steps": 4}})
    assert rebuilt.gradient_accumulation_steps == 4


def _schedules():
    s = fgc.optimizers.schedules
    return [s.ExponentialDecay(0.1, 10, 0.9, staircase=True), s.PiecewiseConstantDecay([5, 10], [0.1, 0.05, 0.01]),
            s.CosineDecay(0.1, 100, alpha=0.1, warmup_target=0.2, warmup_steps=5)]


def test_schedules_round_trip_with_the_same_values():
    expected = {  # Keras' formulas, by hand
        0: [0.1, 0.1, 0.1], 7: [0.1, 0.05, 0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * 2 / 100)) + 0.1)],
        25: [0.1 * 0.9 ** 2, 0.01, 0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * 20 / 100)) + 0.1)],
    }
    for i, schedule in enumerate(_schedules()):
        config = through_json(serialize_keras_object(schedule))
        assert config["module"] == "keras.optimizers.schedules"
        rebuilt = deserialize_keras_object(config)
        assert rebuilt.get_config() == schedule.get_config()
        for step, values in expected.items():
            assert rebuilt(step) == pytest.approx(values[i], rel=1e-9)


def test_optimizer_with_a_schedule_round_trips():
    optimizer = fgc.optimizers.Adam(learning_rate=_schedules()[0])
    config = through_json(fgc.optimizers.serialize(optimizer))
    assert config["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    rebuilt = fgc.optimizers.get(config)
    assert rebuilt.current_lr(25) == pytest.approx(0.1 * 0.9 ** 2)


def _losses():
    L = fgc.losses
    return [L.MeanSquaredError(), L.MeanAbsoluteError(reduction="sum"), L.MeanAbsolutePercentageError(),
            L.MeanSquaredLogarithmicError(), L.Huber(delta=2.0), L.LogCosh(),
            L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
            L.SparseCategoricalCrossentropy(ignore_class=0), L.BinaryCrossentropy(axis=1, name="bce"),
            L.KLDivergence(), L.Hinge(), L.SquaredHinge(), L.CategoricalHinge(), L.Poisson(),
            L.CosineSimilarity(axis=1)]


@pytest.mark.parametrize("loss", _losses(), ids=[type(o).__name__ for o in _losses()])
def test_loss_round_trip_computes_the_same(loss):
    config = through_json(fgc.losses.serialize(loss))
    assert config["module"] == "keras.losses"
    rebuilt = fgc.losses.get(config)
    assert rebuilt.get_config() == loss.get_config()
    rng = np.random.default_rng(3)
    y_pred = rng.random((4, 3)).astype(np.float32) + 0.1
    y_true = rng.integers(0, 3, (4,)) if loss.sparse else (rng.random((4, 3)) > 0.5).astype(np.float32)
    np.testing.assert_allclose(rebuilt(y_true, y_pred), loss(y_true, y_pred), rtol=1e-6)


def test_loss_functions_written_by_name_deserialize():
    config = {"module": "builtins", "class_name": "function", "config": "mean_squared_error",
              "registered_name": "function"}
    assert isinstance(fgc.losses.deserialize(config), fgc.losses.MeanSquaredError)


def _metrics():
    M = fgc.metrics
    return [M.BinaryAccuracy(threshold=0.7), M.CategoricalAccuracy(), M.SparseCategoricalAccuracy(name="sca"),
            M.TopKCategoricalAccuracy(k=3), M.MeanSquaredError(), M.MeanAbsoluteError(name="mae_metric")]


@pytest.mark.parametrize("metric", _metrics(), ids=[type(o).__name__ for o in _metrics()])
def test_metric_round_trip(metric):
    config = through_json(fgc.metrics.serialize(metric))
    assert config["module"] == "keras.metrics" and config["config"]["dtype"] == "float32"
    rebuilt = fgc.metrics.get(config)
    assert type(rebuilt) is type(metric) and rebuilt.get_config() == metric.get_config()


INITIALIZERS = [fgc.initializers.Zeros(), fgc.initializers.Ones(), fgc.initializers.Constant(0.5),
                fgc.initializers.RandomUniform(-1.0, 2.0, seed=3), fgc.initializers.RandomNormal(1.0, 0.5, seed=4),
                fgc.initializers.TruncatedNormal(0.0, 0.2, seed=5),
                fgc.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=6),
                fgc.initializers.GlorotUniform(seed=7), fgc.initializers.GlorotNormal(), fgc.initializers.HeUniform(),
                fgc.initializers.HeNormal(seed=8), fgc.initializers.LecunUniform(), fgc.initializers.LecunNormal(),
                fgc.initializers.Orthogonal(gain=2.0, seed=9)]


@pytest.mark.parametrize("initializer", INITIALIZERS, ids=[type(o).__name__ for o in INITIALIZERS])
def test_initializer_round_trip(initializer):
    config = through_json(fgc.initializers.serialize(initializer))
    assert config["module"] == "keras.initializers" and config["class_name"] == type(initializer).__name__
    rebuilt = fgc.initializers.deserialize(config)
    assert rebuilt == initializer
    if getattr(initializer, "seed", None) is not None:   # a seeded initializer draws the same values again
        np.testing.assert_array_equal(rebuilt((5, 4)), initializer((5, 4)))


def test_initializer_values_follow_keras_formulas():
    values = fgc.initializers.GlorotUniform(seed=1)((300, 200))
    limit = math.sqrt(6 / (300 + 200))
    assert values.min() >= -limit and values.max() <= limit and values.max() > 0.95 * limit
    values = fgc.initializers.RandomUniform(-1.0, 2.0, seed=1)((2000,))
    assert values.min() >= -1.0 and values.max() <= 2.0 and abs(values.mean() - 0.5) < 0.1
    q = fgc.initializers.Orthogonal(gain=2.0, seed=1)((6, 6))
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(6), atol=1e-9)
    assert fgc.initializers.serialize("uniform")["class_name"] == "RandomUniform"


def test_activations_by_name():
    assert fgc.activations.serialize("relu") == "relu"
    assert fgc.activations.serialize(None) == "linear"
    assert fgc.activations.deserialize("tanh") == "tanh"
    with pytest.raises(ValueError, match="unknown activation"):
        fgc.activations.deserialize("rellu")


# ---------------------------------------------------------------------------------------------- compile config
def test_compile_config_round_trip_trains_the_same_way():
    model = shared_multi_io_nested()
    model.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.01), loss=["mse", fgc.losses.Huber(delta=2.0)],
                  loss_weights=[1.0, 0.5], metrics=[["mae"], [fgc.metrics.MeanSquaredError()]])
    config = through_json(model.get_compile_config())
    assert set(config) == {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                           "steps_per_execution", "jit_compile"}
    assert config["loss"][0] == "mse" and config["loss"][1]["class_name"] == "Huber"
    other = Model.from_config(through_json(model.get_config()))
    other.compile_from_config(config)
    assert through_json(other.get_compile_config()) == config
    other.set_weights(model.get_weights())
    x = [np.random.default_rng(0).random((8, 4)) for _ in range(2)]
    y = [np.random.default_rng(1).random((8, 2)), np.random.default_rng(2).random((8, 1))]
    np.testing.assert_allclose(other.train_on_batch(x, y), model.train_on_batch(x, y), rtol=1e-5)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_uncompiled_model_has_an_empty_compile_config():
    assert sequential_mlp().get_compile_config() == {}
    assert serialize_keras_object(sequential_mlp())["compile_config"] == {}


# ---------------------------------------------------------------------------------------------- custom objects
class Scaled(layers.Layer):
    """A user layer: multiplies its input by a constant."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def compute_output_types(self, input_types, node_attrs=None):
        return [input_types[0]]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.Mul(inputs[0], self.factor)]

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _model_with(layer_class):
    x = Input(shape=(3,), name="x")
    return Model(x, layer_class(factor=3.0, name="scaled")(layers.Dense(2, name="d")(x)))


def test_unknown_class_is_a_clear_error_listing_custom_objects():
    model = _model_with(Scaled)
    with pytest.raises(ValueError, match=r"could not locate class 'Scaled'.*custom_objects=\{'Scaled': Scaled\}"):
        fgc.models.model_from_json(model.to_json())
    with pytest.raises(ValueError, match=r"given or registered: \[.*'Other'"):
        fgc.models.model_from_json(model.to_json(), custom_objects={"Other": layers.Dense})


def test_custom_objects_and_scope():
    model = _model_with(Scaled)
    rebuilt = fgc.models.model_from_json(model.to_json(), custom_objects={"Scaled": Scaled})
    assert isinstance(rebuilt.get_layer("scaled"), Scaled) and rebuilt.get_layer("scaled").factor == 3.0
    assert_same_predictions(model, rebuilt)
    with custom_object_scope({"Scaled": Scaled}):
        assert isinstance(fgc.models.model_from_json(model.to_json()).get_layer("scaled"), Scaled)
    assert get_registered_object("Scaled") is None   # the scope ended


def test_registered_layer_round_trips():
    @register_keras_serializable(package="TestPkg")
    class RegisteredScaled(Scaled):
        pass

    model = _model_with(RegisteredScaled)
    entry = json.loads(model.to_json())["config"]["layers"][2]
    assert entry["registered_name"] == "TestPkg>RegisteredScaled" and entry["class_name"] == "RegisteredScaled"
    assert get_registered_object("TestPkg>RegisteredScaled") is RegisteredScaled
    rebuilt = fgc.models.model_from_json(model.to_json())
    assert type(rebuilt.get_layer("scaled")) is RegisteredScaled
    assert_same_predictions(model, rebuilt)
    assert fgc.utils.register_keras_serializable is register_keras_serializable


def test_registered_loss_in_compile_config():
    @register_keras_serializable(package="TestPkg", name="half_mse")
    class HalfMSE(fgc.losses.MeanSquaredError):
        pass

    model = sequential_mlp()
    model.compile(optimizer="sgd", loss=HalfMSE())
    config = through_json(model.get_compile_config())
    assert config["loss"]["registered_name"] == "TestPkg>half_mse"
    other = Sequential.from_config(through_json(model.get_config()))
    other.compile_from_config(config)
    assert type(other._compiled.losses[other.output_names[0]]) is HalfMSE


def test_registering_needs_get_config_and_a_free_name():
    with pytest.raises(ValueError, match="needs a get_config"):
        register_keras_serializable()(type("NoConfig", (), {}))
    register_keras_serializable(package="TestPkg", name="Taken")(Scaled)
    with pytest.raises(ValueError, match="already registered"):
        register_keras_serializable(package="TestPkg", name="Taken")(layers.Dense)


def test_safe_mode_refuses_serialized_bytecode():
    config = {"class_name": "__lambda__", "config": {"code": "4wEAAAAA", "defaults": None, "closure": None}}
    with pytest.raises(ValueError, match="safe_mode=False"):
        deserialize_keras_object(config)
    with pytest.raises(ValueError, match="does not load serialized Python lambdas"):
        deserialize_keras_object(config, safe_mode=False)


def test_safe_mode_reaches_nested_objects():
    lambda_config = {"class_name": "__lambda__", "config": {"code": "4wEAAAAA", "defaults": None, "closure": None}}

    @register_keras_serializable(package="TestPkg")
    class HoldsFunction(Scaled):
        @classmethod
        def from_config(cls, config):
            deserialize_keras_object(lambda_config)   # no safe_mode given: the enclosing call's applies
            return cls(**config)

    config = through_json(serialize_keras_object(_model_with(HoldsFunction)))
    with pytest.raises(ValueError, match="safe_mode=False"):
        deserialize_keras_object(config)
    with pytest.raises(ValueError, match="does not load serialized Python lambdas"):
        deserialize_keras_object(config, safe_mode=False)


def test_build_config_builds_a_standalone_layer():
    lstm = layers.LSTM(3)
    lstm(Input(shape=(None, 4)))
    assert lstm.get_build_config() == {"input_shape": [None, None, 4]}
    fresh = layers.LSTM.from_config(lstm.get_config())
    assert not fresh.built and fresh.weights == []
    fresh.build_from_config(lstm.get_build_config())
    assert fresh.built and [w.shape for w in fresh.weights] == [(4, 12), (3, 12), (12,)]
    assert layers.Dropout(0.5).get_build_config() is None   # Keras writes none for layers without weights
    lazy = Sequential([layers.Dense(2)])
    lazy.build_from_config({"input_shape": [None, 5]})
    assert lazy.built and lazy.get_build_config() == {"input_shape": [None, 5]}
