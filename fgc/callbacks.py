"""``fgc.callbacks``: Keras callbacks."""
from .training.callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback,  # noqa: F401
                                 LearningRateScheduler, ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau,
                                 TerminateOnNaN)
