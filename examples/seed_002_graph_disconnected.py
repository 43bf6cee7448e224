"""Seed 002: the functional API basics and the two errors its author met.

1. ``Model(unrelated_input, output_tensor)``: an output that does not depend on the given input.
   Keras said "Graph disconnected: cannot obtain value for tensor ... The following previous layers
   were accessed without issue: []"; fgc names the Input the output needs and the path to it.
2. The question-answering model with its Embedding arguments swapped,
   ``Embedding(64, text_vocabulary_size)`` instead of ``Embedding(text_vocabulary_size, 64)``: TensorFlow
   failed deep inside training with "indices[0,0] = 4234 is not in [0, 64)"; fgc checks the ids before
   running and says the arguments look swapped.

Both errors are caught and printed; then the corrected model trains.

    python examples/seed_002_graph_disconnected.py          # 64 samples of length 12, 1 epoch
    python examples/seed_002_graph_disconnected.py --full   # the seed's 1000 samples of length 100, 10 epochs
"""
import argparse

import numpy as np

from fgc import Input, layers
from fgc.models import Model, Sequential
from fgc.utils import to_categorical

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="the seed's sizes (1000 samples, length 100, 10 epochs)")
args = parser.parse_args()
num_samples, max_length, epochs = (1000, 100, 10) if args.full else (64, 12, 1)

# Sequential vs functional
seq_model = Sequential()
seq_model.add(layers.Dense(32, activation='relu', input_shape=(64, )))
seq_model.add(layers.Dense(32, activation='relu'))
seq_model.add(layers.Dense(10, activation='softmax'))

input_tensor = Input(shape=(64,))
x = layers.Dense(32, activation='relu')(input_tensor)
x = layers.Dense(32, activation='relu')(x)
output_tensor = layers.Dense(10, activation='softmax')(x)

model = Model(input_tensor, output_tensor)

# ---- error 1: an input the output does not depend on
unrelated_input = Input(shape=(32,))
try:
    bad_model = model = Model(unrelated_input, output_tensor)
except ValueError as e:
    print("[error 1] Model(unrelated_input, output_tensor) raised ValueError:")
    print("   ", e)

model = Model(input_tensor, output_tensor)
model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
x_train = np.random.random((num_samples, 64))
y_train = np.random.random((num_samples, 10))
model.fit(x_train, y_train, epochs=epochs, batch_size=128, verbose=0)
score = model.evaluate(x_train, y_train, verbose=0)
print("MLP evaluate loss:", score)

# ---- error 2: the QA model with swapped Embedding arguments (as in the seed)
text_vocabulary_size = 10000
question_vocabulary_size = 10000
answer_vocabulary_size = 500


def qa_model(swapped):
    text_input = Input(shape=(None,), dtype='int32', name='text')
    if swapped:   # the seed's code
        embedded_text = layers.Embedding(64, text_vocabulary_size)(text_input)
    else:         # Embedding(input_dim=vocabulary size, output_dim=vector size)
        embedded_text = layers.Embedding(text_vocabulary_size, 64)(text_input)
    encoded_text = layers.LSTM(32)(embedded_text)

    question_input = Input(shape=(None,), dtype='int32', name='question')
    if swapped:
        embedded_question = layers.Embedding(32, question_vocabulary_size)(question_input)
    else:
        embedded_question = layers.Embedding(question_vocabulary_size, 32)(question_input)
    encoded_question = layers.LSTM(16)(embedded_question)

    concatenated = layers.concatenate([encoded_text, encoded_question], axis=-1)
    answer = layers.Dense(answer_vocabulary_size, activation='softmax')(concatenated)
    model = Model([text_input, question_input], answer)
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['acc'])
    return model


text = np.random.randint(1, text_vocabulary_size, size=(num_samples, max_length))
question = np.random.randint(1, question_vocabulary_size, size=(num_samples, max_length))
# The seed's answers, np.random.randint(0, 1, ...), are all zeros (see seed_000_qa_model.py): use one-hot rows.
answers = to_categorical(np.random.randint(answer_vocabulary_size, size=(num_samples,)), answer_vocabulary_size)

model = qa_model(swapped=True)
try:
    model.fit([text, question], answers, epochs=epochs, batch_size=128)
except ValueError as e:
    print("[error 2] fit with the list of inputs raised ValueError:")
    print("   ", e)
try:
    model.fit({'text': text, 'question': question}, answers, epochs=epochs, batch_size=128)
except ValueError as e:
    print("[error 2] fit with the dict of inputs raised ValueError:")
    print("   ", e)

model = qa_model(swapped=False)
history = model.fit([text, question], answers, epochs=epochs, batch_size=128, verbose=0)
history = model.fit({'text': text, 'question': question}, answers, epochs=epochs, batch_size=128, verbose=0)
print("corrected QA model trains: history keys", sorted(history.history))
