"""Embedding: table rows forward, scatter-add gradient, and host-side id checks that name the
layer, the input, the value and its position (seed 002's swapped Embedding(64, 10000))."""
import numpy as np
import pytest

import fgc
from fgc import Input, Model, layers


def _table(model, rng):
    table = rng.normal(size=model.get_weights()[0].shape).astype(np.float32)
    model.set_weights([table] + model.get_weights()[1:])
    return table


def test_weight_layout_and_initializer():
    ids = Input(shape=(3,), dtype="int32")
    emb = layers.Embedding(50, 7)
    emb(ids)
    (table,) = emb.get_weights()
    assert table.shape == (50, 7) and table.dtype == np.float32
    assert np.abs(table).max() <= 0.05 and np.abs(table).max() > 0.01   # uniform(-0.05, 0.05)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_forward_is_table_rows(dtype):
    rng = np.random.default_rng(0)
    inp = Input(shape=(None,), dtype=dtype)
    model = Model(inp, layers.Embedding(12, 5)(inp))
    table = _table(model, rng)
    for batch, steps in ((7, 4), (1, 9)):
        ids = rng.integers(0, 12, size=(batch, steps))
        got = model.predict(ids)
        assert got.shape == (batch, steps, 5)
        np.testing.assert_array_equal(got, table[ids])
    assert len(model._runners) == 1


def test_forward_accepts_whole_floats_and_the_keras1_input_length():
    rng = np.random.default_rng(1)
    inp = Input(shape=(6,), dtype="int32")
    model = Model(inp, layers.Embedding(output_dim=3, input_dim=10, input_length=6)(inp))
    table = _table(model, rng)
    ids = rng.integers(0, 10, size=(4, 6))
    np.testing.assert_array_equal(model.predict(ids.astype(np.float64)), table[ids])


def test_float_input_feeding_an_embedding():
    """Seed 001 feeds Input(shape=(None,)) (float32) to an Embedding: the ids are cast."""
    rng = np.random.default_rng(2)
    inp = Input(shape=(None,))
    model = Model(inp, layers.Embedding(8, 2)(inp))
    table = _table(model, rng)
    ids = rng.integers(0, 8, size=(3, 5))
    np.testing.assert_array_equal(model.predict(ids.astype(np.float32)), table[ids])


def _repeated_ids_model(rng, optimizer):
    inp = Input(shape=(4,), dtype="int32")
    model = Model(inp, layers.Embedding(10, 3)(inp))
    table = _table(model, rng)
    model.compile(optimizer=optimizer, loss="mse")
    ids = np.array([[1, 1, 4, 1], [4, 7, 7, 1]])    # 1 three+one times, 4 twice, 7 twice; the rest unused
    y = rng.normal(size=(2, 4, 3)).astype(np.float32)
    # mse = mean over all 2*4*3 entries of (table[ids] - y)^2; each use of a row adds its share
    grad = np.zeros((10, 3))
    np.add.at(grad, ids, 2.0 * (table[ids].astype(np.float64) - y) / y.size)
    return model, table, ids, y, grad


def test_sgd_step_changes_exactly_the_rows_used_by_their_summed_gradients():
    rng = np.random.default_rng(3)
    model, table, ids, y, grad = _repeated_ids_model(rng, fgc.optimizers.SGD(learning_rate=0.5))
    model.train_on_batch(ids, y)
    new = model.get_weights()[0]
    unused = [r for r in range(10) if r not in ids]
    np.testing.assert_array_equal(new[unused], table[unused])
    np.testing.assert_allclose(new, table - 0.5 * grad, rtol=1e-5, atol=1e-6)


