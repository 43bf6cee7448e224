"""Dtype policies (Keras 3's ``keras.dtype_policies``): a layer's compute dtype and variable dtype.

``"mixed_float16"`` computes in float16 and keeps variables in float32; ``"mixed_bfloat16"`` the
same with bfloat16; any other name is one dtype for both. The global policy is what a layer
created without ``dtype=`` takes (``set_dtype_policy`` / ``dtype_policy``).
"""
from __future__ import annotations

import numpy as np

_MIXED = {"mixed_float16": ("float16", "float32"), "mixed_bfloat16": ("bfloat16", "float32")}
# numpy has no bfloat16; the name is still a valid policy (its compute is refused at lowering).
_NAMES_NUMPY_LACKS = ("bfloat16",)


def _standard_dtype(name: str) -> str:
    if name in _NAMES_NUMPY_LACKS:
        return name
    from fgc.ir.types import canonical_dtype

    return canonical_dtype(name)


class DTypePolicy:
    """``DTypePolicy(name)``: ``name`` is ``"mixed_float16"``, ``"mixed_bfloat16"`` or a dtype name
    (``"float32"``...); None takes the global policy's name."""

    def __init__(self, name=None):
        if name is None:
            name = dtype_policy().name
        if not isinstance(name, str):
            raise TypeError(f"'name' must be a string, such as 'mixed_float16'. Received: name={name!r} "
                            f"(of type {type(name).__name__})")
        self._name = name
        self._compute_dtype, self._variable_dtype = self._parse_name(name)

    @staticmethod
    def _parse_name(name: str) -> tuple[str, str]:
        if name in _MIXED:
            return _MIXED[name]
        try:
            dtype = _standard_dtype(name)
        except TypeError:
            raise ValueError(f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid policies include "
                             f"'mixed_float16', 'mixed_bfloat16', and the name of any float dtype such as "
                             f"'float32'.") from None
        return dtype, dtype

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self._variable_dtype

    @property
    def quantization_mode(self):
        return None

    @property
    def is_mixed(self) -> bool:
        """Whether computations and variables have different dtypes (layers then autocast)."""
        return self._compute_dtype != self._variable_dtype

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other) -> bool:
        return isinstance(other, DTypePolicy) and self._name == other._name

    def __hash__(self) -> int:
        return hash(self._name)


class FloatDTypePolicy(DTypePolicy):
    """Keras' alias of DTypePolicy (older files name it)."""


_global_policy: DTypePolicy | None = None


def set_dtype_policy(policy) -> None:
    """Set the policy layers made without ``dtype=`` take: a name (``"mixed_float16"``) or a DTypePolicy."""
    global _global_policy
    if isinstance(policy, str):
        policy = DTypePolicy(policy)
    elif not isinstance(policy, DTypePolicy):
        raise ValueError(f"Invalid `policy` argument. Expected the string name of a policy (such as "
                         f"'mixed_float16') or a `DTypePolicy` instance. Received: policy={policy!r} "
                         f"(of type {type(policy).__name__})")
    _global_policy = policy


def dtype_policy() -> DTypePolicy:
    """The global policy (float32 until ``set_dtype_policy`` is called)."""
    global _global_policy
    if _global_policy is None:
        _global_policy = DTypePolicy("float32")
    return _global_policy


def reset_global_policy() -> None:
    """Back to the float32 default (``fgc.utils.clear_session``)."""
    global _global_policy
    _global_policy = None


def serialize(policy: DTypePolicy) -> dict:
    """A policy as Keras 3 writes it in a layer config."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(), "registered_name": None}


def deserialize(config: dict) -> DTypePolicy:
    """A policy from its serialized form (Keras writes DTypePolicy, older files FloatDTypePolicy)."""
    class_name = config.get("class_name")
    if class_name not in ("DTypePolicy", "FloatDTypePolicy"):
        raise ValueError(f"unsupported dtype policy {class_name!r}: fgc reads DTypePolicy configs and dtype names "
                         f"(quantized policies are not supported)")
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("name"), str):
        raise ValueError(f"a serialized DTypePolicy needs config={{'name': ...}}, got {inner!r}")
    return DTypePolicy(inner["name"])


def get(identifier) -> DTypePolicy:
    """A policy from None (the global one), a name, a serialized dict, a numpy dtype or a policy."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(np.dtype(identifier).name)
    except TypeError:
        raise ValueError(f"Cannot interpret `dtype` argument. Expected a string or an instance of DTypePolicy. "
                         f"Received: dtype={identifier!r}") from None


__all__ = ["DTypePolicy", "FloatDTypePolicy", "set_dtype_policy", "dtype_policy", "serialize", "deserialize", "get"]
