"""Every fgc.ops op against a numpy reference written from Keras' documented formulas: computed on
arrays (eager) and recorded on symbolic tensors (compiled, exported, run), values and dtypes."""
import math

import numpy as np
import pytest

from fgc import ops

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4)).astype(np.float32)
B = rng.standard_normal((3, 4)).astype(np.float32)
ROW = rng.standard_normal((4,)).astype(np.float32)
POS = (rng.uniform(0.5, 2.0, (3, 4))).astype(np.float32)
I = np.array([[3, -7, 5], [-2, 8, 0]], np.int32)
J = np.array([[2, 3, -4], [5, -3, 7]], np.int32)
T3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
M43 = rng.standard_normal((4, 5)).astype(np.float32)
IDS = np.array([2, 0, 1, 2], np.int32)

_erf = np.vectorize(math.erf)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


# (id, fgc op, numpy reference, inputs, expected dtype or None for "same as the reference")
CASES = [
    ("add", ops.add, np.add, [A, B], None),
    ("add_broadcast_row", ops.add, np.add, [A, ROW], None),
    ("add_scalar_weak", lambda x: ops.add(x, 2.5), lambda x: x + np.float32(2.5), [A], "float32"),
    ("add_int_float_scalar", lambda x: ops.add(x, 1.5), lambda x: x.astype(np.float32) + 1.5, [I], "float32"),
    ("add_int_int", ops.add, np.add, [I, J], "int32"),
    ("add_int_float_promotes", ops.add, lambda x, y: x.astype(np.float32) + y, [I, I.astype(np.float32)], "float32"),
    ("subtract", ops.subtract, np.subtract, [A, B], None),
    ("multiply", ops.multiply, np.multiply, [A, ROW], None),
    ("divide", ops.divide, np.divide, [A, POS], None),
    ("divide_ints_is_float", ops.divide, lambda x, y: (x / y).astype(np.float32), [I, J], "float32"),
    ("floor_divide_float", ops.floor_divide, np.floor_divide, [A * 5, POS], None),
    ("floor_divide_int", ops.floor_divide, np.floor_divide, [I, J], "int32"),
    ("mod_float", ops.mod, np.mod, [A * 5, POS], None),
    ("mod_int_signs", ops.mod, np.mod, [I, J], "int32"),
    ("power", ops.power, np.power, [POS, B], None),
    ("maximum", ops.maximum, np.maximum, [A, B], None),
    ("minimum", ops.minimum, np.minimum, [A, ROW], None),
    ("equal", ops.equal, np.equal, [I, J * 0 + I[:, :1]], "bool"),
    ("not_equal", ops.not_equal, np.not_equal, [I, J], "bool"),
    ("greater", ops.greater, np.greater, [A, B], "bool"),
    ("greater_equal", ops.greater_equal, np.greater_equal, [A, ROW], "bool"),
    ("less", ops.less, np.less, [A, B], "bool"),
    ("less_equal", ops.less_equal, np.less_equal, [I, J], "bool"),
    ("logical_and", ops.logical_and, np.logical_and, [A > 0, B > 0], "bool"),
    ("logical_or", ops.logical_or, np.logical_or, [A > 0, B > 0], "bool"),
    ("logical_not", ops.logical_not, np.logical_not, [A > 0], "bool"),
    ("where", ops.where, np.where, [A > 0, A, B], None),
    ("where_broadcast", lambda c, x: ops.where(c, x, 0.0), lambda c, x: np.where(c, x, np.float32(0)), [A > 0, ROW],
     "float32"),
    ("negative", ops.negative, np.negative, [A], None),
    ("abs", ops.abs, np.abs, [A], None),
    ("abs_int", ops.absolute, np.abs, [I], "int32"),
    ("square", ops.square, np.square, [A], None),
    ("sign", ops.sign, np.sign, [A], None),
    ("sqrt", ops.sqrt, np.sqrt, [POS], None),
    ("exp", ops.exp, np.exp, [A], None),
    ("log", ops.log, np.log, [POS], None),
    ("log_int_is_float", ops.log, lambda x: np.log(x.astype(np.float32)), [np.abs(I) + 1], "float32"),
    ("log1p", ops.log1p, np.log1p, [POS], None),
    ("expm1", ops.expm1, np.expm1, [A], None),
    ("rsqrt", ops.rsqrt, lambda x: 1 / np.sqrt(x), [POS], None),
    ("reciprocal", ops.reciprocal, np.reciprocal, [POS], None),
    ("erf", ops.erf, lambda x: _erf(x).astype(np.float32), [A], "float32"),
    ("floor", ops.floor, np.floor, [A * 3], None),
    ("ceil", ops.ceil, np.ceil, [A * 3], None),
    ("round_half_even", ops.round, np.round, [np.array([0.5, 1.5, 2.5, -0.5, 1.2], np.float32)], None),
    ("clip", lambda x: ops.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), [A], None),
    ("cast", lambda x: ops.cast(x, "int32"), lambda x: x.astype(np.int32), [A * 4], "int32"),
    ("tanh", ops.tanh, np.tanh, [A], None),
    ("relu", ops.relu, lambda x: np.maximum(x, 0), [A], None),
    ("relu6", ops.relu6, lambda x: np.clip(x, 0, 6), [A * 4], None),
    ("sigmoid", ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), [A], None),
    ("softplus", ops.softplus, lambda x: np.log1p(np.exp(x)), [A], None),
    ("softsign", ops.softsign, lambda x: x / (1 + np.abs(x)), [A], None),
    ("silu", ops.silu, lambda x: x / (1 + np.exp(-x)), [A], None),
    ("log_sigmoid", ops.log_sigmoid, lambda x: -np.log1p(np.exp(-x)), [A], None),
    ("hard_sigmoid", ops.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, [A * 4], None),
    ("hard_silu", ops.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6, [A * 4], None),
    ("elu", lambda x: ops.elu(x, alpha=0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)), [A], None),
    ("selu", ops.selu, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)), [A],
     None),
    ("leaky_relu_default_0_2", ops.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), [A], None),
    ("gelu_tanh_default", ops.gelu, _gelu_tanh, [A], None),
    ("gelu_exact", lambda x: ops.gelu(x, approximate=False), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))),
     [A], "float32"),
    ("softmax", ops.softmax, _softmax, [A], None),
    ("softmax_axis0", lambda x: ops.softmax(x, axis=0), lambda x: _softmax(x, 0), [A], None),
    ("log_softmax", ops.log_softmax, lambda x: np.log(_softmax(x)), [A], None),
    ("sum_all", ops.sum, np.sum, [A], None),
    ("sum_axis_keepdims", lambda x: ops.sum(x, axis=1, keepdims=True), lambda x: x.sum(1, keepdims=True), [A], None),
    ("sum_int", lambda x: ops.sum(x, axis=0), lambda x: x.sum(0).astype(np.int32), [I], "int32"),
    ("mean_axes", lambda x: ops.mean(x, axis=(0, 2)), lambda x: x.mean((0, 2)), [T3], None),
    ("mean_int_is_float", lambda x: ops.mean(x, axis=1), lambda x: x.mean(1).astype(np.float32), [I], "float32"),
    ("max", lambda x: ops.max(x, axis=-1), lambda x: x.max(-1), [A], None),
    ("min_keepdims", lambda x: ops.min(x, axis=0, keepdims=True), lambda x: x.min(0, keepdims=True), [A], None),
    ("var", lambda x: ops.var(x, axis=1), lambda x: x.var(1), [A], None),
    ("std", ops.std, np.std, [A], None),
    ("any", lambda x: ops.any(x, axis=1), lambda x: x.any(1), [A > 1], "bool"),
    ("all", lambda x: ops.all(x, axis=0), lambda x: x.all(0), [A > -1], "bool"),
    ("argmax", lambda x: ops.argmax(x, axis=1), lambda x: x.argmax(1).astype(np.int32), [A], "int32"),
    ("argmax_flat", ops.argmax, lambda x: np.int32(x.argmax()), [A], "int32"),
    ("argmin", lambda x: ops.argmin(x, axis=0), lambda x: x.argmin(0).astype(np.int32), [A], "int32"),
    ("logsumexp", lambda x: ops.logsumexp(x, axis=-1), lambda x: np.log(np.exp(x).sum(-1)), [A * 30], None),
    ("logsumexp_all", ops.logsumexp, lambda x: np.log(np.exp(x).sum()), [A], None),
    ("norm_vector", lambda x: ops.norm(x, axis=-1), lambda x: np.linalg.norm(x, axis=-1), [A], None),
    ("norm_l1", lambda x: ops.norm(x, ord=1, axis=0), lambda x: np.abs(x).sum(0), [A], None),
    ("norm_inf", lambda x: ops.norm(x, ord=float("inf"), axis=1), lambda x: np.abs(x).max(1), [A], None),
    ("norm_vector_1d_l1", lambda x: ops.norm(x, ord=1), lambda x: np.abs(x).sum(), [ROW], None),
    ("norm_fro", ops.norm, lambda x: np.sqrt((x ** 2).sum()), [A], None),
    ("cumsum", lambda x: ops.cumsum(x, axis=1), lambda x: np.cumsum(x, 1), [A], None),
    ("cumsum_flat", ops.cumsum, np.cumsum, [A], None),
    ("matmul", ops.matmul, np.matmul, [A, M43], None),
    ("matmul_batched", ops.matmul, np.matmul, [T3, M43], None),
    ("matmul_vector_right", ops.matmul, np.matmul, [A, ROW], None),
    ("matmul_vector_left", ops.matmul, np.matmul, [ROW, M43], None),
    ("dot_2d", ops.dot, np.dot, [A, M43], None),
    ("dot_scalar", lambda x: ops.dot(x, 3.0), lambda x: x * np.float32(3), [A], None),
    ("einsum_explicit", lambda x, y: ops.einsum("bij,jk->bki", x, y), lambda x, y: np.einsum("bij,jk->bki", x, y),
     [T3, M43], None),
    ("einsum_implicit", lambda x, y: ops.einsum("ij,jk", x, y), lambda x, y: np.einsum("ij,jk", x, y), [A, M43], None),
    ("einsum_trace_reduce", lambda x: ops.einsum("ij->j", x), lambda x: np.einsum("ij->j", x), [A], None),
    ("reshape", lambda x: ops.reshape(x, (2, -1)), lambda x: x.reshape(2, -1), [A], None),
    ("transpose_default_reverses", ops.transpose, np.transpose, [T3], None),
    ("transpose_axes", lambda x: ops.transpose(x, (1, 0, 2)), lambda x: x.transpose(1, 0, 2), [T3], None),
    ("moveaxis", lambda x: ops.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), [T3], None),
    ("expand_dims", lambda x: ops.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), [A], None),
    ("expand_dims_negative", lambda x: ops.expand_dims(x, -1), lambda x: x[..., None], [A], None),
    ("squeeze", ops.squeeze, np.squeeze, [A[:, None, :1]], None),
    ("squeeze_axis", lambda x: ops.squeeze(x, axis=1), lambda x: x.squeeze(1), [A[:, None]], None),
    ("concatenate", lambda x, y: ops.concatenate([x, y], axis=1), lambda x, y: np.concatenate([x, y], 1), [A, B],
     None),
    ("concatenate_promotes", lambda x, y: ops.concatenate([x, y]), lambda x, y: np.concatenate([x, y.astype(
        np.float32)]), [A[:2, :3], I], "float32"),
    ("stack", lambda x, y: ops.stack([x, y], axis=1), lambda x, y: np.stack([x, y], 1), [A, B], None),
    ("split_sections", lambda x: ops.split(x, 2, axis=1), lambda x: tuple(np.split(x, 2, 1)), [A], None),
    ("split_indices", lambda x: ops.split(x, [1, 3], axis=1), lambda x: tuple(np.split(x, [1, 3], 1)), [A], None),
    ("take_axis0", lambda x, i: ops.take(x, i, axis=0), lambda x, i: np.take(x, i, 0), [A, IDS[:3]], None),
    ("take_axis1_negative", lambda x: ops.take(x, np.array([[-1, 0], [2, 1]]), axis=1),
     lambda x: np.take(x, [[-1, 0], [2, 1]], 1), [T3], None),
    ("take_flat", lambda x: ops.take(x, np.array([0, 11, 5])), lambda x: np.take(x, [0, 11, 5]), [A], None),
    ("take_along_axis", lambda x: ops.take_along_axis(x, np.argsort(A, 1), axis=1),
     lambda x: np.take_along_axis(x, np.argsort(A, 1), 1), [A], None),
    ("tile", lambda x: ops.tile(x, (2, 3)), lambda x: np.tile(x, (2, 3)), [A], None),
    ("repeat_axis", lambda x: ops.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, 1), [A], None),
    ("repeat_flat", lambda x: ops.repeat(x, 3), lambda x: np.repeat(x, 3), [A], None),
    ("pad", lambda x: ops.pad(x, ((1, 0), (2, 3))), lambda x: np.pad(x, ((1, 0), (2, 3))), [A], None),
    ("pad_value", lambda x: ops.pad(x, 1, constant_values=2.0), lambda x: np.pad(x, 1, constant_values=2), [A],
     None),
    ("flip", lambda x: ops.flip(x, axis=1), lambda x: np.flip(x, 1), [A], None),
    ("one_hot", lambda x: ops.one_hot(x, 3), lambda x: np.eye(3, dtype=np.float32)[x], [IDS], "float32"),
    ("one_hot_axis0_out_of_range_zero", lambda x: ops.one_hot(x, 2, axis=0),
     lambda x: np.stack([(x == c) for c in range(2)]).astype(np.float32), [IDS], "float32"),
    ("top_k", lambda x: ops.top_k(x, 2), lambda x: (-np.sort(-x, 1)[:, :2], np.argsort(-x, 1)[:, :2].astype(
        np.int32)), [A], None),
    ("zeros_like", ops.zeros_like, np.zeros_like, [A], None),
    ("ones_like_int", ops.ones_like, np.ones_like, [I], "int32"),
    ("getitem_slices", lambda x: x[1:, ::1], lambda x: x[1:, ::1], [T3], None),
    ("getitem_int_none_ellipsis", lambda x: x[..., 2, None], lambda x: x[..., 2, None], [T3], None),
    ("getitem_negative_int", lambda x: x[-1], lambda x: x[-1], [T3], None),
    ("getitem_step", lambda x: x[:, ::2], lambda x: x[:, ::2], [A], None),
    ("getitem_reverse", lambda x: x[::-1], lambda x: x[::-1], [A], None),
    ("operators", lambda x, y: (x + 1) * y - x / 2 ** y @ M43 @ M43.T % 3,
     lambda x, y: (x + 1) * y - x / 2 ** y @ M43 @ M43.T % 3, [A, B], None),
    ("operators_unary_compare", lambda x, y: (-abs(x) < y) | (x >= 0.5), lambda x, y: (-abs(x) < y) | (x >= 0.5),
     [A, B], "bool"),
    ("reflected_with_numpy", lambda x: np.float32(2.0) - x, lambda x: 2 - x, [A], None),
]


def _check(got, want, dtype):
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, (tuple, list)) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.shape == w.shape, f"shape {g.shape}, expected {w.shape}"
        if dtype is not None and len(want) == 1:
            assert g.dtype == np.dtype(dtype), f"dtype {g.dtype}, expected {dtype}"
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w.astype(g.dtype), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("fn, ref, arrays, dtype", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_eager_on_arrays(fn, ref, arrays, dtype):
    _check(fn(*arrays), ref(*arrays), dtype)


@pytest.mark.parametrize("fn, ref, arrays, dtype", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_recorded_on_symbolic_tensors(fn, ref, arrays, dtype, run_symbolic):
    got = run_symbolic(fn, *arrays)
    _check(tuple(got) if len(got) > 1 else got[0], ref(*arrays), dtype)
