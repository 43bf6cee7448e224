"""model.summary(): the Keras 3 table, checked through print_fn."""
import pytest

from fgc import Input, Model, Sequential, layers


def _lines(model, **kwargs):
    out = []
    model.summary(print_fn=out.append, **kwargs)
    return out


def _mlp():
    i = Input(shape=(64,))
    x = layers.Dense(32, activation="relu")(i)
    x = layers.Dense(32, activation="relu")(x)
    return Model(i, layers.Dense(10, activation="softmax")(x))


def _cells(line):
    return [c.strip() for c in line.strip("│┃").split("│" if "│" in line else "┃")]


def _first_cell(line):
    """The layer column with its indentation kept (nested layers are indented by two spaces)."""
    return line.split("│")[1][1:].rstrip()


def test_seed_mlp_summary():
    lines = _lines(_mlp())
    assert lines[0] == 'Model: "functional"'
    assert _cells(lines[2]) == ["Layer (type)", "Output Shape", "Param #"]
    rows = [_cells(l) for l in lines if l.startswith("│")]
    assert rows == [["input_layer (InputLayer)", "(None, 64)", "0"],
                    ["dense (Dense)", "(None, 32)", "2,080"],
                    ["dense_1 (Dense)", "(None, 32)", "1,056"],
                    ["dense_2 (Dense)", "(None, 10)", "330"]]
    assert lines[-3:] == [" Total params: 3,466 (13.54 KB)", " Trainable params: 3,466 (13.54 KB)",
                          " Non-trainable params: 0 (0.00 B)"]
    assert {len(l) for l in lines[1:-3]} == {88}      # Keras' default width for a chain


def test_two_input_model_has_connected_to():
    text, question = Input(shape=(4,), name="text"), Input(shape=(4,), name="question")
    shared = layers.Dense(3, name="shared")
    merged = layers.concatenate([shared(text), shared(question)], name="merged")
    lines = _lines(Model([text, question], merged, name="qa"))
    assert lines[0] == 'Model: "qa"'
    assert _cells(lines[2]) == ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    rows = [_cells(l) for l in lines if l.startswith("│")]
    assert rows == [["text (InputLayer)", "(None, 4)", "0", "-"],
                    ["question (InputLayer)", "(None, 4)", "0", "-"],
                    ["shared (Dense)", "(None, 3)", "15", "text[0][0]"],
                    ["", "", "", "question[0][0]"],
                    ["merged (Concatenate)", "(None, 6)", "0", "shared[0][0]"],
                    ["", "", "", "shared[1][0]"]]
    assert {len(l) for l in lines[1:-3]} == {108}
    assert lines[-3] == " Total params: 15 (60.00 B)"


def test_expand_nested_shows_the_inner_layers():
    i = Input(shape=(4,))
    inner = Model(i, layers.Dense(2, name="inner_dense")(i), name="inner")
    j = Input(shape=(4,))
    outer = Model(j, layers.Activation("relu", name="act")(inner(j)), name="outer")
    flat = "\n".join(_lines(outer))
    assert "inner (Functional)" in flat and "inner_dense" not in flat
    rows = [_first_cell(l) for l in _lines(outer, expand_nested=True) if l.startswith("│")]
    assert rows == ["input_layer_1 (InputLayer)", "inner (Functional)", "  input_layer (InputLayer)",
                    "  inner_dense (Dense)", "act (Activation)"]


def test_sequential_summary_and_nested_sequential():
    seq = Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2)], name="block")
    rows = [_cells(l) for l in _lines(seq) if l.startswith("│")]
    assert rows == [["dense (Dense)", "(None, 3)", "15"], ["dense_1 (Dense)", "(None, 2)", "8"]]
    i = Input(shape=(4,))
    outer = Model(i, seq(i))
    rows = [_cells(l)[:3] for l in _lines(outer, expand_nested=True) if l.startswith("│")]
    assert rows[1] == ["block (Sequential)", "(None, 2)", "23"]
    firsts = [_first_cell(l) for l in _lines(outer, expand_nested=True) if l.startswith("│")]
    assert firsts[2:] == ["  dense (Dense)", "  dense_1 (Dense)"]


@pytest.mark.parametrize("line_length", [60, 100, 130])
def test_line_length_is_respected(line_length):
    lines = _lines(_mlp(), line_length=line_length)
    assert {len(l) for l in lines[1:-3]} == {line_length}
    assert "dense_1 (Dense)" in "\n".join(lines)


def test_line_length_two_input_model():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    model = Model([a, b], layers.add([a, b]))
    assert {len(l) for l in _lines(model, line_length=80)[1:-3]} == {80}


def test_long_names_are_truncated_not_wrapped():
    i = Input(shape=(2,))
    model = Model(i, layers.Dense(1, name="a_really_long_layer_name_that_does_not_fit")(i))
    lines = _lines(model, line_length=50)
    assert {len(l) for l in lines[1:-3]} == {50}
    assert any("a_really_long" in l and "…" in l for l in lines)


def test_frozen_layer_counts_as_non_trainable_and_show_trainable():
    model = _mlp()
    model.get_layer("dense").trainable = False
    lines = _lines(model, show_trainable=True)
    assert _cells(lines[2]) == ["Layer (type)", "Output Shape", "Param #", "Trainable"]
    rows = [_cells(l) for l in lines if l.startswith("│")]
    assert [r[-1] for r in rows] == ["-", "N", "Y", "Y"]
    assert {len(l) for l in lines[1:-3]} == {100}
    assert lines[-3:] == [" Total params: 3,466 (13.54 KB)", " Trainable params: 1,386 (5.41 KB)",
                          " Non-trainable params: 2,080 (8.12 KB)"]


def test_layer_range():
    rows = [_cells(l)[0] for l in _lines(_mlp(), layer_range=["dense", "dense_1"]) if l.startswith("│")]
    assert rows == ["dense (Dense)", "dense_1 (Dense)"]
    with pytest.raises(ValueError, match=r"layer_range \['nope', 'dense'\] matches no layers"):
        _mlp().summary(layer_range=["nope", "dense"], print_fn=lambda s: None)


def test_summary_prints_to_stdout_by_default(capsys):
    _mlp().summary()
    assert "Total params: 3,466 (13.54 KB)" in capsys.readouterr().out
