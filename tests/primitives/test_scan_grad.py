"""The reverse Scan's two forms (fgc/primitives/scan_grad.py): its elementwise work vectorized over time
outside the loop, or kept in the loop; an If picks between them at run time only when the stacked
states' size is unknown while building. (Finite-difference checks of both forms through every recurrent
layer: tests/layers/test_recurrent_layers.py.)"""
import numpy as np

import fgc
from fgc import Input, Model, layers


def _lstm_step_gradients(monkeypatch, limit, shape=(None, 4), batch_size=None):
    from fgc.primitives import scan_grad

    monkeypatch.setattr(scan_grad, "LOOP_FROM_ELEMENTS", limit)
    fgc.utils.set_random_seed(3)
    inp = Input(shape=shape, batch_size=batch_size)
    model = Model(inp, layers.Dense(2)(layers.LSTM(3)(inp)))
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=1.0), loss="mse")
    rng = np.random.default_rng(33)
    x, y = rng.normal(size=(4, 5, 4)).astype(np.float32), rng.normal(size=(4, 2)).astype(np.float32)
    w0 = model.get_weights()
    model.train_on_batch(x, y)
    step = model._trainer.step(True).proto
    ops = {n.op_type for n in step.graph.node}
    return [a - b for a, b in zip(w0, model.get_weights())], ops


def test_the_reverse_loop_form_is_picked_at_run_time_only_when_the_size_is_unknown(monkeypatch):
    """An unknown length or batch gives an If on the stacked state's size; a fully known size picks the
    form while building (here 5 steps x 4 rows x 3 units = 60 elements, either side of the limit). All
    four give the same gradients (up to the rounding of reassociated products)."""
    grads = {}
    for limit in (1 << 62, 0):
        grads["if", limit], ops = _lstm_step_gradients(monkeypatch, limit)
        assert "If" in ops and "Scan" in ops
    for limit in (61, 60):
        grads["static", limit], ops = _lstm_step_gradients(monkeypatch, limit, shape=(5, 4), batch_size=4)
        assert "If" not in ops
    reference = grads["static", 60]
    for key, g in grads.items():
        for a, b in zip(g, reference):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=str(key))
