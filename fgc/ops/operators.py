"""Python operators on symbolic tensors and on weights, each one ``fgc.ops`` call.

``x + y``, ``x @ w``, ``-x``, ``x[1:, None]``, ``x < 0``... on a KerasTensor record the op; on a
weight (a ``Variable``) inside a subclassed layer's ``call`` they read the weight as a tensor,
and outside any trace they compute on its current value. ``==`` and ``!=`` keep Python's
identity meaning (tensors are used as dict keys and in lists; Keras' KerasTensor defines ``!=``
but not ``==`` either); ``!=`` records ``not_equal`` as in Keras.
"""
from __future__ import annotations

from fgc.layers.base import KerasTensor
from fgc.variables import Variable

from . import numpy as np_ops
from .shape import getitem


def _swap(op):
    return lambda self, other: op(other, self)


OPERATORS = {
    "__add__": np_ops.add, "__radd__": _swap(np_ops.add),
    "__sub__": np_ops.subtract, "__rsub__": _swap(np_ops.subtract),
    "__mul__": np_ops.multiply, "__rmul__": _swap(np_ops.multiply),
    "__truediv__": np_ops.divide, "__rtruediv__": _swap(np_ops.divide),
    "__floordiv__": np_ops.floor_divide, "__rfloordiv__": _swap(np_ops.floor_divide),
    "__mod__": np_ops.mod, "__rmod__": _swap(np_ops.mod),
    "__pow__": np_ops.power, "__rpow__": _swap(np_ops.power),
    "__matmul__": np_ops.matmul, "__rmatmul__": _swap(np_ops.matmul),
    "__lt__": np_ops.less, "__le__": np_ops.less_equal, "__gt__": np_ops.greater, "__ge__": np_ops.greater_equal,
    "__ne__": np_ops.not_equal,
    "__and__": np_ops.logical_and, "__rand__": _swap(np_ops.logical_and),
    "__or__": np_ops.logical_or, "__ror__": _swap(np_ops.logical_or),
    "__neg__": np_ops.negative, "__abs__": np_ops.absolute, "__invert__": np_ops.logical_not,
    "__xor__": lambda x, y: np_ops.not_equal(np_ops.cast(x, "bool"), np_ops.cast(y, "bool")),
    "__round__": lambda x, ndigits=None: np_ops.round(x),
    "__pos__": lambda x: x,
    "__getitem__": getitem,
}

for _cls in (KerasTensor, Variable):
    for _name, _fn in OPERATORS.items():
        setattr(_cls, _name, _fn)
    # numpy must hand ``array + tensor`` to the tensor's reflected operator, not loop over it
    _cls.__array_ufunc__ = None
