"""The Conv weight-gradient formulations of fgc/primitives/conv.py, each forced on shapes it would
not always be picked for, against dW written from its definition in numpy:
dW[o, c, j] = sum_{n, i} dY[n, o, i] * Xpad[n, c, i*s + j*d] (1-D, 2-D and 3-D; strides, dilations,
uneven pads); what weight_grad picks for each shape class it tells apart, against central
differences of <Conv(x, W), dY>; then Conv1D/2D/3D layers trained one SGD step (lr 1: the weight change is the
gradient) against central differences of a float64 numpy forward, channels_last and
channels_first, padding same and valid, strides, dilation and groups."""
import numpy as np
import onnxruntime as ort
import pytest

import fgc
from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType, verify
from fgc.optimizers import SGD
from fgc.primitives import Builder
from fgc.primitives import conv as conv_rules

from .test_conv_ops import conv_ref


def dw_reference(x, gy, kernel, strides, pads, dilations):
    nd = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)])
    out = gy.shape[2:]
    dw = np.zeros((gy.shape[1], x.shape[1], *kernel))
    for j in np.ndindex(*kernel):
        window = tuple(slice(j[i] * dilations[i], j[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                       for i in range(nd))
        cols = xp[(slice(None), slice(None)) + window]
        dw[(slice(None), slice(None)) + j] = np.einsum("nop,ncp->oc", gy.reshape(*gy.shape[:2], -1),
                                                       cols.reshape(*cols.shape[:2], -1))
    return dw


def run_rule(rule, x, gy, in_types=None, **kw):
    g = Graph("dw")
    xt, gt = in_types or (x.shape, gy.shape)
    ins = [g.add_input("x", TensorType(tuple(xt), "float32")), g.add_input("gy", TensorType(tuple(gt), "float32"))]
    g.outputs, g.output_names = [rule(Builder(g, "dw"), *ins, **kw)], ["dw"]
    verify(g)
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.astype(np.float32), "gy": gy.astype(np.float32)})[0]


def out_len(h, k, s, d, pb, pe):
    return (h + pb + pe - (k - 1) * d - 1) // s + 1


