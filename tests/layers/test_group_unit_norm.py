"""GroupNormalization and UnitNormalization against Keras 3's formulas in numpy, with
finite-difference gradients."""
import numpy as np
import pytest

import fgc
from fgc import layers

rng = np.random.default_rng(0)


def group_norm(x, gamma, beta, groups, axis, epsilon=1e-3):
    x = np.moveaxis(x, axis, -1)
    c = x.shape[-1]
    g = x.reshape(*x.shape[:-1], groups, c // groups)
    axes = (*range(1, g.ndim - 2), g.ndim - 1)
    mean = g.mean(axis=axes, keepdims=True)
    var = ((g - mean) ** 2).mean(axis=axes, keepdims=True)
    y = ((g - mean) / np.sqrt(var + epsilon)).reshape(x.shape)
    y = y * (1 if gamma is None else gamma) + (0 if beta is None else beta)
    return np.moveaxis(y, -1, axis)


def unit_norm(x, axes):
    return x * np.minimum(1 / np.sqrt((x ** 2).sum(axis=axes, keepdims=True)), 1e12)


@pytest.mark.parametrize("shape, kwargs", [
    ((5, 4), dict(groups=2)),
    ((3, 2, 6), dict(groups=3)),
    ((6, 3), dict(groups=3, axis=1, center=False)),
    ((4,), dict(groups=4, epsilon=0.1)),
])
def test_group_normalization(shape, kwargs, gradcheck):
    inp = fgc.Input(shape)
    norm = layers.GroupNormalization(**kwargs)
    model = fgc.Model(inp, norm(layers.Dense(shape[-1], name="pre")(inp)))
    model.set_weights([w + rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])
    names = [w.name for w in norm.weights]
    axis = kwargs.get("axis", -1) % (len(shape) + 1)

    def forward(p, x):
        w = dict(zip(names, p[2:]))
        return group_norm(x @ p[0] + p[1], w.get("gamma"), w.get("beta"), kwargs["groups"], axis,
                          kwargs.get("epsilon", 1e-3))

    gradcheck(model, forward, rng.standard_normal((3, *shape)), rng.standard_normal((3, *shape)))


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_unit_normalization(axis, gradcheck):
    inp = fgc.Input((3, 4))
    model = fgc.Model(inp, layers.UnitNormalization(axis=axis)(layers.Dense(4, name="pre")(inp)))
    axes = (2,) if axis == -1 else (1, 2)
    gradcheck(model, lambda p, x: unit_norm(x @ p[0] + p[1], axes), rng.standard_normal((3, 3, 4)),
              rng.standard_normal((3, 3, 4)))


def test_errors():
    with pytest.raises(ValueError, match="must divide the number of channels"):
        layers.GroupNormalization(groups=4)(fgc.Input((6,)))
    with pytest.raises(ValueError, match="cannot be more than the number of channels"):
        layers.GroupNormalization()(fgc.Input((6,)))
    with pytest.raises(TypeError, match="axis must be an int or a list of ints"):
        layers.UnitNormalization(axis="x")
