"""Which Keras 3 operation each ``fgc.ops`` call is, so a functional model that calls ops saves as Keras does.

Keras records ``keras.ops.sum(x, axis=1)`` in a functional model as an operation node: class
``Sum`` of module ``keras.src.ops.numpy``, constructed with the non-tensor arguments
(``{"axis": 1, "keepdims": False}``), called on the tensor arguments (``[x]``). ``KERAS_OPS`` says,
per fgc op, the Keras module, class and which parameters are call arguments (the rest are
constructor arguments). ``install`` wraps each public op so that the ``OpLayer`` it records carries
a ``KerasCall``: that is what the model config writes, and what loading replays.

Composite ops (``std`` is ``sqrt(var(x))``) record their parts, each with its own ``KerasCall``;
internal helpers that record without a public op of their own leave the OpLayer without one, and
writing such a model's config says so.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

from fgc.layers.base import KerasTensor, flatten
from fgc.layers.op_layer import OpLayer

_BINARY = ("x1", "x2")
# fgc op -> (keras.src.ops submodule, Keras class, names of the call arguments); the others are config
KERAS_OPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{name: ("numpy", cls, _BINARY) for name, cls in [
        ("add", "Add"), ("subtract", "Subtract"), ("multiply", "Multiply"), ("divide", "Divide"),
        ("floor_divide", "FloorDivide"), ("mod", "Mod"), ("power", "Power"), ("maximum", "Maximum"),
        ("minimum", "Minimum"), ("equal", "Equal"), ("not_equal", "NotEqual"), ("greater", "Greater"),
        ("greater_equal", "GreaterEqual"), ("less", "Less"), ("less_equal", "LessEqual"),
        ("logical_and", "LogicalAnd"), ("logical_or", "LogicalOr"), ("matmul", "Matmul"), ("dot", "Dot")]},
    **{name: ("numpy", cls, ("x",)) for name, cls in [
        ("negative", "Negative"), ("absolute", "Absolute"), ("square", "Square"), ("sign", "Sign"),
        ("floor", "Floor"), ("ceil", "Ceil"), ("round", "Round"), ("log1p", "Log1p"), ("expm1", "Expm1"),
        ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("tanh", "Tanh"), ("reciprocal", "Reciprocal"),
        ("logical_not", "LogicalNot"), ("clip", "Clip"), ("sum", "Sum"), ("mean", "Mean"), ("max", "Max"),
        ("min", "Min"), ("var", "Var"), ("std", "Std"), ("any", "Any"), ("all", "All"), ("argmax", "Argmax"),
        ("argmin", "Argmin"), ("cumsum", "Cumsum"), ("zeros_like", "ZerosLike"), ("ones_like", "OnesLike"),
        ("reshape", "Reshape"), ("transpose", "Transpose"), ("moveaxis", "Moveaxis"),
        ("expand_dims", "ExpandDims"), ("squeeze", "Squeeze"), ("stack", "Stack"), ("split", "Split"),
        ("repeat", "Repeat"), ("tile", "Tile"), ("flip", "Flip")]},
    "where": ("numpy", "Where", ("condition", "x1", "x2")),
    "concatenate": ("numpy", "Concatenate", ("xs",)),
    "take": ("numpy", "Take", ("x", "indices")),
    "take_along_axis": ("numpy", "TakeAlongAxis", ("x", "indices")),
    "pad": ("numpy", "Pad", ("x", "constant_values")),
    "getitem": ("numpy", "GetItem", ("x", "key")),
    "einsum": ("numpy", "Einsum", ("operands",)),
    "erf": ("math", "Erf", ("x",)),
    "rsqrt": ("math", "Rsqrt", ("x",)),
    "logsumexp": ("math", "Logsumexp", ("x",)),
    "top_k": ("math", "TopK", ("x",)),
    "norm": ("linalg", "Norm", ("x",)),
    "cast": ("core", "Cast", ("x",)),
    "stop_gradient": ("core", "StopGradient", ("variable",)),
    "convert_to_tensor": ("core", "ConvertToTensor", ("x",)),
    **{name: ("nn", cls, ("x",)) for name, cls in [
        ("relu", "Relu"), ("relu6", "Relu6"), ("sigmoid", "Sigmoid"), ("softplus", "Softplus"),
        ("softsign", "Softsign"), ("silu", "Silu"), ("log_sigmoid", "LogSigmoid"), ("hard_sigmoid", "HardSigmoid"),
        ("hard_silu", "HardSilu"), ("selu", "Selu"), ("elu", "Elu"), ("leaky_relu", "LeakyRelu"), ("gelu", "Gelu"),
        ("softmax", "Softmax"), ("log_softmax", "LogSoftmax"), ("one_hot", "OneHot")]},
}
# Keras class -> fgc op, for loading (Keras has both Abs and Absolute, TrueDivide besides Divide, ...)
FGC_OP_OF_CLASS = {cls: name for name, (_, cls, _) in KERAS_OPS.items()}
FGC_OP_OF_CLASS.update({"Abs": "absolute", "TrueDivide": "divide", "Swish": "silu", "HardSwish": "hard_silu",
                        "Amax": "max", "Amin": "min"})


@dataclass
class KerasCall:
    """One op call as Keras records it: ``module.class_name(**config)`` called on ``args``."""

    module: str
    class_name: str
    config: dict
    args: list


def _wrap(fn, op: str):
    submodule, class_name, call_names = KERAS_OPS[op]
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def recorded(*args, **kwargs):
        result = fn(*args, **kwargs)
        layer = _new_op_layer(result, args, kwargs)
        if layer is not None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            call_args = []
            for name in call_names:
                value = values.pop(name)
                call_args += list(value) if name == "operands" else [value]
            layer.keras_call = KerasCall(f"keras.src.ops.{submodule}", class_name, values, call_args)
        return result

    recorded.__wrapped_op__ = op
    return recorded


def _new_op_layer(result, args, kwargs):
    """The OpLayer that made ``result`` when the op just run made it (it has no KerasCall yet), else None."""
    first = result[0] if isinstance(result, (list, tuple)) and result else result
    if not isinstance(first, KerasTensor) or any(first is a for a in flatten([args, kwargs])):
        return None   # an argument handed back unchanged (convert_to_tensor of a tensor, x[...] of everything)
    layer = first._keras_history[0]
    if isinstance(layer, OpLayer) and getattr(layer, "keras_call", None) is None:
        return layer
    return None




def install(*modules) -> None:
    """Replace each public op of ``modules`` (and its aliases, e.g. ``swish`` of ``silu``) by its recording
    wrapper, in place, so operators and ops that call other ops record too (they look names up there)."""
    for module in modules:
        names = vars(module)
        wrapped = {id(names[op]): _wrap(names[op], op) for op in KERAS_OPS
                   if op in names and not hasattr(names[op], "__wrapped_op__")}
        for attr, value in list(names.items()):
            if not attr.startswith("_") and id(value) in wrapped:
                setattr(module, attr, wrapped[id(value)])
