"""Primitives: ONNX-level ops, each with a shape rule, a vjp (or a reason it has none) and an emission."""
from . import control, conv, elementwise, linalg, random_ops, recurrent_ops, reduce, shape_ops  # noqa: F401  (registration)
from . import mask_ops, noise_ops, normalization_ops  # noqa: F401,E402  (registration)
from .builder import Builder
from .registry import OPS, OpDef, OpView, get, primitive, view

__all__ = ["Builder", "OPS", "OpDef", "OpView", "get", "primitive", "view"]
