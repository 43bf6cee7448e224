"""The seed models the benchmarks run, built in fgc and (when importable) in the peers.

Only layers that fgc has today are used (Dense, Activation, merge layers). Each model is a
``ModelSpec``: an fgc builder, optional peer builders that copy fgc's weights (so every
contestant computes the same function, which the predict benchmark checks), and random data.
Adding a seed model = adding one ``ModelSpec`` to ``SEED_MODELS``.
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
