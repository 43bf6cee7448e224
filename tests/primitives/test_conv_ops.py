"""Conv, ConvTranspose, MaxPool, AveragePool: forward against numpy, gradients (through
passes.autodiff.gradients, run in onnxruntime) against central finite differences.

onnxruntime's CPU Conv, ConvTranspose and AveragePool are float32 only, so those graphs run in
float32 and their gradients are checked against central differences of a float64 numpy reference
(itself checked against onnxruntime's forward), plus a directional difference of the float32
onnxruntime forward; MaxPool runs in float64 end to end.
"""
import numpy as np
import onnxruntime as ort
import pytest

from fgc.export.onnx import to_onnx
from fgc.ir import Graph, TensorType, verify
from fgc.primitives import Builder
from fgc.passes.autodiff import NoGradientError, gradients


# ---------------------------------------------------------------- numpy references (NC* layout)
def conv_ref(x, w, strides=None, pads=None, dilations=None, group=1, bias=None):
    nd = x.ndim - 2
    strides, dilations = strides or (1,) * nd, dilations or (1,) * nd
    pads = pads or (0,) * (2 * nd)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)])
    n, c = x.shape[:2]
    o, k = w.shape[0], w.shape[2:]
    out = [(xp.shape[2 + i] - (k[i] - 1) * dilations[i] - 1) // strides[i] + 1 for i in range(nd)]
    cg, og = c // group, o // group
    y = np.zeros((n, o, *out))
    for idx in np.ndindex(*k):
        sl = tuple(slice(idx[i] * dilations[i], idx[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                   for i in range(nd))
        patch = xp[(slice(None), slice(None)) + sl]
        for gi in range(group):
            wg = w[gi * og:(gi + 1) * og][(slice(None), slice(None)) + idx]
            y[:, gi * og:(gi + 1) * og] += np.einsum("nc...,oc->no...", patch[:, gi * cg:(gi + 1) * cg], wg)
    if bias is not None:
        y += bias.reshape(1, o, *[1] * nd)
    return y


def pool_ref(x, kind, kernel, strides=None, pads=None, count_include_pad=0):
    nd = x.ndim - 2
    strides, pads = strides or kernel, pads or (0,) * (2 * nd)
    fill = -np.inf if kind == "max" else 0.0
    width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)]
    xp = np.pad(x, width, constant_values=fill)
    valid = np.pad(np.ones(x.shape[2:]), width[2:])
    out = [(xp.shape[2 + i] - kernel[i]) // strides[i] + 1 for i in range(nd)]
    wins, counts = [], []
    for idx in np.ndindex(*kernel):
        sl = tuple(slice(idx[i], idx[i] + (out[i] - 1) * strides[i] + 1, strides[i]) for i in range(nd))
        wins.append(xp[(slice(None), slice(None)) + sl])
        counts.append(valid[sl])
    if kind == "max":
        return np.max(wins, axis=0)
    total = np.sum(wins, axis=0)
    return total / (np.prod(kernel) if count_include_pad else np.sum(counts, axis=0))


def numeric_grad(f, x, eps=1e-3):
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


# ---------------------------------------------------------------- graph helpers
def _session(g):
    verify(g)
    proto = to_onnx(g)
    import onnx

    onnx.checker.check_model(proto, full_check=True)
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def grad_graph(build, in_types, dtype="float32"):
    """Graph with inputs x0.., r (the cotangent); outputs loss = sum(r * y), y, dloss/dx_i."""
    g = Graph("grad")
    ins = [g.add_input(f"x{i}", TensorType(tuple(s), dtype)) for i, s in enumerate(in_types)]
    b = Builder(g, "f")
    y = build(b, *ins)
    r = g.add_input("r", g.type_of(y))
    loss = b.ReduceSum(b.Mul(y, r), keepdims=0)
    grads = gradients(g, loss, ins)
    g.outputs = [loss, y, *grads]
    g.output_names = ["loss", "y"] + [f"g{i}" for i in range(len(ins))]
    return g


def check_grads(build, ref, arrays, dtype="float32", rtol=1e-4, atol=1e-4, in_types=None, seed=0):
    """ORT forward == ref; ORT gradients == central differences of ref (float64) and of ORT itself."""
    rng = np.random.default_rng(seed)
    in_types = in_types or [a.shape for a in arrays]
    g = grad_graph(build, in_types, dtype)
    sess = _session(g)
    want = ref(*arrays)
    r = rng.normal(size=want.shape)
    npdt = np.dtype(dtype)
    feed = {f"x{i}": a.astype(npdt) for i, a in enumerate(arrays)}
    feed["r"] = r.astype(npdt)
    loss, y, *grads = sess.run(None, feed)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=rtol, atol=atol)
    for i, a in enumerate(arrays):
        work = [x.copy() for x in arrays]

        def f(v, i=i, work=work):
            work[i] = v
            return float(np.sum(ref(*work) * r))
        num = numeric_grad(f, a.astype(np.float64).copy())
        assert grads[i].shape == a.shape, (grads[i].shape, a.shape)
        np.testing.assert_allclose(grads[i], num, rtol=rtol, atol=atol)
        # directional central difference of the onnxruntime forward itself
        v = rng.normal(size=a.shape)
        eps = 1e-2 if dtype == "float32" else 1e-5
        lo, hi = dict(feed), dict(feed)
        hi[f"x{i}"] = (a + eps * v).astype(npdt)
        lo[f"x{i}"] = (a - eps * v).astype(npdt)
        fd = (sess.run(["loss"], hi)[0] - sess.run(["loss"], lo)[0]) / (2 * eps)
        np.testing.assert_allclose(float(np.sum(grads[i] * v)), fd, rtol=5e-3 if dtype == "float32" else 1e-6,
                                   atol=5e-3 if dtype == "float32" else 1e-8)
    return g


def _rand(rng, *shape):
    return rng.normal(size=shape)


# ---------------------------------------------------------------- Conv
CONV_CASES = [
    # x shape, w shape, attrs
    ((2, 3, 7, 7), (4, 3, 3, 3), {}),
    ((1, 2, 8, 8), (3, 2, 3, 3), dict(strides=(2, 2), pads=(1, 1, 1, 1))),            # r = 1 = pe
    ((2, 2, 9, 7), (3, 2, 2, 2), dict(strides=(3, 2))),                               # r > pe: slice rows
    ((1, 2, 10, 9), (2, 2, 3, 3), dict(strides=(2, 2), dilations=(2, 2), pads=(2, 2, 2, 2))),
    ((2, 4, 7, 6), (6, 2, 3, 3), dict(group=2, strides=(2, 1), pads=(1, 0, 1, 1))),    # groups, uneven pads
    ((1, 3, 6, 6), (3, 1, 3, 3), dict(group=3, pads=(1, 1, 1, 1))),                   # depthwise
    ((2, 3, 11), (4, 3, 5), dict(strides=(2,), pads=(2, 2))),                          # 1-D
    ((2, 2, 9), (4, 2, 3), dict(dilations=(3,), pads=(6, 0))),                         # causal 1-D
    ((2, 5, 9), (2, 5, 3), dict(dilations=(2,), pads=(3, 1))),    # O < C at stride 1: dW from an im2col of dY
    ((1, 4, 6, 5), (2, 4, 3, 2), dict(pads=(1, 0, 1, 1))),        # the same in 2-D
    ((2, 2, 5), (6, 2, 3), {}),                                  # fewer positions than outputs: one product
    ((1, 2, 5, 5), (12, 2, 3, 3), dict(strides=(2, 2), pads=(1, 1, 1, 1))),   # the same, strided 2-D
]


@pytest.mark.parametrize("xs, ws, attrs", CONV_CASES)
def test_conv_forward_and_gradients(xs, ws, attrs):
    rng = np.random.default_rng(1)
    x, w, bias = _rand(rng, *xs), _rand(rng, *ws), _rand(rng, ws[0])
    check_grads(lambda b, x, w, c: b.Conv(x, w, c, **attrs, kernel_shape=ws[2:]),
                lambda x, w, c: conv_ref(x, w, bias=c, **attrs), [x, w, bias], in_types=None)


def test_conv_gradient_with_a_symbolic_length():
    # Conv1D over a sequence of unknown length (stride 1): every rule works without static sizes
    # (the If that picks a weight-gradient rule at run time for wide convs: test_conv_weight_grad_rules.py)
    rng = np.random.default_rng(2)
    x, w = _rand(rng, 2, 3, 9), _rand(rng, 4, 3, 5)
    attrs = dict(pads=(2, 2))
    g = check_grads(lambda b, x, w: b.Conv(x, w, **attrs), lambda x, w: conv_ref(x, w, **attrs), [x, w],
                    in_types=[("N", 3, "T"), (4, 3, 5)])
    assert g.type_of(g.outputs[2]).shape == ("N", 3, "T")
    check_grads(lambda b, x, w: b.Conv(x, w, **attrs), lambda x, w: conv_ref(x, w, **attrs), [x[:, :, :3], w],
                in_types=[("N", 3, "T"), (4, 3, 5)])
    # fewer output than input channels, also over the unknown length
    x, w = _rand(rng, 2, 5, 9), _rand(rng, 3, 5, 5)
    check_grads(lambda b, x, w: b.Conv(x, w, **attrs), lambda x, w: conv_ref(x, w, **attrs), [x, w],
                in_types=[("N", 5, "T"), (3, 5, 5)])


def test_conv_same_padding_with_auto_pad_infers_ceil_and_refuses_a_symbolic_gradient():
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 2, "T"), "float32"))
    w = g.add_input("w", TensorType((3, 2, 3), "float32"))
    b = Builder(g, "f")
    y = b.Conv(x, w, strides=(2,), auto_pad="SAME_UPPER")
    assert b.type(y).shape[:2] == ("N", 3) and b.type(y).shape[2].startswith("S")
    loss = b.ReduceSum(y, keepdims=0)
    with pytest.raises(NoGradientError, match="no gradient rule for op 'Conv'.*'same' padding and stride > 1"):
        gradients(g, loss, [w])
    g.outputs, g.output_names = [y], ["y"]
    xv, wv = _rand(np.random.default_rng(0), 2, 2, 9).astype(np.float32), np.ones((3, 2, 3), np.float32)
    (got,) = _session(g).run(None, {"x": xv, "w": wv})
    np.testing.assert_allclose(got, conv_ref(xv, wv, strides=(2,), pads=(1, 1)), rtol=1e-5, atol=1e-5)


