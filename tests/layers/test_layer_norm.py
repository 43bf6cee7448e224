"""LayerNormalization against Keras 3's formula in numpy, finite-difference gradients, ONNX export."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(0)


def layer_norm(x, gamma, beta, axes, epsilon=1e-3):
    """Keras 3: moments over ``axes`` (biased variance), (x - mean) / sqrt(var + eps) * gamma + beta."""
    mean = x.mean(axis=tuple(axes), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=tuple(axes), keepdims=True)
    shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
    y = (x - mean) / np.sqrt(var + epsilon)
    if gamma is not None:
        y = y * gamma.reshape(shape)
    if beta is not None:
        y = y + beta.reshape(shape)
    return y


def _model(shape, **kwargs):
    inp = fgc.Input(shape)
    dense = layers.Dense(shape[-1], name="pre")       # a weight before it checks the input gradient too
    norm = layers.LayerNormalization(**kwargs)
    return fgc.Model(inp, norm(dense(inp))), norm


def _randomized(model):
    model.set_weights([w + rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])


@pytest.mark.parametrize("shape, kwargs, axes", [
    ((5,), {}, [1]),
    ((3, 4), {}, [2]),
    ((3, 4), {"axis": [1, 2], "epsilon": 0.1}, [1, 2]),
    ((3, 4), {"axis": 1}, [1]),
    ((3, 4), {"center": False}, [2]),
])
def test_values_and_gradients_match_the_keras_formula(shape, kwargs, axes, gradcheck):
    model, norm = _model(shape, **kwargs)
    _randomized(model)
    names = [w.name for w in norm.weights]
    eps = kwargs.get("epsilon", 1e-3)

    def forward(p, x):
        h = x @ p[0] + p[1]
        w = dict(zip(names, p[2:]))
        return layer_norm(h, w.get("gamma"), w.get("beta"), axes, eps)

    x = rng.standard_normal((3, *shape))
    y = rng.standard_normal((3, *shape))
    gradcheck(model, forward, x, y)


def test_weights_follow_keras_layout():
    _, norm = _model((3, 4), axis=[1, 2])
    assert [(w.name, w.shape) for w in norm.weights] == [("gamma", (3, 4)), ("beta", (3, 4))]
    assert norm.get_config()["axis"] == [1, 2] and norm.get_config()["epsilon"] == 1e-3


def test_inference_export_uses_onnx_layer_normalization(onnx_export):
    model, _ = _model((None, 6))
    _randomized(model)
    proto = onnx_export(model, rng.standard_normal((2, 5, 6)).astype(np.float32))
    assert "LayerNormalization" in {n.op_type for n in proto.graph.node}


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="axis must be an int or a list of ints"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match="epsilon must be a positive number"):
        layers.LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match="out of range"):
        layers.LayerNormalization(axis=3)(fgc.Input((4,)))
    with pytest.raises(ValueError, match="batch axis"):
        layers.LayerNormalization(axis=0)(fgc.Input((4,)))


def _one_sgd_step(saved_stats, monkeypatch, weights, x, y):
    from fgc.layers import layer_norm

    monkeypatch.setattr(layer_norm, "SAVED_STATS", saved_stats)
    model, _ = _model((3, 4))
    model.set_weights(weights)
    model.compile(fgc.optimizers.SGD(0.5), "mse")
    model.train_on_batch(x, y)
    return model


def test_train_step_reuses_the_forward_moments(monkeypatch):
    """The train step's LayerNormalization outputs Mean and InvStdDev for the backward (no recomputed
    moments), and trains to the same weights as the recomputing backward."""
    model, _ = _model((3, 4))
    _randomized(model)
    x, y = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 3, 4))
    saved = _one_sgd_step(True, monkeypatch, model.get_weights(), x, y)
    recomputed = _one_sgd_step(False, monkeypatch, model.get_weights(), x, y)
    graph = saved._trainer.step(True).proto.graph
    norms = [n for n in graph.node if n.op_type == "LayerNormalization"]
    assert len(norms) == 1 and len(norms[0].output) == 3
    assert not any(n.op_type in ("Sqrt", "Reciprocal") and "grad/" in n.name for n in graph.node)
    for a, b in zip(saved.get_weights(), recomputed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
