"""Dropout is reproducible: the same seed (``set_random_seed`` or ``Dropout(seed=)``) and data give
bit-identical weights after fit, in this process or a new one; another seed gives other weights.
Also the masks themselves: rate, scaling, noise_shape, one sequence per session."""
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc import layers
from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType
from fgc.primitives import Builder

# One script, run here and in a subprocess: build, fit and return the weights.
SCRIPT = textwrap.dedent("""
    import numpy as np
    import fgc
    from fgc import layers

    def train(seed, kind, steps_per_execution):
        fgc.utils.set_random_seed(seed)
        data = np.random.default_rng(0)
        if kind == "dense":
            x = fgc.Input((6,), name="x")
            h = layers.Dropout(0.5)(layers.Dense(16, activation="relu")(x))
            h = layers.Dropout(0.3, noise_shape=(None, 1))(h)
            xs = data.standard_normal((40, 6))
        else:
            x = fgc.Input((5, 3), name="x")
            h = layers.LSTM(4, dropout=0.3, recurrent_dropout=0.4)(x)
            h = layers.Bidirectional(layers.GRU(3, dropout=0.2, recurrent_dropout=0.2, return_sequences=True))(
                layers.RepeatVector(2)(h))
            h = layers.Dropout(0.5)(layers.Flatten()(h))
            xs = data.standard_normal((40, 5, 3))
        model = fgc.Model(x, layers.Dense(2)(h))
        model.compile("adam", "mse", steps_per_execution=steps_per_execution)
        model.fit(xs, data.standard_normal((40, 2)), batch_size=8, epochs=2, verbose=0)
        return model.get_weights()
""")
namespace: dict = {}
exec(SCRIPT, namespace)
train = namespace["train"]

CASES = [("dense", 1), ("dense", 3), ("recurrent", 1), ("recurrent", 3)]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("kind, steps_per_execution", CASES)
def test_same_seed_same_process_gives_identical_weights(kind, steps_per_execution):
    first, second = train(3, kind, steps_per_execution), train(3, kind, steps_per_execution)
    assert _same(first, second)
    assert not _same(first, train(4, kind, steps_per_execution))


