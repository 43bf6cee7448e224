"""direct_run (fgc/runtime/session.py): the hot loops' session.run without the wrapper's checks gives the
same outputs, and falls back to session.run where onnxruntime's wrapper has no inner session."""
import numpy as np
import onnx
from onnx import TensorProto, helper

from fgc.runtime.session import direct_run, make_session


def _session():
    node = helper.make_node("Add", ["a", "b"], ["c"])
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "abc"]
    model = helper.make_model(helper.make_graph([node], "add", info[:2], info[2:]),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return make_session(model.SerializeToString(), "cpu")


def test_direct_run_gives_what_session_run_gives():
    session = _session()
    feeds = {"a": np.array([1, 2], np.float32), "b": np.array([3, 5], np.float32)}
    np.testing.assert_array_equal(direct_run(session)(["c"], feeds)[0], session.run(["c"], feeds)[0])


def test_direct_run_falls_back_to_the_public_run():
    class Wrapper:   # an onnxruntime build whose session keeps no `_sess`
        def run(self, outputs, feeds):
            return ["public"]
    assert direct_run(Wrapper())(["c"], {}) == ["public"]


def test_direct_run_falls_back_when_the_inner_run_takes_other_arguments():
    class Inner:
        def run(self, outputs, feeds):   # no run_options argument
            return ["inner"]

    class Wrapper:
        _sess = Inner()

        def run(self, outputs, feeds):
            return ["public"]
    assert direct_run(Wrapper())(["c"], {}) == ["public"]
