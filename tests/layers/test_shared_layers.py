"""A layer called several times: one weight set, one node per call, Keras' node accessors."""
import re

import numpy as np
import pytest

from fgc import Input, Model, layers


def _shared_model():
    a, b = Input(shape=(4,), name="left"), Input(shape=(4,), name="right")
    dense = layers.Dense(3, name="shared")
    ya, yb = dense(a), dense(b)
    return Model([a, b], layers.concatenate([ya, yb])), dense, (a, b), (ya, yb)


def test_shared_dense_owns_one_weight_set():
    model, dense, _, _ = _shared_model()
    assert model.count_params() == 4 * 3 + 3
    assert len(model.get_weights()) == 2
    assert len(dense.weights) == 2


def test_shared_dense_reads_one_param_node_per_weight_after_the_pipeline():
    model, _, _, _ = _shared_model()
    text = model.ir()
    params = re.findall(r"^\s*%(\S+) = param\(\)", text, flags=re.M)
    assert params == ["shared/kernel", "shared/bias"]
    # both calls read the same kernel
    assert len(re.findall(r"%shared/kernel\b(?! =)", text)) == 2


def test_shared_dense_numbers():
    model, dense, _, _ = _shared_model()
    kernel, bias = np.arange(12.0).reshape(4, 3) / 10, np.array([1.0, 0.0, -1.0])
    dense.set_weights([kernel, bias])
    xa, xb = np.random.default_rng(0).random((7, 4)), np.random.default_rng(1).random((7, 4))
    np.testing.assert_allclose(model.predict([xa, xb]), np.concatenate([xa @ kernel + bias, xb @ kernel + bias], 1),
                               rtol=1e-5, atol=1e-6)


def test_node_accessors():
    _, dense, (a, b), (ya, yb) = _shared_model()
    assert dense.get_output_at(0) is ya
    assert dense.get_output_at(1) is yb
    assert dense.get_input_at(0) is a
    assert dense.get_input_at(1) is b
    assert dense.get_input_shape_at(1) == (None, 4)
    assert dense.get_output_shape_at(0) == (None, 3)
    assert ya._keras_history[1:] == (0, 0) and yb._keras_history[1:] == (1, 0)
    with pytest.raises(ValueError, match=r"has 2 node\(s\); asked for node 5"):
        dense.get_output_at(5)


@pytest.mark.parametrize("attr, accessor", [("output", "get_output_at"), ("input", "get_input_at")])
def test_output_and_input_are_ambiguous_for_a_shared_layer(attr, accessor):
    _, dense, _, _ = _shared_model()
    with pytest.raises(AttributeError, match=rf"called 2 times.*use {accessor}\(node_index\)"):
        getattr(dense, attr)


def test_input_shape_works_while_every_node_agrees():
    _, dense, _, _ = _shared_model()
    assert dense.input_shape == (None, 4)
    assert dense.output_shape == (None, 3)


def test_input_shape_is_ambiguous_when_nodes_disagree():
    a, b = Input(shape=(2, 4)), Input(shape=(5, 4))
    dense = layers.Dense(3)
    dense(a), dense(b)
    with pytest.raises(AttributeError, match=r"several input shapes; use get_input_shape_at\(node_index\)"):
        dense.input_shape
    with pytest.raises(AttributeError, match=r"get_output_shape_at"):
        dense.output_shape
    assert dense.get_input_shape_at(0) == (None, 2, 4)
    assert dense.get_input_shape_at(1) == (None, 5, 4)


def test_single_call_layer_has_input_and_output():
    inp = Input(shape=(4,))
    dense = layers.Dense(2)
    out = dense(inp)
    assert dense.input is inp and dense.output is out
    assert dense.input_shape == (None, 4)


def test_uncalled_layer_has_no_output():
    with pytest.raises(AttributeError, match=r"never been called"):
        layers.Dense(2).output
