"""Seed 003 (the Keras 1 functional-API guide): the headline model with a main input (the headline's
word ids), an auxiliary input (5 extra features) and two outputs, the auxiliary loss weighted 0.2.

Written with the seed's Keras 1 spellings, which fgc accepts (each with a DeprecationWarning that
names the Keras 3 spelling): ``merge([...], mode='concat')``, ``Model(input=..., output=...)`` and
``fit(..., nb_epoch=...)``. The seed never defines its data; random data stands in for it.

    python examples/seed_003_headline_model.py          # 64 headlines, 2 epochs
    python examples/seed_003_headline_model.py --full   # 1000 headlines, the seed's 50 epochs (minutes)
"""
import argparse

import numpy as np

from fgc.layers import Dense, Embedding, Input, LSTM, merge
from fgc.models import Model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="1000 samples and the seed's 50 epochs")
args = parser.parse_args()
num_samples, nb_epoch = (1000, 50) if args.full else (64, 2)

# headline input: meant to receive sequences of 100 integers, between 1 and 10000.
# note that we can name any layer by passing it a "name" argument.
main_input = Input(shape=(100,), dtype='int32', name='main_input')
# this embedding layer will encode the input sequence
# into a sequence of dense 512-dimensional vectors.
x = Embedding(output_dim=512, input_dim=10000, input_length=100)(main_input)
# a LSTM will transform the vector sequence into a single vector,
# containing information about the entire sequence
lstm_out = LSTM(32)(x)

auxiliary_loss = Dense(1, activation='sigmoid', name='aux_output')(lstm_out)

auxiliary_input = Input(shape=(5,), name='aux_input')
x = merge([lstm_out, auxiliary_input], mode='concat')
# we stack a deep fully-connected network on top
x = Dense(64, activation='relu')(x)
x = Dense(64, activation='relu')(x)
x = Dense(64, activation='relu')(x)
# and finally we add the main logistic regression layer
main_loss = Dense(1, activation='sigmoid', name='main_output')(x)

model = Model(input=[main_input, auxiliary_input], output=[main_loss, auxiliary_loss])

model.compile(optimizer='rmsprop', loss='binary_crossentropy',
              loss_weights=[1., 0.2])

headline_data = np.random.randint(1, 10000, size=(num_samples, 100))
additional_data = np.random.random((num_samples, 5))
labels = np.random.randint(0, 2, size=(num_samples, 1))

history = model.fit([headline_data, additional_data], [labels, labels],
                    nb_epoch=nb_epoch, batch_size=32)
print("list form, history keys:", sorted(history.history))

# Since our inputs and outputs are named, the dict form works too:
model.compile(optimizer='rmsprop',
              loss={'main_output': 'binary_crossentropy', 'aux_output': 'binary_crossentropy'},
              loss_weights={'main_output': 1., 'aux_output': 0.2})
history = model.fit({'main_input': headline_data, 'aux_input': additional_data},
                    {'main_output': labels, 'aux_output': labels},
                    nb_epoch=nb_epoch, batch_size=32)
print("dict form, history keys:", sorted(history.history))
h = {k: v[-1] for k, v in history.history.items()}
print(f"loss {h['loss']:.4f} = main_output_loss {h['main_output_loss']:.4f} + 0.2 * aux_output_loss "
      f"{h['aux_output_loss']:.4f}")
