"""FoldBatchNorm: inference BatchNormalization folded into the Dense / Conv before it.

Every test checks the folded model against an independent reference: the same layers without
the BatchNormalization (a second Model over the same tensors, so no fold can touch it), with
Keras' inference formula ``gamma * (y - moving_mean) / sqrt(moving_variance + epsilon) + beta``
applied in numpy."""
import numpy as np
import pytest

from fgc import Input, Model, layers
from fgc.ir import verify
from fgc.passes import FoldBatchNorm, PassManager, inference_pipeline


def _randomize_bn(bn, rng):
    c = bn.get_weights()[0].shape
    bn.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.3, 2.0, c)])


def _randomize(layer, rng):
    """Random weights everywhere (zero biases would hide a wrongly folded bias)."""
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])


def _keras_bn(y, bn, axis=-1):
    gamma, beta, mean, var = bn.get_weights()
    shape = [1] * y.ndim
    shape[axis] = -1
    gamma, beta, mean, var = (np.reshape(w, shape) for w in (gamma, beta, mean, var))
    return gamma * (y - mean) / np.sqrt(var + bn.epsilon) + beta


def _activation_ops(graph):
    """Ops that run over the batch (their output has the symbolic batch dim)."""
    return [graph.op(n) for n in graph.topo_order()
            if graph.op(n) not in ("input", "param", "constant") and "N" in map(str, graph.node(n)["outputs"][0].shape)]


CASES = {
    "dense": (lambda: Input(shape=(6,)), lambda: layers.Dense(4), -1, (9, 6)),
    "dense_no_bias": (lambda: Input(shape=(6,)), lambda: layers.Dense(4, use_bias=False), -1, (9, 6)),
    "conv2d": (lambda: Input(shape=(5, 5, 3)), lambda: layers.Conv2D(4, 3, padding="same"), -1, (3, 5, 5, 3)),
    "conv2d_strided_no_bias": (lambda: Input(shape=(7, 7, 2)), lambda: layers.Conv2D(3, 3, strides=2, use_bias=False),
                               -1, (2, 7, 7, 2)),
    "conv1d": (lambda: Input(shape=(8, 3)), lambda: layers.Conv1D(5, 3), -1, (4, 8, 3)),
    "conv2d_channels_first": (lambda: Input(shape=(3, 6, 6)),
                              lambda: layers.Conv2D(4, 3, data_format="channels_first"), 1, (2, 3, 6, 6)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fold_removes_the_activation_mul_add_and_keeps_keras_numbers(case):
    make_input, make_layer, axis, shape = CASES[case]
    rng = np.random.default_rng(len(case))
    inputs = make_input()
    producer = make_layer()
    y = producer(inputs)
    bn = layers.BatchNormalization(axis=axis)
    model = Model(inputs, bn(y))
    plain = Model(inputs, y)
    _randomize(producer, rng)
    _randomize_bn(bn, rng)
    x = rng.normal(size=shape).astype(np.float32)

    graph = model.to_graph()
    PassManager(inference_pipeline(), verify_each=True).run(graph)
    ops = _activation_ops(graph)
    assert "Mul" not in ops and "Add" not in ops, ops
    expected = _keras_bn(plain.predict(x, verbose=0).astype(np.float64), bn, axis)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=2e-5, atol=2e-5)


def test_the_fold_is_the_pass_that_removes_them(graph_before):
    inputs = Input(shape=(6,))
    model = Model(inputs, layers.BatchNormalization()(layers.Dense(4)(inputs)))
    graph = graph_before(model, "fold_batchnorm")
    assert _activation_ops(graph) == ["Gemm", "Mul", "Add"]
    assert FoldBatchNorm().run(graph)
    verify(graph)
    assert _activation_ops(graph) == ["Gemm"]
    assert not FoldBatchNorm().run(graph)   # nothing left to fold


def test_refused_when_the_dense_result_has_another_reader():
    rng = np.random.default_rng(3)
    inputs = Input(shape=(6,))
    dense = layers.Dense(4)
    y = dense(inputs)
    bn = layers.BatchNormalization()
    model = Model(inputs, [bn(y), layers.Activation("relu")(y)])
    _randomize(dense, rng)
    _randomize_bn(bn, rng)
    graph = model.to_graph()
    PassManager(inference_pipeline(), verify_each=True).run(graph)
    assert "Mul" in _activation_ops(graph)       # the Gemm result is still needed unscaled
    x = rng.normal(size=(5, 6)).astype(np.float32)
    scaled, relu = model.predict(x, verbose=0)
    raw = Model(inputs, y).predict(x, verbose=0)
    np.testing.assert_allclose(scaled, _keras_bn(raw.astype(np.float64), bn), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(relu, np.maximum(raw, 0), rtol=1e-6)


def test_not_folded_into_an_input_or_after_an_activation():
    rng = np.random.default_rng(4)
    inputs = Input(shape=(6,))
    first, second = layers.BatchNormalization(), layers.BatchNormalization()
    h = layers.Dense(4, activation="relu")(first(inputs))
    model = Model(inputs, second(h))
    _randomize_bn(first, rng)
    _randomize_bn(second, rng)
    _randomize(model.layers[2], rng)
    graph = model.to_graph()
    PassManager(inference_pipeline(), verify_each=True).run(graph)
    assert _activation_ops(graph).count("Mul") == 2
    x = rng.normal(size=(5, 6))
    dense = next(layer for layer in model.layers if isinstance(layer, layers.Dense))
    kernel, bias = dense.get_weights()
    expected = _keras_bn(np.maximum(_keras_bn(x, first) @ kernel + bias, 0), second)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=2e-5, atol=2e-5)


def test_predict_follows_new_batchnorm_weights_after_the_fold():
    """The folded kernel is computed from the weights in the graph, not baked in: set_weights shows."""
    rng = np.random.default_rng(5)
    inputs = Input(shape=(6,))
    dense = layers.Dense(4)
    y = dense(inputs)
    bn = layers.BatchNormalization()
    model, plain = Model(inputs, bn(y)), Model(inputs, y)
    _randomize(dense, rng)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    model.predict(x, verbose=0)
    _randomize_bn(bn, rng)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               _keras_bn(plain.predict(x, verbose=0).astype(np.float64), bn), rtol=2e-5, atol=2e-5)


def test_a_deep_model_does_not_exhaust_the_recursion_limit(graph_before):
    import inspect
    import sys

    depth = 400
    inputs = Input(shape=(2,))
    h = inputs
    for _ in range(depth):
        h = layers.Activation("relu")(h)
    dense = layers.Dense(2)
    bn = layers.BatchNormalization()
    model = Model(inputs, bn(dense(h)))
    rng = np.random.default_rng(6)
    _randomize(dense, rng)
    _randomize_bn(bn, rng)
    graph = graph_before(model, "fold_batchnorm")
    # fewer frames left than the model is deep: a recursive walk up the chain would fail here
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + depth // 2)
    try:
        assert FoldBatchNorm().run(graph)
    finally:
        sys.setrecursionlimit(limit)
    assert _activation_ops(graph)[-1] == "Gemm"
