"""Seeds 000 and 004: a three-output model (age regression, income class, gender) on a Conv1D base
over the embedded words of a person's posts; losses and loss_weights as a list and as a dict;
targets as a list and as a dict.

What the seeds had wrong: ``layers.Embedding(256, vocabulary_size)`` swaps the arguments (a
256-word vocabulary embedded into 50000-dimensional vectors, 12.8M parameters feeding a Conv1D with
a 32M-parameter kernel). It is ``Embedding(vocabulary_size, 256)``: input_dim is the vocabulary size.
Seed 004 also misspells the loss as 'categorical_cross_entropy' (see seed_004_typos.py).

    python examples/seed_000_three_heads.py          # 64 posts of 300 words, 1 epoch
    python examples/seed_000_three_heads.py --full   # 1000 posts of 500 words, 10 epochs
"""
import argparse

import numpy as np

from fgc import Input, layers
from fgc.models import Model
from fgc.utils import to_categorical

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="1000 posts of 500 words, 10 epochs")
args = parser.parse_args()
# Five valid 5-wide convolutions and two 5-pools need posts of at least ~270 words.
num_samples, length, epochs = (1000, 500, 10) if args.full else (64, 300, 1)

vocabulary_size = 50000
num_income_groups = 10

posts_input = Input(shape=(None,), dtype='int32', name='posts')

embedded_posts = layers.Embedding(vocabulary_size, 256)(posts_input)   # the seeds: Embedding(256, vocabulary_size)

x = layers.Conv1D(128, 5, activation='relu')(embedded_posts)
x = layers.MaxPooling1D(5)(x)
x = layers.Conv1D(256, 5, activation='relu')(x)
x = layers.Conv1D(256, 5, activation='relu')(x)
x = layers.MaxPooling1D(5)(x)
x = layers.Conv1D(256, 5, activation='relu')(x)
x = layers.Conv1D(256, 5, activation='relu')(x)
x = layers.GlobalMaxPooling1D()(x)
x = layers.Dense(128, activation='relu')(x)

# Note that the output layers are given names
age_prediction = layers.Dense(1, name='age')(x)
income_prediction = layers.Dense(num_income_groups, activation='softmax', name='income')(x)
gender_prediction = layers.Dense(1, activation='sigmoid', name='gender')(x)

model = Model(posts_input, [age_prediction, income_prediction, gender_prediction])
model.summary()

model.compile(
    optimizer='rmsprop',
    loss=['mse', 'categorical_crossentropy', 'binary_crossentropy'],
    loss_weights=[0.25, 1., 10.]
)

posts = np.random.randint(1, vocabulary_size, size=(num_samples, length))
age_targets = np.random.randint(18, 80, size=(num_samples, 1))
income_targets = to_categorical(np.random.randint(num_income_groups, size=(num_samples,)), num_income_groups)
gender_targets = np.random.randint(0, 2, size=(num_samples, 1))

history = model.fit(posts, [age_targets, income_targets, gender_targets], epochs=epochs, batch_size=64)
print("list form, history keys:", sorted(history.history))

# Equivalent (possible only if you give names to the output layers)
model.compile(
    optimizer='rmsprop',
    loss={'age': 'mse', 'income': 'categorical_crossentropy', 'gender': 'binary_crossentropy'},
    loss_weights={'age': 0.25, 'income': 1., 'gender': 10.}
)
history = model.fit(posts, {'age': age_targets, 'income': income_targets, 'gender': gender_targets},
                    epochs=epochs, batch_size=64)
print("dict form, history keys:", sorted(history.history))
