"""Types with symbolic dims and the Graph's mutation helpers."""
import numpy as np
import pytest

from fgc.ir import Graph, ShapeError, TensorType, Value, attrs_key, canonical_dtype, verify
from fgc.ir.types import broadcast_shapes, dims_compatible, product
from fgc.primitives import Builder


def test_tensor_type_text_and_keras_shape():
    t = TensorType(("N", "T0", 3), "float32")
    assert str(t) == "f32[N,T0,3]"
    assert t.keras_shape() == (None, None, 3)
    assert t.rank == 3 and t.numel() is None
    assert TensorType((2, 3), "int64").numel() == 6
    assert str(TensorType((), "bool")) == "bool[]"


@pytest.mark.parametrize("shapes, want", [
    ([("N", 3), (3,)], ("N", 3)),
    ([("N", 1, 4), ("N", 5, 1)], ("N", 5, 4)),
    ([("N", 3), ("N", 3)], ("N", 3)),
    ([(1,), ("N", 2, 1)], ("N", 2, 1)),
    ([("N", 3), ("M", 3)], ("N", 3)),   # two unknowns are checked by onnxruntime at run time
])
def test_broadcast_shapes(shapes, want):
    assert broadcast_shapes(*shapes) == want


def test_broadcast_errors():
    with pytest.raises(ShapeError, match=r"dims 3 and 4 cannot be broadcast"):
        broadcast_shapes(("N", 3), ("N", 4))
    with pytest.raises(ShapeError, match=r"dims N and 4 cannot be broadcast"):
        broadcast_shapes(("N",), (4,))


def test_product_and_compatibility():
    assert product([2, 3, 4]) == 24
    assert product(["N", 3, "T0"]) == "3*N*T0"
    assert product([1, "N"]) == "N"
    assert dims_compatible("N", 4) and dims_compatible(4, 4) and not dims_compatible(3, 4)


def test_canonical_dtype():
    assert canonical_dtype(np.float32) == "float32"
    assert canonical_dtype("int32") == "int32"
    assert canonical_dtype(None) == "float32"
    with pytest.raises(TypeError, match=r"unsupported dtype 'complex64'"):
        canonical_dtype(np.complex64)


def _chain():
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 3)))
    b = Builder(g, "b")
    r = b.Relu(x)
    y = b.Add(r, r)                      # one value read twice: two parallel edges
    g.outputs, g.output_names = [y], ["y"]
    return g, x, r, y


def test_one_value_feeding_an_op_twice():
    g, x, r, y = _chain()
    verify(g)
    assert g.users(r.node) == [(y.node, 0), (y.node, 1)]
    assert g.nx.number_of_edges(r.node, y.node) == 2


def test_replace_uses_rewires_ops_and_outputs():
    g, x, r, y = _chain()
    n = Builder(g, "c").Neg(x)
    g.replace_uses(r, n)
    verify(g)
    assert g.node(y.node)["inputs"] == (n, n)
    assert g.users(r.node) == []
    g.replace_uses(y, r)
    assert g.outputs == [r]


def test_remove_node_refuses_used_values_and_inputs():
    g, x, r, y = _chain()
    with pytest.raises(ValueError, match=r"cannot remove b/Relu: it still has users"):
        g.remove_node(r.node)
    g.add_input("unused", TensorType(("N", 2)))
    with pytest.raises(ValueError, match=r"unused is a graph input and cannot be removed"):
        g.remove_node("unused")
    g.outputs = [r]
    g.remove_node(y.node)
    assert y.node not in g


def test_unique_names_and_missing_inputs():
    g, x, r, y = _chain()
    assert g.unique_name("b/Relu") == "b/Relu_1"
    assert g.unique_name("fresh") == "fresh"
    with pytest.raises(KeyError, match=r"reads missing value"):
        g.add_node("bad", "Relu", [Value("nowhere")], [TensorType(("N", 3))])


def test_copy_is_independent():
    g, x, r, y = _chain()
    c = g.copy()
    Builder(c, "extra").Neg(x)
    c.node(r.node)["attrs"]["note"] = 1
    assert len(c.nx) == len(g.nx) + 1
    assert "note" not in g.node(r.node)["attrs"]
    # new nodes in the copy sort after the old ones
    assert c.topo_order()[-1].startswith("extra/")
    verify(c)


def test_attrs_key_is_order_independent_and_compares_arrays_by_content():
    a = attrs_key({"perm": [0, 2, 1], "value": np.array([1.0, 2.0])})
    b = attrs_key({"value": np.array([1.0, 2.0]), "perm": (0, 2, 1)})
    assert a == b and hash(a) == hash(b)
    assert attrs_key({"value": np.array([1.0, 2.5])}) != attrs_key({"value": np.array([1.0, 2.0])})
