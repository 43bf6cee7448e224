"""The seed models the benchmarks run, built in fgc and (when importable) in the peers.

Two kinds. ``SEED_MODELS`` (``ModelSpec``): the small dense models of the build/compile/export,
pass-timing and predict benchmarks, each an fgc builder, optional peer builders that copy fgc's
weights (so every contestant computes the same function, which the predict benchmark checks), and
random data; adding one = adding a ``ModelSpec``. ``TRAIN_MODELS`` (``TrainSpec``): the seed's
sequence and conv models (qa, siamese, three_heads, resnet_block, inception) trained and predicted
in fgc, PyTorch eager and Keras 3 with the same architecture and fgc's weights; adding one = adding a
``TrainSpec`` and listing its name in run.py's ``BENCHMARKS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import peers


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build_fgc: Callable[[], object]
    # random inputs as the seeds make them (np.random.random: float64), one array per model input
    make_inputs: Callable[[int, np.random.Generator], list[np.ndarray]]
    build_torch: Callable[[object], object] | None = None   # fgc model -> torch.nn.Module with its weights
    build_keras: Callable[[object], object] | None = None   # fgc model -> keras.Model with its weights
    predict_batch: int = 256


# ---------------------------------------------------------------------------- seed 000/003: MLP
def fgc_mlp():
    """Seed 000: Input(64) -> Dense(32, relu) -> Dense(32, relu) -> Dense(10, softmax)."""
    from fgc import Input, Model, layers

    inputs = Input(shape=(64,))
    x = layers.Dense(32, activation="relu")(inputs)
    x = layers.Dense(32, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return Model(inputs, outputs)


def _mlp_inputs(n, rng):
    return [rng.random((n, 64))]


def _dense_weights(model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """layer name -> (kernel (in, out), bias) for every Dense layer of an fgc model."""
    out = {}
    for layer in model.layers:
        w = layer.get_weights()
        if len(w) == 2:
            out[layer.name] = (np.asarray(w[0], np.float32), np.asarray(w[1], np.float32))
    return out


def _torch_linear(torch, kernel, bias):
    lin = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
        lin.bias.copy_(torch.from_numpy(bias))
    return lin


def torch_mlp(fgc_model):
    torch = peers.torch()
    ws = list(_dense_weights(fgc_model).values())
    net = torch.nn.Sequential(
        _torch_linear(torch, *ws[0]), torch.nn.ReLU(),
        _torch_linear(torch, *ws[1]), torch.nn.ReLU(),
        _torch_linear(torch, *ws[2]), torch.nn.Softmax(dim=-1))
    return net.eval()


def keras_mlp(fgc_model):
    keras = peers.keras()
    ws = list(_dense_weights(fgc_model).values())
    inputs = keras.Input(shape=(64,))
    x = keras.layers.Dense(32, activation="relu")(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.set_weights([a for kb in ws for a in kb])
    return model


# ---------------------------------------------------------------------------- seed 003: headline model, dense part
def fgc_headline_dense():
    """Seed 003's headline model without Embedding/LSTM (not in fgc yet): a 32-wide input stands in
    for ``lstm_out``. Two inputs, two outputs: aux_output = Dense(1, sigmoid)(lstm_out);
    main_output = 3x Dense(64, relu) + Dense(1, sigmoid) over concat(lstm_out, aux_input)."""
    from fgc import Input, Model, layers

    lstm_out = Input(shape=(32,), name="lstm_out")
    aux_input = Input(shape=(5,), name="aux_input")
    aux_output = layers.Dense(1, activation="sigmoid", name="aux_output")(lstm_out)
    x = layers.concatenate([lstm_out, aux_input])
    x = layers.Dense(64, activation="relu", name="hd_dense_1")(x)
    x = layers.Dense(64, activation="relu", name="hd_dense_2")(x)
    x = layers.Dense(64, activation="relu", name="hd_dense_3")(x)
    main_output = layers.Dense(1, activation="sigmoid", name="main_output")(x)
    return Model([lstm_out, aux_input], [main_output, aux_output])


def _headline_inputs(n, rng):
    return [rng.random((n, 32)), rng.random((n, 5))]


def torch_headline_dense(fgc_model):
    torch = peers.torch()
    ws = _dense_weights(fgc_model)

    class Headline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.aux = _torch_linear(torch, *ws["aux_output"])
            self.d1 = _torch_linear(torch, *ws["hd_dense_1"])
            self.d2 = _torch_linear(torch, *ws["hd_dense_2"])
            self.d3 = _torch_linear(torch, *ws["hd_dense_3"])
            self.main = _torch_linear(torch, *ws["main_output"])

        def forward(self, lstm_out, aux_input):
            aux = torch.sigmoid(self.aux(lstm_out))
            x = torch.cat([lstm_out, aux_input], dim=-1)
            x = torch.relu(self.d1(x))
            x = torch.relu(self.d2(x))
            x = torch.relu(self.d3(x))
            return torch.sigmoid(self.main(x)), aux

    return Headline().eval()


def keras_headline_dense(fgc_model):
    keras = peers.keras()
    ws = _dense_weights(fgc_model)
    lstm_out = keras.Input(shape=(32,), name="lstm_out")
    aux_input = keras.Input(shape=(5,), name="aux_input")
    aux = keras.layers.Dense(1, activation="sigmoid", name="aux_output")
    aux_output = aux(lstm_out)
    x = keras.layers.concatenate([lstm_out, aux_input])
    dense = [keras.layers.Dense(64, activation="relu", name=f"hd_dense_{i}") for i in (1, 2, 3)]
    for d in dense:
        x = d(x)
    main = keras.layers.Dense(1, activation="sigmoid", name="main_output")
    main_output = main(x)
    model = keras.Model([lstm_out, aux_input], [main_output, aux_output])
    for layer, name in [(aux, "aux_output"), *[(d, f"hd_dense_{i}") for d, i in zip(dense, (1, 2, 3))],
                        (main, "main_output")]:
        layer.set_weights(list(ws[name]))
    return model


SEED_MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(
        "mlp", "seed 000 MLP: Input(64) → Dense(32, relu) → Dense(32, relu) → Dense(10, softmax)",
        fgc_mlp, _mlp_inputs, torch_mlp, keras_mlp),
    "headline_dense": ModelSpec(
        "headline_dense", "seed 003 headline model, dense part: inputs (32) + aux (5), concat, 3× Dense(64, relu), "
        "outputs main (Dense(1, sigmoid)) + aux (Dense(1, sigmoid) on the 32-wide input)",
        fgc_headline_dense, _headline_inputs, torch_headline_dense, keras_headline_dense),
}


# ============================================================================ sequence and conv models (fit + predict)
@dataclass(frozen=True)
class TrainSpec:
    """A seed model trained and predicted in fgc, PyTorch eager and (when installed) Keras 3 (same
    architecture, fgc's weights).

    ``make_data(n, rng) -> (inputs, targets)``: inputs as the seeds make them (int64 ids from
    ``np.random.randint``, float64 ``np.random.random``), one-hot / 0-1 targets, one array per
    input and per output. ``torch_loss(outputs, targets)`` is the summed loss Keras computes for
    ``losses`` (every loss weight 1)."""
    name: str
    description: str
    build_fgc: Callable[[], object]
    make_data: Callable[[int, np.random.Generator], tuple[list[np.ndarray], list[np.ndarray]]]
    losses: list[str]
    build_torch: Callable[[object], object]
    torch_loss: Callable[..., object]
    batch: int                   # fit batch size (the seed's / peers.md's)
    fit_batches: int             # batches per timed fit epoch (full run)
    predict_batches: int         # batches of 256 per timed predict pass (full run)
    reference: dict              # peers.md figures: {"fit": {...}, "predict": {...}}
    fit_target: float | None = None      # samples/s (the task's target for fit)
    fit_target_source: str = ""
    predict_batch: int = 256
    runs: int = 7                # timed runs (full run), after one warm-up run (3 left conv ratios ±0.15 apart)
    build_keras: Callable[[object], object] | None = None   # fgc model -> keras.Model with its weights (run.py
                                                            # compiles it as it compiles fgc's)


def _fgc_api():
    """The fgc package: Input, Model and layers, as keras has them (one builder serves both)."""
    import fgc

    return fgc


def _layer_weights(model, name):
    return [np.asarray(w, np.float32) for w in model.get_layer(name).get_weights()]


def _keras_copy_weights(kmodel, fgc_model):
    """Copy fgc's weights into every keras layer that has weights, matched by layer name: fgc layers
    keep Keras 3's get_weights() order and layouts (Dense (in, out), Conv (*k, in, out), LSTM gates
    i, f, c, o with one bias), so they go in unchanged. Returns the keras model."""
    for layer in kmodel.layers:
        if layer.weights:
            layer.set_weights(_layer_weights(fgc_model, layer.name))
    return kmodel


def _torch_param(torch, dst, array):
    with torch.no_grad():
        dst.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def _torch_lstm(torch, fgc_model, name):
    """torch.nn.LSTM (batch_first) with an fgc LSTM's weights: both use the gate order i, f, c(g), o."""
    kernel, recurrent, bias = _layer_weights(fgc_model, name)
    lstm = torch.nn.LSTM(kernel.shape[0], recurrent.shape[0], batch_first=True)
    _torch_param(torch, lstm.weight_ih_l0, kernel.T)
    _torch_param(torch, lstm.weight_hh_l0, recurrent.T)
    _torch_param(torch, lstm.bias_ih_l0, bias)
    _torch_param(torch, lstm.bias_hh_l0, np.zeros_like(bias))
    return lstm


