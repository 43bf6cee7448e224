import numpy as np

from fgc import Input, Model, layers
from fgc.ir import Graph, TensorType, op_path, verify
from fgc.primitives import Builder
from fgc.passes import FuseConvBias


def _conv_model(data_format="channels_last"):
    shape = (9, 8, 3) if data_format == "channels_last" else (3, 9, 8)
    i = Input(shape=shape)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", data_format=data_format)(i)
    x = layers.Conv2D(2, 3, strides=2, data_format=data_format)(x)
    model = Model(i, x)
    for layer in model.layers[1:]:
        k, b = layer.get_weights()
        layer.set_weights([k, np.random.default_rng(0).normal(size=b.shape)])
    return model


def test_fuse_conv_bias_in_a_conv_stack(graph_before, run_graph):
    model = _conv_model()
    g = graph_before(model, "fuse_conv_bias")
    assert op_path(g) == "Transpose -> Conv -> Add -> Relu -> Transpose -> Transpose -> Conv -> Add -> Transpose"
    x = np.random.default_rng(1).normal(size=(7, 9, 8, 3))
    (before,) = run_graph(g, x)

    assert FuseConvBias().run(g) is True
    verify(g)
    assert op_path(g) == "Transpose -> Conv -> Relu -> Transpose -> Transpose -> Conv -> Transpose"
    assert "%conv2d/Conv = Conv(%conv2d/Transpose, %conv2d/Transpose_1, %conv2d/bias)" in str(g)
    assert "Reshape" not in str(g)   # the bias reshapes to (O, 1, 1) are gone with the Adds
    (after,) = run_graph(g, x)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
    assert FuseConvBias().run(g) is False
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)


def test_fuse_conv_bias_channels_first(graph_before, run_graph):
    g = graph_before(_conv_model("channels_first"), "fuse_conv_bias")
    x = np.random.default_rng(2).normal(size=(1, 3, 9, 8))
    (before,) = run_graph(g, x)
    assert FuseConvBias().run(g) is True
    verify(g)
    assert op_path(g) == "Conv -> Relu -> Conv"
    np.testing.assert_allclose(run_graph(g, x)[0], before, rtol=1e-5, atol=1e-6)


def _primitive_graph(bias_shape, other_user=False, conv_is_output=False):
    g = Graph("conv")
    x = g.add_input("x", TensorType(("N", 2, 5, 5), "float32"))
    c = g.add_input("c", TensorType(bias_shape, "float32"))
    b = Builder(g, "f")
    rng = np.random.default_rng(3)
    y = b.Conv(x, b.const(rng.normal(size=(3, 2, 3, 3)).astype(np.float32)), pads=(1, 1, 1, 1))
    z = b.Add(c, y)    # the bias on the left: the fusion takes either operand order
    outs = [z] + ([b.Relu(y)] if other_user else []) + ([y] if conv_is_output else [])
    g.outputs, g.output_names = outs, [f"o{i}" for i in range(len(outs))]
    verify(g)
    return g


def test_fuse_conv_bias_with_a_bias_that_is_not_a_reshape(run_graph):
    for shape in ((3, 1, 1), (1, 3, 1, 1)):
        g = _primitive_graph(shape)
        x, c = np.random.default_rng(4).normal(size=(2, 2, 5, 5)), np.random.default_rng(5).normal(size=shape)
        (before,) = run_graph(g, x, c)
        assert FuseConvBias().run(g) is True
        verify(g)
        assert op_path(g) == "Conv" and "Reshape(%c) {shape=[3]}" in str(g)
        np.testing.assert_allclose(run_graph(g, x, c)[0], before, rtol=1e-5, atol=1e-6)


def test_fuse_conv_bias_refuses_when_the_conv_has_another_user_or_is_an_output(run_graph):
    for kwargs in (dict(other_user=True), dict(conv_is_output=True)):
        g = _primitive_graph((3, 1, 1), **kwargs)
        text = str(g)
        assert FuseConvBias().run(g) is False
        verify(g)
        assert str(g) == text
        assert g.node("f/Conv")["meta"]["fuse_conv_bias"] == "refused: the Conv result has other users"
        x, c = np.random.default_rng(6).normal(size=(1, 2, 5, 5)), np.ones((3, 1, 1))
        z, other = run_graph(g, x, c)   # z = conv + 1; the other output reads the conv itself
        conv = z - 1.0
        np.testing.assert_allclose(other, np.maximum(conv, 0) if "other_user" in kwargs else conv, atol=1e-5)


def test_fuse_conv_bias_ignores_adds_that_are_not_a_channel_bias():
    for shape in ((3, 5, 5), (5,), (1, 1, 1, 1)):
        g = _primitive_graph(shape)
        text = str(g)
        assert FuseConvBias().run(g) is False
        assert str(g) == text


def test_training_graph_fuses_the_bias_too():
    from fgc.training.step import build_step_graph

    i = Input(shape=(6, 6, 2))
    model = Model(i, layers.GlobalMaxPooling2D()(layers.Conv2D(3, 3, activation="relu")(i)))
    model.compile(optimizer="sgd", loss="mse")
    graph, _ = build_step_graph(model, model._compiled)
    forward = [n for n in graph.nodes_with_op("Conv") if not n.startswith("grad/")]
    assert len(forward) == 1 and len(graph.node(forward[0])["inputs"]) == 3
    x, y = np.random.default_rng(7).normal(size=(16, 6, 6, 2)), np.random.default_rng(8).normal(size=(16, 3))
    losses = model.fit(x, y, epochs=5, batch_size=4, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def test_fuse_conv_bias_into_a_conv_transpose(graph_before, run_graph):
    # Conv2DTranspose(2, strides 2) and a Conv1DTranspose: ConvTranspose takes the bias input B as Conv does
    for shape, layer in (((5, 4, 3), layers.Conv2DTranspose(4, 2, strides=2, padding="same")),
                         ((7, 3), layers.Conv1DTranspose(2, 3, strides=2))):
        i = Input(shape=shape)
        model = Model(i, layer(i))
        k, b = layer.get_weights()
        layer.set_weights([k, np.random.default_rng(4).normal(size=b.shape)])
        g = graph_before(model, "fuse_conv_bias")
        x = np.random.default_rng(5).normal(size=(3, *shape))
        (before,) = run_graph(g, x)
        assert FuseConvBias().run(g) is True
        verify(g)
        assert op_path(g) == "Transpose -> ConvTranspose -> Transpose"
        np.testing.assert_allclose(run_graph(g, x)[0], before, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)
