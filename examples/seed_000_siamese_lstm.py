"""Seed 000 (also 001 and 003): a Siamese LSTM. One LSTM layer encodes both sentences, so both
branches read (and train) the same weights; a logistic regression on the two encodings says
whether the sentences are similar.

What the seed had wrong: it calls ``model.fit([left_data, right_data], targets)`` on a model it
never compiled, with data it never defines. Here the model is compiled (rmsprop, binary
cross-entropy, accuracy) and fed random data of the seed's shapes.

    python examples/seed_000_siamese_lstm.py          # 64 pairs of 10 steps, 2 epochs
    python examples/seed_000_siamese_lstm.py --full   # 1000 pairs of 40 steps, 10 epochs
"""
import argparse

import numpy as np

from fgc import Input, layers
from fgc.models import Model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="1000 pairs of 40 steps, 10 epochs")
args = parser.parse_args()
num_pairs, length, epochs = (1000, 40, 10) if args.full else (64, 10, 2)

# Instantiates a single LSTM layer, once
lstm = layers.LSTM(32)

# Building the left branch of the model:
# inputs are variable-length sequences of vectors of size 128.
left_input = Input(shape=(None, 128))
left_output = lstm(left_input)

# Building the right branch of the model:
# when you call an existing layer instance, you reuse its weights.
right_input = Input(shape=(None, 128))
right_output = lstm(right_input)

# Builds the classifier on top
merged = layers.concatenate([left_output, right_output], axis=-1)
predictions = layers.Dense(1, activation='sigmoid')(merged)

# Instantiating and training the model: when you train such a model,
# the weights of the LSTM layer are updated based on both inputs.
model = Model([left_input, right_input], predictions)
model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
model.summary()

# One layer, two call events ("nodes", seed 003): one set of weights.
assert lstm.get_output_at(0) is left_output and lstm.get_output_at(1) is right_output
print(f"shared LSTM: {len(lstm.get_weights())} weight arrays, {lstm.count_params()} parameters, "
      f"{len(lstm._inbound_nodes)} nodes; model parameters: {model.count_params()}")

left_data = np.random.random((num_pairs, length, 128))
right_data = np.random.random((num_pairs, length, 128))
targets = np.random.randint(0, 2, size=(num_pairs, 1))

before = lstm.get_weights()[0].copy()
history = model.fit([left_data, right_data], targets, epochs=epochs, batch_size=32)
print("history keys:", sorted(history.history))
print("the shared kernel moved by", float(np.abs(lstm.get_weights()[0] - before).max()))

# The two branches are one function: the same sentence gets the same encoding on either side.
a = left_data[:4]
encoder = Model(left_input, left_output)
np.testing.assert_allclose(encoder.predict(a), Model(right_input, right_output).predict(a), rtol=1e-6)
print("both branches encode identically")
