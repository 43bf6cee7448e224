"""fgc.ops against keras.ops itself (JAX backend; skipped without Keras): same values, same dtypes."""
from __future__ import annotations

import os

import numpy as np
import pytest

from fgc import ops

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

rng = np.random.default_rng(3)
F = rng.standard_normal((3, 4)).astype(np.float32)
G = rng.standard_normal((4,)).astype(np.float32)
P = rng.uniform(0.5, 2, (3, 4)).astype(np.float32)
I = np.array([[3, -7, 5, 1], [-2, 8, 0, 4], [1, 1, -1, 9]], np.int32)
J = np.array([[2, 3, -4, 1], [5, -3, 7, 2], [1, 2, 3, 4]], np.int32)

# (id, name in both namespaces, args, kwargs)
CALLS = [
    ("add_int_python_float", "add", (I, 1.5), {}),
    ("add_int_int", "add", (I, J), {}),
    ("multiply_float_int", "multiply", (F, I), {}),
    ("divide_ints", "divide", (I, J), {}),
    ("floor_divide_ints", "floor_divide", (I, J), {}),
    ("mod_ints", "mod", (I, J), {}),
    ("mod_floats", "mod", (F * 4, P), {}),
    ("power_floats", "power", (P, F), {}),
    ("where", "where", (F > 0, F, G), {}),
    ("mean_int", "mean", (I,), {"axis": 0}),
    ("sum_bool", "sum", (F > 0,), {"axis": 1}),
    ("max_keepdims", "max", (F,), {"axis": 1, "keepdims": True}),
    ("var", "var", (F,), {"axis": -1}),
    ("std", "std", (F,), {}),
    ("argmax", "argmax", (F,), {"axis": 1}),
    ("argmin_flat", "argmin", (F,), {}),
    ("logsumexp", "logsumexp", (F * 20,), {"axis": 1}),
    ("norm", "norm", (F,), {"axis": -1}),
    ("norm_l1", "norm", (F,), {"ord": 1, "axis": 0}),
    ("cumsum", "cumsum", (F,), {"axis": 0}),
    ("cumsum_int", "cumsum", (I,), {"axis": 1}),
    ("matmul_vector", "matmul", (F, G), {}),
    ("dot", "dot", (F, G), {}),
    ("einsum", "einsum", ("ij,kj->ik", F, P), {}),
    ("einsum_implicit", "einsum", ("ij,j", F, G), {}),
    ("softmax_axis0", "softmax", (F,), {"axis": 0}),
    ("log_softmax", "log_softmax", (F,), {}),
    ("gelu", "gelu", (F,), {}),
    ("gelu_exact", "gelu", (F,), {"approximate": False}),
    ("leaky_relu", "leaky_relu", (F,), {}),
    ("hard_sigmoid", "hard_sigmoid", (F * 4,), {}),
    ("hard_silu", "hard_silu", (F * 4,), {}),
    ("elu", "elu", (F,), {"alpha": 0.5}),
    ("selu", "selu", (F,), {}),
    ("silu", "silu", (F,), {}),
    ("log_sigmoid", "log_sigmoid", (F,), {}),
    ("relu6", "relu6", (F * 5,), {}),
    ("one_hot", "one_hot", (np.array([0, 2, 1, 5]), 3), {}),
    ("one_hot_axis0", "one_hot", (np.array([0, 2, 1]), 3), {"axis": 0}),
    ("clip", "clip", (F, -0.5, 0.5), {}),
    ("clip_int", "clip", (I, -2, 3), {}),
    ("round", "round", (np.array([0.5, 1.5, 2.5, -1.5], np.float32),), {}),
    ("sqrt_int", "sqrt", (np.abs(I),), {}),
    ("exp_int", "exp", (J,), {}),
    ("take_negative", "take", (F, np.array([-1, 0])), {"axis": 1}),
    ("take_along_axis", "take_along_axis", (F, np.argsort(F, axis=0)), {"axis": 0}),
    ("repeat", "repeat", (F, 2), {"axis": 0}),
    ("tile", "tile", (G, (2, 2)), {}),
    ("pad", "pad", (F, ((0, 1), (2, 0))), {"constant_values": 3}),
    ("split", "split", (F, 2), {"axis": 1}),
    ("stack", "stack", ([F, P],), {"axis": -1}),
    ("concatenate", "concatenate", ([F, P],), {"axis": 0}),
    ("squeeze", "squeeze", (F[:, None],), {}),
    ("expand_dims", "expand_dims", (F,), {"axis": -1}),
    ("transpose", "transpose", (F,), {}),
    ("reshape", "reshape", (F,), {"newshape": (2, -1)}),
    ("flip", "flip", (F,), {"axis": 0}),
    ("top_k", "top_k", (F, 2), {}),
    ("cast", "cast", (F * 3, "int32"), {}),
    ("zeros_like", "zeros_like", (I,), {}),
    ("not_equal", "not_equal", (I, J), {}),
    ("logical_and", "logical_and", (F > 0, P > 1), {}),
]


def _as_list(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


@pytest.mark.parametrize("name, args, kwargs", [c[1:] for c in CALLS], ids=[c[0] for c in CALLS])
def test_same_values_and_dtypes_as_keras(name, args, kwargs):
    kwargs_keras = dict(kwargs)
    if name == "reshape":
        kwargs_keras = {"newshape": kwargs["newshape"]}
    want = [np.asarray(w) for w in _as_list(getattr(keras.ops, name)(*args, **kwargs_keras))]
    got = _as_list(getattr(ops, name)(*args, **kwargs))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype}, Keras gives {w.dtype}"
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
