"""ReshapeLike / ExpandLike emit a constant target where the types give it (a symbolic batch copied or
broadcast), so a train step pays no Shape node for them; otherwise they read Shape(x) at run time."""
import numpy as np
import onnxruntime as ort
import pytest

from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType
from fgc.primitives import Builder

rng = np.random.default_rng(0)


def _run(build, in_shapes, feeds):
    g = Graph("t")
    ins = [g.add_input(f"in{i}", TensorType(s, "float32")) for i, s in enumerate(in_shapes)]
    g.outputs, g.output_names = [build(Builder(g, "t"), *ins)], ["y"]
    proto = to_onnx(g)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {f"in{i}": a for i, a in enumerate(feeds)})[0], {n.op_type for n in proto.graph.node}


@pytest.mark.parametrize("batch", [1, 4])
def test_reshape_like_with_a_symbolic_batch_needs_no_shape(batch):
    x, like = rng.standard_normal((batch, 6, 4)).astype(np.float32), np.zeros((batch, 3, 8), np.float32)
    got, ops = _run(lambda b, x, t: b.ReshapeLike(x, t), [("N", 6, 4), ("N", 3, 8)], [x, like])
    np.testing.assert_array_equal(got, x.reshape(batch, 3, 8))
    assert "Shape" not in ops


@pytest.mark.parametrize("batch", [1, 3])
def test_reshape_like_with_two_unknown_dims_reads_the_shape(batch):
    x, like = rng.standard_normal((batch * 5, 4)).astype(np.float32), np.zeros((batch, 5, 4), np.float32)
    got, ops = _run(lambda b, x, t: b.ReshapeLike(x, t), [("R", 4), ("N", "T", 4)], [x, like])
    np.testing.assert_array_equal(got, x.reshape(batch, 5, 4))
    assert "Shape" in ops


@pytest.mark.parametrize("batch", [1, 4])
def test_expand_like_broadcasts_the_batch_from_the_input(batch):
    x, like = rng.standard_normal((batch, 1, 4)).astype(np.float32), np.zeros((batch, 5, 4), np.float32)
    got, ops = _run(lambda b, x, t: b.ExpandLike(x, t), [("N", 1, 4), ("N", 5, 4)], [x, like])
    np.testing.assert_array_equal(got, np.broadcast_to(x, (batch, 5, 4)))
    assert "Shape" not in ops


@pytest.mark.parametrize("batch", [1, 3])
def test_expand_like_to_a_symbol_the_input_lacks_reads_the_shape(batch):
    x, like = rng.standard_normal((1, 4)).astype(np.float32), np.zeros((batch, 4), np.float32)
    got, ops = _run(lambda b, x, t: b.ExpandLike(x, t), [(1, 4), ("N", 4)], [x, like])
    np.testing.assert_array_equal(got, np.broadcast_to(x, (batch, 4)))
    assert "Shape" in ops
