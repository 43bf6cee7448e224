"""Int64Inputs: exported integer inputs take numpy's default int64 and narrow inside the graph."""
import numpy as np
import onnxruntime as ort
import pytest

from fgc import Input, Model, layers
from fgc.compiler import inference_graph
from fgc.export.onnx import to_onnx
from fgc.ir import verify
from fgc.passes import Int64Inputs


def _embedding_model(dtype):
    ids = Input(shape=(4,), dtype=dtype, name="ids")
    embedding = layers.Embedding(7, 3)
    model = Model(ids, embedding(ids))
    return model, embedding.get_weights()[0]


def _session(model):
    graph = inference_graph(model)
    Int64Inputs().run(graph)
    verify(graph)
    return graph, ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])


def test_int32_input_is_taken_as_int64_and_looks_up_the_same_rows():
    model, table = _embedding_model("int32")
    graph, sess = _session(model)
    assert graph.type_of(graph.inputs[0]).dtype == "int64"
    assert sess.get_inputs()[0].type == "tensor(int64)"
    ids = np.array([[0, 6, 3, 3], [1, 2, 5, 4]])          # numpy's default integer dtype
    assert ids.dtype == np.int64
    (got,) = sess.run(None, {"ids": ids})
    np.testing.assert_array_equal(got, table[ids])


def test_an_id_beyond_int32_is_refused_not_wrapped_into_range():
    model, _ = _embedding_model("int32")
    _, sess = _session(model)
    wraps_to_two = np.array([[2 ** 32 + 2, 0, 0, 0]])    # a Cast alone would make this id 2
    with pytest.raises(Exception, match="out of bounds|indices"):
        sess.run(None, {"ids": wraps_to_two})


def test_int64_and_float_inputs_are_left_alone():
    model, _ = _embedding_model("int64")
    graph = inference_graph(model)
    assert not Int64Inputs().run(graph)
    inputs = Input(shape=(3,))
    assert not Int64Inputs().run(inference_graph(Model(inputs, layers.Dense(2)(inputs))))
