import pytest

from fgc import Input, Model, layers
from fgc.ir import ShapeError, TensorType, verify, VerifyError
from fgc.passes import ShapeInference


def _model():
    i = Input(shape=(2, 4))
    return Model(i, layers.Dense(3, name="proj")(layers.Reshape((8,), name="flat")(layers.Dense(4, name="d")(i))))


def test_shape_inference_restores_stale_types(graph_before):
    g = graph_before(_model(), "shape_inference")
    node = "proj"
    g.node(node)["outputs"] = (TensorType(("N", "T9"), "float32"),)   # as if a rewrite left it stale
    with pytest.raises(VerifyError):
        verify(g)
    assert ShapeInference().run(g) is True
    verify(g)
    assert "%proj = layer.Dense(%flat) [proj/kernel f32[8,3], proj/bias f32[3]] : f32[N,3]" in str(g)
    assert ShapeInference().run(g) is False   # idempotent: nothing left to change


def test_shape_inference_on_lowered_graph_is_a_fixed_point(graph_before):
    g = graph_before(_model(), "dedup_shared_weights")
    assert "%flat/Reshape = Reshape(%d/Add) {shape=[0,8]} : f32[N,8]" in str(g)
    assert ShapeInference().run(g) is False
    verify(g)


def test_shape_inference_error_names_the_layer(graph_before):
    g = graph_before(_model(), "shape_inference")
    inp = g.inputs[0].node
    g.node(inp)["outputs"] = (TensorType(("N", 2, 5), "float32"),)   # the input no longer fits layer 'd'
    with pytest.raises(ShapeError, match=r"shape inference failed at layer 'd' \(Dense\): .*last dim is 4.*"
                                         r"\(None, 2, 5\)"):
        ShapeInference().run(g)
