"""DepthwiseConv1D/2D, SeparableConv1D, Conv3D and the 3-D pooling layers against numpy references
written from Keras 3's definitions (TF 'same' padding: the extra pad at the end), with
finite-difference gradients."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(0)


def _pads(size, k, s, d, padding):
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return 0, (size - k_eff) // s + 1
    if padding == "causal":
        return k_eff - 1, (size - 1) // s + 1
    out = -(-size // s)
    return max((out - 1) * s + k_eff - size, 0) // 2, out


def conv_nd(x, kernel, strides, dilation, padding):
    """Channels-last grouped correlation; kernel (k..., in_per_group, filters), groups = in / in_per_group."""
    nd = x.ndim - 2
    groups = x.shape[-1] // kernel.shape[-2]
    per_in, filters = kernel.shape[-2], kernel.shape[-1]
    per_out = filters // groups
    begins, outs = zip(*[_pads(x.shape[1 + a], kernel.shape[a], strides[a], dilation[a], padding) for a in range(nd)])
    y = np.zeros((x.shape[0], *outs, filters))
    for o in np.ndindex(*outs):
        for j in np.ndindex(*kernel.shape[:nd]):
            i = [o[a] * strides[a] + j[a] * dilation[a] - begins[a] for a in range(nd)]
            if not all(0 <= i[a] < x.shape[1 + a] for a in range(nd)):
                continue
            xi = x[(slice(None), *i)]
            for g in range(groups):
                y[(slice(None), *o, slice(g * per_out, (g + 1) * per_out))] += \
                    xi[:, g * per_in:(g + 1) * per_in] @ kernel[j][:, g * per_out:(g + 1) * per_out]
    return y


def depthwise(x, kernel, strides, dilation, padding):
    """Keras' depthwise conv: kernel (k..., in, dm), output channel c*dm + m."""
    return conv_nd(x, kernel.reshape(*kernel.shape[:-2], 1, -1), strides, dilation, padding)


def pool_nd(x, size, strides, padding, kind):
    nd = x.ndim - 2
    begins, outs = zip(*[_pads(x.shape[1 + a], size[a], strides[a], 1, padding) for a in range(nd)])
    y = np.zeros((x.shape[0], *outs, x.shape[-1]))
    for o in np.ndindex(*outs):
        window = tuple(slice(max(o[a] * strides[a] - begins[a], 0), o[a] * strides[a] - begins[a] + size[a])
                       for a in range(nd))
        patch = x[(slice(None), *window)].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None), *o)] = patch.max(1) if kind == "max" else patch.mean(1)
    return y


CASES = [
    ("depthwise2d", lambda df: layers.DepthwiseConv2D(3, depth_multiplier=2, data_format=df), (5, 4, 2),
     lambda p, x: depthwise(x, p[0], (1, 1), (1, 1), "valid") + p[1]),
    ("depthwise2d_same_stride", lambda df: layers.DepthwiseConv2D((3, 2), strides=2, padding="same", data_format=df),
     (5, 4, 3), lambda p, x: depthwise(x, p[0], (2, 2), (1, 1), "same") + p[1]),
    ("depthwise1d_same_dilated", lambda df: layers.DepthwiseConv1D(2, padding="same", dilation_rate=2,
                                                                  data_format=df, use_bias=False), (6, 2),
     lambda p, x: depthwise(x, p[0], (1,), (2,), "same")),
    ("separable1d", lambda df: layers.SeparableConv1D(3, 3, depth_multiplier=2, padding="same", data_format=df),
     (5, 2), lambda p, x: conv_nd(depthwise(x, p[0], (1,), (1,), "same"), p[1], (1,), (1,), "valid") + p[2]),
    ("conv3d", lambda df: layers.Conv3D(2, (2, 1, 2), strides=(1, 1, 2), padding="same", data_format=df),
     (3, 2, 4, 2), lambda p, x: conv_nd(x, p[0], (1, 1, 2), (1, 1, 1), "same") + p[1]),
    ("maxpool3d", lambda df: layers.MaxPooling3D(2, data_format=df), (4, 2, 4, 2),
     lambda p, x: pool_nd(x, (2, 2, 2), (2, 2, 2), "valid", "max")),
    ("avgpool3d_same", lambda df: layers.AveragePooling3D((2, 1, 2), padding="same", data_format=df), (3, 2, 3, 2),
     lambda p, x: pool_nd(x, (2, 1, 2), (2, 1, 2), "same", "avg")),
    ("globalavg3d", lambda df: layers.GlobalAveragePooling3D(data_format=df), (2, 3, 2, 2),
     lambda p, x: x.mean(axis=(1, 2, 3))),
    ("globalmax3d", lambda df: layers.GlobalMaxPooling3D(data_format=df), (2, 3, 2, 2),
     lambda p, x: x.max(axis=(1, 2, 3))),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("name, make, shape, formula", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients(name, make, shape, formula, data_format, gradcheck):
    first = data_format == "channels_first"
    in_shape = (shape[-1], *shape[:-1]) if first else shape
    inp = fgc.Input(in_shape)
    layer = make(data_format)
    has_weights = not any(k in name for k in ("pool", "global"))
    if has_weights:
        model = fgc.Model(inp, layer(inp))
        model.set_weights([w + rng.uniform(-0.3, 0.3, w.shape) for w in model.get_weights()])
    else:                      # a weight in front so the gradient through the pooling reaches something
        model = fgc.Model(inp, layer(layers.PReLU(alpha_initializer="ones", name="scale")(inp)))
        model.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in model.get_weights()])

    def forward(p, x):
        if not has_weights:    # the PReLU, in the input's own layout
            x = np.maximum(x, 0) - p[0] * np.maximum(-x, 0)
        if not first:
            return formula(p, x)
        y = formula(p, np.moveaxis(x, 1, -1))
        return y if "global" in name else np.moveaxis(y, -1, 1)

    x = rng.standard_normal((2, *in_shape))
    y = rng.standard_normal((2, *model.outputs[0].shape[1:]))
    gradcheck(model, forward, x, y)


def test_weight_names_follow_keras():
    dw = layers.DepthwiseConv2D(3, depth_multiplier=2)
    dw(fgc.Input((5, 5, 3)))
    assert [(w.name, w.shape) for w in dw.weights] == [("kernel", (3, 3, 3, 2)), ("bias", (6,))]
    sep = layers.SeparableConv1D(4, 3, depth_multiplier=2)
    sep(fgc.Input((6, 3)))
    assert [(w.name, w.shape) for w in sep.weights] == [("depthwise_kernel", (3, 3, 2)),
                                                        ("pointwise_kernel", (1, 6, 4)), ("bias", (4,))]
    with pytest.raises(ValueError, match="depth_multiplier must be a positive int"):
        layers.DepthwiseConv2D(3, depth_multiplier=0)