def test_same_seed_in_a_new_process_gives_identical_weights(tmp_path):
    out = tmp_path / "weights.npz"
    code = SCRIPT + textwrap.dedent(f"""
        weights = {{}}
        for kind, spe in {CASES!r}:
            for i, w in enumerate(train(3, kind, spe)):
                weights[f"{{kind}}_{{spe}}_{{i}}"] = w
        np.savez({str(out)!r}, **weights)
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300,
                   cwd=tmp_path)   # outside the checkout, so the installed fgc is imported
    stored = np.load(out)
    for kind, spe in CASES:
        here = train(3, kind, spe)
        there = [stored[f"{kind}_{spe}_{i}"] for i in range(len(here))]
        assert _same(here, there), (kind, spe)


def _dropout_model(seed):
    x = fgc.Input((8,), name="x")
    model = fgc.Model(x, layers.Dense(1, name="d")(layers.Dropout(0.5, seed=seed)(layers.Dense(8, name="h")(x))))
    model.set_weights([np.eye(8, dtype=np.float32), np.zeros(8, np.float32),
                       np.ones((8, 1), np.float32), np.zeros(1, np.float32)])
    model.compile(fgc.optimizers.SGD(learning_rate=0.1), "mse")
    return model


def test_explicit_layer_seed_decides_the_masks_whatever_the_global_seed():
    data = np.random.default_rng(1)
    xs, ys = data.standard_normal((32, 8)), data.standard_normal((32, 1))
    weights = []
    for global_seed, layer_seed in [(1, 7), (2, 7), (1, 8)]:
        fgc.utils.set_random_seed(global_seed)
        model = _dropout_model(layer_seed)
        model.fit(xs, ys, batch_size=8, epochs=1, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    assert _same(weights[0], weights[1])
    assert not _same(weights[0], weights[2])


@pytest.mark.parametrize("make", [
    lambda x: layers.Dense(2)(layers.Dropout(0.5)(layers.Flatten()(x))),            # on an Input: no gradient
    lambda x: layers.Dense(2)(layers.Flatten()(layers.Dropout(0.5, noise_shape=(None, 1, 4))(x))),
    lambda x: layers.Dense(2)(layers.LSTM(3, dropout=0.5)(x)),
    lambda x: layers.Dense(2)(layers.GRU(3, recurrent_dropout=0.5)(x)),
    lambda x: layers.Dense(2)(layers.SimpleRNN(3, dropout=0.5)(x)),
], ids=["input", "noise_shape", "lstm_dropout", "gru_recurrent_dropout", "simple_rnn_dropout"])
def test_dropout_really_drops_in_the_train_step(make):
    """With lr 0 the train step's loss is the forward loss in training mode: dropout must change it
    from the inference loss (onnxruntime deletes a Dropout whose mask output goes unused)."""
    fgc.utils.set_random_seed(0)
    x = fgc.Input((5, 4), name="x")
    model = fgc.Model(x, make(x))
    model.compile(fgc.optimizers.SGD(learning_rate=0.0), "mse")
    data = np.random.default_rng(2)
    xs, ys = data.standard_normal((64, 5, 4)), data.standard_normal((64, 2))
    train_loss, test_loss = model.train_on_batch(xs, ys), model.test_on_batch(xs, ys)
    assert abs(train_loss - test_loss) > 1e-3 * test_loss


# ---------------------------------------------------------------- the masks themselves
def _lowered(layer, shape):
    """An onnxruntime session running ``layer`` in its training form on inputs of ``shape``."""
    g = Graph("dropout_test")
    x = g.add_input("x", TensorType(("N", *shape), "float32"))
    (out,) = layer.lower(Builder(g, "t"), [x], {}, training=True)
    g.outputs, g.output_names = [out], ["y"]
    return ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])


def test_rate_and_scaling():
    rate = 0.3
    y = _lowered(layers.Dropout(rate, seed=1), (100,)).run(None, {"x": np.ones((200, 100), np.float32)})[0]
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
    assert abs(kept.mean() - (1 - rate)) < 0.01          # 20,000 draws: the standard error is 0.003


def test_a_session_repeats_its_sequence_and_each_run_draws_anew():
    layer = layers.Dropout(0.5, seed=11)
    ones = {"x": np.ones((4, 50), np.float32)}
    first, second = _lowered(layer, (50,)), _lowered(layer, (50,))
    a1, a2 = first.run(None, ones)[0], first.run(None, ones)[0]
    b1, b2 = second.run(None, ones)[0], second.run(None, ones)[0]
    assert np.array_equal(a1, b1) and np.array_equal(a2, b2)
    assert not np.array_equal(a1, a2)


def test_noise_shape_shares_the_mask_along_its_unit_axes():
    y = _lowered(layers.Dropout(0.5, noise_shape=(None, 1, 6), seed=2), (4, 6)).run(
        None, {"x": np.ones((8, 4, 6), np.float32)})[0]
    assert np.array_equal(y, np.broadcast_to(y[:, :1, :], y.shape))       # the same mask at every timestep
    assert set(np.unique(y)) == {0.0, 2.0}
    assert not np.array_equal(y[0], y[1])                                   # samples differ
    shared = _lowered(layers.Dropout(0.5, noise_shape=(1, 4, 1), seed=2), (4, 6)).run(
        None, {"x": np.ones((8, 4, 6), np.float32)})[0]
    assert np.array_equal(shared, np.broadcast_to(shared[:1, :, :1], shared.shape))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rate=0.5, seed="1"), TypeError, "seed must be a non-negative int or None"),
    (dict(rate=0.5, seed=-1), TypeError, "seed must be a non-negative int or None"),
    (dict(rate=1.0), ValueError, r"rate must be a number in \[0, 1\)"),
    (dict(rate=0.5, noise_shape=5), ValueError, "noise_shape must be a tuple"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        layers.Dropout(**kwargs)


def test_noise_shape_must_fit_the_input():
    x = fgc.Input((4, 6))
    with pytest.raises(ValueError, match=r"noise_shape \(None, 2, 6\) at axis 1 must be 1, None or the input's size"):
        layers.Dropout(0.5, noise_shape=(None, 2, 6))(x)
    with pytest.raises(ValueError, match="has 2 dims, the input"):
        layers.Dropout(0.5, noise_shape=(None, 6))(x)


def test_get_config_has_the_keras_keys():
    config = layers.Dropout(0.25, noise_shape=(None, 1), seed=3).get_config()
    expected = {"rate": 0.25, "seed": 3, "noise_shape": (None, 1)}
    assert {k: config[k] for k in expected} == expected


def test_set_random_seed_needs_an_int():
    with pytest.raises(ValueError, match="non-negative int"):
        fgc.utils.set_random_seed("42")
