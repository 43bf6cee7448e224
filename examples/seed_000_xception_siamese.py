"""Seeds 000/001/004: a shared Xception convolutional base on two camera inputs (models as layers).

Run: python examples/seed_000_xception_siamese.py [--full]   (--full: the seed's 250 x 250 images)
"""
import argparse

import numpy as np

from fgc import Input, applications, layers
from fgc.models import Model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="250 x 250 images, as in the seed")
args = parser.parse_args()
size = 250 if args.full else 71  # 71 x 71 is Xception's smallest input

# The base image-processing model is the Xception network (convolutional base only).
xception_base = applications.Xception(weights=None, include_top=False)

left_input = Input(shape=(size, size, 3))
right_input = Input(shape=(size, size, 3))

# Calls the same vision model twice. (The seed wrote `right_input = xception_base(right_input)`,
# reusing the input's name for the features; fgc accepts that too, but we keep the names apart.)
left_features = xception_base(left_input)
right_features = xception_base(right_input)

merged_features = layers.concatenate([left_features, right_features], axis=-1)
model = Model([left_input, right_input], merged_features)
print(f"Xception base weights: {xception_base.count_params():,}; two-camera model weights: {model.count_params():,}")

images = np.random.random((1, size, size, 3))
features = model.predict([images, images])
same = np.allclose(features[..., :2048], features[..., 2048:])
print(f"merged features: {features.shape}; identical cameras give identical halves: {same}")
