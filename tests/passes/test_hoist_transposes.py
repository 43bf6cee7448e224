"""passes/hoist_transposes.py: a reader's Transpose moves above an elementwise op or a Concat when that
removes Transposes; values (and, in a train step, gradients) stay the same."""
import numpy as np

import fgc
from fgc import layers
from fgc.ir import Graph, TensorType, verify
from fgc.optimizers import SGD
from fgc.passes import CancelTransposes, HoistTransposes
from fgc.primitives import Builder

TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
X = np.random.default_rng(0).normal(size=(2, 5, 4, 3))


def _transposes(g):
    return len(g.nodes_with_op("Transpose"))


def _hoist_and_cancel(g):
    changed = HoistTransposes().run(g)
    CancelTransposes().run(g)
    verify(g)
    return changed


def test_a_residual_add_between_convs_runs_channels_first(run_graph):
    # x (NHWC) -> to NCHW -> Relu (the conv) -> to NHWC; add with x; -> to NCHW -> Relu (the next conv)
    g = Graph("residual")
    x = g.add_input("x", TensorType(("N", 5, 4, 3), "float32"))
    b = Builder(g, "r")
    x_cf = b.Transpose(x, perm=TO_NCHW)
    y = b.Transpose(b.Relu(x_cf), perm=TO_NHWC)
    out = b.Sigmoid(b.Transpose(b.Add(y, x), perm=TO_NCHW))
    g.outputs, g.output_names = [out], ["out"]
    (before,) = run_graph(g, X)
    assert _transposes(g) == 3
    assert _hoist_and_cancel(g) is True
    assert _transposes(g) == 1            # only x's own, shared by the Relu and the Add
    (after,) = run_graph(g, X)
    np.testing.assert_array_equal(after, before)
    x_t = np.moveaxis(X, -1, 1)
    np.testing.assert_allclose(after, 1 / (1 + np.exp(-(np.maximum(x_t, 0) + x_t))), rtol=1e-6)


def test_a_concat_of_branches_moves_its_axis(run_graph):
    g = Graph("concat")
    x = g.add_input("x", TensorType(("N", 5, 4, 3), "float32"))
    b = Builder(g, "c")
    x_cf = b.Transpose(x, perm=TO_NCHW)
    branches = [b.Transpose(b.Relu(x_cf), perm=TO_NHWC), b.Transpose(b.Neg(x_cf), perm=TO_NHWC)]
    cat = b.Concat(*branches, axis=-1)                      # channels-last concat: (N, 5, 4, 6)
    out = b.Transpose(cat, perm=TO_NCHW)                    # (N, 6, 5, 4)
    g.outputs, g.output_names = [out], ["out"]
    (before,) = run_graph(g, X)
    assert _hoist_and_cancel(g) is True
    assert _transposes(g) == 1
    (after,) = run_graph(g, X)
    np.testing.assert_array_equal(after, before)
    x_t = np.moveaxis(X, -1, 1)
    np.testing.assert_allclose(after, np.concatenate([np.maximum(x_t, 0), -x_t], axis=1), rtol=1e-6)


def test_nothing_moves_when_it_would_not_remove_transposes():
    g = Graph("keep")
    x = g.add_input("x", TensorType(("N", 5, 4, 3), "float32"))
    z = g.add_input("z", TensorType(("N", 5, 4, 3), "float32"))
    b = Builder(g, "k")
    plain = b.Transpose(b.Add(x, z), perm=TO_NCHW)          # 1 reader transpose, 2 inputs to transpose
    other = b.Relu(b.Add(z, z))                              # read without a Transpose
    lower = b.Transpose(b.Add(x, b.const(np.ones((3,), np.float32))), perm=TO_NCHW)  # a lower-rank input
    g.outputs, g.output_names = [plain, other, lower], ["plain", "other", "lower"]
    text = str(g)
    assert HoistTransposes().run(g) is False
    assert str(g) == text


def _residual_model():
    x_in = fgc.Input((6, 6, 3))
    y = layers.Conv2D(3, 3, padding="same", activation="relu", name="c1")(x_in)
    y = layers.add([y, x_in])
    y = layers.Conv2D(4, 3, padding="same", activation="relu", name="c2")(y)
    y = layers.concatenate([y, layers.Conv2D(2, 1, name="c3")(y)])
    y = layers.GlobalAveragePooling2D()(y)
    return fgc.Model(x_in, layers.Dense(2, name="out")(y))


