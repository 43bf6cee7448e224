"""Seed 000 (and 002, 004): a Sequential MLP and its functional equivalent, their summaries, then
compile / fit / evaluate on random data. Imports swapped from tensorflow.keras to fgc.

    python examples/seed_000_mlp.py          # 200 samples, 2 epochs
    python examples/seed_000_mlp.py --full   # the seed's 1000 samples, 10 epochs
"""
import argparse

import numpy as np

from fgc import Input, layers
from fgc.models import Model, Sequential

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="the seed's sizes (1000 samples, 10 epochs)")
args = parser.parse_args()
num_samples, epochs = (1000, 10) if args.full else (200, 2)

seq_model = Sequential()
seq_model.add(layers.Dense(32, activation='relu', input_shape=(64,)))
seq_model.add(layers.Dense(32, activation='relu'))
seq_model.add(layers.Dense(10, activation='softmax'))

seq_model.summary()

# The functional equivalent
input_tensor = Input(shape=(64,))
x = layers.Dense(32, activation='relu')(input_tensor)
x = layers.Dense(32, activation='relu')(x)
output_tensor = layers.Dense(10, activation='softmax')(x)

model = Model(input_tensor, output_tensor)

model.summary()

# Same weights, same numbers: the two models are the same network.
model.set_weights(seq_model.get_weights())
probe = np.random.random((3, 64))
np.testing.assert_allclose(model.predict(probe), seq_model.predict(probe), rtol=1e-6)
print("Sequential and functional models agree:", model.count_params(), "parameters each")

# Compiles the model
model.compile(optimizer='rmsprop', loss='categorical_crossentropy')

# Generates dummy Numpy data to train on (random rows, not one-hot: Keras renormalizes them as
# probabilities, and so does fgc, so the loss is a cross-entropy between two distributions)
x_train = np.random.random((num_samples, 64))
y_train = np.random.random((num_samples, 10))

# Trains the model
history = model.fit(x_train, y_train, epochs=epochs, batch_size=128)

# Evaluates the model
score = model.evaluate(x_train, y_train)
print("history keys:", sorted(history.history))
print("evaluate loss:", score)
