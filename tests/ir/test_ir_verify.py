"""The verifier re-derives every type and shows the offending op's printed line on failure."""
import pytest

from fgc import Input, Model, layers
from fgc.compiler import inference_graph
from fgc.ir import Graph, ParamSpec, TensorType, Value, VerifyError, verify
from fgc.ir.printer import print_node
from fgc.primitives import Builder


def _graph():
    i = Input(shape=(4,))
    h = layers.Dense(3, activation="relu", name="d1")(i)
    return inference_graph(Model(i, layers.Dense(2, name="d2")(h)))


def test_a_compiled_graph_verifies():
    g = _graph()
    verify(g)
    i = Input(shape=(3,))
    verify(Model(i, layers.Dense(2)(i)).to_graph())    # the layer-level graph verifies too


def test_wrong_recorded_type_is_reported_with_the_line():
    g = _graph()
    g.node("d1/Relu")["outputs"] = (TensorType(("N", 5), "float32"),)
    line = print_node(g, "d1/Relu")
    with pytest.raises(VerifyError) as err:
        verify(g)
    msg = str(err.value)
    assert "d1/Relu records f32[N,5] but its inputs give f32[N,3]" in msg
    assert f">> {line}" in msg
    assert "%d1/Relu = Relu(%d1/Gemm) : f32[N,5]" in msg
    # the context shows the neighbours too
    assert "%d1/Gemm = Gemm(%input_layer, %d1/kernel, %d1/bias) : f32[N,3]" in msg


def test_wrong_dtype_is_reported():
    g = _graph()
    g.node("d2/Gemm")["outputs"] = (TensorType(("N", 2), "float64"),)
    with pytest.raises(VerifyError, match=r"d2/Gemm records f64\[N,2\] but its inputs give f32\[N,2\]"):
        verify(g)


def test_edges_must_mirror_inputs():
    g = _graph()
    g.node("d1/Relu")["inputs"] = (Value("input_layer"),)     # changed without Graph.set_inputs_of
    with pytest.raises(VerifyError, match=r"(?s)edges into d1/Relu do not mirror its inputs\n.*>> %d1/Relu"):
        verify(g)


def test_unregistered_op():
    g = _graph()
    g.node("d1/Relu")["op"] = "Frobnicate"
    with pytest.raises(VerifyError, match=r"op 'Frobnicate' of d1/Relu is not registered"):
        verify(g)


def test_param_shape_mismatch():
    g = _graph()
    spec = g.params["d1/kernel"]
    g.params["d1/kernel"] = ParamSpec((4, 4), spec.dtype, spec.trainable, spec.variable)
    with pytest.raises(VerifyError, match=r"param node d1/kernel does not match graph.params"):
        verify(g)


def test_missing_graph_output_and_duplicate_output_names():
    g = _graph()
    g.outputs = [Value("nope")]
    with pytest.raises(VerifyError, match=r"graph output .*nope.* does not exist"):
        verify(g)
    g = _graph()
    g.outputs, g.output_names = g.outputs * 2, g.output_names * 2
    with pytest.raises(VerifyError, match=r"duplicate output names"):
        verify(g)


def test_cycle_is_reported():
    g = Graph("c")
    x = g.add_input("x", TensorType(("N", 2)))
    b = Builder(g, "b")
    a = b.Relu(x)
    n = b.Neg(a)
    g.set_inputs_of(a.node, [n])
    with pytest.raises(VerifyError, match=r"cycle"):
        verify(g)


def test_reading_a_missing_output_index():
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 2)))
    y = Builder(g, "b").Relu(x)
    g.set_inputs_of(y.node, [Value("x", 1)])
    g.outputs, g.output_names = [y], ["y"]
    with pytest.raises(VerifyError, match=r"b/Relu reads output 1 of x, which has fewer outputs"):
        verify(g)