def test_a_train_step_keeps_its_gradients_and_loses_transposes(monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 6, 6, 3)), rng.normal(size=(4, 2))
    results = {}
    for hoist in (True, False):
        if not hoist:
            monkeypatch.setattr(HoistTransposes, "run", lambda self, graph: False)
        fgc.utils.set_random_seed(3)
        model = _residual_model()
        model.compile(SGD(1.0), "mse")
        before = model.get_weights()
        model.train_on_batch(x, y)
        grads = [a - b for a, b in zip(before, model.get_weights())]
        proto = model._trainer.step(True).proto
        results[hoist] = (grads, sum(n.op_type == "Transpose" for n in proto.graph.node), model.predict(x, verbose=0))
    (g_on, t_on, p_on), (g_off, t_off, p_off) = results[True], results[False]
    assert t_on < t_off
    np.testing.assert_allclose(p_on, p_off, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_on, g_off):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _branches_then(reduce_axes, keepdims):
    """x -> to NCHW -> two branches that must run channels-first (as convs do: softmaxes over the NCHW
    axes 1 and 2 here), each back to NHWC -> channels-last Concat -> ReduceMean."""
    g = Graph("pool")
    x = g.add_input("x", TensorType(("N", 5, 4, 3), "float32"))
    b = Builder(g, "p")
    x_cf = b.Transpose(x, perm=TO_NCHW)
    cat = b.Concat(b.Transpose(b.Softmax(x_cf, axis=1), perm=TO_NHWC),
                   b.Transpose(b.Softmax(x_cf, axis=2), perm=TO_NHWC), axis=-1)
    out = b.ReduceMean(cat, axes=reduce_axes, keepdims=keepdims)
    g.outputs, g.output_names = [out], ["out"]
    return g


def test_a_global_pooling_reads_the_branches_channels_first(run_graph):
    # Inception's tail: the branches' Transposes back to NHWC go; the mean over H, W reads NCHW instead
    g = _branches_then((1, 2), 0)
    (before,) = run_graph(g, X)
    assert _hoist_and_cancel(g) is True
    assert _transposes(g) == 1            # only x's own
    (mean,) = [n for n in g.topo_order() if g.op(n) == "ReduceMean"]
    assert tuple(g.node(mean)["attrs"]["axes"]) == (2, 3)
    (after,) = run_graph(g, X)
    np.testing.assert_allclose(after, before, rtol=1e-6)
    x_t = np.moveaxis(X, -1, 1)
    branches = [np.moveaxis(_softmax(x_t, 1), 1, -1), np.moveaxis(_softmax(x_t, 2), 1, -1)]
    np.testing.assert_allclose(after, np.concatenate(branches, axis=-1).mean(axis=(1, 2)), rtol=1e-5)


def test_a_reduction_that_keeps_dims_or_reorders_them_keeps_its_transposes():
    # keepdims=1 leaves a 4-D result whose layout would change; reducing H alone keeps (N, W, C) from
    # NHWC but (N, C, W) from NCHW: both must read the channels-last value
    for axes, keepdims in (((1, 2), 1), ((1,), 0)):
        g = _branches_then(axes, keepdims)
        text = str(g)
        assert HoistTransposes().run(g) is False
        assert str(g) == text


def test_the_inception_export_keeps_one_transpose(tmp_path):
    x_in = fgc.Input((8, 8, 3))
    branches = [layers.Conv2D(4, 1, activation="relu")(x_in),
                layers.Conv2D(4, 3, padding="same", activation="relu")(layers.Conv2D(2, 1)(x_in)),
                layers.Conv2D(4, 1)(layers.AveragePooling2D(3, strides=1, padding="same")(x_in))]
    y = layers.GlobalAveragePooling2D()(layers.concatenate(branches))
    model = fgc.Model(x_in, layers.Dense(2)(y))
    path = tmp_path / "inception.onnx"
    model.export(str(path))
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(path))
    assert sum(n.op_type == "Transpose" for n in proto.graph.node) == 1   # the input's, to channels-first
    x = np.random.default_rng(2).normal(size=(3, 8, 8, 3)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