def test_adam_step_changes_exactly_the_rows_used():
    rng = np.random.default_rng(4)
    lr = 0.01
    model, table, ids, y, grad = _repeated_ids_model(rng, fgc.optimizers.Adam(learning_rate=lr))
    model.train_on_batch(ids, y)
    new = model.get_weights()[0]
    unused = [r for r in range(10) if r not in ids]
    np.testing.assert_array_equal(new[unused], table[unused])
    # Keras 3 Adam, t = 1: m = 0.1 g, v = 0.001 g^2, a = lr sqrt(1 - 0.999) / (1 - 0.9)
    m, v = 0.1 * grad, 0.001 * grad ** 2
    a = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
    np.testing.assert_allclose(new, table - m * a / (np.sqrt(v) + 1e-7), rtol=1e-5, atol=1e-7)


def test_gradient_through_embedding_and_lstm_matches_finite_differences():
    rng = np.random.default_rng(5)
    inp = Input(shape=(None,), dtype="int32")
    model = Model(inp, layers.Dense(2)(layers.LSTM(3)(layers.Embedding(6, 4)(inp))))
    _table(model, rng)
    model.compile(optimizer=fgc.optimizers.SGD(learning_rate=1.0), loss="mse")
    ids = np.array([[1, 2, 2, 5], [0, 1, 1, 1], [5, 5, 3, 2]])
    y = rng.normal(size=(3, 2)).astype(np.float32)
    w0 = model.get_weights()
    model.train_on_batch(ids, y)
    grad = w0[0].astype(np.float64) - model.get_weights()[0]
    np.testing.assert_array_equal(grad[4], 0.0)     # id 4 is never used
    eps = 1e-2
    for row, col in ((1, 0), (2, 3), (5, 1), (0, 2)):
        losses = []
        for sign in (1, -1):
            ws = [w.copy() for w in w0]
            ws[0][row, col] += sign * eps
            model.set_weights(ws)
            losses.append(model.evaluate(ids, y, verbose=0))
        fd = (losses[0] - losses[1]) / (2 * eps)
        assert abs(fd - grad[row, col]) <= 1e-2 * (abs(grad[row, col]) + 1e-2), (row, col, fd, grad[row, col])


# ---------------------------------------------------------------------------------------- id checks
def _qa_like_model():
    text = Input(shape=(None,), dtype="int32", name="text")
    question = Input(shape=(None,), dtype="int32", name="question")
    a = layers.LSTM(4)(layers.Embedding(30, 8, name="text_embedding")(text))
    b = layers.LSTM(4)(layers.Embedding(20, 8, name="question_embedding")(question))
    model = Model([text, question], layers.Dense(3, activation="softmax")(layers.concatenate([a, b])))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    return model


def _bad_question():
    text = np.ones((5, 6), dtype=np.int64)
    question = np.ones((5, 6), dtype=np.int64)
    question[3, 2] = 25
    return text, question


@pytest.mark.parametrize("call", ["predict", "fit", "evaluate", "train_on_batch", "fit_dict"])
def test_out_of_range_id_names_layer_input_value_and_position(call):
    model = _qa_like_model()
    text, question = _bad_question()
    y = np.eye(3)[[0, 1, 2, 0, 1]]
    w0 = model.get_weights()
    run = {"predict": lambda: model.predict([text, question]),
           "fit": lambda: model.fit([text, question], y, epochs=1, verbose=0),
           "evaluate": lambda: model.evaluate([text, question], y, verbose=0),
           "train_on_batch": lambda: model.train_on_batch([text, question], y),
           "fit_dict": lambda: model.fit({"question": question, "text": text}, y, epochs=1, verbose=0)}[call]
    with pytest.raises(ValueError) as err:
        run()
    msg = str(err.value)
    assert "Embedding layer 'question_embedding' (input_dim=20)" in msg
    assert "id 25 at position (3, 2) of input 'question'" in msg
    assert "ids must be in [0, 20)" in msg
    assert "swapped" not in msg                           # 25 > output_dim 8 too: not a swap
    assert "input_dim at least 26" in msg
    for a, b in zip(w0, model.get_weights()):             # nothing ran
        np.testing.assert_array_equal(a, b)


