"""The IR: typed SSA values on a networkx graph, a printer and a verifier."""
from .graph import Graph, ParamSpec, Value, attrs_key
from .printer import op_path, print_graph
from .types import BATCH, ShapeError, TensorType, canonical_dtype
from .verify import VerifyError, infer_node, verify

__all__ = ["Graph", "ParamSpec", "Value", "attrs_key", "op_path", "print_graph", "BATCH", "ShapeError",
           "TensorType", "canonical_dtype", "VerifyError", "infer_node", "verify"]
