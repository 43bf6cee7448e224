"""A channels-first image fed to channels_last conv / pooling layers: one warning at the first such layer,
with the fix, and the same advice in every shape error that follows from that input."""
import warnings

import numpy as np
import pytest

from fgc import Input, Model, layers


def layout_warnings(record):
    return [w for w in record if issubclass(w.category, UserWarning) and "looks channels-first" in str(w.message)]


def test_seed_003_inception_on_a_channels_first_image_warns_once_with_the_fix():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        image = Input(shape=(3, 32, 32))
        tower_1 = layers.Conv2D(8, 1, padding="same", activation="relu", name="t1a")(image)
        tower_1 = layers.Conv2D(8, 3, padding="same", activation="relu")(tower_1)
        tower_2 = layers.Conv2D(8, 1, padding="same", activation="relu")(image)
        tower_3 = layers.MaxPooling2D((3, 3), strides=(1, 1), padding="same")(image)
        tower_3 = layers.Conv2D(8, 1, padding="same", activation="relu")(tower_3)
        out = layers.concatenate([tower_1, tower_2, tower_3], axis=1)
    found = layout_warnings(record)
    assert len(found) == 1
    message = str(found[0].message)
    assert "Conv2D 't1a'" in message and "(None, 3, 32, 32)" in message
    assert "data_format='channels_first'" in message and "Input(shape=(32, 32, 3))" in message
    assert found[0].filename == __file__  # points at the user's line
    assert out.shape == (None, 9, 32, 8)  # what channels_last makes of it: the reason for the warning


def test_shape_errors_downstream_of_the_input_carry_the_hint():
    image = Input(shape=(3, 16, 16))
    with pytest.warns(UserWarning, match="looks channels-first"):
        y = layers.Conv2D(3, 3, padding="same")(image)
    y = layers.Activation("relu")(y)  # the advice travels through layers that do not care about layout
    with pytest.raises(ValueError, match=r"Layer 'add\w*' \(Add\).*\(None, 3, 16, 16\).*\(None, 3, 16, 3\).*"
                                         r"looks channels-first.*data_format='channels_first'"):
        layers.add([image, y])
    wider = layers.Dense(5)(y)  # two layers further on, the advice is still there
    with pytest.raises(ValueError, match=r"\(Add\).*\(None, 3, 16, 5\).*looks channels-first"):
        layers.Add()([wider, y])


def test_pooling_first_warns_too():
    with pytest.warns(UserWarning, match=r"MaxPooling2D 'p' reads it as channels_last"):
        layers.MaxPooling2D(name="p", pool_size=1)(Input(shape=(1, 28, 28)))


@pytest.mark.parametrize("build", [
    lambda: layers.Conv2D(4, 3)(Input(shape=(32, 32, 3))),                                    # channels_last image
    lambda: layers.Conv2D(4, 3, data_format="channels_first")(Input(shape=(3, 32, 32))),      # declared layout
    lambda: layers.Conv2D(4, 3, padding="same")(Input(shape=(4, 4, 512))),                   # a small feature map
    lambda: layers.Conv2D(4, 1)(layers.Conv2D(3, 1)(Input(shape=(8, 40, 40)))),               # not an image input
])
def test_no_warning_where_the_layout_is_plausible(build):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        build()
    assert layout_warnings(record) == []


def test_channels_first_layers_give_the_right_numbers_on_that_input():
    rng = np.random.default_rng(5)
    image = Input(shape=(3, 16, 16))
    conv = layers.Conv2D(2, 1, data_format="channels_first", use_bias=False)
    model = Model(image, conv(image))
    x = rng.standard_normal((2, 3, 16, 16))
    kernel = model.get_weights()[0]  # (1, 1, in, out)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.einsum("nchw,co->nohw", x, kernel[0, 0]),
                               rtol=1e-5, atol=1e-5)