def test_conv_shape_errors():
    from fgc.ir import ShapeError

    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 3, 2, 2), "float32"))
    b = Builder(g, "f")
    with pytest.raises(ShapeError, match="window spans 3"):
        b.Conv(x, b.const(np.ones((4, 3, 3, 3), np.float32)))
    with pytest.raises(ShapeError, match="expects 4"):
        b.Conv(x, b.const(np.ones((4, 2, 1, 1), np.float32)), group=2)


# ---------------------------------------------------------------- ConvTranspose
@pytest.mark.parametrize("attrs", [dict(strides=(2, 2), pads=(1, 0, 1, 1), output_padding=(1, 0)),
                                   dict(strides=(1, 2), dilations=(2, 1), group=2)])
def test_conv_transpose_is_the_adjoint_of_conv_and_has_gradients(attrs):
    rng = np.random.default_rng(3)
    x, w, bias = _rand(rng, 2, 4, 4, 5), _rand(rng, 4, 3, 3, 2), _rand(rng, 3 * attrs.get("group", 1))
    conv_attrs = {k: v for k, v in attrs.items() if k != "output_padding"}

    def ref(x, w, c):   # scatter form: y[n, o, i*s + j*d - pb] += x[n, c, i] * w[c, o, j]
        nd, grp = 2, attrs.get("group", 1)
        s, d = attrs.get("strides", (1,) * nd), attrs.get("dilations", (1,) * nd)
        pads, op = attrs.get("pads", (0,) * 2 * nd), attrs.get("output_padding", (0,) * nd)
        hi, k = x.shape[2:], w.shape[2:]
        full = [(hi[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 + op[i] for i in range(nd)]
        buf = np.zeros((x.shape[0], w.shape[1] * grp, *full))
        cg, og = x.shape[1] // grp, w.shape[1]
        for idx in np.ndindex(*k):
            sl = tuple(slice(idx[i] * d[i], idx[i] * d[i] + (hi[i] - 1) * s[i] + 1, s[i]) for i in range(nd))
            for g in range(grp):
                part = np.einsum("nc...,co->no...", x[:, g * cg:(g + 1) * cg],
                                 w[g * cg:(g + 1) * cg][(slice(None), slice(None)) + idx])
                buf[(slice(None), slice(g * og, (g + 1) * og)) + sl] += part
        crop = tuple(slice(pads[i], full[i] - pads[i + nd]) for i in range(nd))
        return buf[(slice(None), slice(None)) + crop] + c.reshape(1, -1, 1, 1)

    # the scatter form is the adjoint of the conv: <ConvT(x), v> == <x, Conv(v)>
    v = _rand(rng, *ref(x, w, 0 * bias).shape)
    np.testing.assert_allclose(np.sum(ref(x, w, 0 * bias) * v), np.sum(x * conv_ref(v, w, **conv_attrs)), rtol=1e-9)
    check_grads(lambda b, x, w, c: b.ConvTranspose(x, w, c, **attrs), ref, [x, w, bias])


# ---------------------------------------------------------------- MaxPool
def test_max_pool_overlapping_windows_share_a_maximum():
    # kernel 3, stride 1: x[2] = 9 is the max of windows 0, 1 and 2, so it gets the sum of their cotangents
    x = np.array([[[1.0, 2.0, 9.0, 3.0, 0.0, 5.0, 4.0]]])
    g = grad_graph(lambda b, x: b.MaxPool(x, kernel_shape=(3,), strides=(1,)), [x.shape], "float64")
    r = np.array([[[1.0, 10.0, 100.0, 1000.0, 10000.0]]])
    _, y, dx = _session(g).run(None, {"x0": x, "r": r})
    np.testing.assert_array_equal(y, [[[9, 9, 9, 5, 5]]])
    np.testing.assert_array_equal(dx, [[[0, 0, 111, 0, 0, 11000, 0]]])


@pytest.mark.parametrize("xs, attrs", [
    ((2, 3, 7, 7), dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))),    # 'same', overlapping
    ((1, 2, 6, 5), dict(kernel_shape=(2, 2), strides=(2, 2))),                        # valid, r = 1 on W
    ((2, 2, 8), dict(kernel_shape=(3,), strides=(1,), pads=(1, 1))),
])
def test_max_pool_gradients_float64(xs, attrs):
    rng = np.random.default_rng(4)
    x = rng.permutation(np.prod(xs)).reshape(xs) / 7.0     # distinct values: no ties within a window
    check_grads(lambda b, x: b.MaxPool(x, **attrs), lambda x: pool_ref(x, "max", attrs["kernel_shape"],
                                                                        attrs.get("strides"), attrs.get("pads")),
                [x], dtype="float64", rtol=1e-9, atol=1e-9)


