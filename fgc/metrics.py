"""``fgc.metrics``: Keras 3 metrics by name or class."""
from .training.metrics import *  # noqa: F401,F403
from .training.metrics import METRICS, Metric, deserialize, get, serialize  # noqa: F401
