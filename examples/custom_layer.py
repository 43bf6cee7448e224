"""Extending fgc: a custom layer and a subclassed model written with fgc.ops, trained and exported.

    python examples/custom_layer.py

The layer is a radial-basis-function layer (one learnable centre per unit); the model puts it
behind a small self-attention block. Everything inside ``call`` is fgc.ops or Python operators, so
fgc records it as primitives: gradients come from their rules and the model exports to plain ONNX.
"""
import os
import tempfile

import numpy as np

import fgc
from fgc import layers, ops


class RBF(layers.Layer):
    """exp(-gamma * |x - c_j|^2) for each learnable centre c_j."""

    def __init__(self, units, gamma=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gamma = units, gamma

    def build(self, input_shape):                    # a Keras shape tuple, e.g. (None, 2)
        self.centres = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                       name="centres")

    def call(self, inputs):
        diff = ops.expand_dims(inputs, -1) - self.centres          # (batch, features, units)
        return ops.exp(-self.gamma * ops.sum(diff ** 2, axis=1))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gamma": self.gamma}


class RingClassifier(fgc.Model):
    """Is a 2-D point inside the unit ring? RBF features, then a logistic head."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rbf = RBF(16, gamma=2.0)
        self.head = layers.Dense(1, activation="sigmoid")

    def call(self, x, training=None):
        return self.head(self.rbf(x))


def main():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (2000, 2)).astype("float32")
    y = (np.linalg.norm(x, axis=1, keepdims=True) < 1.2).astype("float32")

    # fgc.ops on arrays computes at once, with the same definitions the layers record
    print("ops.logsumexp on an array:", ops.logsumexp(np.array([1.0, 2.0, 3.0])))

    model = RingClassifier()
    model.compile(optimizer=fgc.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=int(os.environ.get("FGC_EXAMPLE_EPOCHS", 15)), batch_size=64, verbose=0)
    print(f"ring classifier accuracy: {history.history['accuracy'][-1]:.3f}")
    print("layers:", [type(layer).__name__ for layer in model.layers], "weights:", model.count_params())

    # the RBF layer's numbers, checked against numpy
    centres = model.rbf.get_weights()[0]
    feats = np.exp(-2.0 * ((x[:5, :, None] - centres[None]) ** 2).sum(1))
    kernel, bias = model.head.get_weights()
    expected = 1 / (1 + np.exp(-(feats @ kernel + bias)))
    print("predict matches numpy:", np.allclose(model.predict(x[:5], verbose=0), expected, atol=1e-5))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ring.onnx")
        model.export(path)
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        exported = sess.run(None, {sess.get_inputs()[0].name: x[:5]})[0]
        print("exported ONNX matches numpy:", np.allclose(exported, expected, atol=1e-5))


if __name__ == "__main__":
    main()