def test_max_pool_gradient_with_a_symbolic_length_and_auto_pad():
    rng = np.random.default_rng(5)
    x = rng.permutation(2 * 3 * 11).reshape(2, 3, 11) / 3.0
    g = check_grads(lambda b, x: b.MaxPool(x, kernel_shape=(5,), strides=(5,)),
                    lambda x: pool_ref(x, "max", (5,)), [x], dtype="float64", rtol=1e-9, atol=1e-9,
                    in_types=[("N", 3, "T")])
    assert g.type_of(g.outputs[2]).shape == ("N", 3, "T")
    check_grads(lambda b, x: b.MaxPool(x, kernel_shape=(3,), strides=(2,), auto_pad="SAME_UPPER"),
                lambda x: pool_ref(x, "max", (3,), (2,), (1, 1)), [x], dtype="float64", rtol=1e-9, atol=1e-9,
                in_types=[("N", 3, "T")])


UNPOOL_CASES = [   # windows apart: kernel <= stride, no padding; input shape (batch symbolic), kernel, strides
    ((2, 3, 8, 8), (2, 2), (2, 2)),                 # the U-Net's pooling
    ((1, 2, 7, 6), (2, 2), (2, 2)),                 # remainder rows and columns past the last window
    ((2, 2, 11), (2,), (3,)),                       # gaps between windows, 1-D
    ((1, 2, 4, 6, 5), (2, 2, 2), (2, 3, 2)),        # 3-D
]


