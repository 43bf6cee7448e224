"""Seeds 000, 001 and 004: residual connections on convolution feature maps; seed 003: the Keras 1
version on a channels-first image.

1. Identity residual: three 3x3 'same' convolutions with 128 filters keep the feature map's shape,
   so ``layers.add([y, x])`` sums it with the input (the seeds assume "a 4D input tensor x" with
   128 channels; here x = Input(shape=(size, size, 128))).
2. Linear residual: when a MaxPooling2D(2, strides=2) halves the map, a strided 1x1 convolution
   brings x to the same shape before the sum.
3. Seed 003 (Keras 1): ``Convolution2D(3, 3, 3, border_mode='same')`` on ``Input(shape=(3, 256,
   256))`` then ``merge([x, y], mode='sum')``. That program is channels-first (3 output filters can
   only match the input in 'th' ordering), so it passes Keras 1's ``dim_ordering='th'``; fgc's
   default is channels_last, as in Keras 2 and 3.

The seeds build and stop there; this example also predicts, and trains the first model briefly
on random data to show the gradient flowing through both paths of the sum.

    python examples/seed_000_residual.py          # 16 x 16 maps, 32 samples
    python examples/seed_000_residual.py --full   # the seed's 256 x 256 image for the Keras 1 model
"""
import argparse
import warnings

import numpy as np

from fgc import Input, layers
from fgc.layers import Convolution2D, merge
from fgc.models import Model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="the seed's 3 x 256 x 256 image for the Keras 1 model")
args = parser.parse_args()
size, image = 16, (256 if args.full else 32)
warnings.simplefilter("once", DeprecationWarning)

# ---------------------------------------------------------------- 1. identity residual
x = Input(shape=(size, size, 128))
# Applies a transformation to x
y = layers.Conv2D(128, 3, activation='relu', padding='same')(x)
y = layers.Conv2D(128, 3, activation='relu', padding='same')(y)
y = layers.Conv2D(128, 3, activation='relu', padding='same')(y)
# Adds the original x back to the output features
y = layers.add([y, x])
identity = Model(x, y)
identity.summary()

maps = np.random.random((32, size, size, 128))
print("identity residual:", maps.shape, "->", identity.predict(maps).shape)
identity.compile(optimizer='rmsprop', loss='mse')
history = identity.fit(maps, maps + 0.1 * np.random.random(maps.shape), epochs=2, batch_size=16)

# ---------------------------------------------------------------- 2. linear residual
x = Input(shape=(size, size, 64))
y = layers.Conv2D(128, 3, activation='relu', padding='same')(x)
y = layers.Conv2D(128, 3, activation='relu', padding='same')(y)
y = layers.MaxPooling2D(2, strides=2)(y)
# Uses a 1 x 1 convolution to linearly downsample the original x tensor to the same shape as y
residual = layers.Conv2D(128, 1, strides=2, padding='same')(x)
# Adds the residual tensor back to the output features
y = layers.add([y, residual])
linear = Model(x, y)
linear.summary()
print("linear residual:", (2, size, size, 64), "->", linear.predict(np.random.random((2, size, size, 64))).shape)

# ---------------------------------------------------------------- 3. seed 003, Keras 1
# input tensor for a 3-channel image
x = Input(shape=(3, image, image))
# 3x3 conv with 3 output channels (same as input channels)
y = Convolution2D(3, 3, 3, border_mode='same', dim_ordering='th')(x)
# this returns x + y.
z = merge([x, y], mode='sum')
keras1 = Model(input=x, output=z)
keras1.summary()
picture = np.random.random((1, 3, image, image))
print("Keras 1 residual:", picture.shape, "->", keras1.predict(picture).shape)
