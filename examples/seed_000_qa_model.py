"""Seed 000 (also 002 and 004): a two-input question-answering model (Embedding + LSTM per input,
concatenated, softmax over the answers), trained with a list and with a dict of inputs.

What the seed had wrong: its answers were ``np.random.randint(0, 1, size=...)``, i.e. all zeros
(randint's upper bound is exclusive), so categorical_crossentropy is exactly 0 and nothing is
learned. fgc warns about that; this example shows the warning once, then trains on proper one-hot
answers made with to_categorical (as seed 004 does).

    python examples/seed_000_qa_model.py          # 64 samples of length 12, 2 epochs
    python examples/seed_000_qa_model.py --full   # the seed's 1000 samples of length 100, 10 epochs
"""
import argparse
import warnings

import numpy as np

from fgc import Input, layers
from fgc.models import Model
from fgc.utils import to_categorical

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="the seed's sizes (1000 samples, length 100, 10 epochs)")
args = parser.parse_args()
num_samples, max_length, epochs = (1000, 100, 10) if args.full else (64, 12, 2)

text_vocabulary_size = 10000
question_vocabulary_size = 10000
answer_vocabulary_size = 500

# The text input is a variable-length sequence of integers. Note that you can optionally name the inputs.
text_input = Input(shape=(None,), dtype='int32', name='text')
# Embeds the inputs into a sequence of vectors of size 64
embedded_text = layers.Embedding(text_vocabulary_size, 64)(text_input)
# Encodes the vectors in a single vector via an LSTM
encoded_text = layers.LSTM(32)(embedded_text)

# Same process (with different layer instances) for the question
question_input = Input(shape=(None,), dtype='int32', name='question')
embedded_question = layers.Embedding(question_vocabulary_size, 32)(question_input)
encoded_question = layers.LSTM(16)(embedded_question)

# Concatenates the encoded question and encoded text
concatenated = layers.concatenate([encoded_text, encoded_question], axis=-1)
# Adds a softmax classifier on top
answer = layers.Dense(answer_vocabulary_size, activation='softmax')(concatenated)

# At model instantiation, you specify the two inputs and the output.
model = Model([text_input, question_input], answer)

model.compile(
    optimizer='rmsprop',
    loss='categorical_crossentropy',
    metrics=['acc']
)
model.summary()

# Generates dummy Numpy data
text = np.random.randint(1, text_vocabulary_size, size=(num_samples, max_length))
question = np.random.randint(1, question_vocabulary_size, size=(num_samples, max_length))

# The seed's answers: randint(0, 1) only ever returns 0, so every row is all zeros.
seed_answers = np.random.randint(0, 1, size=(num_samples, answer_vocabulary_size))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.fit([text, question], seed_answers, epochs=1, batch_size=128, verbose=0)
for w in caught:
    if issubclass(w.category, UserWarning):
        print(f"fgc warned about the seed's answers: {w.message}")

# Answers are one-hot encoded, not integers: one random answer id per sample, as seed 004 does.
answers = to_categorical(np.random.randint(answer_vocabulary_size, size=(num_samples,)), answer_vocabulary_size)

# Fitting using a list of inputs
history = model.fit([text, question], answers, epochs=epochs, batch_size=128)
print("list inputs, history keys:", sorted(history.history))

# Fitting using a dictionary of inputs (only if inputs are named)
history = model.fit({'text': text, 'question': question}, answers, epochs=epochs, batch_size=128)
print("dict inputs, history keys:", sorted(history.history))
print("final loss:", history.history['loss'][-1], "acc:", history.history['acc'][-1])