def test_validation_data_ids_are_checked_too():
    model = _qa_like_model()
    text, question = _bad_question()
    good_q = np.ones_like(question)
    y = np.eye(3)[[0, 1, 2, 0, 1]]
    with pytest.raises(ValueError, match=r"'question_embedding'.*id 25 at position \(3, 2\) of input 'question'"):
        model.fit([text, good_q], y, validation_data=([text, question], y), epochs=1, verbose=0)


def test_negative_ids_are_rejected():
    inp = Input(shape=(None,), dtype="int32", name="ids")
    model = Model(inp, layers.Embedding(10, 2, name="emb")(inp))
    with pytest.raises(ValueError, match=r"'emb'.*got id -3 at position \(0, 1\) of input 'ids'.*cannot be negative"):
        model.predict(np.array([[1, -3, 2]]))


def test_seed_002_swapped_arguments_get_the_hint():
    """Embedding(64, text_vocabulary_size) fed ids up to 9999: the ids fit output_dim, so the
    arguments look swapped (TensorFlow said only 'indices[0,0] = 4234 is not in [0, 64)')."""
    text = Input(shape=(None,), dtype="int32", name="text")
    embedded = layers.Embedding(64, 10000, name="embedding_6")(text)
    model = Model(text, layers.Dense(1)(layers.LSTM(2)(embedded)))
    ids = np.random.default_rng(6).integers(1, 10000, size=(4, 7))
    with pytest.raises(ValueError) as err:
        model.predict(ids)
    msg = str(err.value)
    assert "Embedding layer 'embedding_6' (input_dim=64)" in msg and "input 'text'" in msg
    bad = int(ids.max())
    pos = tuple(int(i) for i in np.argwhere(ids == bad)[0])
    assert f"got id {bad} at position {pos}" in msg
    assert "look swapped" in msg and "Embedding(10000, 64)" in msg and "Embedding(input_dim, output_dim)" in msg


def test_no_swap_hint_when_ids_exceed_both_dims():
    text = Input(shape=(None,), dtype="int32", name="text")
    model = Model(text, layers.Embedding(64, 100, name="emb")(text))
    with pytest.raises(ValueError) as err:
        model.predict(np.array([[3, 5000, 7]]))
    msg = str(err.value)
    assert "got id 5000 at position (0, 1)" in msg and "swapped" not in msg
    assert "input_dim at least 5001" in msg


def test_ids_are_checked_inside_a_nested_model():
    inner_in = Input(shape=(None,), dtype="int32", name="inner_ids")
    encoder = Model(inner_in, layers.LSTM(2)(layers.Embedding(10, 3, name="inner_emb")(inner_in)), name="encoder")
    outer_in = Input(shape=(None,), dtype="int32", name="outer_ids")
    model = Model(outer_in, encoder(outer_in))
    model.predict(np.array([[1, 9]]))
    with pytest.raises(ValueError, match=r"'inner_emb'.*got id 10 at position \(0, 1\) of input 'outer_ids'"):
        model.predict(np.array([[1, 10]]))


def test_float_ids_with_fractions_fed_to_an_int_input_raise():
    inp = Input(shape=(None,), dtype="int32", name="ids")
    model = Model(inp, layers.Embedding(10, 2)(inp))
    with pytest.raises((TypeError, ValueError), match=r"input 'ids'.*fractions"):
        model.predict(np.array([[1.0, 2.5]]))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises((TypeError, ValueError), match=r"input 'ids'.*fractions"):
        model.fit(np.array([[1.0, 2.5]]), np.zeros((1, 2, 2)), verbose=0)


def test_invalid_dims_are_rejected():
    with pytest.raises(ValueError, match="input_dim must be a positive int"):
        layers.Embedding(0, 3)
    with pytest.raises(ValueError, match="output_dim must be a positive int"):
        layers.Embedding(5, 2.5)
