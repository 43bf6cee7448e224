"""The reverse Scan's two forms (fgc/primitives/scan_grad.py): its elementwise work vectorized over time
outside the loop, or kept in the loop; an If picks between them at run time only when the stacked
states' size is unknown while building. (Finite-difference checks of both forms through every recurrent
layer: tests/layers/test_recurrent_layers.py.)"""
import numpy as np

import fgc
from fgc import Input, Model, layers


def _lstm_step_gradients(monkeypatch, limit, shape=(None, 4), batch_size=None, pooled_limit="same"):
    """Weight changes of one SGD step, the step's top-level op types and the step, with the reverse loop's limit
    ``limit`` on one thread and ``pooled_limit`` on more ("same": ``limit`` too)."""
    from fgc.primitives import scan_grad

    monkeypatch.setattr(scan_grad, "LOOP_FROM_ELEMENTS", limit)
    monkeypatch.setattr(scan_grad, "POOLED_LOOP_FROM_ELEMENTS", limit if pooled_limit == "same" else pooled_limit)
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
    return [a - b for a, b in zip(w0, model.get_weights())], ops, step


def test_the_reverse_loop_form_is_picked_at_run_time_only_when_the_size_is_unknown(monkeypatch):
    """An unknown length or batch gives an If on the stacked state's size; a fully known size picks the
    form while building (here 5 steps x 4 rows x 3 units = 60 elements, either side of the limit). All
    four give the same gradients (up to the rounding of reassociated products)."""
    grads = {}
    for limit in (1 << 62, 0):
        grads["if", limit], ops, _ = _lstm_step_gradients(monkeypatch, limit)
        assert "If" in ops and "Scan" in ops
    for limit in (61, 60):
        grads["static", limit], ops, _ = _lstm_step_gradients(monkeypatch, limit, shape=(5, 4), batch_size=4)
        assert "If" not in ops
    reference = grads["static", 60]
    for key, g in grads.items():
        for a, b in zip(g, reference):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=str(key))


def _reverse_body_ops(proto) -> list[str]:
    """Op types of every Scan body under the step's top level and its Ifs, sorted."""
    bodies = []
    for node in proto.graph.node:
        graphs = [a.g for a in node.attribute if a.g.node]
        for g in graphs if node.op_type == "If" else []:
            graphs += [a.g for n in g.node if n.op_type == "Scan" for a in n.attribute if a.g.node]
        bodies += [n.op_type for g in graphs for n in g.node]
    return sorted(bodies)


def test_a_step_on_a_pool_of_threads_vectorizes_at_every_size(monkeypatch):
    """On more than one intra-op thread the reverse loop's elementwise work runs vectorized outside it at
    every size (the second thread splits those passes, never the loop's small kernels): no If on the
    size, where the one-thread rule keeps one (the length is unknown, so the step's FLOPs are too and
    its session gets the pool). Both give the same gradients."""
    from fgc.primitives import scan_grad

    monkeypatch.setenv("FGC_NUM_THREADS", "2")
    pooled, ops, _ = _lstm_step_gradients(monkeypatch, scan_grad.LOOP_FROM_ELEMENTS, pooled_limit=None)
    assert "If" not in ops and "Scan" in ops
    monkeypatch.setenv("FGC_NUM_THREADS", "1")
    single, ops, _ = _lstm_step_gradients(monkeypatch, scan_grad.LOOP_FROM_ELEMENTS, pooled_limit=None)
    assert "If" in ops
    for a, b in zip(pooled, single):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_small_step_that_runs_on_one_thread_keeps_the_one_thread_form(monkeypatch):
    """A step small enough for one thread (fgc/runtime/threads.py) is built with the one-thread rule even
    where the pool has more: 5 x 4 x 3 = 60 elements reach a limit of 60 (in the loop) that the pooled
    rule (vectorized) ignores, and its loops are those of a one-thread build."""
    monkeypatch.setenv("FGC_NUM_THREADS", "2")
    fixed = dict(shape=(5, 4), batch_size=4, pooled_limit=None)
    two_threads = _reverse_body_ops(_lstm_step_gradients(monkeypatch, 60, **fixed)[2])
    monkeypatch.setenv("FGC_NUM_THREADS", "1")
    assert two_threads == _reverse_body_ops(_lstm_step_gradients(monkeypatch, 60, **fixed)[2])
    # the vectorized form's loop differs, so the comparison above tells the forms apart
    assert two_threads != _reverse_body_ops(_lstm_step_gradients(monkeypatch, 61, **fixed)[2])
