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
