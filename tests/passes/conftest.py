"""Helpers for pass tests: run the inference pipeline up to (not including) a named pass."""
import pytest

from fgc.ir import verify
from fgc.passes import PassManager, inference_pipeline


@pytest.fixture
def graph_before():
    """``graph_before(model, 'fuse_gemm')``: the model's graph with every earlier pipeline pass run."""
    def build(model, pass_name):
        passes = inference_pipeline()
        names = [p.name for p in passes]
        graph = model.to_graph()
        PassManager(passes[: names.index(pass_name)], verify_each=True).run(graph)
        verify(graph)
        return graph

    return build


@pytest.fixture
def size_rules_everywhere(monkeypatch):
    """Rewrites that apply only above a size (they lose on small tensors) apply to every size, so that the
    small models of the rewrite-agreement corpora exercise them."""
    from fgc.passes import row_sums
    from fgc.primitives import elementwise

    monkeypatch.setattr(row_sums, "MIN_ELEMENTS", 0)
    monkeypatch.setattr(elementwise, "RELU_MASK_PRODUCT_FROM", 0)
