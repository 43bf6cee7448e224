"""The gradient of every differentiable fgc.ops op (through the primitives' vjps, as training
uses them) against central finite differences, in float64."""
import numpy as np
import pytest

from fgc import ops

rng = np.random.default_rng(1)


def _n(*shape):
    return rng.standard_normal(shape)


def _away(*shape):
    """|x| in [0.3, 2]: away from the kinks of abs, relu, max and clip."""
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def _distinct(*shape):
    return (rng.permutation(int(np.prod(shape))) * 0.37 - 1.5).reshape(shape)


CASES = [
    ("add_broadcast", ops.add, [_n(3, 4), _n(4)]),
    ("subtract_scalar", lambda x: ops.subtract(2.0, x), [_n(3, 4)]),
    ("multiply_broadcast", ops.multiply, [_n(3, 1), _n(1, 4)]),
    ("divide", ops.divide, [_n(3, 4), _pos(3, 4)]),
    ("power", ops.power, [_pos(3, 4), _n(3, 4)]),
    ("mod_wrt_x", lambda x: ops.mod(x, 0.7), [_pos(3, 4) * 0.3 + 0.05]),
    ("maximum", ops.maximum, [_distinct(3, 4), _distinct(3, 4) + 0.1]),
    ("where", lambda x, y: ops.where(x > 0, x, y), [_away(3, 4), _n(3, 4)]),
    ("clip", lambda x: ops.clip(x, -1.0, 1.0), [_away(3, 4) * 1.3]),
    ("exp", ops.exp, [_n(3, 4)]),
    ("log", ops.log, [_pos(3, 4)]),
    ("sqrt", ops.sqrt, [_pos(3, 4)]),
    ("rsqrt", ops.rsqrt, [_pos(3, 4)]),
    ("log1p", ops.log1p, [_pos(3, 4)]),
    ("square_abs", lambda x: ops.square(ops.abs(x)), [_away(3, 4)]),
    ("tanh_sigmoid", lambda x: ops.tanh(x) * ops.sigmoid(x), [_n(3, 4)]),
    ("softplus_softsign", lambda x: ops.softplus(x) + ops.softsign(x), [_n(3, 4)]),
    ("relu_relu6", lambda x: ops.relu(x) + ops.relu6(x * 4), [_away(3, 4)]),
    ("gelu_tanh", ops.gelu, [_n(3, 4)]),
    ("silu", ops.silu, [_n(3, 4)]),
    ("elu_selu_leaky", lambda x: ops.elu(x) + ops.selu(x) + ops.leaky_relu(x), [_away(3, 4)]),
    ("hard_sigmoid", ops.hard_sigmoid, [_away(3, 4)]),
    ("softmax", ops.softmax, [_n(3, 4)]),
    ("log_softmax_axis0", lambda x: ops.log_softmax(x, axis=0), [_n(3, 4)]),
    ("sum_mean", lambda x: ops.sum(x, axis=1) + ops.mean(x, axis=1), [_n(3, 4)]),
    ("max_keepdims", lambda x: ops.max(x, axis=0, keepdims=True), [_distinct(3, 4)]),
    ("var_std", lambda x: ops.var(x, axis=1) + ops.std(x, axis=1), [_n(3, 4)]),
    ("logsumexp", lambda x: ops.logsumexp(x, axis=-1), [_n(3, 4) * 3]),
    ("norm", lambda x: ops.norm(x, axis=-1), [_n(3, 4)]),
    ("cumsum", lambda x: ops.cumsum(x, axis=1), [_n(3, 4)]),
    ("matmul", ops.matmul, [_n(2, 3, 4), _n(4, 5)]),
    ("matmul_vectors", ops.matmul, [_n(4), _n(4, 5)]),
    ("einsum_attention_scores", lambda q, k: ops.einsum("bqd,bkd->bqk", q, k), [_n(2, 3, 4), _n(2, 5, 4)]),
    ("einsum_outer", lambda x, y: ops.einsum("i,j->ij", x, y), [_n(3), _n(4)]),
    ("einsum_summed_inside_one", lambda x, y: ops.einsum("ij,k->ik", x, y), [_n(3, 4), _n(2)]),
    ("dot_vector", ops.dot, [_n(3, 4), _n(4)]),
    ("reshape_transpose", lambda x: ops.transpose(ops.reshape(x, (4, 3)), (1, 0)), [_n(3, 4)]),
    ("expand_squeeze", lambda x: ops.squeeze(ops.expand_dims(x, 1) * 2.0, axis=1), [_n(3, 4)]),
    ("concatenate_stack", lambda x, y: ops.stack([ops.concatenate([x, y], axis=1), ops.concatenate([y, x], axis=1)]),
     [_n(3, 2), _n(3, 2)]),
    ("split", lambda x: ops.split(x, [1, 3], axis=1), [_n(3, 4)]),
    ("take_axis1", lambda x: ops.take(x, np.array([[2, 0], [2, -1]]), axis=1), [_n(3, 4)]),
    ("take_along_axis", lambda x: ops.take_along_axis(x, np.array([[0, 0], [3, 1], [2, 2]]), axis=1), [_n(3, 4)]),
    ("tile", lambda x: ops.tile(x, (2, 2)), [_n(3, 4)]),
    ("repeat", lambda x: ops.repeat(x, 2, axis=0), [_n(3, 4)]),
    ("pad_value", lambda x: ops.pad(x, ((1, 0), (0, 2)), constant_values=1.5), [_n(3, 4)]),
    ("flip", lambda x: ops.flip(x, axis=0), [_n(3, 4)]),
    ("top_k_values", lambda x: ops.top_k(x, 2)[0], [_distinct(3, 4)]),
    ("getitem", lambda x: x[1:, None, ::-1][..., 0], [_n(3, 4)]),
    ("operators", lambda x, y: (x @ ops.transpose(y)) ** 2 / (1.0 + ops.sum(abs(y))) - x[:, :3], [_n(3, 4), _away(3, 4)]),
]


@pytest.mark.parametrize("fn, arrays", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_vjp_matches_finite_differences(fn, arrays, gradcheck):
    gradcheck(fn, *arrays)


def test_vjp_of_exact_gelu_in_float32(gradcheck):
    # onnxruntime's CPU Erf has no float64 kernel: check in float32 with a step and tolerance to match
    x = _n(3, 4).astype(np.float32)
    gradcheck(lambda v: ops.gelu(v, approximate=False), x, h=1e-2, rtol=1e-2)


def test_strided_slice_has_no_gradient_and_says_so(gradcheck):
    from fgc.primitives.autodiff import NoGradientError

    with pytest.raises(NoGradientError, match="strided slice"):
        gradcheck(lambda x: x[:, ::2], _n(3, 4))


def test_einsum_with_a_repeated_index_has_no_gradient_yet(gradcheck):
    from fgc.primitives.autodiff import NoGradientError

    with pytest.raises(NoGradientError, match="repeated in operand 0"):
        gradcheck(lambda x: ops.einsum("ii->i", x), _n(3, 3))
