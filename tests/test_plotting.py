"""plot_model / model_to_dot / plot_ir: DOT text with no dependency, other formats through Graphviz."""
from __future__ import annotations

import shutil

import pytest

import fgc
from fgc import Input, Model, layers


def _model():
    i = Input((4,), name="inner_in")
    inner = Model(i, layers.Dense(3, name="inner_dense")(i), name="inner")
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = layers.Dense(4, name="shared")
    out = layers.Dense(1, name="out")(layers.add([inner(shared(a)), inner(shared(b))], name="both"))
    return Model([a, b], out, name="twin")


def test_dot_has_one_box_per_layer_and_every_connection(tmp_path):
    dot = fgc.utils.model_to_dot(_model(), show_shapes=True)
    for box in ('"a" [label="{a (InputLayer)', '"shared" [label="{shared (Dense)|in: (None, 4) | out: (None, 4)}"]',
                '"inner" [label="{inner (Functional)'):
        assert box in dot
    assert dot.count('"shared" [label') == 1     # shared: one box, two incoming edges
    for edge in ('"a" -> "shared"', '"b" -> "shared"', '"shared" -> "inner"', '"inner" -> "both"', '"both" -> "out"'):
        assert edge in dot
    path = fgc.utils.plot_model(_model(), to_file=tmp_path / "m.dot", expand_nested=True)
    text = open(path).read()
    assert "subgraph cluster_0" in text and '"inner/inner_dense"' in text and '"shared" -> "inner/inner_dense"' in text


def test_ir_graph_lists_the_compiled_ops(tmp_path):
    path = fgc.utils.plot_ir(_model(), tmp_path / "ir.dot")
    text = open(path).read()
    assert "MatMul" in text or "Gemm" in text
    assert text.startswith('digraph "twin (inference)"')


def test_rendered_formats_need_graphviz(tmp_path, monkeypatch):
    if shutil.which("dot"):
        fgc.utils.plot_model(_model(), to_file=tmp_path / "m.svg", show_shapes=True)
        assert (tmp_path / "m.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"needs Graphviz's 'dot' program.*apt-get install graphviz"):
        fgc.utils.plot_model(_model(), to_file=tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()
