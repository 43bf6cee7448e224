"""Keras layers (Keras 3 names), their function forms, and the Keras 1/2 spellings the seeds use."""
from .base import Input, InputLayer, KerasTensor, Layer, Variable
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                    maximum, merge, minimum, multiply, subtract)

__all__ = ["Input", "InputLayer", "KerasTensor", "Layer", "Variable", "Activation", "Dense", "Dropout", "Flatten",
           "Reshape", "Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract", "add",
           "average", "concatenate", "maximum", "merge", "minimum", "multiply", "subtract"]
from .embedding import Embedding  # noqa: E402
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN  # noqa: E402

__all__ += ["Embedding", "GRU", "LSTM", "Bidirectional", "SimpleRNN"]
from .reshaping import Masking, Permute, RepeatVector  # noqa: E402

__all__ += ["Masking", "Permute", "RepeatVector"]
