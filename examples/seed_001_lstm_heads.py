"""Seed 001: a three-output model on a stack of LSTMs, and the seed's bugs.

What the seed had wrong, and what fgc says:
* ``Embedding(256, vocab_size)``: arguments swapped (input_dim is the vocabulary size); with ids up
  to vocab_size the first run raises a ValueError that says so.
* ``x = layers.LSTM(256)(x)`` five times: an LSTM without ``return_sequences=True`` returns only its
  last output (batch, 256), so the next LSTM gets a 2-D input. fgc raises a ValueError at the call that
  names both layers and says to pass return_sequences=True.
* ``Dense(1, activation='softmax', name='income')``: a softmax over one unit is always 1.0; fgc warns.
  Income is a class among num_income_groups, so the head is a 10-way softmax.
* ``model.compile(optmizer=...)`` and the dict without commas: see seed_004_typos.py.

    python examples/seed_001_lstm_heads.py          # 32 posts of 8 words, 1 epoch
    python examples/seed_001_lstm_heads.py --full   # 1000 posts of 50 words, 5 epochs
"""
import argparse
import warnings

import numpy as np

from fgc import Input, layers
from fgc.models import Model
from fgc.utils import to_categorical

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="1000 posts of 50 words, 5 epochs")
args = parser.parse_args()
num_samples, length, epochs = (1000, 50, 5) if args.full else (32, 8, 1)

vocab_size = 10000
num_income_groups = 10

# ---- the seed's stack: LSTM(256) after LSTM(256) without return_sequences
text_inputs = Input(shape=(None, ), name='text')
embedding = layers.Embedding(vocab_size, 256)(text_inputs)   # the seed had Embedding(256, vocab_size)
x = layers.LSTM(256)(embedding)
try:
    x = layers.LSTM(256)(x)
except ValueError as e:
    print("[stacked LSTM] raised ValueError:")
    print("   ", e)

# ---- the seed's income head
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    layers.Dense(1, activation='softmax', name='income')(layers.Dense(128, activation='relu')(x))
for w in caught:
    print(f"[Dense(1, softmax)] {w.category.__name__}: {w.message}")

# ---- corrected
text_inputs = Input(shape=(None, ), name='text')
embedding = layers.Embedding(vocab_size, 256)(text_inputs)
x = layers.LSTM(256, return_sequences=True)(embedding)
x = layers.LSTM(256, return_sequences=True)(x)
x = layers.LSTM(256, return_sequences=True)(x)
x = layers.LSTM(256, return_sequences=True)(x)
x = layers.LSTM(256)(x)
x = layers.Dense(128, activation='relu')(x)

age_prediction = layers.Dense(1, activation=None, name='age')(x)
income_prediction = layers.Dense(num_income_groups, activation='softmax', name='income')(x)
gender_prediction = layers.Dense(1, activation='sigmoid', name='gender')(x)

model = Model(inputs=text_inputs,
              outputs=[age_prediction, income_prediction, gender_prediction])
model.compile(optimizer='rmsprop',
              loss=['mse', 'categorical_crossentropy', 'binary_crossentropy'],
              loss_weights=[0.25, 1., 10.])

text = np.random.randint(1, vocab_size, size=(num_samples, length))
age = np.random.randint(18, 80, size=(num_samples, 1))
income = to_categorical(np.random.randint(num_income_groups, size=(num_samples,)), num_income_groups)
gender = np.random.randint(0, 2, size=(num_samples, 1))
history = model.fit(text, [age, income, gender], epochs=epochs, batch_size=32)
print("history keys:", sorted(history.history))
