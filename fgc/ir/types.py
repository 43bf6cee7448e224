"""Tensor types of the IR: a dtype and a shape whose dims are ints or named symbols.

The batch dim is the symbol ``N`` shared by every input of a model; other unknown dims
get fresh names (``T0``, ``T1``, ...). Symbols export as ONNX ``dim_param``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

Dim = int | str

# IR dtype name -> (short printed name, numpy dtype, ONNX TensorProto enum)
_DTYPES = {
    "float32": ("f32", np.float32, 1),
    "float64": ("f64", np.float64, 11),
    "float16": ("f16", np.float16, 10),
    "int32": ("i32", np.int32, 6),
    "int64": ("i64", np.int64, 7),
    "int8": ("i8", np.int8, 3),
    "uint8": ("u8", np.uint8, 2),
    "bool": ("bool", np.bool_, 9),
}
FLOAT_DTYPES = ("float32", "float64", "float16")
INT_DTYPES = ("int32", "int64", "int8", "uint8")

BATCH = "N"
_fresh = itertools.count()


class ShapeError(ValueError):
    """A shape or dtype that does not fit where it is used (user-facing)."""


def fresh_symbol(prefix: str = "T") -> str:
    return f"{prefix}{next(_fresh)}"


def canonical_dtype(dtype) -> str:
    """Accept 'float32', np.float32, np.dtype('int32'), 'int' ... and return the IR name."""
    if dtype is None:
        return "float32"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}") from None
    if name not in _DTYPES:
        raise TypeError(f"unsupported dtype {name!r}; expected one of {sorted(_DTYPES)}")
    return name


def numpy_dtype(dtype: str):
    return _DTYPES[dtype][1]


def onnx_dtype(dtype: str) -> int:
    return _DTYPES[dtype][2]


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


@dataclass(frozen=True)
class TensorType:
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype)

    def with_dtype(self, dtype: str) -> "TensorType":
        return TensorType(self.shape, dtype)

    def keras_shape(self) -> tuple:
        """The shape a Keras user sees: every symbol is None."""
        return tuple(d if isinstance(d, int) else None for d in self.shape)

    def numel(self) -> int | None:
        if all(isinstance(d, int) for d in self.shape):
            return int(np.prod(self.shape, dtype=np.int64))
        return None

    def __str__(self) -> str:
        return f"{_DTYPES[self.dtype][0]}[{','.join(str(d) for d in self.shape)}]"


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {rank}")
    return axis % rank


def broadcast_dims(a: Dim, b: Dim) -> Dim:
    """One dim of numpy broadcasting; symbols are unknown but assumed to match each other."""
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    if isinstance(a, str) and isinstance(b, str):
        return a  # two unknowns: onnxruntime checks them at run time
    raise ShapeError(f"dims {a} and {b} cannot be broadcast together")


def broadcast_shapes(*shapes: tuple[Dim, ...]) -> tuple[Dim, ...]:
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        d = dims[0]
        for other in dims[1:]:
            d = broadcast_dims(d, other)
        out.append(d)
    return tuple(out)


def dims_compatible(a: Dim, b: Dim) -> bool:
    """True unless two dims are known to differ (a symbol may stand for anything)."""
    return a == b or isinstance(a, str) or isinstance(b, str)


def estimated_size(shape, symbol: int = 32) -> int:
    """Elements of a tensor of ``shape``, each symbolic factor counted as ``symbol`` (a batch of 32, as
    Keras' default): for rules that pick a formulation by size before the sizes are known."""
    count = 1
    for dim in shape:
        for factor in str(dim).split("*"):
            count *= int(factor) if factor.isdigit() else symbol
    return count


def product(dims) -> Dim:
    """Product of dims; symbolic when any dim is a symbol (e.g. 'N*T0')."""
    known, syms = 1, []
    for d in dims:
        if isinstance(d, int):
            known *= d
        else:
            syms.append(d)
    if not syms:
        return known
    return "*".join(([str(known)] if known != 1 else []) + syms)
