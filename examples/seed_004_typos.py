"""Seeds 004 and 001: typos in compile() and what fgc says about them.

* Seed 004 compiles its three-output model with ``loss=['mse', 'categorical_cross_entropy',
  'binary_crossentropy']``: the loss is spelled ``categorical_crossentropy``.
* Seed 001 writes ``model.compile(optmizer='rmsprop', ...)``: the keyword is ``optimizer``.
* Seed 001's dict form is also missing commas (``{'age' : 'mse' 'income' : ...}``), a SyntaxError
  Python reports before any library runs; a misspelled dict key is fgc's business, shown last.

Each error is caught and printed, then the corrected compile trains. The three-output model here has
seed 001's LSTM base (with seed 001's other bugs fixed: stacked LSTMs return sequences, the income head
is a 10-way softmax, see seed_001_lstm_heads.py); seed 004's Conv1D base is in seed_000_three_heads.py.

    python examples/seed_004_typos.py          # 64 posts of 20 words, 1 epoch
    python examples/seed_004_typos.py --full   # 1000 posts of 100 words, 10 epochs
"""
import argparse

import numpy as np

from fgc import Input, layers
from fgc.models import Model
from fgc.utils import to_categorical

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="1000 posts of 100 words, 10 epochs")
args = parser.parse_args()
num_samples, length, epochs = (1000, 100, 10) if args.full else (64, 20, 1)

vocabulary_size = 50000
num_income_groups = 10

posts_input = Input(shape=(None,), dtype='int32', name='posts')
embedded_posts = layers.Embedding(vocabulary_size, 256)(posts_input)
x = layers.LSTM(64, return_sequences=True)(embedded_posts)
x = layers.LSTM(64)(x)
x = layers.Dense(128, activation='relu')(x)
age_prediction = layers.Dense(1, name='age')(x)
income_prediction = layers.Dense(num_income_groups, activation='softmax', name='income')(x)
gender_prediction = layers.Dense(1, activation='sigmoid', name='gender')(x)
model = Model(posts_input, [age_prediction, income_prediction, gender_prediction])

# Seed 004's typo
try:
    model.compile(optimizer='rmsprop',
                  loss=['mse', 'categorical_cross_entropy', 'binary_crossentropy'])
except ValueError as e:
    print("[seed 004] loss='categorical_cross_entropy' raised ValueError:")
    print("   ", e)

# Seed 001's typo
try:
    model.compile(optmizer='rmsprop',
                  loss=['mse', 'categorical_crossentropy', 'binary_crossentropy'],
                  loss_weights=[0.25, 1., 10.])
except TypeError as e:
    print("[seed 001] compile(optmizer=...) raised TypeError:")
    print("   ", e)

# A misspelled output name in the dict form
try:
    model.compile(optimizer='rmsprop',
                  loss={'age': 'mse', 'income': 'categorical_crossentropy', 'gender': 'binary_crossentropy'},
                  loss_weights={'age': 0.25, 'incom': 1., 'gender': 10.})
except ValueError as e:
    print("[dict keys] loss_weights with 'incom' raised ValueError:")
    print("   ", e)

# Corrected
model.compile(optimizer='rmsprop',
              loss={'age': 'mse', 'income': 'categorical_crossentropy', 'gender': 'binary_crossentropy'},
              loss_weights={'age': 0.25, 'income': 1., 'gender': 10.})
posts = np.random.randint(1, vocabulary_size, size=(num_samples, length))
age_targets = np.random.randint(18, 80, size=(num_samples, 1)).astype('float32')
income_targets = to_categorical(np.random.randint(num_income_groups, size=(num_samples,)), num_income_groups)
gender_targets = np.random.randint(0, 2, size=(num_samples, 1))
history = model.fit(posts, {'age': age_targets, 'income': income_targets, 'gender': gender_targets},
                    epochs=epochs, batch_size=64)
print("corrected compile trains: history keys", sorted(history.history))
