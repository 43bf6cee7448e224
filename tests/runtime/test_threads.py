"""fgc/runtime/threads.py and make_session's thread cap: a step with little arithmetic per batch runs on
one intra-op thread, FGC_NUM_THREADS stays the most any session gets."""
import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.runtime import session as rt
from fgc.runtime.threads import SMALL_STEP_FLOPS, step_threads


def _mlp():
    x = fgc.Input((64,))
    h = layers.Dense(32, activation="relu")(x)
    return fgc.Model(x, layers.Dense(10, activation="softmax")(h))


def _compiled_step(model, rows):
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(rows, 64)), np.eye(10)[rng.integers(0, 10, rows)], batch_size=rows, verbose=0)
    return model._trainer.step(True)


def _batch_symbols(graph):
    return {graph.type_of(v).shape[0] for v in graph.inputs
            if graph.type_of(v).shape and isinstance(graph.type_of(v).shape[0], str)}


def _flops_per_row(graph):
    from fgc.passes.flops import matmul_flops

    return sum(matmul_flops(graph, {d: 1 for d in _batch_symbols(graph)}).values())


def test_a_small_step_gets_one_thread_and_a_large_one_is_left_to_onnxruntime(monkeypatch):
    monkeypatch.delenv("FGC_NUM_THREADS", raising=False)
    small = _compiled_step(_mlp(), 16)
    assert small.threads == 1
    assert small.session.get_session_options().intra_op_num_threads == 1
    assert step_threads(small.graph, None) is None
    # a batch twice the line's size
    assert step_threads(small.graph, int(2 * SMALL_STEP_FLOPS / _flops_per_row(small.graph))) is None


