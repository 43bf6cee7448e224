"""Sequential in each of its Keras spellings, deferred build, and automatic names."""
import numpy as np
import pytest

import fgc
from fgc import Input, Sequential, layers


def _reference(model, x):
    k1, b1, k2, b2 = model.get_weights()
    return np.maximum(x @ k1 + b1, 0) @ k2 + b2


X = np.random.default_rng(0).normal(size=(7, 4))


def test_list_form_with_input_shape():
    model = Sequential([layers.Dense(3, activation="relu", input_shape=(4,)), layers.Dense(2)])
    assert model.built
    assert model.outputs[0].shape == (None, 2)
    np.testing.assert_allclose(model.predict(X), _reference(model, X), rtol=1e-5, atol=1e-6)


def test_add_form():
    model = Sequential()
    model.add(layers.Dense(3, activation="relu", input_dim=4))
    model.add(layers.Dense(2))
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    np.testing.assert_allclose(model.predict(X[:1]), _reference(model, X[:1]), rtol=1e-5, atol=1e-6)


def test_input_first():
    model = Sequential([Input(shape=(4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    assert [l.name for l in model.layers] == ["dense", "dense_1"]
    np.testing.assert_allclose(model.predict(X), _reference(model, X), rtol=1e-5, atol=1e-6)


def test_deferred_build_from_data():
    model = Sequential([layers.Dense(3, activation="relu"), layers.Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match=r"has not been built"):
        model.summary()
    out = model.predict(X)
    assert model.built and out.shape == (7, 2)
    assert model.inputs[0].shape == (None, 4)
    np.testing.assert_allclose(out, _reference(model, X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(X[:1]), out[:1], rtol=1e-6, atol=1e-6)


def test_sequential_is_a_chain_of_its_layers():
    model = Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2, activation="softmax")])
    assert fgc.ir.op_path(_graph(model)) == "Gemm -> Gemm -> Softmax"


def _graph(model):
    from fgc.compiler import inference_graph

    return inference_graph(model)


def test_automatic_names_like_keras():
    fgc.utils.clear_session()
    model = Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(3), layers.Activation("relu"),
                        layers.Dropout(0.1), layers.Dense(2)])
    assert model.name == "sequential"
    assert [l.name for l in model.layers] == ["dense", "dense_1", "activation", "dropout", "dense_2"]
    other = Sequential([layers.Dense(1, input_shape=(2,))])
    assert other.name == "sequential_1" and other.layers[0].name == "dense_3"
    i = Input(shape=(2,))
    assert i._keras_history[0].name == "input_layer_2"
    fgc.utils.clear_session()
    assert layers.Dense(1).name == "dense"
    assert fgc.Model(i, layers.Flatten()(i)).name == "functional"


def test_names_of_multiword_layers_are_snake_case():
    fgc.utils.clear_session()
    assert layers.Concatenate().name == "concatenate"
    assert layers.InputLayer(shape=(2,)).name == "input_layer"


def test_get_layer():
    model = Sequential([layers.Dense(3, input_shape=(4,), name="first"), layers.Dense(2)])
    assert model.get_layer("first") is model.layers[0]
    assert model.get_layer(index=1) is model.layers[1]
    with pytest.raises(ValueError, match=r"no layer named 'frist'.*did you mean 'first'"):
        model.get_layer("frist")


def test_input_after_layers_is_rejected():
    model = Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match=r"Input can only be the first entry"):
        model.add(Input(shape=(4,)))


# ------------------------------------------------------------------ add / pop on a compiled model
def _sgd_step_reference(weights, x, y, lr):
    """One SGD step of a linear Dense stack on mean squared error, in numpy (weights: [k, b, k, b, ...])."""
    acts = [x]
    for k, b in zip(weights[::2], weights[1::2]):
        acts.append(acts[-1] @ k + b)
    grad = 2 * (acts[-1] - y) / y.size
    new = list(weights)
    for i in reversed(range(len(weights) // 2)):
        k = weights[2 * i]
        new[2 * i] = k - lr * acts[i].T @ grad
        new[2 * i + 1] = weights[2 * i + 1] - lr * grad.sum(axis=0)
        grad = grad @ k.T
    return new


@pytest.mark.parametrize("change", ["add", "pop"])
def test_a_compiled_sequential_trains_its_new_stack_after_add_or_pop(change):
    """Keras keeps a Sequential compiled across add/pop: the next step trains the new stack, with the same
    optimizer (its iteration count goes on)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    start = [Input((4,)), layers.Dense(3, name="a")] + ([layers.Dense(5, name="b")] if change == "pop" else [])
    model = Sequential(start)
    model.compile(optimizer=fgc.optimizers.SGD(0.1), loss="mse")
    model.train_on_batch(x, np.zeros((6, model.output_shape[-1]), np.float32))
    if change == "add":
        model.add(layers.Dense(2, name="c"))
    else:
        model.pop()
    y = rng.normal(size=(6, model.output_shape[-1])).astype(np.float32)
    before = model.get_weights()
    model.train_on_batch(x, y)
    for got, want in zip(model.get_weights(), _sgd_step_reference(before, x, y, 0.1)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert int(model.optimizer.iterations) == 2


def test_a_loss_keyed_by_the_popped_output_leaves_the_sequential_uncompiled():
    model = Sequential([Input((4,)), layers.Dense(3, name="a"), layers.Dense(2, name="b")])
    model.compile(optimizer="sgd", loss={"b": "mse"})
    with pytest.warns(UserWarning, match="no longer fit"):
        model.pop()
    with pytest.raises(RuntimeError, match="compile"):
        model.train_on_batch(np.ones((2, 4)), np.ones((2, 3)))
