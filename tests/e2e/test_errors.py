"""User-facing errors: each names the layer or input at fault and says how to fix it."""
import re

import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers
from fgc.runtime import session


def test_graph_disconnected_names_the_input_and_the_path():
    text, question = Input(shape=(4,), name="text"), Input(shape=(4,), name="question")
    enc = layers.Dense(3, name="enc")(question)
    out = layers.add([layers.Dense(3, name="d")(text), enc], name="sum")
    with pytest.raises(ValueError) as err:
        Model(text, out)
    msg = str(err.value)
    assert msg.startswith("Graph disconnected")
    assert "Input 'question'" in msg and "(shape (None, 4))" in msg
    assert "not among the model's inputs ['text']" in msg
    assert "Path from the output: 'sum' <- 'enc' <- 'question'" in msg
    assert "Add 'question' to Model(inputs=[...])" in msg


def test_shape_mismatch_at_a_layer_call_names_layer_call_producer_and_shapes():
    y, x = Input(shape=(64,), name="y"), Input(shape=(32,), name="x")
    proj = layers.Dense(8, name="proj")
    proj(y)                                    # built for 64 features (call 0)
    prev = layers.Dense(32, name="prev")(x)
    with pytest.raises(ValueError) as err:
        proj(prev)                             # call 1 on a 32-wide tensor
    msg = str(err.value)
    assert "Layer 'proj' (Dense), call 1" in msg
    assert "last dim is 64" in msg and "(None, 32)" in msg
    assert "'prev'[0][0] with shape (None, 32)" in msg


def test_typo_keyword_suggests_the_right_one():
    with pytest.raises(TypeError, match=r"Dense\(\) got an unexpected keyword argument 'activaton'; "
                                        r"did you mean 'activation'\?"):
        layers.Dense(3, activaton="relu")


