"""Trilu: the triangle of the last two axes (ONNX ``Trilu``; ``upper`` 0 keeps j <= i + k, 1 keeps
j >= i + k); used to build causal attention masks,
so it carries no gradient."""
from __future__ import annotations

from fgc.ir.types import ShapeError

from .registry import primitive


def _trilu_infer(types, attrs):
    if types[0].rank < 2:
        raise ShapeError(f"Trilu needs a tensor of rank >= 2, got {types[0]}")
    return [types[0]]


primitive("Trilu", _trilu_infer, nondiff="builds masks from constants", attr_inputs=("k",))
