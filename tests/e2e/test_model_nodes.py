"""A functional model's own tensors are its node 0 (as in Keras); calls on new tensors follow."""
from fgc import Input, Model, layers


def test_model_output_is_its_own_and_calls_are_later_nodes():
    inputs = Input(shape=(3,))
    outputs = layers.Dense(2)(inputs)
    model = Model(inputs, outputs)
    assert model.output is outputs and model.input is inputs
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)
    other = Input(shape=(3,))
    called = model(other)
    assert model.output is outputs  # still the model's own, after a call
    assert model.get_output_at(0) is outputs
    assert model.get_output_at(1) is called and model.get_input_at(1) is other
    assert model.get_output_shape_at(1) == (None, 2)
