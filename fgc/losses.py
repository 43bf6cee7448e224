"""``fgc.losses``: Keras 3 losses by name or class."""
from .training.losses import *  # noqa: F401,F403
from .training.losses import LOSSES, Loss, deserialize, get, serialize  # noqa: F401
