"""Output shapes of ops on tensors with unknown dims (Keras' numpy_test 'dynamic shape' cases, in fgc's
words), and the same recorded ops run on two batch sizes against numpy."""
import numpy as np
import pytest

import fgc
from fgc import ops

CASES = [
    # (id, input shape without batch, fn, expected Keras shape, numpy reference)
    ("add_broadcast", (None, 3), lambda x: x + ops.ones((3,)), (None, None, 3), lambda x: x + 1),
    ("sum_axis1", (None, 3), lambda x: ops.sum(x, axis=1), (None, 3), lambda x: x.sum(1)),
    ("mean_keepdims", (None, 3), lambda x: ops.mean(x, axis=-1, keepdims=True), (None, None, 1),
     lambda x: x.mean(-1, keepdims=True)),
    ("reshape_minus_one", (4, 3), lambda x: ops.reshape(x, (-1, 3)), (None, 3), lambda x: x.reshape(-1, 3)),
    ("transpose", (None, 3), lambda x: ops.transpose(x, (0, 2, 1)), (None, 3, None),
     lambda x: x.transpose(0, 2, 1)),
    ("expand_dims", (None, 3), lambda x: ops.expand_dims(x, 2), (None, None, 1, 3), lambda x: x[:, :, None]),
    ("concatenate_unknown_axis", (None, 3), lambda x: ops.concatenate([x, x], axis=1), (None, None, 3),
     lambda x: np.concatenate([x, x], 1)),
    ("stack", (3,), lambda x: ops.stack([x, 2 * x], axis=1), (None, 2, 3), lambda x: np.stack([x, 2 * x], 1)),
    ("getitem", (None, 3), lambda x: x[:, 1:, None, -1], (None, None, 1), lambda x: x[:, 1:, None, -1]),
    ("take", (None, 3), lambda x: ops.take(x, np.array([2, 0]), axis=2), (None, None, 2),
     lambda x: x[:, :, [2, 0]]),
    ("matmul", (None, 3), lambda x: x @ np.ones((3, 5), np.float32), (None, None, 5),
     lambda x: x @ np.ones((3, 5))),
    ("softmax", (None, 3), ops.softmax, (None, None, 3),
     lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ("one_hot", (None,), lambda x: ops.one_hot(ops.cast(x, "int32"), 4), (None, None, 4),
     lambda x: np.eye(4)[x.astype(int)]),
    ("cumsum", (None, 3), lambda x: ops.cumsum(x, axis=1), (None, None, 3), lambda x: np.cumsum(x, 1)),
    ("einsum", (None, 3), lambda x: ops.einsum("btd,btd->bt", x, x), (None, None), lambda x: (x * x).sum(-1)),
]


@pytest.mark.parametrize("shape, fn, expected, ref", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_shape_with_unknown_dims_and_values_at_two_batch_sizes(shape, fn, expected, ref, rng):
    inputs = fgc.Input(shape)
    out = fn(inputs)
    assert out.shape == expected
    model = fgc.Model(inputs, out)
    for batch, length in ((1, 2), (3, 5)):
        concrete = tuple(length if d is None else d for d in shape)
        x = rng.integers(0, 4, (batch, *concrete)).astype(np.float32)
        np.testing.assert_allclose(model.predict(x, verbose=0), ref(x), rtol=1e-5, atol=1e-6)
