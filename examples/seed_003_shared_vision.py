"""Seed 003 (the Keras 1 guide): a shared vision model, visual question answering, video QA.

1. Shared vision model: one conv module (two Convolution2D, a MaxPooling2D, Flatten) encodes two
   MNIST-style digits (1 x 27 x 27) with the same weights; a logistic regression on the
   concatenated codes says whether they show the same digit.
2. Visual QA: a Sequential VGG-like vision model encodes a (3, 224, 224) image, an Embedding + LSTM
   encodes a 100-word question, and a softmax over 1000 answers reads both.
3. Video QA: ``TimeDistributed(vision_model)`` applies the (already built) vision model to every
   frame, an LSTM reads the frame codes, and ``question_encoder`` reuses the question branch.

The seed is channels-first throughout (Keras 1's 'th' ordering: a (1, 27, 27) digit cannot even be
convolved by a 3x3 kernel channels-last), so every conv and pooling layer passes Keras 1's
``dim_ordering='th'``; fgc's default, like Keras 2 and 3, is channels_last. The seed defines no
data and never trains; this example predicts on random data, and trains the digit model and the
video QA model for an epoch to show the shared weights (and TimeDistributed) taking gradients.
Parts 2 and 3 need Embedding and LSTM; they are skipped where fgc lacks them.

    python examples/seed_003_shared_vision.py          # 32 x 32 images, 4-frame videos, small vocabularies
    python examples/seed_003_shared_vision.py --full   # the seed's 224 x 224 images and 100-frame videos (slow)
"""
import argparse
import warnings

import numpy as np

from fgc.layers import Convolution2D, Dense, Flatten, Input, MaxPooling2D, TimeDistributed, merge
from fgc.models import Model, Sequential
from fgc.utils import to_categorical

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="the seed's image, video, vocabulary and answer sizes")
args = parser.parse_args()
if args.full:
    size, frames, words, vocabulary, answers, units, samples = 224, 100, 100, 10000, 1000, 256, 8
else:
    size, frames, words, vocabulary, answers, units, samples = 32, 4, 20, 500, 50, 32, 32
warnings.simplefilter("once", DeprecationWarning)

# ---------------------------------------------------------------- 1. shared vision model
# first, define the vision modules
digit_input = Input(shape=(1, 27, 27))
x = Convolution2D(64, 3, 3, dim_ordering='th')(digit_input)
x = Convolution2D(64, 3, 3, dim_ordering='th')(x)
x = MaxPooling2D((2, 2), dim_ordering='th')(x)
out = Flatten()(x)
vision_model = Model(digit_input, out)

# then define the tell-digits-apart model
digit_a = Input(shape=(1, 27, 27))
digit_b = Input(shape=(1, 27, 27))
# the vision model will be shared, weights and all
out_a = vision_model(digit_a)
out_b = vision_model(digit_b)
concatenated = merge([out_a, out_b], mode='concat')
out = Dense(1, activation='sigmoid')(concatenated)
classification_model = Model([digit_a, digit_b], out)
classification_model.summary()

digits_a, digits_b = np.random.random((samples, 1, 27, 27)), np.random.random((samples, 1, 27, 27))
same = np.random.randint(0, 2, size=(samples, 1))
print("same-digit probabilities:", classification_model.predict([digits_a[:4], digits_b[:4]]).ravel())
classification_model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
classification_model.fit([digits_a, digits_b], same, epochs=1, batch_size=16)

try:
    from fgc.layers import LSTM, Embedding
except ImportError as e:
    print(f"visual and video QA skipped: fgc has no LSTM / Embedding yet ({e})")
    raise SystemExit(0)

# ---------------------------------------------------------------- 2. visual question answering
# first, let's define a vision model using a Sequential model.
# this model will encode an image into a vector.
th = dict(dim_ordering='th')
vision_model = Sequential()
vision_model.add(Convolution2D(64, 3, 3, activation='relu', border_mode='same', input_shape=(3, size, size), **th))
vision_model.add(Convolution2D(64, 3, 3, activation='relu', **th))
vision_model.add(MaxPooling2D((2, 2), **th))
vision_model.add(Convolution2D(128, 3, 3, activation='relu', border_mode='same', **th))
vision_model.add(Convolution2D(128, 3, 3, activation='relu', **th))
vision_model.add(MaxPooling2D((2, 2), **th))
vision_model.add(Convolution2D(256, 3, 3, activation='relu', border_mode='same', **th))
vision_model.add(Convolution2D(256, 3, 3, activation='relu', **th))
vision_model.add(Convolution2D(256, 3, 3, activation='relu', **th))
vision_model.add(MaxPooling2D((2, 2), **th))
vision_model.add(Flatten())

# now let's get a tensor with the output of our vision model:
image_input = Input(shape=(3, size, size))
encoded_image = vision_model(image_input)

# next, let's define a language model to encode the question into a vector.
question_input = Input(shape=(words,), dtype='int32')
embedded_question = Embedding(input_dim=vocabulary, output_dim=units, input_length=words)(question_input)
encoded_question = LSTM(units)(embedded_question)

# let's concatenate the question vector and the image vector:
merged = merge([encoded_question, encoded_image], mode='concat')
# and let's train a logistic regression over the answers on top:
output = Dense(answers, activation='softmax')(merged)
# this is our final model:
vqa_model = Model(input=[image_input, question_input], output=output)
vqa_model.summary()

images = np.random.random((2, 3, size, size))
questions = np.random.randint(1, vocabulary, size=(2, words))
print("VQA answer distribution:", vqa_model.predict([images, questions]).shape)

# ---------------------------------------------------------------- 3. video question answering
video_input = Input(shape=(frames, 3, size, size))
# this is our video encoded via the previously trained vision_model (weights are reused)
encoded_frame_sequence = TimeDistributed(vision_model)(video_input)   # the output will be a sequence of vectors
encoded_video = LSTM(units)(encoded_frame_sequence)   # the output will be a vector
# this is a model-level representation of the question encoder, reusing the same weights as before:
question_encoder = Model(input=question_input, output=encoded_question)
# let's use it to encode the question:
video_question_input = Input(shape=(words,), dtype='int32')
encoded_video_question = question_encoder(video_question_input)
# and this is our video question answering model:
merged = merge([encoded_video, encoded_video_question], mode='concat')
output = Dense(answers, activation='softmax')(merged)
video_qa_model = Model(input=[video_input, video_question_input], output=output)
video_qa_model.summary()

n_videos = 2 if args.full else 8
videos = np.random.random((n_videos, frames, 3, size, size))
video_questions = np.random.randint(1, vocabulary, size=(n_videos, words))
video_answers = to_categorical(np.random.randint(0, answers, size=(n_videos,)), answers)
print("video QA answer distribution:", video_qa_model.predict([videos, video_questions]).shape)
video_qa_model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
before = vision_model.get_weights()[0].copy()
video_qa_model.fit([videos, video_questions], video_answers, epochs=1, batch_size=4)
print("the shared vision model was trained through TimeDistributed:",
      not np.allclose(before, vision_model.get_weights()[0]))
