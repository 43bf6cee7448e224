"""Seeds 003, 000 and 004: Inception modules.

Seed 003 (the Keras 1 guide) writes a three-tower module with ``Convolution2D(64, 1, 1,
border_mode='same')``, ``MaxPooling2D(..., border_mode='same')`` and ``merge(..., mode='concat',
concat_axis=1)`` on channels-first images ``Input(shape=(3, 256, 256))``. Those spellings work in
fgc (each with a DeprecationWarning naming the Keras 3 spelling). The layout does not come for
free: fgc's default, like Keras 2 and 3, is channels_last, so the channels-first program says so
with Keras 1's own keyword ``dim_ordering='th'`` (Keras 1 read it from keras.json).

Seeds 000 and 004 write an Inception-V3-style module with four stride-2 branches and
``concatenate(axis=-1)``. As printed it cannot run, in Keras or here: with the default 'valid'
padding the branches come out 16, 15, 13 and 14 pixels wide. fgc says so, naming the shapes; the
module as Inception V3 has it uses padding='same', and then all branches agree.

    python examples/seed_003_inception.py          # 32 x 32 images
    python examples/seed_003_inception.py --full   # the seed's 3 x 256 x 256 images (slow on CPU)
"""
import argparse
import warnings

import numpy as np

from fgc import Input, layers
from fgc.layers import Convolution2D, MaxPooling2D, merge
from fgc.models import Model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="the seed's 256 x 256 images")
args = parser.parse_args()
size = 256 if args.full else 32
warnings.simplefilter("once", DeprecationWarning)

# ---------------------------------------------------------------- seed 003, Keras 1 spelling
input_img = Input(shape=(3, size, size))
tower_1 = Convolution2D(64, 1, 1, border_mode='same', activation='relu', dim_ordering='th')(input_img)
tower_1 = Convolution2D(64, 3, 3, border_mode='same', activation='relu', dim_ordering='th')(tower_1)
tower_2 = Convolution2D(64, 1, 1, border_mode='same', activation='relu', dim_ordering='th')(input_img)
tower_2 = Convolution2D(64, 5, 5, border_mode='same', activation='relu', dim_ordering='th')(tower_2)
tower_3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode='same', dim_ordering='th')(input_img)
tower_3 = Convolution2D(64, 1, 1, border_mode='same', activation='relu', dim_ordering='th')(tower_3)
output = merge([tower_1, tower_2, tower_3], mode='concat', concat_axis=1)

inception = Model(input=input_img, output=output)
inception.summary()
images = np.random.random((2, 3, size, size))
features = inception.predict(images)
print("seed 003 module:", images.shape, "->", features.shape)   # (2, 192, size, size)

# ---------------------------------------------------------------- seeds 000 / 004, as printed
x = Input(shape=(size, size, 64))
try:
    branch_a = layers.Conv2D(128, 1, activation='relu', strides=2)(x)
    branch_b = layers.Conv2D(128, 1, activation='relu')(x)
    branch_b = layers.Conv2D(128, 3, activation='relu', strides=2)(branch_b)
    branch_c = layers.AveragePooling2D(3, strides=2)(x)
    branch_c = layers.Conv2D(128, 3, activation='relu')(branch_c)
    branch_d = layers.Conv2D(128, 1, activation='relu')(x)
    branch_d = layers.Conv2D(128, 3, activation='relu')(branch_d)
    branch_d = layers.Conv2D(128, 3, activation='relu', strides=2)(branch_d)
    output = layers.concatenate([branch_a, branch_b, branch_c, branch_d], axis=-1)
except ValueError as e:
    print(f"\nseeds 000/004 as printed: {e}\n")

# ---------------------------------------------------------------- seeds 000 / 004, with padding='same'
# Every branch has the same stride value (2), which is necessary to
# keep all branch outputs the same size so you can concatenate them.
branch_a = layers.Conv2D(128, 1, activation='relu', strides=2, padding='same')(x)
# In this branch, the striding occurs in the spatial convolution layer.
branch_b = layers.Conv2D(128, 1, activation='relu', padding='same')(x)
branch_b = layers.Conv2D(128, 3, activation='relu', strides=2, padding='same')(branch_b)
# In this branch, the striding occurs in the average pooling layer.
branch_c = layers.AveragePooling2D(3, strides=2, padding='same')(x)
branch_c = layers.Conv2D(128, 3, activation='relu', padding='same')(branch_c)
branch_d = layers.Conv2D(128, 1, activation='relu', padding='same')(x)
branch_d = layers.Conv2D(128, 3, activation='relu', padding='same')(branch_d)
branch_d = layers.Conv2D(128, 3, activation='relu', strides=2, padding='same')(branch_d)
# Concatenates the branch outputs to obtain the module output
output = layers.concatenate([branch_a, branch_b, branch_c, branch_d], axis=-1)

module = Model(x, output)
module.summary()
maps = np.random.random((2, size, size, 64))
print("seeds 000/004 module:", maps.shape, "->", module.predict(maps).shape)   # (2, size/2, size/2, 512)