RULE_CASES = [   # N, C, O, spatial, kernel, strides, pads, dilations
    (2, 3, 4, (9,), (3,), (2,), (1, 2), (1,)),
    (2, 3, 5, (10,), (3,), (1,), (2, 0), (2,)),
    (2, 3, 4, (7, 6), (3, 2), (2, 1), (1, 0, 1, 1), (1, 1)),
    (1, 2, 3, (8, 9), (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
    (2, 2, 3, (5, 6, 4), (3, 2, 2), (2, 1, 1), (1, 0, 1, 1, 1, 0), (1, 1, 1)),
    (1, 3, 2, (5, 5, 5), (2, 2, 2), (1, 1, 1), (0, 0, 0, 1, 1, 1), (2, 1, 1)),
    (2, 3, 4, (5, 4), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),         # 1x1: the columns are the input itself
    (2, 3, 4, (7,), (1,), (2,), (0, 0), (1,)),
]


@pytest.mark.parametrize("rule", ["_im2col_weight_grad", "_one_gemm_weight_grad", "_batch_swap_weight_grad"])
@pytest.mark.parametrize("n, c, o, dims, kernel, strides, pads, dilations", RULE_CASES)
def test_weight_gradient_rules_match_the_definition(rule, n, c, o, dims, kernel, strides, pads, dilations):
    rng = np.random.default_rng(0)
    nd = len(kernel)
    out = tuple(out_len(dims[i], kernel[i], strides[i], dilations[i], pads[i], pads[nd + i]) for i in range(nd))
    x, gy = rng.normal(size=(n, c, *dims)), rng.normal(size=(n, o, *out))
    got = run_rule(getattr(conv_rules, rule), x, gy, kernel=kernel, strides=strides, pads=pads, dilations=dilations)
    np.testing.assert_allclose(got, dw_reference(x, gy, kernel, strides, pads, dilations), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n, c, o, dims, kernel, strides, pads, dilations",
                         [case for case in RULE_CASES if all(s == 1 for s in case[5])])
def test_shifted_dy_rule_matches_the_definition(n, c, o, dims, kernel, strides, pads, dilations):
    rng = np.random.default_rng(1)
    nd = len(kernel)
    out = tuple(out_len(dims[i], kernel[i], 1, dilations[i], pads[i], pads[nd + i]) for i in range(nd))
    x, gy = rng.normal(size=(n, c, *dims)), rng.normal(size=(n, o, *out))
    got = run_rule(conv_rules._shifted_dy_weight_grad, x, gy, kernel=kernel, pads=pads, dilations=dilations)
    np.testing.assert_allclose(got, dw_reference(x, gy, kernel, (1,) * nd, pads, dilations), rtol=1e-4, atol=1e-4)


def test_per_tap_rule_with_a_symbolic_batch_and_length():
    rng = np.random.default_rng(2)
    x, gy = rng.normal(size=(3, 4, 11)), rng.normal(size=(3, 5, 9))
    for rule in (conv_rules._im2col_weight_grad, conv_rules._one_gemm_weight_grad):
        got = run_rule(rule, x, gy, in_types=(("N", 4, "T"), ("N", 5, "T")), kernel=(3,), strides=(1,),
                       pads=(0, 0), dilations=(1,))
        np.testing.assert_allclose(got, dw_reference(x, gy, (3,), (1,), (0, 0), (1,)), rtol=1e-4, atol=1e-4)


WIDE = conv_rules.SMALL_CHANNELS + 1   # the fewest channels that the rule counts as wide
ROUTE_CASES = {   # shape class weight_grad tells apart: N, C, O, spatial, kernel, strides, pads (static spatial dims)
    "1x1 stride 1": (2, 3, 4, (5, 4), (1, 1), (1, 1), (0, 0, 0, 0)),
    "1x1 stride 2": (2, 3, 4, (5, 6), (1, 1), (2, 2), (0, 0, 0, 0)),
    "3x3 stride 2": (2, 3, 4, (7, 6), (3, 3), (2, 2), (0, 0, 1, 1)),
    "narrow 3x3 same": (2, 3, 4, (6, 5), (3, 3), (1, 1), (1, 1, 1, 1)),
    "narrow 3x3x3 valid": (1, 2, 3, (4, 5, 4), (3, 3, 3), (1, 1, 1), (0,) * 6),
    "wide, P >= O": (2, WIDE, WIDE + 1, (40,), (3,), (1,), (1, 1)),
    "wide, P < O": (2, WIDE, WIDE + 7, (12,), (3,), (1,), (0, 0)),
    "wide, O < C": (2, WIDE + 7, WIDE, (12,), (3,), (1,), (1, 1)),
}


@pytest.mark.parametrize("case", list(ROUTE_CASES))
def test_weight_grad_of_each_shape_class_matches_finite_differences(case, fd_grads):
    # dW is the gradient of <Conv(x, W), dY> with respect to W: central differences of that float64
    # functional are an independent reference for whichever rule weight_grad picks
    n, c, o, dims, kernel, strides, pads = ROUTE_CASES[case]
    nd, rng = len(kernel), np.random.default_rng(4)
    out = tuple(out_len(dims[i], kernel[i], strides[i], 1, pads[i], pads[nd + i]) for i in range(nd))
    x = rng.normal(size=(n, c, *dims)).astype(np.float32).astype(np.float64)
    gy = rng.normal(size=(n, o, *out)).astype(np.float32).astype(np.float64)
    w = np.zeros((o, c, *kernel))
    [want] = fd_grads(lambda p: float(np.sum(conv_ref(x, p[0], strides=strides, pads=pads) * gy)), [w], h=0.5)

    def rule(b, x_, gy_, **kw):
        return conv_rules.weight_grad(b, x_, gy_, kernel, strides, pads, (1,) * nd, 1)

    np.testing.assert_allclose(run_rule(rule, x, gy), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("c, o, length", [
    (WIDE, WIDE + 1, 12),       # P = 10 < O: the If's one-product branch
    (WIDE, WIDE + 1, 40),       # P = 38 >= O: its per-sample branch
    (WIDE + 1, WIDE, 12),       # O < C: shifted copies of dY (no If)
])
def test_weight_grad_of_a_wide_conv_over_any_length_matches_finite_differences(c, o, length, fd_grads):
    rng = np.random.default_rng(5)
    x, gy = rng.normal(size=(2, c, length)), rng.normal(size=(2, o, length - 2))
    x, gy = x.astype(np.float32).astype(np.float64), gy.astype(np.float32).astype(np.float64)
    [want] = fd_grads(lambda p: float(np.sum(conv_ref(x, p[0]) * gy)), [np.zeros((o, c, 3))], h=0.5)
    ops = []

    def rule(b, x_, gy_, **kw):
        dw = conv_rules.weight_grad(b, x_, gy_, (3,), (1,), (0, 0), (1,), 1)
        ops.extend(b.graph.op(n) for n in b.graph.topo_order())
        return dw

    got = run_rule(rule, x, gy, in_types=(("N", c, "T"), ("N", o, "T2")))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert ("If" in ops) == (o > c)


def test_a_pointwise_weight_gradient_copies_nothing():
    g = Graph("dw")
    x = g.add_input("x", TensorType((4, 8, 6, 6), "float32"))
    gy = g.add_input("gy", TensorType((4, 5, 6, 6), "float32"))
    g.outputs, g.output_names = [conv_rules.weight_grad(Builder(g, "dw"), x, gy, (1, 1), (1, 1), (0,) * 4,
                                                        (1, 1), 1)], ["dw"]
    assert not g.nodes_with_op("Slice") and not g.nodes_with_op("Pad")


@pytest.mark.parametrize("c", [conv_rules.SMALL_CHANNELS, 2 * conv_rules.SMALL_CHANNELS])
def test_no_full_im2col_is_materialised(c):
    # the point of the per-tap rules: no Concat of input-sized columns, only of (O, C) results
    g = Graph("dw")
    x = g.add_input("x", TensorType((8, c, 12, 12), "float32"))
    gy = g.add_input("gy", TensorType((8, c, 12, 12), "float32"))
    b = Builder(g, "dw")
    g.outputs, g.output_names = [conv_rules.weight_grad(b, x, gy, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)], ["dw"]
    concats = g.nodes_with_op("Concat")
    assert concats
    for name in concats:
        assert all(g.type_of(v).rank == 2 for v in g.node(name)["inputs"]), name


# ---------------------------------------------------------------- through the layers (Keras layouts)
def _same_pads(h, k, s, d):
    span = (k - 1) * d + 1
    total = max((-(-h // s) - 1) * s + span - h, 0)
    return total // 2, total - total // 2


def keras_conv_forward(x, kernel, bias, strides, padding, dilation, groups, channels_first):
    """Keras Conv{1,2,3}D in float64: x (N, *H, C) or (N, C, *H), kernel (*k, C/groups, O)."""
    nd = kernel.ndim - 2
    xc = x if channels_first else np.moveaxis(x, -1, 1)
    w = np.moveaxis(np.moveaxis(kernel, -1, 0), -1, 1)      # (*k, Cg, O) -> (O, Cg, *k)
    if padding == "same":
        pairs = [_same_pads(xc.shape[2 + i], kernel.shape[i], strides[i], dilation[i]) for i in range(nd)]
        pads = tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)
    else:
        pads = (0,) * (2 * nd)
    y = conv_ref(xc, w, strides=strides, pads=pads, dilations=dilation, group=groups, bias=bias)
    return y if channels_first else np.moveaxis(y, 1, -1)


LAYER_CASES = [   # layer, spatial, channels, kwargs
    ("Conv1D", (9,), 3, dict(filters=4, kernel_size=3, strides=2, padding="same")),
    ("Conv1D", (9,), 4, dict(filters=2, kernel_size=3, dilation_rate=2, padding="valid", groups=2)),
    ("Conv2D", (7, 6), 3, dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same")),
    ("Conv2D", (6, 6), 2, dict(filters=3, kernel_size=3, padding="same", data_format="channels_first")),
    ("Conv2D", (7, 7), 4, dict(filters=4, kernel_size=3, strides=2, padding="valid", groups=2,
                               data_format="channels_first")),
    ("Conv2D", (8, 8), 2, dict(filters=3, kernel_size=3, dilation_rate=2, padding="same")),
    ("Conv3D", (5, 4, 4), 2, dict(filters=3, kernel_size=2, strides=(2, 1, 1), padding="same")),
    ("Conv3D", (4, 5, 4), 2, dict(filters=2, kernel_size=(2, 3, 2), padding="valid", data_format="channels_first")),
]


@pytest.mark.parametrize("layer, dims, channels, kwargs", LAYER_CASES)
def test_conv_layer_gradients_match_finite_differences(layer, dims, channels, kwargs):
    rng = np.random.default_rng(3)
    channels_first = kwargs.get("data_format") == "channels_first"
    shape = (channels, *dims) if channels_first else (*dims, channels)
    inp = fgc.Input(shape)
    conv = getattr(fgc.layers, layer)(**kwargs)
    model = fgc.Model(inp, conv(inp))
    model.compile(SGD(1.0), "mse")
    x = rng.normal(size=(2, *shape)).astype(np.float32).astype(np.float64)
    kernel, bias = [w.astype(np.float64) for w in conv.get_weights()]
    bias = rng.normal(size=bias.shape).astype(np.float32).astype(np.float64)
    conv.set_weights([kernel, bias])
    nd = len(dims)
    args = dict(strides=tuple(np.broadcast_to(kwargs.get("strides", 1), nd)), padding=kwargs.get("padding", "valid"),
                dilation=tuple(np.broadcast_to(kwargs.get("dilation_rate", 1), nd)), groups=kwargs.get("groups", 1),
                channels_first=channels_first)
    y_shape = keras_conv_forward(x, kernel, bias, **args).shape
    target = rng.normal(size=y_shape)

    def loss(k, b):
        return np.mean((keras_conv_forward(x, k, b, **args) - target) ** 2)

    np.testing.assert_allclose(model.predict(x, verbose=0), keras_conv_forward(x, kernel, bias, **args),
                               rtol=1e-4, atol=1e-4)
    model.train_on_batch(x, target)
    got_k, got_b = [before - after for before, after in zip((kernel, bias), conv.get_weights())]
    eps = 1e-6
    for got, which in ((got_k, 0), (got_b, 1)):
        params = [kernel, bias]
        want = np.zeros_like(params[which])
        for idx in np.ndindex(want.shape):
            up, down = [p.copy() for p in params], [p.copy() for p in params]
            up[which][idx] += eps
            down[which][idx] -= eps
            want[idx] = (loss(*up) - loss(*down)) / (2 * eps)
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-5)
