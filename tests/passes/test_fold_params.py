"""FoldParams: weight-only work evaluated once at export, into constants."""
import numpy as np
import onnxruntime as ort

from fgc import Input, Model, layers
from fgc.compiler import inference_graph
from fgc.export.onnx import to_onnx
from fgc.ir import verify
from fgc.passes import FoldParams, PassManager


def _conv_bn_model(rng):
    inputs = Input(shape=(6, 6, 3))
    conv = layers.Conv2D(4, 3, padding="same")
    bn = layers.BatchNormalization()
    model = Model(inputs, layers.Activation("relu")(bn(conv(inputs))))
    conv.set_weights([rng.normal(scale=0.3, size=w.shape) for w in conv.get_weights()])
    c = (4,)
    bn.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.3, 2.0, c)])
    return model, conv, bn


def _numpy_conv_same(x, kernel, bias):
    """NHWC 'same' convolution, stride 1, odd kernel: the Keras definition, in loops."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            out[:, i, j] = np.einsum("nhwc,hwco->no", padded[:, i:i + kh, j:j + kw], kernel)
    return out + bias


def test_weight_only_ops_become_constants_and_the_numbers_stay():
    rng = np.random.default_rng(0)
    model, conv, bn = _conv_bn_model(rng)
    graph = inference_graph(model)
    assert {"Sqrt", "Reciprocal"} <= {graph.op(n) for n in graph.topo_order()}
    assert PassManager([FoldParams()], verify_each=True).run(graph)
    verify(graph)
    ops = [graph.op(n) for n in graph.topo_order() if graph.op(n) not in ("input", "constant")]
    assert ops == ["Transpose", "Conv", "Transpose", "Relu"]   # no param is read at run time any more

    x = rng.normal(size=(2, 6, 6, 3))
    gamma, beta, mean, var = bn.get_weights()
    expected = np.maximum(gamma * (_numpy_conv_same(x, *conv.get_weights()) - mean) / np.sqrt(var + 1e-3) + beta, 0)
    sess = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"input_layer": x.astype(np.float32)})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_weights_read_directly_stay_named_initializers():
    inputs = Input(shape=(4,))
    model = Model(inputs, layers.Dense(3, name="head")(inputs))
    graph = inference_graph(model)
    assert not FoldParams().run(graph)    # a Gemm on the raw kernel: nothing to fold
    names = {init.name for init in to_onnx(graph).graph.initializer}
    assert names == {"head/kernel", "head/bias"}


def test_ops_that_would_bloat_the_file_are_not_folded():
    from fgc.ir import Graph, ParamSpec, TensorType
    from fgc.primitives import Builder

    class Held:
        def read(self):
            return np.ones((2,), np.float32)

    graph = Graph("bloat")
    x = graph.add_input("x", TensorType(("N", 2), "float32"))
    graph.add_param("w", ParamSpec((2,), "float32", variable=Held()))
    b = Builder(graph, "b")
    w = b.param("w")
    padded = b.Pad(w, pads=(0, 100_000))          # 100,002 elements from 2: cheaper computed than stored
    doubled = b.Mul(w, 2.0)                        # as big as what it reads: folded
    graph.outputs, graph.output_names = [b.Add(x, doubled), padded], ["y", "padded"]
    assert FoldParams().run(graph)
    verify(graph)
    assert graph.op(graph.outputs[1].node) == "Pad"
    y = graph.node(graph.outputs[0].node)
    assert y["op"] == "Add" and graph.op(y["inputs"][1].node) == "constant"
    np.testing.assert_array_equal(graph.node(y["inputs"][1].node)["attrs"]["value"], [2.0, 2.0])


def test_multi_output_ops_and_fills_fold_too():
    from fgc.ir import Graph, ParamSpec, TensorType
    from fgc.primitives import Builder

    weight = np.array([1.0, 2.0, 3.0, 4.0], np.float32)

    class Held:
        def read(self):
            return weight

    graph = Graph("split")
    x = graph.add_input("x", TensorType(("N", 6), "float32"))
    graph.add_param("w", ParamSpec((4,), "float32", variable=Held()))
    b = Builder(graph, "b")
    first, second = b.Split(b.param("w"), axis=0, sizes=(2, 2))
    swapped = b.Concat(second, first, b.Zeros(shape=(2,), dtype="float32"), axis=0)   # [3, 4, 1, 2, 0, 0]
    graph.outputs, graph.output_names = [b.Add(x, swapped)], ["y"]
    assert FoldParams().run(graph)
    verify(graph)
    assert [graph.op(n) for n in graph.topo_order() if graph.op(n) not in ("input", "constant")] == ["Add"]
    folded = graph.node(graph.node(graph.outputs[0].node)["inputs"][1].node)["attrs"]["value"]
    np.testing.assert_array_equal(folded, [3.0, 4.0, 1.0, 2.0, 0.0, 0.0])