def test_the_count_decides_at_the_line():
    step = _compiled_step(_mlp(), 16)
    below = int(SMALL_STEP_FLOPS // _flops_per_row(step.graph))
    assert step_threads(step.graph, below) == 1
    assert step_threads(step.graph, below + 2) is None


def test_unknown_lengths_leave_the_choice_to_onnxruntime():
    x = fgc.Input((None, 8))
    model = fgc.Model(x, layers.Dense(1)(layers.LSTM(4)(x)))
    model.compile(optimizer="sgd", loss="mse")
    graph = model._trainer.step(True).graph
    assert step_threads(graph, 4) is None   # the sequence length is not known before a batch comes


@pytest.mark.parametrize("cap, wanted, expected", [(None, 1, 1), ("2", 1, 1), ("1", None, 1), ("1", 4, 1),
                                                   ("3", None, 3)])
def test_fgc_num_threads_is_a_cap(monkeypatch, cap, wanted, expected):
    if cap is None:
        monkeypatch.delenv("FGC_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("FGC_NUM_THREADS", cap)
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(proto)
    sess = rt.make_session(proto.SerializeToString(), "cpu", threads=wanted)
    assert sess.get_session_options().intra_op_num_threads == expected


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_cap_that_is_not_a_thread_count_is_refused(monkeypatch, value):
    from fgc.runtime.threads import thread_cap

    monkeypatch.setenv("FGC_NUM_THREADS", value)
    with pytest.raises(ValueError, match=f"FGC_NUM_THREADS={value!r}: expected a whole number"):
        thread_cap()


# ---------------------------------------------------------------------------- predict: small calls on one thread
from fgc.runtime.threads import SMALL_CALL_FLOPS, small_call_rows  # noqa: E402


def _conv():
    x = fgc.Input((8, 8, 3))
    y = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    return fgc.Model(x, layers.Dense(2)(layers.GlobalAveragePooling2D()(y)))


def _attention():
    x = fgc.Input((6, 8))
    y = layers.LayerNormalization()(x + layers.MultiHeadAttention(2, 4)(x, x))
    return fgc.Model(x, layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling1D()(y)))


def _fixed_lstm():
    x = fgc.Input((5, 3))
    return fgc.Model(x, layers.Dense(2)(layers.LSTM(4)(x)))


def _runner(model, monkeypatch, cap="2"):
    """The model's inference runner on a pool of ``cap`` threads (2 by default, whatever this machine has)."""
    monkeypatch.setenv("FGC_NUM_THREADS", cap)
    if rt.get_device() != "cpu":
        pytest.skip("the 1-thread session is a CPU rule")
    return model._runner()


def test_the_call_rule_counts_flops_per_row(monkeypatch):
    runner = _runner(_mlp(), monkeypatch)
    per_row = _flops_per_row(runner.graph)
    assert runner.small_rows == small_call_rows(runner.graph, 0) > 1
    assert (runner.small_rows - 1) * per_row < SMALL_CALL_FLOPS <= runner.small_rows * per_row


def test_no_small_calls_where_one_thread_is_the_cap_the_weights_are_large_or_the_work_unknown(monkeypatch):
    graph = _runner(_mlp(), monkeypatch, cap="1").graph
    assert small_call_rows(graph, 0) == 0
    monkeypatch.setenv("FGC_NUM_THREADS", "2")
    assert small_call_rows(graph, 0) > 0
    assert small_call_rows(graph, 2 ** 30) == 0
    x = fgc.Input((None, 3))
    assert _runner(fgc.Model(x, layers.LSTM(4)(x)), monkeypatch).small_rows == 0   # the length comes with a batch


@pytest.mark.parametrize("build", [_mlp, _conv, _attention, _fixed_lstm])
def test_a_small_call_runs_on_a_one_thread_session_with_the_same_numbers(monkeypatch, build):
    model = build()
    runner = _runner(model, monkeypatch)
    assert runner.small_rows > 4
    x = np.random.default_rng(0).normal(size=(3, *model.inputs[0].shape[1:])).astype(np.float32)
    small = model.predict(x, verbose=0)
    assert runner.small_session.get_session_options().intra_op_num_threads == 1
    assert runner._session is None   # the default session is made by the first call that needs it
    runner.small_rows = 0   # every call on the default session now
    np.testing.assert_array_equal(model.predict(x, verbose=0), small)
    assert runner._session is not None
    np.testing.assert_array_equal(model.predict_on_batch(x), small)


def test_a_large_call_keeps_the_default_session_and_new_weights_remake_both(monkeypatch):
    model = _mlp()
    runner = _runner(model, monkeypatch)
    rng = np.random.default_rng(1)
    large = rng.normal(size=(runner.small_rows, 64)).astype(np.float32)
    model.predict(large, batch_size=len(large), verbose=0)
    assert runner._session is not None and runner.small_session is None
    before = model.predict(large[:2], verbose=0)
    model.set_weights([w + 0.5 for w in model.get_weights()])
    after = model.predict(large[:2], verbose=0)
    assert not np.array_equal(before, after)
    assert model._runner() is runner and runner._session is None   # dropped: no call has needed it yet
    runner.small_rows = 0
    np.testing.assert_array_equal(after, model.predict(large[:2], verbose=0))   # the default one has them too


def test_one_thread_as_the_cap_makes_no_second_session(monkeypatch):
    model = _mlp()
    runner = _runner(model, monkeypatch, cap="1")
    model.predict(np.zeros((3, 64), np.float32), verbose=0)
    assert runner.small_rows == 0 and runner.small_session is None
    assert runner.session.get_session_options().intra_op_num_threads == 1


def test_a_fixed_batch_decides_once_and_a_graph_without_counted_work_never(monkeypatch):
    x = fgc.Input((64,), batch_size=4)
    model = fgc.Model(x, layers.Dense(3)(x))
    runner = _runner(model, monkeypatch)
    assert runner.small_rows > 4   # every call does the same 4 rows of work, under the line
    data = np.random.default_rng(2).normal(size=(8, 64)).astype(np.float32)
    small = model.predict(data, verbose=0)
    assert runner.small_session is not None
    runner.small_rows = 0
    np.testing.assert_array_equal(model.predict(data, verbose=0), small)
    y = fgc.Input((5,))
    assert _runner(fgc.Model(y, layers.Activation("relu")(y)), monkeypatch).small_rows == 0
