"""Conv, pooling, TimeDistributed and BatchNormalization layers: numerics against numpy references
written from the Keras formulas (channels_last unless stated), legacy spellings, layout passes,
training, and the parameter counts of the seed programs."""
import warnings

import numpy as np
import pytest

import fgc
from fgc import Input, Model, Sequential, layers


# ---------------------------------------------------------------- numpy references (Keras formulas)
def _pads(shape, k, s, d, padding):
    pads = []
    for h, ki, si, di in zip(shape, k, s, d):
        span = (ki - 1) * di + 1
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append((span - 1, 0))
        else:   # TF 'same': output ceil(h / s), the odd pad at the end
            total = max((-(-h // si) - 1) * si + span - h, 0)
            pads.append((total // 2, total - total // 2))
    return pads


def keras_conv(x, kernel, bias, strides, padding, dilation, groups=1, channels_first=False):
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    nd = x.ndim - 2
    k = kernel.shape[:nd]
    pads = _pads(x.shape[1:-1], k, strides, dilation, padding)
    xp = np.pad(x.astype(np.float64), [(0, 0)] + pads + [(0, 0)])
    out = [(xp.shape[1 + i] - (k[i] - 1) * dilation[i] - 1) // strides[i] + 1 for i in range(nd)]
    cg, fg = kernel.shape[-2], kernel.shape[-1] // groups
    y = np.zeros((x.shape[0], *out, kernel.shape[-1]))
    for pos in np.ndindex(*out):
        for kk in np.ndindex(*k):
            patch = xp[(slice(None),) + tuple(pos[i] * strides[i] + kk[i] * dilation[i] for i in range(nd))]
            for g in range(groups):
                y[(slice(None),) + pos + (slice(g * fg, (g + 1) * fg),)] += \
                    patch[:, g * cg:(g + 1) * cg] @ kernel[kk][:, g * fg:(g + 1) * fg]
    y = y + (bias if bias is not None else 0)
    return np.moveaxis(y, -1, 1) if channels_first else y


def keras_pool(x, kind, pool, strides, padding, channels_first=False):
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    nd = x.ndim - 2
    pads = _pads(x.shape[1:-1], pool, strides, (1,) * nd, padding)
    width = [(0, 0)] + pads + [(0, 0)]
    xp = np.pad(x.astype(np.float64), width, constant_values=-np.inf if kind == "max" else 0.0)
    valid = np.pad(np.ones(x.shape), width)
    out = [(xp.shape[1 + i] - pool[i]) // strides[i] + 1 for i in range(nd)]
    y = np.zeros((x.shape[0], *out, x.shape[-1]))
    for pos in np.ndindex(*out):
        win = tuple(slice(pos[i] * strides[i], pos[i] * strides[i] + pool[i]) for i in range(nd))
        sel = (slice(None),) + win
        axes = tuple(range(1, nd + 1))
        if kind == "max":
            y[(slice(None),) + pos] = xp[sel].max(axis=axes)
        else:   # Keras 'same' averaging counts only the real elements
            y[(slice(None),) + pos] = xp[sel].sum(axis=axes) / valid[sel].sum(axis=axes)
    return np.moveaxis(y, -1, 1) if channels_first else y


def _randomize_bias(layer, rng):
    w = layer.get_weights()
    layer.set_weights([w[0]] + [rng.normal(size=v.shape) for v in w[1:]])


# ---------------------------------------------------------------- Conv forward numerics
CONV2D = [
    dict(filters=4, kernel_size=3),
    dict(filters=4, kernel_size=(3, 2), padding="same"),
    dict(filters=3, kernel_size=3, strides=2, padding="same"),
    dict(filters=3, kernel_size=(2, 3), strides=(3, 2)),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"),
    dict(filters=2, kernel_size=2, dilation_rate=(1, 3)),
    dict(filters=6, kernel_size=3, groups=2, padding="same", strides=2),
    dict(filters=4, kernel_size=3, groups=4, use_bias=False),
    dict(filters=5, kernel_size=3, activation="relu", padding="same"),
    dict(filters=3, kernel_size=1, activation="softmax"),
]


@pytest.mark.parametrize("kwargs", CONV2D)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_matches_the_keras_formula(kwargs, data_format):
    rng = np.random.default_rng(0)
    cf = data_format == "channels_first"
    shape = (4, 9, 8) if cf else (9, 8, 4)
    layer = layers.Conv2D(**kwargs, data_format=data_format)
    model = Model(i := Input(shape=shape), layer(i))
    _randomize_bias(layer, rng)
    kernel, *bias = layer.get_weights()
    assert kernel.shape == (*layer.kernel_size, 4 // layer.groups, layer.filters)
    for batch in (1, 7):
        x = rng.normal(size=(batch, *shape))
        want = keras_conv(x, kernel, bias[0] if bias else None, layer.strides, layer.padding, layer.dilation_rate,
                          layer.groups, cf)
        act = kwargs.get("activation")
        if act == "relu":
            want = np.maximum(want, 0)
        elif act == "softmax":
            e = np.exp(want - want.max(-1, keepdims=True))
            want = e / e.sum(-1, keepdims=True)
        got = model.predict(x, verbose=0)
        assert got.shape == want.shape == (batch, *model.outputs[0].shape[1:])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


CONV1D = [
    dict(filters=4, kernel_size=5),
    dict(filters=4, kernel_size=4, padding="same"),
    dict(filters=3, kernel_size=3, padding="causal"),
    dict(filters=3, kernel_size=3, padding="causal", dilation_rate=2),
    dict(filters=2, kernel_size=3, strides=3),
    dict(filters=2, kernel_size=4, strides=2, padding="same"),
    dict(filters=4, kernel_size=3, groups=2, dilation_rate=2, padding="same"),
]


@pytest.mark.parametrize("kwargs", CONV1D)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_matches_the_keras_formula(kwargs, data_format):
    rng = np.random.default_rng(1)
    cf = data_format == "channels_first"
    layer = layers.Conv1D(**kwargs, data_format=data_format)
    model = Model(i := Input(shape=(4, 13) if cf else (13, 4)), layer(i))
    _randomize_bias(layer, rng)
    kernel, bias = layer.get_weights()
    for batch in (1, 7):
        x = rng.normal(size=(batch, 4, 13) if cf else (batch, 13, 4))
        want = keras_conv(x, kernel, bias, layer.strides, layer.padding, layer.dilation_rate, layer.groups, cf)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_conv1d_over_sequences_of_any_length():
    rng = np.random.default_rng(2)
    i = Input(shape=(None, 3))
    c1, c2 = layers.Conv1D(4, 3, padding="causal"), layers.Conv1D(2, 2, strides=2, padding="same")
    model = Model(i, c2(c1(i)))
    assert model.outputs[0].shape == (None, None, 2)
    for length in (5, 8):
        x = rng.normal(size=(2, length, 3))
        h = keras_conv(x, *c1.get_weights(), (1,), "causal", (1,))
        np.testing.assert_allclose(model.predict(x, verbose=0), keras_conv(h, *c2.get_weights(), (2,), "same", (1,)),
                                   rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- pooling forward numerics
POOLS = [
    (layers.MaxPooling2D, dict(), 2),
    (layers.MaxPooling2D, dict(pool_size=3, strides=2, padding="same"), 2),
    (layers.MaxPooling2D, dict(pool_size=(3, 1), strides=1, padding="same"), 2),
    (layers.AveragePooling2D, dict(pool_size=3, strides=2), 2),
    (layers.AveragePooling2D, dict(pool_size=3, strides=2, padding="same"), 2),
    (layers.AveragePooling2D, dict(pool_size=(2, 3), padding="same"), 2),
    (layers.MaxPooling1D, dict(pool_size=5), 1),
    (layers.MaxPooling1D, dict(pool_size=3, strides=1, padding="same"), 1),
    (layers.AveragePooling1D, dict(pool_size=4, strides=3, padding="same"), 1),
]


@pytest.mark.parametrize("cls, kwargs, rank", POOLS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pooling_matches_the_keras_formula(cls, kwargs, rank, data_format):
    rng = np.random.default_rng(3)
    cf = data_format == "channels_first"
    spatial = (7, 6)[:rank] if rank == 2 else (13,)
    shape = (3, *spatial) if cf else (*spatial, 3)
    layer = cls(**kwargs, data_format=data_format)
    model = Model(i := Input(shape=shape), layer(i))
    kind = "max" if "Max" in cls.__name__ else "avg"
    for batch in (1, 7):
        x = rng.normal(size=(batch, *shape))
        want = keras_pool(x, kind, layer.pool_size, layer.strides, layer.padding, cf)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls, reduce", [(layers.GlobalMaxPooling2D, np.max), (layers.GlobalAveragePooling2D, np.mean),
                                         (layers.GlobalMaxPooling1D, np.max),
                                         (layers.GlobalAveragePooling1D, np.mean)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling(cls, reduce, keepdims, data_format):
    rank = 2 if cls.__name__.endswith("2D") else 1
    shape = (5, 4, 3)[3 - rank - 1:] if data_format == "channels_last" else (3, 5, 4)[:rank + 1]
    axes = tuple(range(1, rank + 1)) if data_format == "channels_last" else tuple(range(2, rank + 2))
    model = Model(i := Input(shape=shape), cls(data_format=data_format, keepdims=keepdims)(i))
    for batch in (1, 7):
        x = np.random.default_rng(4).normal(size=(batch, *shape))
        np.testing.assert_allclose(model.predict(x, verbose=0), reduce(x, axis=axes, keepdims=keepdims), rtol=1e-5,
                                   atol=1e-6)


# ---------------------------------------------------------------- spellings, errors
def test_legacy_convolution2d_spelling_maps_to_keras_3():
    with pytest.warns(DeprecationWarning, match="Keras 1 spelling"):
        conv = layers.Convolution2D(64, 3, 3, border_mode="same", subsample=(2, 2), dim_ordering="th",
                                    init="glorot_uniform", bias=False, activation="relu")
    assert (conv.filters, conv.kernel_size, conv.padding, conv.strides, conv.data_format, conv.use_bias) == \
        (64, (3, 3), "same", (2, 2), "channels_first", False)
    with pytest.warns(DeprecationWarning):
        conv1 = layers.Convolution1D(nb_filter=8, filter_length=5, border_mode="valid", subsample_length=2)
    assert (conv1.filters, conv1.kernel_size, conv1.strides) == (8, (5,), (2,))
    with pytest.warns(DeprecationWarning):
        pool = layers.MaxPooling2D((3, 3), strides=(1, 1), border_mode="same", dim_ordering="tf")
    assert (pool.pool_size, pool.padding, pool.data_format) == ((3, 3), "same", "channels_last")
    with pytest.warns(DeprecationWarning):
        assert layers.MaxPooling1D(pool_length=4, stride=2).strides == (2,)
    with warnings.catch_warnings():   # the Keras 3 alias spelling does not warn
        warnings.simplefilter("error")
        assert layers.Convolution2D(4, (3, 3)).kernel_size == (3, 3)
        assert layers.MaxPool2D is layers.MaxPooling2D and layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D


def test_keyword_and_value_errors():
    with pytest.raises(TypeError, match="did you mean 'padding'"):
        layers.Conv2D(4, 3, paddin="same")
    with pytest.raises(ValueError, match="padding must be one of"):
        layers.Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="kernel_size must be"):
        layers.Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="strides > 1 together with dilation_rate > 1"):
        layers.Conv1D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="groups must be a positive int dividing filters"):
        layers.Conv2D(5, 3, groups=2)
    with pytest.raises(ValueError, match="data_format must be"):
        layers.MaxPooling2D(data_format="NHWC")


def test_shape_errors_name_the_layer_and_hint_at_channels_first():
    with pytest.raises(ValueError, match=r"Layer 'c' \(Conv2D\).*looks channels-first.*data_format='channels_first'"), \
            pytest.warns(UserWarning, match="looks channels-first"):
        layers.Conv2D(64, 3, name="c")(Input(shape=(1, 27, 27)))
    with pytest.raises(ValueError, match="expected an input of rank 4"):
        layers.Conv2D(4, 3)(Input(shape=(8, 8)))
    with pytest.raises(ValueError, match="groups=2 does not divide"):
        layers.Conv2D(4, 3, groups=2)(Input(shape=(8, 8, 3)))
    conv = layers.Conv1D(4, 3)
    conv(Input(shape=(None, 3)))
    with pytest.raises(ValueError, match="expected 3 input channels"):
        conv(Input(shape=(None, 5)))


# ---------------------------------------------------------------- layout passes
def test_a_conv_stack_pays_two_transposes():
    i = Input(shape=(16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(i)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(4, 3, strides=2, padding="same")(x)
    x = layers.AveragePooling2D(padding="same")(x)
    x = layers.Flatten()(x)
    model = Model(i, layers.Dense(2)(x))
    from fgc.compiler import inference_graph
    from fgc.ir import op_path

    g = inference_graph(model)
    assert op_path(g) == ("Transpose -> Conv -> Relu -> Conv -> Relu -> MaxPool -> Conv -> AveragePool -> "
                          "Transpose -> Reshape -> Gemm")
    data_transposes = [n for n in g.nodes_with_op("Transpose") if g.op(g.node(n)["inputs"][0].node) != "param"]
    assert len(data_transposes) == 2
    assert all(len(g.node(n)["inputs"]) == 3 for n in g.nodes_with_op("Conv"))   # biases fused
    assert model.ir().count("Transpose(%") == 2 + 3   # two on the data path, one per kernel (OIHW)


def test_channels_first_stack_has_no_data_transpose():
    i = Input(shape=(3, 10, 10))
    x = layers.Conv2D(4, 3, data_format="channels_first", activation="relu")(i)
    x = layers.MaxPooling2D(data_format="channels_first")(x)
    model = Model(i, layers.Conv2D(2, 1, data_format="channels_first")(x))
    from fgc.compiler import inference_graph
    from fgc.ir import op_path

    assert op_path(inference_graph(model)) == "Conv -> Relu -> MaxPool -> Conv"


# ---------------------------------------------------------------- training
def _learnable_images(rng, n=96):
    x = rng.normal(size=(n, 8, 8, 2))
    y = (x[:, 2:6, 2:6, 0].mean(axis=(1, 2)) > x[:, :, :, 1].mean(axis=(1, 2))).astype(np.float64)
    return x, y[:, None]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_fit_a_small_conv2d_model_lowers_the_loss(data_format):
    # the initial weights and shuffles come from fgc's global generator: seed it, or the outcome depends
    # on which tests ran before (channels_first failed after tests/passes, with or without any change)
    fgc.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x, y = _learnable_images(rng)
    cf = data_format == "channels_first"
    if cf:
        x = np.moveaxis(x, -1, 1)
    i = Input(shape=x.shape[1:])
    h = layers.Conv2D(6, 3, padding="same", activation="relu", data_format=data_format)(i)
    h = layers.MaxPooling2D(data_format=data_format)(h)
    h = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", data_format=data_format)(h)
    h = layers.AveragePooling2D(padding="same", data_format=data_format)(h)
    h = layers.GlobalMaxPooling2D(data_format=data_format)(h)
    model = Model(i, layers.Dense(1, activation="sigmoid")(h))
    model.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    before = model.get_weights()
    history = model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] * 0.9, losses
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_fit_conv1d_over_sequences_of_unknown_length():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(64, 30, 4))
    y = x[:, :, 0].max(axis=1, keepdims=True)
    i = Input(shape=(None, 4))
    h = layers.Conv1D(8, 5, activation="relu")(i)
    h = layers.MaxPooling1D(5)(h)
    h = layers.Conv1D(8, 3, activation="relu", padding="causal")(h)
    h = layers.GlobalMaxPooling1D()(h)
    model = Model(i, layers.Dense(1)(h))
    model.compile(optimizer="adam", loss="mse")
    losses = model.fit(x, y, epochs=10, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses
    assert model.predict(rng.normal(size=(3, 41, 4)), verbose=0).shape == (3, 1)


def test_embedding_then_conv1d_over_word_ids_of_unknown_length():
    # seed 000's three-output model in small: Input(shape=(None,)) -> Embedding -> Conv1D -> pooling
    words = Input(shape=(None,), dtype="int32")
    h = layers.Embedding(50, 8)(words)
    h = layers.Conv1D(6, 3, activation="relu")(h)
    h = layers.MaxPooling1D(3)(h)
    h = layers.Conv1D(6, 3, activation="relu")(h)
    model = Model(words, layers.Dense(1, activation="sigmoid")(layers.GlobalMaxPooling1D()(h)))
    rng = np.random.default_rng(14)
    ids = rng.integers(1, 50, size=(64, 24))
    y = (ids[:, :12] < 25).mean(axis=1, keepdims=True) > 0.5
    model.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    losses = model.fit(ids, y.astype(np.float64), epochs=8, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses
    assert model.predict(rng.integers(1, 50, size=(2, 40)), verbose=0).shape == (2, 1)


def test_training_step_cancels_transposes_in_the_backward_pass_too():
    from fgc.training.step import build_step_graph

    # 40 filters: above SMALL_CHANNELS the second conv's weight gradient takes per-sample products on
    # NCHW columns (narrower convs make their input channels-last for one product: a Transpose of the
    # same perm, not a layout change)
    i = Input(shape=(8, 8, 2))
    x = layers.Conv2D(40, 3, padding="same", activation="relu")(i)
    x = layers.Conv2D(40, 3, padding="same", activation="relu")(x)
    model = Model(i, layers.GlobalAveragePooling2D()(x))
    model.compile(optimizer="sgd", loss="mse")
    graph, _ = build_step_graph(model, model._compiled)
    nhwc = ((0, 3, 1, 2), (0, 2, 3, 1))
    layout = [n for n in graph.nodes_with_op("Transpose") if tuple(graph.node(n)["attrs"]["perm"]) in nhwc
              and graph.type_of(graph.node(n)["inputs"][0]).shape[0] == "N"]
    # forward: NHWC -> NCHW at the input and back at the output; backward: the output's cotangent into
    # NCHW. The pairs between the two layers cancelled in both directions (the other Transposes are the
    # kernels' OIHW <-> HWIO and the batch/channel swaps of the weight gradients).
    assert len(layout) == 3, layout


def test_exports_pass_the_onnx_checker_with_strict_shape_inference():
    import onnx

    from fgc.compiler import inference_graph
    from fgc.export.onnx import to_onnx
    from fgc.training.step import build_step_graph

    def model(stride):
        i = Input(shape=(None, 6))
        x = layers.Conv1D(4, 3, strides=stride, padding="same")(i)
        x = layers.MaxPooling1D(2, padding="same")(x)
        x = layers.AveragePooling1D(3, strides=1, padding="same")(x)
        x = layers.TimeDistributed(layers.Dense(2))(x)
        return Model(i, layers.GlobalAveragePooling1D()(x))

    strided, plain = model(2), model(1)     # stride 2 over an unknown length: auto_pad SAME_UPPER
    plain.compile(optimizer="sgd", loss="mse")
    protos = [to_onnx(inference_graph(strided)), to_onnx(build_step_graph(plain, plain._compiled)[0],
                                                          params_as_inputs=True)]
    for proto in protos:
        onnx.checker.check_model(proto, full_check=True)
        onnx.shape_inference.infer_shapes(proto, strict_mode=True, check_type=True)
    assert strided.predict(np.random.default_rng(0).normal(size=(2, 9, 6)), verbose=0).shape == (2, 2)
    x, y = np.random.default_rng(1).normal(size=(8, 9, 6)), np.zeros((8, 2))
    losses = plain.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    strided.compile(optimizer="sgd", loss="mse")
    with pytest.raises(NotImplementedError, match="no gradient rule for op 'Conv' \\(layer 'conv1d'\\): .*'same' "
                                                  "padding and stride > 1 over a spatial dim of unknown size"):
        strided.fit(x, y, verbose=0)


# ---------------------------------------------------------------- TimeDistributed
def _mnist_like_model():
    inputs = Input(shape=(784,))
    x = layers.Dense(16, activation="relu")(inputs)
    return Model(inputs, layers.Dense(10, activation="softmax")(x))


@pytest.mark.parametrize("steps", [5, None])
def test_time_distributed_model_equals_the_model_per_step(steps):
    model = _mnist_like_model()
    seq = Input(shape=(steps, 784))
    td = layers.TimeDistributed(model)
    video = Model(seq, td(seq))
    assert video.outputs[0].shape == (None, steps, 10)
    assert td.count_params() == model.count_params() == video.count_params()
    rng = np.random.default_rng(7)
    for batch, t in ((1, 5), (7, 5)) + (((2, 3),) if steps is None else ()):
        x = rng.random(size=(batch, t, 784))
        got = video.predict(x, verbose=0)
        want = np.stack([model.predict(x[:, j], verbose=0) for j in range(t)], axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_time_distributed_conv_model_trains_and_shares_weights():
    frame = Input(shape=(6, 6, 1))
    f = layers.Conv2D(3, 3, activation="relu")(frame)
    f = layers.MaxPooling2D()(f)
    vision = Model(frame, layers.Flatten()(f))
    clips = Input(shape=(None, 6, 6, 1))
    encoded = layers.TimeDistributed(vision)(clips)
    assert encoded.shape == (None, None, 12)
    out = layers.Dense(1)(layers.GlobalAveragePooling1D()(encoded))
    model = Model(clips, out)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(32, 4, 6, 6, 1))
    y = x.mean(axis=(1, 2, 3, 4))[:, None] * 5
    model.compile(optimizer="adam", loss="mse")
    before = vision.get_weights()
    losses = model.fit(x, y, epochs=8, batch_size=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0], losses
    assert not np.allclose(before[0], vision.get_weights()[0])   # the shared vision model was trained
    np.testing.assert_allclose(model.predict(x[:2], verbose=0).shape, (2, 1))


def test_time_distributed_dense_and_errors():
    dense = layers.Dense(3)
    td = layers.TimeDistributed(dense)
    seq = Input(shape=(4, 5))
    model = Model(seq, td(seq))
    assert [w.shape for w in td.weights] == [(5, 3), (3,)]
    x = np.random.default_rng(9).normal(size=(2, 4, 5))
    k, b = dense.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ k + b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="rank >= 3"):
        layers.TimeDistributed(layers.Dense(2))(Input(shape=(5,)))
    with pytest.raises(TypeError, match="wraps a layer or a model"):
        layers.TimeDistributed("dense")


# ---------------------------------------------------------------- BatchNormalization
@pytest.mark.parametrize("axis, shape", [(-1, (5, 4)), (1, (4, 3, 3))])
def test_batch_normalization_inference(axis, shape):
    bn = layers.BatchNormalization(axis=axis)
    model = Model(i := Input(shape=shape), bn(i))
    rng = np.random.default_rng(10)
    c = shape[axis] if axis == -1 else shape[0]
    gamma, beta, mean, var = rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.random(size=c) + 0.1
    bn.set_weights([gamma, beta, mean, var])
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.trainable for w in bn.weights] == [True, True, False, False]
    assert (bn.epsilon, bn.momentum) == (1e-3, 0.99)
    bshape = (c,) if axis == -1 else (c, 1, 1)
    for batch in (1, 7):
        x = rng.normal(size=(batch, *shape))
        want = (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-3) * gamma.reshape(bshape) \
            + beta.reshape(bshape)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_batch_normalization_trains_and_a_frozen_one_keeps_its_statistics():
    i = Input(shape=(4,))
    bn = layers.BatchNormalization()
    model = Model(i, layers.Dense(1)(bn(i)))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.default_rng(11).normal(size=(8, 4)), np.zeros((8, 1))
    stats = bn.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(stats[2], bn.get_weights()[2])  # moving mean moved
    bn.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    stats = bn.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(stats, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- the seed programs' parameter counts
def _conv_params(k, cin, filters, rank=2):
    """Keras: kernel k^rank * in * filters, plus one bias per filter."""
    return k ** rank * cin * filters + filters


def test_seed_000_three_output_model_param_counts():
    # seed 000 embeds posts into 256-dim vectors (here the Input stands for the embedded posts)
    posts = Input(shape=(None, 256), name="posts")
    convs = [layers.Conv1D(128, 5, activation="relu")]
    x = convs[0](posts)
    x = layers.MaxPooling1D(5)(x)
    for _ in range(2):
        convs.append(layers.Conv1D(256, 5, activation="relu"))
        x = convs[-1](x)
    x = layers.MaxPooling1D(5)(x)
    for _ in range(2):
        convs.append(layers.Conv1D(256, 5, activation="relu"))
        x = convs[-1](x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu")(x)
    model = Model(posts, [layers.Dense(1, name="age")(x), layers.Dense(10, activation="softmax", name="income")(x),
                          layers.Dense(1, activation="sigmoid", name="gender")(x)])
    assert convs[0].count_params() == 163_968 == _conv_params(5, 256, 128, rank=1)
    assert [c.count_params() for c in convs[1:]] == [_conv_params(5, 128, 256, 1)] + [_conv_params(5, 256, 256, 1)] * 3
    dense = (256 * 128 + 128) + (128 + 1) + (128 * 10 + 10) + (128 + 1)
    assert model.count_params() == sum(c.count_params() for c in convs) + dense
    assert [t.shape for t in model.outputs] == [(None, 1), (None, 10), (None, 1)]
    out = model.predict(np.random.default_rng(12).normal(size=(2, 300, 256)), verbose=0)
    assert [o.shape for o in out] == [(2, 1), (2, 10), (2, 1)]


def test_seed_003_inception_and_residual_param_counts():
    with pytest.warns(DeprecationWarning):
        input_img = Input(shape=(3, 32, 32))
        def conv(f, k):
            return layers.Convolution2D(f, k, k, border_mode="same", activation="relu", dim_ordering="th")
        tower_1 = conv(64, 3)(conv(64, 1)(input_img))
        tower_2 = conv(64, 5)(conv(64, 1)(input_img))
        tower_3 = layers.MaxPooling2D((3, 3), strides=(1, 1), border_mode="same", dim_ordering="th")(input_img)
        tower_3 = conv(64, 1)(tower_3)
        output = layers.merge([tower_1, tower_2, tower_3], mode="concat", concat_axis=1)
        model = Model(input_img, output)
    assert model.outputs[0].shape == (None, 192, 32, 32)
    assert model.count_params() == (_conv_params(1, 3, 64) * 3 + _conv_params(3, 64, 64) + _conv_params(5, 64, 64))

    with pytest.warns(DeprecationWarning):
        x = Input(shape=(3, 16, 16))
        y = layers.Convolution2D(3, 3, 3, border_mode="same", dim_ordering="th")(x)
        z = layers.merge([x, y], mode="sum")
    residual = Model(x, z)
    assert residual.count_params() == _conv_params(3, 3, 3)
    data = np.random.default_rng(13).normal(size=(2, 3, 16, 16))
    k, b = residual.layers[1].get_weights()
    want = data + keras_conv(data, k, b, (1, 1), "same", (1, 1), channels_first=True)
    np.testing.assert_allclose(residual.predict(data, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_seed_003_shared_vision_and_vqa_vision_param_counts():
    with pytest.warns(DeprecationWarning):
        digit_input = Input(shape=(1, 27, 27))
        x = layers.Convolution2D(64, 3, 3, dim_ordering="th")(digit_input)
        x = layers.Convolution2D(64, 3, 3, dim_ordering="th")(x)
        x = layers.MaxPooling2D((2, 2), dim_ordering="th")(x)
        vision_model = Model(digit_input, layers.Flatten()(x))
    digit_a, digit_b = Input(shape=(1, 27, 27)), Input(shape=(1, 27, 27))
    concatenated = layers.concatenate([vision_model(digit_a), vision_model(digit_b)])
    classification_model = Model([digit_a, digit_b], layers.Dense(1, activation="sigmoid")(concatenated))
    assert vision_model.outputs[0].shape == (None, 64 * 11 * 11)
    assert classification_model.count_params() == _conv_params(3, 1, 64) + _conv_params(3, 64, 64) + 2 * 7744 + 1

    with pytest.warns(DeprecationWarning):
        vqa_vision = Sequential()
        kw = dict(activation="relu", dim_ordering="th")
        vqa_vision.add(layers.Convolution2D(64, 3, 3, border_mode="same", input_shape=(3, 224, 224), **kw))
        vqa_vision.add(layers.Convolution2D(64, 3, 3, **kw))
        vqa_vision.add(layers.MaxPooling2D((2, 2), dim_ordering="th"))
        vqa_vision.add(layers.Convolution2D(128, 3, 3, border_mode="same", **kw))
        vqa_vision.add(layers.Convolution2D(128, 3, 3, **kw))
        vqa_vision.add(layers.MaxPooling2D((2, 2), dim_ordering="th"))
        vqa_vision.add(layers.Convolution2D(256, 3, 3, border_mode="same", **kw))
        vqa_vision.add(layers.Convolution2D(256, 3, 3, **kw))
        vqa_vision.add(layers.Convolution2D(256, 3, 3, **kw))
        vqa_vision.add(layers.MaxPooling2D((2, 2), dim_ordering="th"))
        vqa_vision.add(layers.Flatten())
    assert vqa_vision.outputs[0].shape == (None, 256 * 25 * 25)   # 224 -> 222 -> 111 -> 109 -> 54 -> 52 -> 50 -> 25
    assert vqa_vision.count_params() == (_conv_params(3, 3, 64) + _conv_params(3, 64, 64) + _conv_params(3, 64, 128)
                                         + _conv_params(3, 128, 128) + _conv_params(3, 128, 256)
                                         + 2 * _conv_params(3, 256, 256))
