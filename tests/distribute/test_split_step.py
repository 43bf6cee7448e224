"""The train step split into a gradient graph and an update graph (no MPI needed)."""
import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc import Input, Model, layers
from fgc.export.onnx import to_onnx
from fgc.training.step import build_step_graph, build_update_graph


def session(graph):
    return ort.InferenceSession(to_onnx(graph, params_as_inputs=True).SerializeToString(),
                                providers=["CPUExecutionProvider"])


def small_model(optimizer):
    fgc.utils.set_random_seed(0)
    inp = Input(shape=(4,))
    model = Model(inp, layers.Dense(3, activation="softmax")(layers.Dense(5, activation="tanh")(inp)))
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def batch(n=7):
    """(x, one-hot targets, unweighted sample weights pre-divided by the batch size)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return x, y, np.full(n, 1 / n, np.float32)


def feeds_for(model, spec):
    """The step's data feeds (input, y/<out>, sw/<out>) and the flat weight buffer in spec.slices order."""
    feeds = dict(zip(spec.data_inputs + spec.target_inputs, batch()))
    by_name = {f"{w.layer.name}/{w.name}": w.numpy() for w in model.weights}
    feeds["params"] = np.concatenate([by_name[name].ravel() for name in spec.slices]).astype(np.float32)
    return feeds


def test_gradient_graph_matches_finite_differences():
    model = small_model("sgd")
    graph, spec = build_step_graph(model, model._compiled, gradients_only=True)
    assert spec.grad_outputs == {"params": "grad/params"} and "lr" not in graph.input_names
    run = session(graph)
    feeds = feeds_for(model, spec)
    loss, grad = run.run(["loss", "grad/params"], feeds)
    rng = np.random.default_rng(2)
    direction = rng.normal(size=grad.shape).astype(np.float32)
    eps = 1e-2
    plus = run.run(["loss"], {**feeds, "params": feeds["params"] + eps * direction})[0]
    minus = run.run(["loss"], {**feeds, "params": feeds["params"] - eps * direction})[0]
    np.testing.assert_allclose((plus - minus) / (2 * eps), grad @ direction, rtol=2e-2, atol=1e-4)


@pytest.mark.parametrize("optimizer", [fgc.optimizers.Adam(0.01), fgc.optimizers.SGD(0.1, momentum=0.9),
                                       fgc.optimizers.RMSprop(global_clipnorm=0.1)])
def test_gradient_then_update_is_the_fused_step(optimizer):
    model = small_model(optimizer)
    fused_graph, fused_spec = build_step_graph(model, model._compiled)
    grad_graph, grad_spec = build_step_graph(model, model._compiled, gradients_only=True)
    update_graph, update_spec = build_update_graph(grad_graph, grad_spec, model._compiled.optimizer)
    assert update_spec.state_init == fused_spec.state_init
    feeds = feeds_for(model, grad_spec)
    rng = np.random.default_rng(3)
    state = {name: rng.uniform(0, 0.1, size=shape).astype(np.float32) for name, (shape, _) in fused_spec.state_init.items()}
    clock = {"lr": np.array(0.01, np.float32), "step": np.array(4, np.float32)}
    fused_names = list(fused_spec.update_outputs.values())
    expected = session(fused_graph).run(fused_names, {**feeds, **state, **clock})
    grad = session(grad_graph).run(["grad/params"], feeds)[0]
    split_names = [update_spec.update_outputs[name] for name in fused_spec.update_outputs]
    got = session(update_graph).run(split_names, {"params": feeds["params"], "grad/params": grad, **state, **clock})
    for name, a, b in zip(fused_names, got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)
    assert not np.allclose(got[0], feeds["params"])   # the update did move the weights
