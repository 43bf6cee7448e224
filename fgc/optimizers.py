"""``fgc.optimizers``: Keras 3 optimizers and learning-rate schedules."""
from .training import schedules  # noqa: F401
from .training.optimizers import *  # noqa: F401,F403
from .training.optimizers import Optimizer, deserialize, get, serialize  # noqa: F401
from .training.optimizers import __all__  # noqa: F401
from .training.loss_scale import LossScaleOptimizer  # noqa: F401

__all__ = [*__all__, "LossScaleOptimizer"]