def _tied_pool_case(xs, kernel, strides, seed):
    """float32 x with many ties (values from {0, 1, 2}), its MaxPool and a cotangent for it."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=xs).astype(np.float32)
    want = pool_ref(x, "max", kernel, strides)
    return x, want, rng.normal(size=want.shape).astype(np.float32)


@pytest.mark.parametrize("xs, kernel, strides", UNPOOL_CASES)
def test_max_pool_gradient_of_windows_apart_unpools_what_the_scatter_adds(xs, kernel, strides, monkeypatch):
    # float32 with many ties (values from {0, 1, 2}): MaxUnpool routes dY to the window's first maximum, the
    # element MaxPool's Indices name, bit for bit what the ScatterElements form gives
    from fgc.primitives import conv

    monkeypatch.setattr(conv, "_unpool_runs_on_the_device", lambda: True)   # as on the CPU
    monkeypatch.setattr(conv, "TILED", False)   # the tiling windows' form has tests of its own (below)
    x, want, r = _tied_pool_case(xs, kernel, strides, 9)
    got = {}
    for unpool in (True, False):
        monkeypatch.setattr(conv, "UNPOOL", unpool)
        g = grad_graph(lambda b, x: b.MaxPool(x, kernel_shape=kernel, strides=strides), [("N", *xs[1:])])
        assert any(g.op(n) == "MaxUnpoolLike" for n in g.topo_order()) == unpool
        got[unpool] = _session(g).run(None, {"x0": x, "r": r})
    np.testing.assert_array_equal(got[True][2], got[False][2])
    np.testing.assert_array_equal(got[True][1], want)


@pytest.mark.parametrize("xs, kernel, strides", UNPOOL_CASES[:3])
def test_max_pool_gradient_of_windows_apart_matches_finite_differences(xs, kernel, strides, monkeypatch):
    from fgc.primitives import conv

    monkeypatch.setattr(conv, "_unpool_runs_on_the_device", lambda: True)
    monkeypatch.setattr(conv, "TILED", False)
    x = np.random.default_rng(10).permutation(np.prod(xs)).reshape(xs) / 7.0     # distinct: no ties
    g = check_grads(lambda b, x: b.MaxPool(x, kernel_shape=kernel, strides=strides),
                    lambda x: pool_ref(x, "max", kernel, strides), [x], in_types=[("N", *xs[1:])])
    assert any(g.op(n) == "MaxUnpoolLike" for n in g.topo_order())


def test_max_pool_gradient_keeps_the_scatter_form_on_cuda(monkeypatch):
    # onnxruntime's CUDA provider has no MaxUnpool: a CUDA step keeps ScatterElements (windows that do not
    # tile: kernel < stride), and the tiling windows' form needs no MaxUnpool
    from fgc.runtime import session

    monkeypatch.setattr(session, "get_device", lambda: "cuda")
    g = grad_graph(lambda b, x: b.MaxPool(x, kernel_shape=(2, 2), strides=(3, 3)), [("N", 3, 8, 8)])
    ops = {g.op(n) for n in g.topo_order()}
    assert "MaxUnpoolLike" not in ops and "ScatterElements" in ops
    g = grad_graph(lambda b, x: b.MaxPool(x, kernel_shape=(2, 2), strides=(2, 2)), [("N", 3, 8, 8)])
    ops = {g.op(n) for n in g.topo_order()}
    assert "TiledMaxPoolGrad" in ops and not ops & {"MaxUnpoolLike", "ScatterElements"}


TILED_CASES = [   # MaxPooling2D(2)'s windows: input shape (batch symbolic), kernel
    ((2, 3, 8, 8), (2, 2)),                 # the U-Net's and resnet_block's pooling
    ((1, 2, 7, 6), (2, 2)),                 # a remainder row past the last window
    ((2, 1, 5, 9), (2, 2)),                 # a remainder row and column
]


@pytest.mark.parametrize("xs, kernel", TILED_CASES)
def test_max_pool_gradient_of_tiling_windows_picks_the_first_maximum(xs, kernel, monkeypatch):
    # float32 with many ties (values from {0, 1, 2}): dY goes to each window's first maximum in row-major order,
    # the element MaxPool's Indices name: bit for bit what the ScatterElements form gives, and numpy's argmax
    from fgc.primitives import conv

    x, want, r = _tied_pool_case(xs, kernel, kernel, 11)
    got = {}
    for tiled in (True, False):
        monkeypatch.setattr(conv, "TILED", tiled)
        monkeypatch.setattr(conv, "UNPOOL", False)
        g = grad_graph(lambda b, x: b.MaxPool(x, kernel_shape=kernel, strides=kernel), [("N", *xs[1:])])
        ops = {g.op(n) for n in g.topo_order()}
        assert ("TiledMaxPoolGrad" in ops) == tiled and ("ScatterElements" in ops) != tiled
        got[tiled] = _session(g).run(None, {"x0": x, "r": r})
    np.testing.assert_array_equal(got[True][1], want)
    np.testing.assert_array_equal(got[True][2], got[False][2])
    np.testing.assert_array_equal(got[True][2], _first_max_scatter(x, r, kernel))


@pytest.mark.parametrize("in_type, kernel", [(("N", 2, 10), (2,)), (("N", 2, 9, 9), (3, 3)), (("N", 2, 4, 4, 4), (2, 2, 2)),
                                             (("N", 2, 8, 8), (1, 2))])
def test_max_pool_gradient_of_other_windows_side_by_side_keeps_the_indices(in_type, kernel):
    g = grad_graph(lambda b, x: b.MaxPool(x, kernel_shape=kernel, strides=kernel), [in_type])
    assert not any(g.op(n) == "TiledMaxPoolGrad" for n in g.topo_order())


def _first_max_scatter(x, r, kernel):
    """numpy: each window's cotangent added at its first maximum (np.argmax over the window in row-major order)."""
    nd = len(kernel)
    dx = np.zeros_like(x)
    for n, c in np.ndindex(*x.shape[:2]):
        for w in np.ndindex(*r.shape[2:]):
            corner = [i * k for i, k in zip(w, kernel)]
            window = x[(n, c, *(slice(o, o + k) for o, k in zip(corner, kernel)))]
            at = np.unravel_index(np.argmax(window), window.shape)
            dx[(n, c, *(o + a for o, a in zip(corner, at)))] += r[(n, c, *w)]
    assert nd == r.ndim - 2
    return dx


