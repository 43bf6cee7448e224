"""``fgc.losses``: Keras 3 losses by name or class, their function forms, and the bases for your own."""
from .training.losses import *  # noqa: F401,F403
from .training.losses import FUNCTIONS, LOSSES, Loss, LossFunctionWrapper, deserialize, get, serialize  # noqa: F401
from .training.losses import (  # noqa: F401
    binary_crossentropy, binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    categorical_generalized_cross_entropy, categorical_hinge, circle, cosine_similarity, ctc, dice, hinge, huber,
    kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
    mean_squared_logarithmic_error, poisson, sparse_categorical_crossentropy, squared_hinge, tversky)
