"""``fgc.models``: Model and Sequential, as in ``keras.models``."""
from .functional import Model, Sequential

__all__ = ["Model", "Sequential"]