@pytest.mark.parametrize("xs, kernel", TILED_CASES[:3])
def test_max_pool_gradient_of_tiling_windows_matches_finite_differences(xs, kernel):
    x = np.random.default_rng(12).permutation(np.prod(xs)).reshape(xs) / 7.0     # distinct: no ties
    g = check_grads(lambda b, x: b.MaxPool(x, kernel_shape=kernel, strides=kernel),
                    lambda x: pool_ref(x, "max", kernel, kernel), [x], in_types=[("N", *xs[1:])])
    assert any(g.op(n) == "TiledMaxPoolGrad" for n in g.topo_order())


@pytest.mark.parametrize("xs, in_type", [((2, 1, 9, 5), ("N", 1, "H", 5)), ((1, 2, 7, 6), ("N", 2, "H", "W")),
                                         ((1, 2, 8, 6), ("N", 2, "H", "W"))])
def test_max_pool_gradient_of_tiling_windows_with_sizes_known_at_run_time(xs, in_type):
    # the windowed sizes, the rank pattern and the padding back are read from the shapes at run time
    kernel = (2, 2)
    x, want, r = _tied_pool_case(xs, kernel, kernel, 13)
    g = grad_graph(lambda b, x: b.MaxPool(x, kernel_shape=kernel, strides=kernel), [in_type])
    assert any(g.op(n) == "TiledMaxPoolGrad" for n in g.topo_order())
    _, y, dx = _session(g).run(None, {"x0": x, "r": r})
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(dx, _first_max_scatter(x, r, kernel))