@pytest.mark.parametrize("make, match", [
    (lambda: layers.Dropout(0.5, noise_shap=None), r"'noise_shap'; did you mean 'noise_shape'"),
    (lambda: layers.Dense(2, input_shap=(3,)), r"'input_shap'; did you mean 'input_shape'"),
    (lambda: Input(shape=(3,), dtyp="int32"), r"Input\(\) got an unexpected keyword argument 'dtyp'"),
    (lambda: Model(Input(shape=(2,)), Input(shape=(2,)), nme="m"), r"'nme'; did you mean 'name'"),
    (lambda: fgc.Sequential([], nam="s"), r"'nam'; did you mean 'name'"),
    (lambda: layers.concatenate([Input(shape=(2,)), Input(shape=(2,))], axsi=1),
     r"'axsi'; did you mean 'axis'"),
])
def test_other_typos(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_typo_in_predict_keyword():
    i = Input(shape=(2,))
    model = Model(i, layers.Dense(1)(i))
    with pytest.raises(TypeError, match=r"predict\(\) got an unexpected keyword argument 'batch_sz'; "
                                        r"did you mean 'batch_size'"):
        model.predict(np.zeros((1, 2)), batch_sz=4)


def test_duplicate_layer_names_in_a_model():
    i = Input(shape=(4,))
    out = layers.Dense(2, name="same")(layers.Dense(4, name="same")(i))
    with pytest.raises(ValueError, match=r"several layers named \['same'\].*distinct name="):
        Model(i, out)


def test_unknown_activation_suggests_the_near_match():
    with pytest.raises(ValueError, match=r"unknown activation 'rleu'; did you mean 'relu'\?.*expected one of"):
        layers.Dense(3, activation="rleu")
    with pytest.raises(ValueError, match=r"unknown activation 'sofmax'; did you mean 'softmax'"):
        layers.Activation("sofmax")


# ---------------------------------------------------------------- bad predict inputs
@pytest.fixture
def two_input_model():
    text, question = Input(shape=(4,), name="text"), Input(shape=(2, 3), name="question")
    q = layers.Flatten()(question)
    return Model([text, question], layers.concatenate([layers.Dense(3)(text), layers.Dense(3)(q)]))


def _ok():
    return [np.zeros((2, 4)), np.zeros((2, 2, 3))]


def test_two_input_model_accepts_list_and_dict(two_input_model):
    a = two_input_model.predict(_ok())
    b = two_input_model.predict({"question": _ok()[1], "text": _ok()[0]})
    assert a.shape == (2, 6)
    np.testing.assert_array_equal(a, b)


def test_wrong_number_of_inputs(two_input_model):
    with pytest.raises(ValueError, match=re.escape("the model has 2 of them ['text', 'question'], got a list of 1")):
        two_input_model.predict(_ok()[:1])
    with pytest.raises(ValueError, match=r"the model has 2 of them \['text', 'question'\]; pass a list in that order "
                                         r"or a dict keyed by name, got a single ndarray"):
        two_input_model.predict(np.zeros((2, 4)))


def test_wrong_dict_keys_list_expected_and_received(two_input_model):
    x = {"text": np.zeros((2, 4)), "questoin": np.zeros((2, 2, 3))}
    with pytest.raises(ValueError) as err:
        two_input_model.predict(x)
    msg = str(err.value)
    assert "expected keys ['text', 'question'], got ['text', 'questoin']" in msg
    assert "missing ['question']" in msg and "unknown ['questoin']" in msg


def test_extra_dict_key_is_an_error_not_ignored(two_input_model):
    x = {"text": np.zeros((2, 4)), "question": np.zeros((2, 2, 3)), "extra": np.zeros((2, 1))}
    with pytest.raises(ValueError, match=r"unknown \['extra'\]"):
        two_input_model.predict(x)


def test_wrong_rank_names_the_input(two_input_model):
    with pytest.raises(ValueError, match=r"input 'question' expects arrays of rank 3 with shape \(None, 2, 3\), got "
                                         r"shape \(2, 6\)"):
        two_input_model.predict([np.zeros((2, 4)), np.zeros((2, 6))])


def test_single_sample_without_batch_axis_gets_a_hint():
    i = Input(shape=(4,), name="features")
    model = Model(i, layers.Dense(1)(i))
    with pytest.raises(ValueError, match=r"input 'features' .* got shape \(4,\) \(a single sample\? add the batch "
                                         r"axis: x\[None\] has shape \(1, 4\)\)"):
        model.predict(np.zeros(4))


def test_wrong_static_dim_names_input_and_axis(two_input_model):
    with pytest.raises(ValueError, match=r"input 'question' expects shape \(None, 2, 3\), got \(2, 2, 5\): axis 2 "
                                         r"is 5, expected 3"):
        two_input_model.predict([np.zeros((2, 4)), np.zeros((2, 2, 5))])


def test_different_sample_counts(two_input_model):
    with pytest.raises(ValueError, match=r"different numbers of samples: \{'text': 2, 'question': 3\}"):
        two_input_model.predict([np.zeros((2, 4)), np.zeros((3, 2, 3))])


def test_strings_are_rejected_with_the_input_name(two_input_model):
    with pytest.raises(TypeError, match=r"input 'text' has dtype <U1, which cannot be fed to a tensor of float32"):
        two_input_model.predict([np.full((2, 4), "a"), np.zeros((2, 2, 3))])
    with pytest.raises(TypeError, match=r"input 'text' has dtype object"):
        two_input_model.predict([np.array([[None] * 4] * 2, dtype=object), np.zeros((2, 2, 3))])


def test_floats_with_fractions_fed_to_an_int_input():
    ids = Input(shape=(3,), dtype="int32", name="ids")
    model = Model(ids, layers.Activation("linear")(ids))
    with pytest.raises(TypeError, match=r"input 'ids' is an integer input \(int32\) but got floats with fractions "
                                        r"\(e\.g\. 1\.5 at index \(0, 1\)\)"):
        model.predict(np.array([[1.0, 1.5, 2.0]]))
    with pytest.raises(TypeError, match=r"input 'ids' .* floats with fractions .*nan"):
        model.predict(np.array([[1.0, np.nan, 2.0]]))
    with pytest.raises(ValueError, match=r"input 'ids' has values outside the range of int32"):
        model.predict(np.array([[2 ** 40, 0, 0]], dtype=np.int64))
    # whole-valued floats are fine, as in Keras
    np.testing.assert_array_equal(model.predict(np.array([[1.0, 2.0, 3.0]])), [[1, 2, 3]])


def test_nested_python_lists_are_a_batch():
    i = Input(shape=(4,))
    model = Model(i, layers.Activation("relu")(i))
    np.testing.assert_array_equal(model.predict([[1.0, -2.0, 3.0, -4.0]]), [[1, 0, 3, 0]])
    np.testing.assert_array_equal(model.predict([np.array([[1.0, -2.0, 3.0, -4.0]])]), [[1, 0, 3, 0]])


def test_calling_a_layer_on_arrays_and_tensors_at_once_is_an_error():
    # on arrays alone a layer computes at once (Keras' eager call: tests/layers/test_eager_layer_calls.py)
    with pytest.raises(TypeError, match=r"was called on ndarray \(input 1\).*or on numpy arrays"):
        layers.Add()([Input(shape=(3,)), np.zeros((2, 3))])


def test_model_needs_inputs_and_outputs():
    with pytest.raises(TypeError, match=r"Model\(\) needs inputs and outputs"):
        Model(inputs=Input(shape=(2,)))


def test_model_input_must_be_an_input_tensor():
    i = Input(shape=(2,))
    h = layers.Dense(2)(i)
    with pytest.raises(ValueError, match=r"Model input 0 .* is not an Input tensor"):
        Model(h, layers.Dense(1)(h))


def test_dense_on_int_tensor():
    with pytest.raises(ValueError, match=r"Layer 'dense' \(Dense\), call 0: Dense expects a float input, got int32"):
        layers.Dense(3)(Input(shape=(3,), dtype="int32"))


def test_input_with_bad_shape():
    with pytest.raises(ValueError, match=r"dim 1 must be a positive int or None, got 0"):
        Input(shape=(3, 0))
    with pytest.raises(ValueError, match=r"Input needs a shape"):
        Input()


# ---------------------------------------------------------------- devices
def test_unknown_device():
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu' or 'cuda', got 'tpu'"):
        fgc.set_device("tpu")


def test_cuda_request_without_cuda_raises_with_the_install_hint():
    if session._probe_cuda(strict=False):
        pytest.skip("the CUDA provider loads on this machine")
    with pytest.raises(session.DeviceError) as err:
        fgc.set_device("cuda")
    msg = str(err.value)
    assert "device 'cuda' requested but" in msg
    assert "pip install onnxruntime-gpu" in msg and "fgc.set_device('cpu')" in msg
    assert fgc.get_device() == "cpu"      # no silent switch, and the old choice stays
