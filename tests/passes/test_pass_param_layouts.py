"""ParamLayouts: a weight read only through one Transpose is stored in the read layout, and the
runtime converts on the host, so get_weights, evaluate and predict keep Keras' layout and numbers."""
import numpy as np

import fgc
from fgc import Input, Model, layers
from fgc.ir import verify
from fgc.optimizers import SGD
from fgc.passes import CancelTransposes, ParamLayouts, PassManager, lowering_pipeline
from fgc.training.step import stored_layouts


def _model():
    i = Input(shape=(None, 3))
    x = layers.Conv1D(4, 3, padding="same", name="conv")(i)
    x = layers.Conv1D(2, 2, activation="tanh", name="conv_2")(x)
    return Model(i, layers.Dense(1, name="head")(layers.GlobalAveragePooling1D()(x)))


def _lowered(model):
    g = model.to_graph()
    PassManager(lowering_pipeline(training=True)).run(g)
    return g


def test_conv_kernels_are_stored_in_onnx_layout_and_dense_kernels_are_not():
    g = _lowered(_model())
    assert ParamLayouts().run(g) is True
    CancelTransposes().run(g)
    verify(g)
    assert stored_layouts(g) == {"conv/kernel": (2, 1, 0), "conv_2/kernel": (2, 1, 0)}
    assert g.params["conv/kernel"].shape == (4, 3, 3) and g.params["head/kernel"].layout is None
    kernel = next(n for n in g.nodes_with_op("param") if g.node(n)["attrs"]["name"] == "conv/kernel")
    assert [g.op(u) for u, _ in g.users(kernel)] == ["Conv"]       # the per-step Transpose is gone
    assert ParamLayouts().run(g) is False


def test_given_layouts_apply_to_a_graph_whose_readers_differ():
    # the evaluation step takes the train step's layouts whatever its own readers are
    g = _lowered(_model())
    assert ParamLayouts(given=(("head/kernel", (1, 0)),)).run(g) is True
    CancelTransposes().run(g)
    verify(g)
    assert g.params["head/kernel"].shape == (1, 2) and stored_layouts(g) == {"head/kernel": (1, 0)}


def test_training_with_stored_layouts_keeps_keras_weights_and_numbers(monkeypatch):
    fgc.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5, 3)).astype(np.float32), rng.normal(size=(6, 1)).astype(np.float32)
    model = _model()
    w0 = model.get_weights()
    model.compile(SGD(0.0), "mse")
    model.fit(x, y, batch_size=6, epochs=1, verbose=0)           # a zero step: the round trip is exact
    for a, b in zip(model.get_weights(), w0):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    loss = model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(loss, np.mean((model.predict(x, verbose=0) - y) ** 2), rtol=1e-5)
    assert stored_layouts(model._trainer.step(False).graph) == stored_layouts(model._trainer.step(True).graph)

    model.compile(SGD(0.1, momentum=0.5), "mse")                 # real steps agree with a copy that
    model.train_on_batch(x, y)                                   # keeps every weight in Keras' layout
    model.train_on_batch(x, y)
    monkeypatch.setattr(ParamLayouts, "_choose", staticmethod(lambda graph, nodes: {}))
    twin = _model()
    twin.set_weights(w0)
    twin.compile(SGD(0.1, momentum=0.5), "mse")
    twin.train_on_batch(x, y)
    twin.train_on_batch(x, y)
    assert stored_layouts(twin._trainer.step(True).graph) == {}
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
