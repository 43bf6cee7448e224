"""``fgc.callbacks``: Keras callbacks."""
from .training.callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback,  # noqa: F401
                                 LearningRateScheduler, ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau,
                                 TerminateOnNaN)
from .training.callbacks_more import BackupAndRestore, RemoteMonitor, SwapEMAWeights  # noqa: F401
from .training.tensorboard import TensorBoard  # noqa: F401