def _torch_embedding(torch, fgc_model, name):
    (table,) = _layer_weights(fgc_model, name)
    emb = torch.nn.Embedding(*table.shape)
    _torch_param(torch, emb.weight, table)
    return emb


def _torch_dense(torch, fgc_model, name):
    return _torch_linear(torch, *_layer_weights(fgc_model, name))


def _torch_conv(torch, fgc_model, name, **kwargs):
    """Conv1d / Conv2d with an fgc Conv1D / Conv2D's weights: kernel (*k, in, out) -> (out, in, *k)."""
    kernel, bias = _layer_weights(fgc_model, name)
    rank = kernel.ndim - 2
    cls = torch.nn.Conv1d if rank == 1 else torch.nn.Conv2d
    conv = cls(kernel.shape[-2], kernel.shape[-1], kernel.shape[:-2], **kwargs)
    _torch_param(torch, conv.weight, kernel.transpose(rank + 1, rank, *range(rank)))
    _torch_param(torch, conv.bias, bias)
    return conv


def _cce(torch, p, y):
    """Keras categorical_crossentropy on probabilities (clipped at 1e-7), mean over the batch."""
    return -(y * p.clamp(1e-7, 1 - 1e-7).log()).sum(-1).mean()


def _bce(torch, p, y):
    return torch.nn.functional.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), y)