def test_max_pool_with_indices_output():
    g = Graph("g")
    x = g.add_input("x", TensorType((1, 1, 4), "float32"))
    y, idx = Builder(g, "f").MaxPool(x, kernel_shape=(2,), strides=(2,), _indices=1)
    assert g.type_of(idx).dtype == "int64"
    g.outputs, g.output_names = [y, idx], ["y", "i"]
    got_y, got_i = _session(g).run(None, {"x": np.array([[[1, 3, 4, 2]]], np.float32)})
    np.testing.assert_array_equal(got_i, [[[1, 2]]])


# ---------------------------------------------------------------- AveragePool
@pytest.mark.parametrize("xs, attrs", [
    ((2, 3, 7, 7), dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))),    # padding excluded
    ((1, 2, 7, 6), dict(kernel_shape=(2, 2), strides=(2, 2))),                        # valid, r = 1 on H
    ((2, 2, 8, 8), dict(kernel_shape=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1), count_include_pad=1)),
    ((2, 2, 9), dict(kernel_shape=(4,), strides=(3,), pads=(1, 2))),
])
def test_average_pool_forward_and_gradients(xs, attrs):
    rng = np.random.default_rng(6)
    x = rng.normal(size=xs)
    check_grads(lambda b, x: b.AveragePool(x, **attrs),
                lambda x: pool_ref(x, "avg", attrs["kernel_shape"], attrs.get("strides"), attrs.get("pads"),
                                   attrs.get("count_include_pad", 0)), [x])


