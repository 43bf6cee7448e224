"""Merge layers, their function forms and the Keras 1 merge(mode=...) spelling, against numpy."""
import numpy as np
import pytest

from fgc import Input, Model, layers

REFS = {
    "add": lambda xs: xs[0] + xs[1] + xs[2],
    "subtract": lambda xs: xs[0] - xs[1],
    "multiply": lambda xs: xs[0] * xs[1] * xs[2],
    "average": lambda xs: (xs[0] + xs[1] + xs[2]) / 3.0,
    "maximum": lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2]),
    "minimum": lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2]),
}
CLASSES = {"add": layers.Add, "subtract": layers.Subtract, "multiply": layers.Multiply,
           "average": layers.Average, "maximum": layers.Maximum, "minimum": layers.Minimum}
FUNCTIONS = {"add": layers.add, "subtract": layers.subtract, "multiply": layers.multiply,
             "average": layers.average, "maximum": layers.maximum, "minimum": layers.minimum}


def _data(batch, n, width=4):
    rng = np.random.default_rng(batch)
    return [rng.normal(size=(batch, width)) for _ in range(n)]


def _arity(name):
    return 2 if name == "subtract" else 3


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("name", sorted(REFS))
@pytest.mark.parametrize("form", ["class", "function"])
def test_merge_layer_forward(name, form, batch):
    n = _arity(name)
    ins = [Input(shape=(4,), name=f"in{i}") for i in range(n)]
    out = CLASSES[name]()(ins) if form == "class" else FUNCTIONS[name](ins)
    model = Model(ins, out)
    xs = _data(batch, n)
    got = model.predict(xs)
    assert got.shape == (batch, 4)
    np.testing.assert_allclose(got, REFS[name](xs), rtol=1e-5, atol=1e-6)


def test_add_of_the_same_tensor_twice():
    inp = Input(shape=(3,))
    model = Model(inp, layers.add([inp, inp]))
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(model.predict(x), 2 * x)


def test_add_broadcasts_rank3_against_rank2_like_keras():
    # Keras merge layers broadcast: (N, 1, 4) + (N, 3, 4) -> (N, 3, 4)
    a, b = Input(shape=(1, 4)), Input(shape=(3, 4))
    model = Model([a, b], layers.Add()([a, b]))
    xa, xb = np.random.default_rng(1).random((2, 1, 4)), np.random.default_rng(2).random((2, 3, 4))
    np.testing.assert_allclose(model.predict([xa, xb]), xa + xb, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("axis, shapes", [(-1, [(4,), (2,)]), (1, [(2, 3), (4, 3)]), (-1, [(2, 3), (2, 1)])])
def test_concatenate(axis, shapes, batch):
    ins = [Input(shape=s) for s in shapes]
    xs = [np.random.default_rng(i + batch).random((batch, *s)) for i, s in enumerate(shapes)]
    a = Model(ins, layers.Concatenate(axis=axis)(ins)).predict(xs)
    b = Model(ins, layers.concatenate(ins, axis=axis)).predict(xs)
    want = np.concatenate(xs, axis=axis)
    np.testing.assert_allclose(a, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b, want, rtol=1e-6, atol=1e-6)


LEGACY = [("concat", lambda xs: np.concatenate(xs, axis=-1), "concatenate"),
          ("sum", lambda xs: xs[0] + xs[1], "add"),
          ("mul", lambda xs: xs[0] * xs[1], "multiply"),
          ("ave", lambda xs: (xs[0] + xs[1]) / 2, "average"),
          ("max", lambda xs: np.maximum(xs[0], xs[1]), "maximum")]


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("mode, ref, replacement", LEGACY)
def test_legacy_merge_warns_and_matches(mode, ref, replacement, batch):
    a, b = Input(shape=(4,)), Input(shape=(4,))
    with pytest.warns(DeprecationWarning, match=rf"merge\(mode='{mode}'\).*{replacement}"):
        out = layers.merge([a, b], mode=mode)
    xs = _data(batch, 2)
    np.testing.assert_allclose(Model([a, b], out).predict(xs), ref(xs), rtol=1e-5, atol=1e-6)


def test_legacy_merge_concat_axis_and_name():
    a, b = Input(shape=(2, 3)), Input(shape=(1, 3))
    with pytest.warns(DeprecationWarning):
        out = layers.merge([a, b], mode="concat", concat_axis=1, name="joined")
    model = Model([a, b], out)
    assert model.get_layer("joined").name == "joined"
    xs = [np.ones((2, 2, 3)), np.zeros((2, 1, 3))]
    np.testing.assert_array_equal(model.predict(xs), np.concatenate(xs, axis=1))


def test_legacy_merge_rejects_unknown_mode():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    with pytest.raises(ValueError, match=r"merge mode 'dot'.*expected one of"):
        layers.merge([a, b], mode="dot")


@pytest.mark.parametrize("make, match", [
    (lambda a, c: layers.Add()([a, c]), r"same shape.*\(None, 4\).*\(None, 5\)"),
    (lambda a, c: layers.Concatenate(axis=1)([Input(shape=(2, 3)), Input(shape=(2, 4))]), r"concat axis 1"),
    (lambda a, c: layers.Subtract()([a, a, a]), r"exactly 2 inputs"),
    (lambda a, c: layers.Add()([a]), r"at least 2 inputs"),
])
def test_merge_shape_errors(make, match):
    a, c = Input(shape=(4,)), Input(shape=(5,))
    with pytest.raises(ValueError, match=match):
        make(a, c)