def _one_hot(rng, n, k):
    return np.eye(k)[rng.integers(0, k, n)]


# ---------------------------------------------------------------------------- seed 000: question answering
def qa_model(api):
    """Built with ``api`` = the fgc module or keras: the same code, the same layer names."""
    layers = api.layers
    text = api.Input(shape=(None,), dtype="int32", name="text")
    t = layers.Embedding(10000, 64, name="text_embedding")(text)
    t = layers.LSTM(32, name="text_lstm")(t)
    question = api.Input(shape=(None,), dtype="int32", name="question")
    q = layers.Embedding(10000, 32, name="question_embedding")(question)
    q = layers.LSTM(16, name="question_lstm")(q)
    x = layers.concatenate([t, q], axis=-1)
    answer = layers.Dense(500, activation="softmax", name="answer")(x)
    return api.Model([text, question], answer)


def fgc_qa():
    return qa_model(_fgc_api())


def _qa_data(n, rng):
    return ([rng.integers(1, 10000, (n, 100)), rng.integers(1, 10000, (n, 100))], [_one_hot(rng, n, 500)])


def torch_qa(fgc_model):
    torch = peers.torch()

    class QA(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.text_emb = _torch_embedding(torch, fgc_model, "text_embedding")
            self.text_lstm = _torch_lstm(torch, fgc_model, "text_lstm")
            self.q_emb = _torch_embedding(torch, fgc_model, "question_embedding")
            self.q_lstm = _torch_lstm(torch, fgc_model, "question_lstm")
            self.answer = _torch_dense(torch, fgc_model, "answer")

        def forward(self, text, question):
            _, (t, _) = self.text_lstm(self.text_emb(text))
            _, (q, _) = self.q_lstm(self.q_emb(question))
            return torch.softmax(self.answer(torch.cat([t[0], q[0]], dim=-1)), dim=-1)

    return QA()


def keras_qa(fgc_model):
    return _keras_copy_weights(qa_model(peers.keras()), fgc_model)


# ---------------------------------------------------------------------------- seed 000: siamese shared LSTM
def siamese_model(api):
    left = api.Input(shape=(None, 128), name="left")
    right = api.Input(shape=(None, 128), name="right")
    lstm = api.layers.LSTM(32, name="shared_lstm")
    merged = api.layers.concatenate([lstm(left), lstm(right)], axis=-1)
    out = api.layers.Dense(1, activation="sigmoid", name="similarity")(merged)
    return api.Model([left, right], out)


def fgc_siamese():
    return siamese_model(_fgc_api())


def _siamese_data(n, rng):
    return [rng.random((n, 50, 128)), rng.random((n, 50, 128))], [rng.integers(0, 2, (n, 1)).astype(np.float64)]


def torch_siamese(fgc_model):
    torch = peers.torch()

    class Siamese(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = _torch_lstm(torch, fgc_model, "shared_lstm")
            self.out = _torch_dense(torch, fgc_model, "similarity")

        def forward(self, left, right):
            _, (hl, _) = self.lstm(left)
            _, (hr, _) = self.lstm(right)
            return torch.sigmoid(self.out(torch.cat([hl[0], hr[0]], dim=-1)))

    return Siamese()


def keras_siamese(fgc_model):
    return _keras_copy_weights(siamese_model(peers.keras()), fgc_model)


# ---------------------------------------------------------------------------- seed 000/004: three-output model
def three_heads_model(api):
    layers = api.layers
    posts = api.Input(shape=(None,), dtype="int32", name="posts")
    x = layers.Embedding(50000, 256, name="posts_embedding")(posts)
    x = layers.Conv1D(128, 5, activation="relu", name="conv_1")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(256, 5, activation="relu", name="conv_2")(x)
    x = layers.Conv1D(256, 5, activation="relu", name="conv_3")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(256, 5, activation="relu", name="conv_4")(x)
    x = layers.Conv1D(256, 5, activation="relu", name="conv_5")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu", name="features")(x)
    age = layers.Dense(1, name="age")(x)
    income = layers.Dense(10, activation="softmax", name="income")(x)
    gender = layers.Dense(1, activation="sigmoid", name="gender")(x)
    return api.Model(posts, [age, income, gender])


def fgc_three_heads():
    return three_heads_model(_fgc_api())


def _three_heads_data(n, rng):
    return ([rng.integers(1, 50000, (n, 500))],
            [rng.random((n, 1)) * 100, _one_hot(rng, n, 10), rng.integers(0, 2, (n, 1)).astype(np.float64)])


def torch_three_heads(fgc_model):
    torch = peers.torch()

    class ThreeHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = _torch_embedding(torch, fgc_model, "posts_embedding")
            self.convs = torch.nn.ModuleList([_torch_conv(torch, fgc_model, f"conv_{i}") for i in range(1, 6)])
            self.pool = torch.nn.MaxPool1d(5)
            self.features = _torch_dense(torch, fgc_model, "features")
            self.age = _torch_dense(torch, fgc_model, "age")
            self.income = _torch_dense(torch, fgc_model, "income")
            self.gender = _torch_dense(torch, fgc_model, "gender")

        def forward(self, posts):
            relu = torch.relu
            x = self.emb(posts).transpose(1, 2)            # (batch, channels, time): torch's Conv1d layout
            x = self.pool(relu(self.convs[0](x)))
            x = self.pool(relu(self.convs[2](relu(self.convs[1](x)))))
            x = relu(self.convs[4](relu(self.convs[3](x))))
            x = relu(self.features(x.amax(dim=-1)))
            return self.age(x), torch.softmax(self.income(x), dim=-1), torch.sigmoid(self.gender(x))

    return ThreeHeads()


def keras_three_heads(fgc_model):
    return _keras_copy_weights(three_heads_model(peers.keras()), fgc_model)


def _three_heads_loss(torch, outs, ys):
    age, income, gender = outs
    return torch.nn.functional.mse_loss(age, ys[0]) + _cce(torch, income, ys[1]) + _bce(torch, gender, ys[2])


# ---------------------------------------------------------------------------- seed 000: residual and inception (Conv2D)
def resnet_block_model(api):
    """peers.md resnet_block: 32x32x64 input; identity block 3x Conv2D(64, 3, relu, same) + add; downsampling
    block 2x Conv2D(64, 3, relu, same) + MaxPooling2D(2) with a 1x1 stride-2 Conv2D residual; GAP, Dense(10)."""
    layers = api.layers
    x = api.Input(shape=(32, 32, 64), name="image")
    y = layers.Conv2D(64, 3, activation="relu", padding="same", name="id_conv_1")(x)
    y = layers.Conv2D(64, 3, activation="relu", padding="same", name="id_conv_2")(y)
    y = layers.Conv2D(64, 3, activation="relu", padding="same", name="id_conv_3")(y)
    y = layers.add([y, x])
    z = layers.Conv2D(64, 3, activation="relu", padding="same", name="down_conv_1")(y)
    z = layers.Conv2D(64, 3, activation="relu", padding="same", name="down_conv_2")(z)
    z = layers.MaxPooling2D(2, strides=2)(z)
    residual = layers.Conv2D(64, 1, strides=2, padding="same", name="residual")(y)
    z = layers.add([z, residual])
    z = layers.GlobalAveragePooling2D()(z)
    return api.Model(x, layers.Dense(10, activation="softmax", name="classes")(z))


def fgc_resnet_block():
    return resnet_block_model(_fgc_api())


def _image_data(n, rng):
    return [rng.random((n, 32, 32, 64))], [_one_hot(rng, n, 10)]


def torch_resnet_block(fgc_model):
    torch = peers.torch()

    class ResnetBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            same = {"padding": "same"}
            self.id_convs = torch.nn.ModuleList([_torch_conv(torch, fgc_model, f"id_conv_{i}", **same)
                                                 for i in (1, 2, 3)])
            self.down_convs = torch.nn.ModuleList([_torch_conv(torch, fgc_model, f"down_conv_{i}", **same)
                                                   for i in (1, 2)])
            self.residual = _torch_conv(torch, fgc_model, "residual", stride=2)
            self.classes = _torch_dense(torch, fgc_model, "classes")

        def forward(self, image):
            x = image.permute(0, 3, 1, 2)                  # NHWC (Keras) -> NCHW (torch)
            y = x
            for conv in self.id_convs:
                y = torch.relu(conv(y))
            y = y + x
            z = torch.relu(self.down_convs[1](torch.relu(self.down_convs[0](y))))
            z = torch.nn.functional.max_pool2d(z, 2) + self.residual(y)
            return torch.softmax(self.classes(z.mean(dim=(2, 3))), dim=-1)

    return ResnetBlock()


def keras_resnet_block(fgc_model):
    return _keras_copy_weights(resnet_block_model(peers.keras()), fgc_model)


def inception_model(api):
    """Seed 000's Inception module on a 32x32x64 input with padding='same' (so the stride-2 branches
    line up), concatenate, GAP, Dense(10)."""
    layers = api.layers
    x = api.Input(shape=(32, 32, 64), name="image")
    a = layers.Conv2D(128, 1, activation="relu", strides=2, padding="same", name="a_1x1")(x)
    b = layers.Conv2D(128, 1, activation="relu", padding="same", name="b_1x1")(x)
    b = layers.Conv2D(128, 3, activation="relu", strides=2, padding="same", name="b_3x3")(b)
    c = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    c = layers.Conv2D(128, 3, activation="relu", padding="same", name="c_3x3")(c)
    d = layers.Conv2D(128, 1, activation="relu", padding="same", name="d_1x1")(x)
    d = layers.Conv2D(128, 3, activation="relu", padding="same", name="d_3x3_1")(d)
    d = layers.Conv2D(128, 3, activation="relu", strides=2, padding="same", name="d_3x3_2")(d)
    y = layers.concatenate([a, b, c, d], axis=-1)
    y = layers.GlobalAveragePooling2D()(y)
    return api.Model(x, layers.Dense(10, activation="softmax", name="classes")(y))


def fgc_inception():
    return inception_model(_fgc_api())


def torch_inception(fgc_model):
    torch = peers.torch()
    F = torch.nn.functional

    class Inception(torch.nn.Module):
        def __init__(self):
            super().__init__()
            conv = lambda name, **kw: _torch_conv(torch, fgc_model, name, **kw)  # noqa: E731
            self.a = conv("a_1x1", stride=2)
            self.b1, self.b2 = conv("b_1x1"), conv("b_3x3", stride=2)
            self.c = conv("c_3x3", padding="same")
            self.d1, self.d2, self.d3 = conv("d_1x1"), conv("d_3x3_1", padding="same"), conv("d_3x3_2", stride=2)
            self.classes = _torch_dense(torch, fgc_model, "classes")

        def forward(self, image):
            relu = torch.relu
            x = image.permute(0, 3, 1, 2)
            # Keras 'same' with stride 2 on an even size pads only at the end (0 before, 1 after)
            a = relu(self.a(x))
            b = relu(self.b2(F.pad(relu(self.b1(x)), (0, 1, 0, 1))))
            c = F.avg_pool2d(F.pad(x, (0, 1, 0, 1)), 3, stride=2)
            # Keras average pooling with 'same' padding averages over the real cells only
            ones = F.pad(torch.ones_like(x[:1, :1]), (0, 1, 0, 1))
            c = relu(self.c(c / F.avg_pool2d(ones, 3, stride=2)))
            d = relu(self.d3(F.pad(relu(self.d2(relu(self.d1(x)))), (0, 1, 0, 1))))
            y = torch.cat([a, b, c, d], dim=1).mean(dim=(2, 3))
            return torch.softmax(self.classes(y), dim=-1)

    return Inception()


def keras_inception(fgc_model):
    return _keras_copy_weights(inception_model(peers.keras()), fgc_model)


def _cce_loss(torch, outs, ys):
    return _cce(torch, outs, ys[0])


def _bce_loss(torch, outs, ys):
    return _bce(torch, outs, ys[0])


TRAIN_MODELS: dict[str, TrainSpec] = {
    "qa": TrainSpec(
        "qa", "seed 000 question answering: Embedding(10000, 64) → LSTM(32) ‖ Embedding(10000, 32) → LSTM(16), "
        "concatenate, Dense(500, softmax); seq 100; rmsprop, categorical_crossentropy",
        fgc_qa, _qa_data, ["categorical_crossentropy"], torch_qa, _cce_loss, batch=128, fit_batches=4,
        predict_batches=4, runs=7,
        build_keras=keras_qa,
        reference={"fit": {"Keras-JAX": 3.0e3, "PyTorch eager": 4.7e3, "ORT-training": 0.8e3},
                   "predict": {"Keras-JAX": 14.7e3, "PyTorch eager": 27.2e3, "ORT inference": 22.5e3}},
        fit_target=4.7e3, fit_target_source="PyTorch eager's reference figure"),
    "siamese": TrainSpec(
        "siamese", "seed 000 siamese: one LSTM(32) shared by two (50, 128) float inputs, concatenate, "
        "Dense(1, sigmoid); rmsprop, binary_crossentropy",
        fgc_siamese, _siamese_data, ["binary_crossentropy"], torch_siamese, _bce_loss, batch=128, fit_batches=4,
        predict_batches=4, runs=7,
        build_keras=keras_siamese,
        reference={"fit": {"Keras-JAX": 5.0e3, "PyTorch eager": 3.9e3, "ORT-training": 1.7e3},
                   "predict": {"Keras-JAX": 15.1e3, "PyTorch eager": 28.0e3, "ORT inference": 26.7e3}},
        fit_target=5.0e3, fit_target_source="Keras-JAX's reference figure"),
    "three_heads": TrainSpec(
        "three_heads", "seed 000 three-output model: Embedding(50000, 256) → Conv1D(128, 5, relu) → "
        "MaxPooling1D(5) → 2× Conv1D(256, 5, relu) → MaxPooling1D(5) → 2× Conv1D(256, 5, relu) → GlobalMaxPooling1D → "
        "Dense(128, relu) → age Dense(1) / income Dense(10, softmax) / gender Dense(1, sigmoid); seq 500; rmsprop, "
        "mse + categorical_crossentropy + binary_crossentropy",
        fgc_three_heads, _three_heads_data, ["mse", "categorical_crossentropy", "binary_crossentropy"],
        torch_three_heads, _three_heads_loss, batch=64, fit_batches=2, predict_batches=1,
        build_keras=keras_three_heads,
        reference={"fit": {"Keras-JAX": 162, "PyTorch eager": 160}, "predict": {"Keras-JAX": 626, "PyTorch eager": 445,
                                                                               "ORT inference": 601}},
        fit_target=162, fit_target_source="Keras-JAX's reference figure"),
    "resnet_block": TrainSpec(
        "resnet_block", "seed 000 residual connections (peers.md): 32×32×64 input, 3× Conv2D(64, 3, relu, same) + "
        "identity add, downsampling block 2× Conv2D(64, 3, relu, same) + MaxPooling2D(2) + 1×1 stride-2 Conv2D "
        "residual, GlobalAveragePooling2D, Dense(10, softmax); rmsprop, categorical_crossentropy",
        fgc_resnet_block, _image_data, ["categorical_crossentropy"], torch_resnet_block, _cce_loss, batch=32,
        fit_batches=2, predict_batches=1,
        build_keras=keras_resnet_block,
        reference={"fit": {"Keras-JAX": 53, "PyTorch eager": 81}, "predict": {"Keras-JAX": 213, "PyTorch eager": 163,
                                                                             "ORT inference": 323}}),
    "inception": TrainSpec(
        "inception", "seed 000 Inception module (peers.md): 32×32×64 input, 4 branches of Conv2D(128) / "
        "AveragePooling2D(3, 2) with padding same, concatenate, GlobalAveragePooling2D, Dense(10, softmax); rmsprop, "
        "categorical_crossentropy",
        fgc_inception, _image_data, ["categorical_crossentropy"], torch_inception, _cce_loss, batch=32,
        fit_batches=2, predict_batches=1,
        build_keras=keras_inception,
        reference={"fit": {"Keras-JAX": 69, "PyTorch eager": 91}, "predict": {"Keras-JAX": 181, "PyTorch eager": 179,
                                                                             "ORT inference": 394}}),
}


def _add_extra_models():
    from benchmarks.models_extra import extra_train_specs

    TRAIN_MODELS.update(extra_train_specs(TrainSpec, _cce_loss, _bce_loss))


_add_extra_models()
