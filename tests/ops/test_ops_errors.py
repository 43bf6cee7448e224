"""Bad arguments to fgc.ops fail early with a message that says what was wrong (Keras' error cases)."""
import numpy as np
import pytest

import fgc
from fgc import layers, ops

X = np.ones((2, 3), np.float32)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ops.split(X, 2, axis=1), ValueError, "cannot be split into 2 equal parts"),
    (lambda: ops.squeeze(X, axis=0), ValueError, "axis 0 has size 2, not 1"),
    (lambda: ops.reshape(X, (-1, -1)), ValueError, "at most one dimension may be -1"),
    (lambda: ops.transpose(X, (0, 0)), ValueError, "not a permutation"),
    (lambda: ops.expand_dims(X, 5), ValueError, "axis 5 is out of range"),
    (lambda: ops.norm(X, ord=3, axis=1), ValueError, "ord=3 is not supported"),
    (lambda: ops.norm(X, ord=2), ValueError, "ord=2 is not supported for a matrix norm"),
    (lambda: ops.pad(X, 1, mode="reflect"), ValueError, "only 'constant'"),
    (lambda: ops.one_hot(np.array([1]), 3, sparse=True), ValueError, "sparse"),
    (lambda: ops.einsum("...j,jk->...k", X, X.T), ValueError, "'...' in"),
    (lambda: ops.einsum("ij,jk->ik", X), ValueError, "names 2 operands, got 1"),
    (lambda: ops.einsum("ij,jk->ik", X, X), ValueError, "index 'j' is 3 in one operand, 2 in another"),
    (lambda: ops.take_along_axis(X, np.zeros((2,), np.int64), axis=1), ValueError, "must have the rank of x"),
    (lambda: X[0, 0, 0] if False else ops.getitem(X, (0, 0, 0)), IndexError, "too many indices"),
    (lambda: ops.getitem(X, (..., ...)), IndexError, "single ellipsis"),
    (lambda: ops.getitem(X, 1.5), TypeError, "unsupported index 1.5"),
    (lambda: ops.add(X, "a"), TypeError, "cannot convert str"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_symbolic_shape_errors_name_the_op_and_the_inputs():
    a, b = fgc.Input((3,)), fgc.Input((4,))
    with pytest.raises(ValueError, match=r"Layer 'add' .*cannot be broadcast.*input 0 is 'input_layer'"):
        ops.add(a, b)


def test_a_weight_outside_call_is_refused_with_symbolic_tensors():
    dense = layers.Dense(3)
    x = fgc.Input((3,))
    dense(x)
    with pytest.raises(ValueError, match="outside that layer's call"):
        ops.add(x, dense.kernel)
    # on arrays a weight is just its current value
    np.testing.assert_allclose(ops.add(X, dense.kernel[0]), X + dense.kernel.numpy()[0])


def test_python_values_convert_like_keras():
    assert ops.add([1, 2], [3, 4]).dtype == np.int32          # Python ints: int32
    assert ops.convert_to_tensor(np.ones(2)).dtype == np.float32  # float64 arrays: floatx
    assert ops.convert_to_tensor([1.0, 2.0], dtype="float16").dtype == np.float16


def test_ops_in_a_functional_model_are_not_layers(rng):
    x = fgc.Input((3,))
    dense = layers.Dense(2)
    model = fgc.Model(x, ops.softmax(dense(x) * 2.0))
    assert model.layers == [model.layers[0], dense] and model.get_layer(index=1) is dense
    data = rng.standard_normal((4, 3)).astype(np.float32)
    kernel, bias = dense.get_weights()
    z = (data @ kernel + bias) * 2
    np.testing.assert_allclose(model.predict(data, verbose=0), np.exp(z) / np.exp(z).sum(1, keepdims=True),
                               rtol=1e-5)
