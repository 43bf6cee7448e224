"""A Transformer encoder classifier (Keras' "text classification with Transformer", functional form):
token + position embedding, two encoder blocks of MultiHeadAttention + LayerNormalization + a
feed-forward network, average pooling over the unpadded tokens, a softmax head. It learns a synthetic
task: does token 1 occur more often than token 2 in a padded sequence of ids? Then it exports to ONNX
and plain onnxruntime reproduces predict().

    python examples/transformer_classifier.py            # 2000 sequences, 8 epochs
    python examples/transformer_classifier.py --small    # the test suite's reduced run
"""
import argparse
import os
import tempfile

import numpy as np
import onnxruntime as ort

import fgc
from fgc import layers

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--small", action="store_true", help="a reduced run (fewer sequences and epochs)")
args = parser.parse_args()
num_samples, epochs = (600, 3) if args.small else (2000, 8)
vocab, maxlen, d_model, heads, ff_dim = 12, 16, 32, 2, 64
fgc.utils.set_random_seed(0)


class PositionEmbedding(layers.Layer):
    """Adds a learned vector per position (weights (maxlen, d)); passes the token mask on."""

    supports_masking = True

    def build(self, input_types):
        steps, dim = input_types[0].shape[1:]
        self.embeddings = self.add_weight("embeddings", (steps, dim), "uniform")

    def compute_output_types(self, input_types, node_attrs=None):
        return [input_types[0]]

    def lower(self, b, inputs, params, training=False, call_args=None):
        return [b.Add(inputs[0], params["embeddings"])]


def encoder_block(x, name):
    attention = layers.MultiHeadAttention(heads, d_model // heads, dropout=0.1, name=f"{name}_attention")(x, x)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1")(
        layers.add([x, layers.Dropout(0.1)(attention)]))
    ff = layers.Dense(ff_dim, activation="relu", name=f"{name}_ff1")(x)
    ff = layers.Dense(d_model, name=f"{name}_ff2")(ff)
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2")(layers.add([x, layers.Dropout(0.1)(ff)]))


def make_data(n, rng):
    """Sequences of ids 1..vocab-1 of random lengths, right-padded with 0; label 1 when token 1 occurs
    more often than token 2."""
    ids = rng.integers(1, vocab, size=(n, maxlen))
    lengths = rng.integers(4, maxlen + 1, size=n)
    ids[np.arange(maxlen)[None, :] >= lengths[:, None]] = 0
    labels = ((ids == 1).sum(1) > (ids == 2).sum(1)).astype("int64")
    return ids.astype("int32"), labels


ids_in = fgc.Input(shape=(maxlen,), dtype="int32", name="ids")
x = layers.Embedding(vocab, d_model, mask_zero=True, name="tokens")(ids_in)
x = PositionEmbedding(name="positions")(x)
for i in range(2):
    x = encoder_block(x, f"block{i + 1}")
x = layers.GlobalAveragePooling1D()(x)
x = layers.Dropout(0.1)(x)
outputs = layers.Dense(2, activation="softmax", name="label")(layers.Dense(16, activation="relu")(x))
model = fgc.Model(ids_in, outputs)
model.summary()

rng = np.random.default_rng(0)
x_train, y_train = make_data(num_samples, rng)
x_test, y_test = make_data(400, rng)
model.compile(optimizer=fgc.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=2)
losses = history.history["loss"]
print(f"training loss: first epoch {losses[0]:.4f}, last epoch {losses[-1]:.4f}")
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
majority = max(y_test.mean(), 1 - y_test.mean())
print(f"test accuracy {test_acc:.3f} (always guessing the majority class: {majority:.3f})")

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "transformer.onnx")
    model.export(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    onnx_probs = session.run(None, {session.get_inputs()[0].name: x_test[:64].astype(np.int64)})[0]  # exported ids are int64
diff = float(np.abs(onnx_probs - model.predict(x_test[:64], verbose=0)).max())
print(f"ONNX export run by plain onnxruntime matches predict: {diff < 1e-5} (max abs difference {diff:.2e})")
