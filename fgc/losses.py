"""``fgc.losses``: Keras 3 losses by name or class."""
from .training.losses import *  # noqa: F401,F403
from .training.losses import LOSSES, Loss, get  # noqa: F401
