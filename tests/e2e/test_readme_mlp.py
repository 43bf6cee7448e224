"""The README's taste, end to end at small size: build, summary, IR, predict, export, reload."""
import numpy as np
import onnxruntime as ort

import fgc
from fgc import Input, Model, layers
from fgc.compiler import inference_graph


def test_readme_mlp(tmp_path):
    fgc.utils.set_random_seed(0)
    inputs = Input(shape=(64,))
    x = layers.Dense(32, activation="relu")(inputs)
    x = layers.Dense(32, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = Model(inputs, outputs)
    assert model.count_params() == 3466
    assert fgc.ir.op_path(inference_graph(model)) == "Gemm -> Relu -> Gemm -> Relu -> Gemm -> Softmax"

    w = model.get_weights()
    for batch in (1, 33):
        data = np.random.random((batch, 64))
        h = np.maximum(data @ w[0] + w[1], 0)
        h = np.maximum(h @ w[2] + w[3], 0)
        z = h @ w[4] + w[5]
        want = np.exp(z - z.max(1, keepdims=True))
        want /= want.sum(1, keepdims=True)
        probs = model.predict(data)
        assert probs.shape == (batch, 10)
        np.testing.assert_allclose(probs, want, rtol=1e-5, atol=1e-6)

    path = tmp_path / "mlp.onnx"
    model.export(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    data = np.random.random((5, 64)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"input_layer": data})[0], model.predict(data), rtol=1e-6, atol=1e-7)


def test_set_random_seed_makes_weights_reproducible():
    def build():
        fgc.utils.set_random_seed(42)
        i = Input(shape=(4,))
        return Model(i, layers.Dense(3)(i)).get_weights()[0]

    np.testing.assert_array_equal(build(), build())
