"""Which train steps run with onnxruntime's memory pattern (fgc/runtime/session.py: make_session)."""
import numpy as np

import fgc
from fgc.training.runtime import HOST_STATE_LIMIT, static_input_bytes


def _trained(model):
    model.compile(optimizer="rmsprop", loss="mse")
    x = np.random.default_rng(0).integers(0, 10, (4, 3)) if model.inputs[0].dtype.startswith("int") \
        else np.random.default_rng(0).random((4, 3))
    model.train_on_batch(x, np.zeros((4, 2)))
    return model._trainer.step(True)


def test_a_small_step_keeps_the_pattern_and_a_large_one_drops_it():
    x = fgc.Input(shape=(3,))
    small = _trained(fgc.Model(x, fgc.layers.Dense(2)(x)))
    ids = fgc.Input(shape=(3,), dtype="int32")
    table = fgc.layers.Embedding(4000, 100)   # 1.6 MB of weights, 3.2 MB with RMSprop's velocity
    large = _trained(fgc.Model(ids, fgc.layers.Dense(2)(fgc.layers.GlobalAveragePooling1D()(table(ids)))))
    assert static_input_bytes(small.proto) <= HOST_STATE_LIMIT < static_input_bytes(large.proto)
    assert small.session.get_session_options().enable_mem_pattern
    assert not large.session.get_session_options().enable_mem_pattern


def test_static_input_bytes_counts_weights_and_optimizer_state():
    x = fgc.Input(shape=(3,))
    step = _trained(fgc.Model(x, fgc.layers.Dense(2)(x)))
    # kernel 3x2 + bias 2 = 8 floats, and as many for RMSprop's velocity; scalars (lr, step) and the batch's
    # inputs (unknown batch size) are not counted
    assert static_input_bytes(step.proto) == 2 * 8 * 4
