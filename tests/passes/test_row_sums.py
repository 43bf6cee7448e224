"""RowSumsAsProducts: bias gradients summed over rows as one MatMul with a ones vector give the gradients of
the ReduceSum form (float32 rounding), of numpy and of central differences, and the step really holds the
MatMul form."""
import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.ir import Graph, TensorType
from fgc.passes import row_sums
from fgc.passes.row_sums import RowSumsAsProducts
from fgc.primitives import Builder


class RowBias(layers.Layer):
    """x + w with a (1, C) weight: Add broadcasts it over the batch (unbroadcast sums keeping that axis)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(1, input_shape[-1]), initializer="random_normal", name="w")

    def call(self, x):
        return x + self.w


def dense_2d():
    x = fgc.Input((6,))
    return fgc.Model(x, layers.Dense(40)(layers.Dense(32, activation="tanh")(x)))


def dense_3d():
    x = fgc.Input((5, 6))
    return fgc.Model(x, layers.Dense(40)(layers.Dense(32, activation="tanh")(x)))


def lstm():
    x = fgc.Input((5, 6))
    return fgc.Model(x, layers.Dense(3)(layers.LSTM(64)(x)))


def layer_norm_2d():
    x = fgc.Input((6,))
    return fgc.Model(x, layers.LayerNormalization()(layers.Dense(64)(x)))


def layer_norm_3d():
    """gamma's and beta's sums over (N, T) read a Reshape of their own (no weight gradient reshapes those)."""
    x = fgc.Input((5, 6))
    return fgc.Model(x, layers.LayerNormalization()(layers.Dense(64)(x)))


def row_bias():
    x = fgc.Input((6,))
    return fgc.Model(x, RowBias()(layers.Dense(64)(x)))


MODELS = {"dense_2d": dense_2d, "dense_3d": dense_3d, "lstm": lstm, "layer_norm_2d": layer_norm_2d,
          "layer_norm_3d": layer_norm_3d, "row_bias": row_bias}


def _batch(model, n=7):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n,) + tuple(model.inputs[0].shape[1:])).astype(np.float32)
    y = rng.normal(size=(n,) + tuple(model.outputs[0].shape[1:])).astype(np.float32)
    return x, y


def _row_products(model) -> int:
    """MatMuls of the train step that read a ConstantOfShape of ones (the rewritten sums)."""
    graph = model._trainer.step(True).proto.graph
    ones = {o for n in graph.node if n.op_type == "ConstantOfShape" for o in n.output}
    return sum(n.op_type == "MatMul" and n.input[0] in ones for n in graph.node)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_agree_with_the_reduce_sum_form(sgd_grads, name):
    weights = MODELS[name]().get_weights()
    before, want, _ = sgd_grads(MODELS[name], _batch, flag=(row_sums, False), weights=weights)
    _, got, model = sgd_grads(MODELS[name], _batch, flag=(row_sums, True), weights=weights)
    assert _row_products(model) >= 1
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(w).max()))


def _dense_loss(x, y):
    """mse of x @ W + b against y (Keras' mean over every element), in float64."""
    def loss(params):
        w, b = params
        return float(np.mean((x.astype(np.float64) @ w + b - y) ** 2))
    return loss


def dense(input_shape):
    def build():
        x = fgc.Input(input_shape)
        return fgc.Model(x, layers.Dense(40)(x))
    return build


@pytest.mark.parametrize("build", [dense((6,)), dense((5, 6))], ids=["2d", "3d"])
def test_dense_bias_gradient_matches_numpy_and_central_differences(sgd_grads, fd_grads, build):
    (w, b), (gw, gb), model = sgd_grads(build, _batch)
    assert _row_products(model) == 1
    x, y = _batch(model)
    rows = (x @ w + b - y).reshape(-1, b.size)
    np.testing.assert_allclose(gb, 2 * rows.sum(0) / rows.size, rtol=1e-5, atol=1e-7)
    fd_w, fd_b = fd_grads(_dense_loss(x, y), [w.astype(np.float64), b.astype(np.float64)])
    np.testing.assert_allclose(gb, fd_b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gw, fd_w, rtol=1e-4, atol=1e-6)


def test_layer_norm_beta_gradient_matches_numpy(sgd_grads):
    """dL/d(beta) = the sum over rows of dL/d(out), out computed with the weights before the step."""
    before, grads, model = sgd_grads(layer_norm_2d, _batch)
    assert _row_products(model) >= 2   # the Dense bias, LayerNormalization's gamma and beta
    x, y = _batch(model)
    start = layer_norm_2d()
    start.set_weights(before)
    out = start.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(grads[-1], 2 * (out - y).sum(0) / y.size, rtol=1e-4, atol=1e-7)


def test_small_sums_keep_reduce_sum():
    """Below MIN_ELEMENTS (a symbolic batch counted as SYMBOL_ROWS) the ReduceSum stays: about even there."""
    graph = Graph("small")
    x = graph.add_input("x", TensorType(("N", 10), "float32"))
    graph.outputs, graph.output_names = [Builder(graph, "t").ReduceSum(x, axes=(0,), keepdims=0)], ["s"]
    assert not RowSumsAsProducts().run(graph)
    assert [graph.op(n) for n in graph.topo_order()] == ["input", "ReduceSum"]


def test_chained_sums_share_ones_without_a_cycle(run_graph):
    """Sums over one row count share one ones vector, sized from a value no sum feeds (here the second sum's
    rows depend on the first sum's result); keepdims keeps its (1, C) shape; 3-D sums read an existing
    (rows, C) Reshape of their input, or one of their own. Values as numpy gives them."""
    graph = Graph("chain")
    b = Builder(graph, "t")
    x = graph.add_input("x", TensorType(("N", 4, 64), "float32"))
    sq = b.Mul(x, x)
    first = b.ReduceSum(sq, axes=(0, 1), keepdims=0)
    z = b.Add(sq, first)
    kept = b.ReduceSum(b.Reshape(z, shape=(-1, 64)), axes=(0,), keepdims=1)
    second = b.ReduceSum(z, axes=(0, 1), keepdims=0)
    third = b.ReduceSum(b.Mul(z, sq), axes=(0, 1), keepdims=0)   # no Reshape reads this product
    graph.outputs = [first, b.Add(b.Reshape(sq, shape=(-1, 64)), first), kept, second, third]
    graph.output_names = ["first", "rows", "kept", "second", "third"]
    xs = np.random.default_rng(0).normal(size=(3, 4, 64)).astype(np.float32)
    want = run_graph(graph, xs)
    assert RowSumsAsProducts().run(graph)
    ops = [graph.op(n) for n in graph.topo_order()]
    assert ops.count("VecMat") == 4 and ops.count("RowOnes") == 1 and "ReduceSum" not in ops
    got = run_graph(graph, xs)
    s = xs.astype(np.float64) ** 2
    zs = s + s.sum((0, 1))
    np.testing.assert_allclose(got[0], s.sum((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(got[2], zs.reshape(-1, 64).sum(0, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(got[3], zs.sum((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(got[4], (zs * s).sum((0, 1)), rtol=1e-5)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5)
