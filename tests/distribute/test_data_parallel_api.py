"""compile(distribute=DataParallel()) in one process (a job of one): the API, its errors and its numbers."""
import numpy as np
import onnx
import pytest

pytest.importorskip("mpi4py")

import fgc  # noqa: E402
from fgc import Input, Model, layers  # noqa: E402
from fgc.distribute import DataParallel  # noqa: E402


def model_and_data(seed=0):
    fgc.utils.set_random_seed(seed)
    inp = Input(shape=(5,))
    h = layers.BatchNormalization()(layers.Dense(6, activation="relu")(inp))
    model = Model(inp, layers.Dense(2, activation="softmax")(h))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(50, 5))
    return model, x, np.eye(2)[(x[:, 0] > 0).astype(int)]


def test_a_job_of_one_trains_like_plain_fit():
    """K=1: the split step (gradients, Allreduce over one process, update) gives the fused step's numbers."""
    results = []
    for distribute in (None, DataParallel()):
        model, x, y = model_and_data()
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"], distribute=distribute)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2)
        results.append((model.get_weights(), history.history, model.optimizer.iterations))
    (plain_w, plain_h, plain_it), (dp_w, dp_h, dp_it) = results
    assert plain_it == dp_it == 9
    for a, b in zip(dp_w, plain_w):    # BatchNorm's moving statistics included
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert dp_h.keys() == plain_h.keys()
    for key in plain_h:
        np.testing.assert_allclose(dp_h[key], plain_h[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_evaluate_and_train_on_batch_run_split():
    model, x, y = model_and_data(1)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", distribute=DataParallel())
    reference, _, _ = model_and_data(1)
    reference.compile(optimizer="sgd", loss="categorical_crossentropy")
    for m in (model, reference):
        m.train_on_batch(x[:20], y[:20])
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), reference.evaluate(x, y, verbose=0), rtol=1e-6)


def test_export_of_a_distributed_model_is_the_fused_train_step(tmp_path):
    model, x, y = model_and_data(2)
    model.compile(optimizer="adam", loss="categorical_crossentropy", distribute=DataParallel())
    model.fit(x, y, batch_size=25, epochs=1, verbose=0)
    model.export(tmp_path / "step.onnx", training=True)
    proto = onnx.load(tmp_path / "step.onnx")
    names = {i.name for i in proto.graph.input}
    assert {"params", "lr", "step", "opt/momentum/params"} <= names
    assert "new/params" in {o.name for o in proto.graph.output}


def test_distribute_takes_a_data_parallel_object():
    model, _, _ = model_and_data()
    with pytest.raises(TypeError, match=r"compile\(distribute=...\) takes an fgc.distribute.DataParallel\(\), got str"):
        model.compile(optimizer="sgd", loss="mse", distribute="mpi")
    assert model._trainer is None


@pytest.mark.parametrize("timeout", [0, -1, "10", True])
def test_timeout_must_be_positive_seconds(timeout):
    with pytest.raises(ValueError, match="positive number of seconds"):
        DataParallel(timeout=timeout)


def test_unsplittable_reduction_is_refused_before_compile_changes_anything():
    model, _, _ = model_and_data()
    model.compile(optimizer="sgd", loss="mse")
    before = model._trainer
    loss = fgc.losses.MeanSquaredError(reduction="mean_with_sample_weight")
    with pytest.raises(ValueError, match="mean_with_sample_weight.*'sum_over_batch_size'"):
        model.compile(optimizer="sgd", loss=loss, distribute=DataParallel())
    assert model._trainer is before
