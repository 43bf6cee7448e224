import io
from dataclasses import dataclass

import pytest

from fgc import Input, Model, layers
from fgc.passes import CSE, DCE, FuseGemm, InlineModels, LowerLayers, Pass, PassError, PassManager, ShapeInference
from fgc.passes import inference_pipeline


def _model():
    i = Input(shape=(4,))
    return Model(i, layers.Dense(2, activation="relu")(i))


def test_print_ir_after_env_var(monkeypatch):
    monkeypatch.setenv("FGC_PRINT_IR_AFTER", "lower_layers,fuse_gemm")
    monkeypatch.delenv("FGC_PRINT_IR_AFTER_ALL", raising=False)
    stream = io.StringIO()
    PassManager(inference_pipeline(), stream=stream).run(_model().to_graph())
    text = stream.getvalue()
    headers = [line for line in text.splitlines() if line.startswith("// -----")]
    assert headers == ["// ----- IR after lower_layers", "// ----- IR after fuse_gemm"]
    after_lower, after_fuse = text.split("// ----- IR after fuse_gemm")
    assert "%dense/MatMul = MatMul(%input_layer, %dense/kernel) : f32[N,2]" in after_lower
    assert "%dense/Gemm = Gemm(%input_layer, %dense/kernel, %dense/bias) : f32[N,2]" in after_fuse


def test_print_ir_after_all_goes_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv("FGC_PRINT_IR_AFTER_ALL", "1")
    PassManager([InlineModels(), ShapeInference(), LowerLayers()]).run(_model().to_graph())
    err = capsys.readouterr().err
    assert [l for l in err.splitlines() if l.startswith("// -----")] == [
        "// ----- IR after inline_models", "// ----- IR after shape_inference", "// ----- IR after lower_layers"]


def test_nothing_printed_without_the_env_vars(monkeypatch, capsys):
    monkeypatch.delenv("FGC_PRINT_IR_AFTER", raising=False)
    monkeypatch.delenv("FGC_PRINT_IR_AFTER_ALL", raising=False)
    _model().predict([[1.0, 2.0, 3.0, 4.0]])
    captured = capsys.readouterr()
    assert "IR after" not in captured.err + captured.out


@dataclass(frozen=True)
class Boom(Pass):
    name = "boom"

    def run(self, graph):
        raise RuntimeError("kaboom")


def test_failing_pass_reports_its_name_and_the_passes_before():
    pm = PassManager([InlineModels(), ShapeInference(), Boom(), DCE()])
    with pytest.raises(PassError, match=r"^pass 'boom' failed \(after: inline_models, shape_inference\): "
                                        r"RuntimeError: kaboom$") as err:
        pm.run(_model().to_graph())
    assert isinstance(err.value.__cause__, RuntimeError)


def test_failing_first_pass_says_nothing_ran_before():
    with pytest.raises(PassError, match=r"pass 'boom' failed \(after: nothing\)"):
        PassManager([Boom()]).run(_model().to_graph())


@dataclass(frozen=True)
class Corrupt(Pass):
    """Leaves an op with a wrong recorded type: verify_each must catch it right after this pass."""
    name = "corrupt"

    def run(self, graph):
        from fgc.ir import TensorType

        node = graph.nodes_with_op("Relu")[0]
        graph.node(node)["outputs"] = (TensorType(("N", 7), "float32"),)
        return True


def test_verify_each_catches_a_bad_pass():
    pm = PassManager([InlineModels(), ShapeInference(), LowerLayers(), Corrupt(), CSE()], verify_each=True)
    with pytest.raises(PassError, match=r"pass 'corrupt' failed \(after: inline_models, shape_inference, "
                                        r"lower_layers\): VerifyError: .*records f32\[N,7\]"):
        pm.run(_model().to_graph())


def test_timings_and_modified_flags():
    pm = PassManager([InlineModels(), ShapeInference(), LowerLayers(), FuseGemm(), DCE()])
    pm.run(_model().to_graph())
    assert [(name, modified) for name, _, modified in pm.timings] == [
        ("inline_models", False), ("shape_inference", False), ("lower_layers", True), ("fuse_gemm", True),
        ("dce", False)]
    assert all(sec >= 0 for _, sec, _ in pm.timings)
    assert "fuse_gemm" in pm.report() and "modified" in pm.report()


def test_passes_are_frozen_dataclasses_with_names():
    names = [p.name for p in inference_pipeline()]
    assert names == ["inline_models", "shape_inference", "lower_layers", "dedup_shared_weights",
                     "shape_inference", "cse", "cse", "simplify", "fuse_gemm", "fuse_conv_bias", "fold_batchnorm",
                     "cancel_transposes", "hoist_transposes", "cancel_transposes",
                     "dce", "fold_negation", "broadcast_forms"]
    with pytest.raises(Exception):
        LowerLayers().training = True
