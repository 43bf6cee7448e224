"""The printer: golden text for a tiny model and byte-stable output."""
import fgc
from fgc import Input, Model, layers
from fgc.ir import Graph, TensorType, op_path
from fgc.primitives import Builder


def _tiny():
    i = Input(shape=(4,), name="x")
    h = layers.Dense(3, activation="relu", name="hidden")(i)
    a = layers.Dropout(0.5)(h)
    return Model(i, [layers.Dense(2, activation="softmax", name="probs")(a), layers.concatenate([h, a])],
                 name="tiny")


GOLDEN_LAYERS = """\
graph @tiny(%x: f32[N,4]) {
  %hidden = layer.Dense(%x) [hidden/kernel f32[4,3], hidden/bias f32[3]] : f32[N,3]
  %dropout = layer.Dropout(%hidden) : f32[N,3]
  %probs = layer.Dense(%dropout) [probs/kernel f32[3,2], probs/bias f32[2]] : f32[N,2]
  %concatenate = layer.Concatenate(%hidden, %dropout) : f32[N,6]
  return probs=%probs, concatenate=%concatenate
}"""

GOLDEN_INFERENCE = """\
graph @tiny(%x: f32[N,4]) {
  %hidden/kernel = param() {name='hidden/kernel'} : f32[4,3]
  %hidden/bias = param() {name='hidden/bias'} : f32[3]
  %probs/kernel = param() {name='probs/kernel'} : f32[3,2]
  %probs/bias = param() {name='probs/bias'} : f32[2]
  %hidden/Gemm = Gemm(%x, %hidden/kernel, %hidden/bias) : f32[N,3]
  %hidden/Relu = Relu(%hidden/Gemm) : f32[N,3]
  %concatenate/Concat = Concat(%hidden/Relu, %hidden/Relu) {axis=-1} : f32[N,6]
  %probs/Gemm = Gemm(%hidden/Relu, %probs/kernel, %probs/bias) : f32[N,2]
  %probs/Softmax = Softmax(%probs/Gemm) {axis=-1} : f32[N,2]
  return probs=%probs/Softmax, concatenate=%concatenate/Concat
}"""


def test_golden_layer_level_ir():
    fgc.utils.clear_session()
    assert _tiny().ir("layers") == GOLDEN_LAYERS


def test_golden_inference_ir():
    fgc.utils.clear_session()
    assert _tiny().ir() == GOLDEN_INFERENCE


def test_printing_is_deterministic():
    fgc.utils.clear_session()
    model = _tiny()
    assert model.ir() == model.ir()
    assert model.ir("layers") == model.ir("layers")
    first = (model.ir("layers"), model.ir())
    fgc.utils.clear_session()
    again = _tiny()
    assert (again.ir("layers"), again.ir()) == first


def test_attribute_and_multi_output_printing():
    g = Graph("attrs")
    x = g.add_input("x", TensorType(("N", 3, 2), "float32"))
    b = Builder(g, "b")
    t = b.Transpose(x, perm=(0, 2, 1))
    s = b.Mul(t, 0.25)
    d = b.Dropout(s, ratio=0.1)
    g.outputs, g.output_names = [d[1], d[0]], ["mask", "y"]
    assert str(g) == "\n".join([
        "graph @attrs(%x: f32[N,3,2]) {",
        "  %b/Transpose = Transpose(%x) {perm=[0,2,1]} : f32[N,2,3]",
        "  %b/const = constant() {value=dense<0.25>} : f32[]",
        "  %b/Mul = Mul(%b/Transpose, %b/const) : f32[N,2,3]",
        "  %b/Dropout = Dropout(%b/Mul) {ratio=0.1} : f32[N,2,3], bool[N,2,3]",
        "  return mask=%b/Dropout#1, y=%b/Dropout",
        "}",
    ])
    assert op_path(g) == "Transpose -> Mul -> Dropout"