def test_average_pool_gradient_symbolic_same_stride_1_counts_at_run_time():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 8))
    g = check_grads(lambda b, x: b.AveragePool(x, kernel_shape=(3,), strides=(1,), pads=(1, 1)),
                    lambda x: pool_ref(x, "avg", (3,), (1,), (1, 1)), [x], in_types=[("N", 3, "T")])
    pools = [g.node(n)["attrs"] for n in g.nodes_with_op("AveragePool")]
    assert [p.get("count_include_pad", 0) for p in pools] == [0, 1]   # forward, then the counts


def test_average_pool_symbolic_stride_2_has_no_gradient():
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 3, "T"), "float32"))
    b = Builder(g, "f")
    loss = b.ReduceSum(b.AveragePool(x, kernel_shape=(2,), strides=(2,)), keepdims=0)
    with pytest.raises(NoGradientError, match="AveragePool.*stride 2 over a spatial dim of unknown size"):
        gradients(g, loss, [x])


# ---------------------------------------------------------------- FoldTime / UnfoldTimeLike
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), ("N", "T", 4, 5), ("N", "T", "U")])
def test_fold_and_unfold_time(shape):
    concrete = (2, 3, 4, 5)[:len(shape)]
    x = np.random.default_rng(8).normal(size=concrete)

    def build(b, x):
        folded = b.FoldTime(x)
        return b.UnfoldTimeLike(b.Mul(folded, 2.0), x)

    g = check_grads(build, lambda x: 2 * x, [x], in_types=[shape])
    assert g.type_of(g.outputs[1]).shape == tuple(shape)


def test_size_below_compares_the_trailing_dims_at_run_time():
    g = Graph("g")
    x = g.add_input("x", TensorType(("N", 3, "T", "U"), "float32"))
    g.outputs, g.output_names = [Builder(g, "f").SizeBelow(x, start=2, limit=12)], ["below"]
    sess = _session(g)
    got = [bool(sess.run(None, {"x": np.zeros((2, 3, t, u), np.float32)})[0]) for t, u in ((3, 3), (3, 4), (5, 1))]
    assert got == [True, False, True]
