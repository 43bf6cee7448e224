import numpy as np

from fgc import Input, Model, layers
from fgc.ir import op_path, verify
from fgc.passes import LowerLayers


def _model():
    i = Input(shape=(4,))
    h = layers.Dropout(0.5, name="drop")(layers.Dense(3, activation="relu", name="d1")(i))
    return Model(i, layers.Dense(2, activation="softmax", name="d2")(h))


def test_lower_layers_emits_primitives(graph_before, run_graph):
    model = _model()
    g = graph_before(model, "lower_layers")
    assert op_path(g) == "layer -> layer -> layer"
    assert LowerLayers().run(g) is True
    verify(g)
    text = str(g)
    assert "layer." not in text
    assert op_path(g) == "MatMul -> Add -> Relu -> MatMul -> Add -> Softmax"   # inference Dropout is gone
    assert "%d1/MatMul = MatMul(%input_layer, %d1/kernel) : f32[N,4]" not in text
    assert "%d1/MatMul = MatMul(%input_layer, %d1/kernel) : f32[N,3]" in text
    assert "%d2/Softmax = Softmax(%d2/Add) {axis=-1} : f32[N,2]" in text
    x = np.random.default_rng(0).normal(size=(5, 4))
    k1, b1, k2, b2 = model.get_weights()
    z = np.maximum(x @ k1 + b1, 0) @ k2 + b2
    (got,) = run_graph(g, x)
    np.testing.assert_allclose(got, np.exp(z) / np.exp(z).sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert LowerLayers().run(g) is False


def test_lower_layers_training_form_keeps_dropout(graph_before):
    g = graph_before(_model(), "lower_layers")
    LowerLayers(training=True).run(g)
    verify(g)
    # the output is Where(kept, x / (1 - rate), 0), from Dropout's mask output (fgc/primitives/random_ops.py)
    assert op_path(g) == "MatMul -> Add -> Relu -> Dropout -> Where -> MatMul -> Add -> Softmax"
    assert "Dropout(%d1/Relu) {layer_seed=" in str(g) and "ratio=0.5" in str(g)
