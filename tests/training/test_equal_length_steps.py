"""The train step specialised on equal input lengths (a shared recurrent layer fused into one Scan) runs only
batches whose lengths agree; other batches train on the general step, with the same numbers."""
import numpy as np
import pytest

import fgc
import fgc.passes.fuse_scans as fuse_scans
from fgc import layers
from fgc.training.export import train_step_proto


def siamese():
    left, right = fgc.Input((None, 3), name="left"), fgc.Input((None, 3), name="right")
    lstm = layers.LSTM(4, name="shared")
    return fgc.Model([left, right], layers.Dense(1, name="out")(layers.concatenate([lstm(left), lstm(right)])))


def batch(lengths, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, t, 3)).astype(np.float32) for t in lengths], rng.normal(size=(n, 1))


def trained(lengths_per_step, fused=True, weights=None, steps_per_execution=1):
    fuse_scans.ENABLED = fused
    try:
        model = siamese()
        if weights is not None:
            model.set_weights(weights)
        model.compile(optimizer="rmsprop", loss="mse", steps_per_execution=steps_per_execution)
        start = model.get_weights()
        losses = [float(model.train_on_batch(*batch(lengths, seed=i))) for i, lengths in enumerate(lengths_per_step)]
    finally:
        fuse_scans.ENABLED = True
    return model, start, losses


def count_scans(proto):
    """Loops run per step: Scans, and Ifs whose branches each hold one (a reverse Scan whose form is picked
    at run time, fgc/primitives/scan_grad.py)."""
    def holds_scan(node):
        return any(n.op_type == "Scan" for a in node.attribute if a.g.node for n in a.g.node)

    return sum(n.op_type == "Scan" or (n.op_type == "If" and holds_scan(n)) for n in proto.graph.node)


def test_unequal_lengths_train_on_the_general_step_with_the_same_numbers():
    lengths = [(5, 5), (5, 7), (6, 6), (2, 9)]
    fused, start, got = trained(lengths)
    unfused, _, want = trained(lengths, fused=False, weights=start)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for w, v in zip(fused.get_weights(), unfused.get_weights()):
        np.testing.assert_allclose(w, v, rtol=1e-5, atol=1e-6)
    trainer = fused._trainer
    assert trainer.step(True).spec.equal_dims == [[("left", 1), ("right", 1)]]
    assert count_scans(trainer.step(True).proto) == 2 and count_scans(trainer.general_step().proto) == 4
    feeds = {"left": np.zeros((1, 3, 3)), "right": np.zeros((1, 3, 3))}
    assert trainer._train_step(feeds) is trainer.step(True)
    assert trainer._train_step({**feeds, "right": np.zeros((1, 4, 3))}) is trainer.general_step()


def test_several_steps_per_call_fall_back_when_lengths_differ():
    rng = np.random.default_rng(1)
    xs, y = [rng.normal(size=(8, 5, 3)), rng.normal(size=(8, 6, 3))], rng.normal(size=(8, 1))
    histories = []
    for fused in (True, False):
        fuse_scans.ENABLED = fused
        try:
            model = siamese()
            if histories:
                model.set_weights(start)
            start = model.get_weights()
            model.compile(optimizer="rmsprop", loss="mse", steps_per_execution=2)
            histories.append(model.fit(xs, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history["loss"])
        finally:
            fuse_scans.ENABLED = True
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)


def test_exported_train_step_takes_any_lengths():
    model, _, _ = trained([(5, 5)])
    assert count_scans(train_step_proto(model)) == 4


@pytest.mark.parametrize("lengths", [(3, 3), (3, 4)])
def test_a_model_without_a_shared_recurrence_assumes_nothing(lengths):
    left, right = fgc.Input((None, 3), name="left"), fgc.Input((None, 3), name="right")
    model = fgc.Model([left, right], layers.concatenate([layers.LSTM(2)(left), layers.GRU(2)(right)]))
    model.compile(optimizer="rmsprop", loss="mse")
    model.train_on_batch(*batch(lengths)[:1], np.zeros((4, 4)))
    assert model._trainer.step(True).spec.equal_dims == [] and model._trainer._general is None
