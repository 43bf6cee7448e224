"""model.predict's array path (fgc/model_api.py): batches, steps and the last partial batch give what
predicting each batch on its own gives, for a dict-output model; a changed graph gets a new session."""
import numpy as np
import pytest

import fgc
from fgc import layers


def two_outputs():
    fgc.utils.set_random_seed(3)
    x = fgc.Input((5,), name="x")
    h = layers.Dense(4, activation="relu", name="h")(x)
    return fgc.Model(x, {"probs": layers.Dense(3, activation="softmax", name="probs")(h),
                         "score": layers.Dense(1, name="score")(h)})


X = np.random.default_rng(0).standard_normal((23, 5)).astype(np.float32)


@pytest.mark.parametrize("batch_size, steps", [(4, None), (5, None), (23, None), (64, None), (4, 3), (5, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_in_batches_equals_the_batches_one_by_one(batch_size, steps, dtype):
    model = two_outputs()
    got = model.predict(X.astype(dtype), batch_size=batch_size, steps=steps, verbose=0)
    rows = len(X) if steps is None else min(len(X), steps * batch_size)
    one = [model.predict_on_batch(X[i:min(i + batch_size, rows)]) for i in range(0, rows, batch_size)]
    assert set(got) == {"probs", "score"}
    for key in got:
        want = np.concatenate([o[key] for o in one])
        assert got[key].shape == want.shape and got[key].dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got[key], want)


def test_predict_of_a_view_equals_predict_of_a_copy():
    model = two_outputs()
    wide = np.repeat(X, 2, axis=1)[:, ::2]     # not C-contiguous: the checked path copies it
    assert not wide.flags.c_contiguous
    for key, value in model.predict(wide, batch_size=7, verbose=0).items():
        np.testing.assert_array_equal(value, model.predict(X, batch_size=7, verbose=0)[key])


def test_sequential_add_after_predict_predicts_with_the_new_layer():
    model = fgc.Sequential([fgc.Input((5,)), layers.Dense(4, name="a")])
    assert model.predict(X, verbose=0).shape == (23, 4)
    model.add(layers.Dense(2, name="b"))
    got = model.predict(X, verbose=0)
    a, b = model.get_layer("a"), model.get_layer("b")
    hidden = X @ a.get_weights()[0] + a.get_weights()[1]
    np.testing.assert_allclose(got, hidden @ b.get_weights()[0] + b.get_weights()[1], rtol=1e-5, atol=1e-6)


def embedding_model():
    fgc.utils.set_random_seed(4)
    ids = fgc.Input((3,), dtype="int64", name="ids")
    # ids reshaped inside the model: the host cannot check them, the inference graph counts bad ones itself
    return fgc.Model(ids, layers.Embedding(10, 2, name="emb")(layers.Reshape((3,), name="same")(ids)))


def test_run_rows_is_run_on_those_rows_and_raises_the_graph_checks():
    model = embedding_model()
    ids = np.arange(12, dtype=np.int64).reshape(4, 3) % 10
    runner = model._runner()
    assert runner.check_names
    np.testing.assert_array_equal(runner.run_rows([ids], 1, 3)[0], runner.run([ids[1:3]])[0])
    np.testing.assert_array_equal(model.predict(ids, batch_size=3, verbose=0), runner.run([ids])[0])
    bad = ids.copy()
    bad[3, 0] = 10
    runner.run_rows([bad], 0, 3)   # the bad id is not in these rows
    with pytest.raises(ValueError, match="emb"):
        runner.run_rows([bad], 3, 4)


def test_float64_ids_are_checked_as_the_float32_the_model_gets():
    fgc.utils.set_random_seed(5)
    ids = fgc.Input((2,), name="ids")   # float32 ids, as Keras allows
    model = fgc.Model(ids, layers.Embedding(10, 2, name="emb")(ids))
    fine = np.array([[1.0, 9.0]] * 5)
    np.testing.assert_array_equal(model.predict(fine, batch_size=2, verbose=0),
                                  model.predict(fine.astype(np.float32), batch_size=2, verbose=0))
    rounds_up = fine.copy()
    rounds_up[4, 1] = 9.99999999   # < 10 in float64, 10.0 in float32: out of range for the model
    with pytest.raises(ValueError, match="got id 10"):
        model.predict(rounds_up, batch_size=2, verbose=0)
