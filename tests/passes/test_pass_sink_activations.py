"""SinkActivations: MaxPool / ReduceMax of a non-decreasing activation becomes the activation of the
max, with the same values and gradients (checked against numpy's first-argmax routing, Keras' rule)."""
import numpy as np
import pytest

from fgc import Input, Model, layers
from fgc.ir import Graph, TensorType, verify
from fgc.primitives import Builder
from fgc.primitives.autodiff import gradients
from fgc.passes import SinkActivations

ACTS = {"Relu": lambda x: np.maximum(x, 0), "Sigmoid": lambda x: 1 / (1 + np.exp(-x)), "Tanh": np.tanh}
DERIV = {"Relu": lambda x: (x > 0).astype(float), "Sigmoid": lambda x: ACTS["Sigmoid"](x) * (1 - ACTS["Sigmoid"](x)),
         "Tanh": lambda x: 1 - np.tanh(x) ** 2}


def _graph(act, pool, other_user=False, sink=False):
    """out = pool(act(x)); loss = sum(out * w); outputs: out, d loss / d x, the gradient built after
    the pass when ``sink`` (as the training pipeline runs it: before autodiff)."""
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 2, "T"), "float32"))
    w = g.add_input("w", TensorType(("N", 2, "P"), "float32"))
    b = Builder(g, "f")
    a = b.emit(act, x)
    out = b.MaxPool(a, kernel_shape=(3,), strides=(3,)) if pool == "MaxPool" else \
        b.Unsqueeze(b.ReduceMax(a, axes=(2,), keepdims=0), axes=(2,))
    loss = b.ReduceSum(b.Mul(out, w), keepdims=0)
    outs = [out] + ([b.Neg(a)] if other_user else [])
    g.outputs, g.output_names = outs + [loss], [f"o{i}" for i in range(len(outs))] + ["loss"]
    if sink:
        assert SinkActivations().run(g) is not other_user
        verify(g)
        out, loss = g.outputs[0], g.outputs[-1]
        outs = [out] + g.outputs[1:-1]
    (gx,) = gradients(g, loss, [x])
    g.outputs, g.output_names = outs + [gx], [f"o{i}" for i in range(len(outs))] + ["dx"]
    verify(g)
    return g


def _reference(act, pool, x, w):
    """Forward and d/dx of sum(pool(act(x)) * w): MaxPool routes a window's gradient to its first max
    (as TF's MaxPoolGrad), ReduceMax splits it between equal maxima (as TF's and JAX's max)."""
    y = ACTS[act](x)
    n, c, t = x.shape
    k = 3 if pool == "MaxPool" else t
    p = t // k
    windows = y[:, :, :p * k].reshape(n, c, p, k)
    first = windows.argmax(axis=-1)
    out = np.take_along_axis(windows, first[..., None], -1)[..., 0]
    if pool == "MaxPool":
        dy = np.zeros_like(windows)
        np.put_along_axis(dy, first[..., None], w[..., None], -1)
    else:
        ties = windows == out[..., None]
        dy = ties * (w / ties.sum(-1))[..., None]
    dx = np.zeros_like(x)
    dx[:, :, :p * k] = dy.reshape(n, c, p * k)
    return out, dx * DERIV[act](x)


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("pool", ["MaxPool", "ReduceMax"])
def test_the_activation_moves_after_the_max_with_the_same_values_and_gradients(run_graph, act, pool):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 9))
    x[0, 0, :3] = [-1.0, -2.0, -0.5]          # an all-negative window: Relu ties at 0 before the rewrite
    x[1, 1, 3:6] = [0.7, 0.7, 0.2]            # a tie between equal maxima: the first takes the gradient
    if pool == "ReduceMax":
        x[0, 0, :] = -np.abs(x[0, 0, :]) - 0.1
    w = rng.normal(size=(3, 2, 3 if pool == "MaxPool" else 1))
    before = run_graph(_graph(act, pool), x, w)
    g = _graph(act, pool, sink=True)
    chain, node = [], g.outputs[0].node       # producers of the output, back to x
    while g.op(node) != "input":
        chain.append(g.op(node))
        node = g.node(node)["inputs"][0].node
    assert [op for op in chain if op != "Unsqueeze"] == [act, pool], chain
    after = run_graph(g, x, w)
    out, dx = _reference(act, pool, x, w)
    for got in (before, after):
        np.testing.assert_allclose(got[0], out, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got[1], dx, rtol=1e-5, atol=1e-6)


def test_an_activation_read_elsewhere_stays_put():
    _graph("Relu", "MaxPool", other_user=True, sink=True)


def test_a_training_step_pools_before_the_relu_and_inference_keeps_conv_relu():
    from fgc.compiler import inference_graph
    from fgc.training.step import build_step_graph

    i = Input(shape=(None, 4))
    x = layers.Conv1D(3, 2, activation="relu")(i)
    model = Model(i, layers.MaxPooling1D(2)(x))
    model.compile("sgd", "mse")
    step, _ = build_step_graph(model, model._compiled)
    ops = [step.op(n) for n in step.topo_order()]
    assert ops.index("MaxPool") < ops.index("Relu")
    inf = inference_graph(model)
    ops = [inf.op(n) for n in inf.topo_order()]
    assert ops.index("Relu") < ops.index("MaxPool")
