"""fit / evaluate / predict over generators, iterators, PyDataset and Sequence-like objects (issue 10).

The reference for every number is the same batches given as numpy arrays (shuffle=False, the same
batch size): the two runs must end with identical weights, losses and predictions.
"""
import random
import warnings

import numpy as np
import pytest

import fgc
from fgc import layers

B = 16
N = 70          # 4 full batches of 16 and a last batch of 6


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, 4)), rng.standard_normal((N, 2))


def build(compile_kwargs=None, seed=1):
    fgc.utils.set_random_seed(seed)
    x = fgc.Input((4,), name="x")
    model = fgc.Model(x, layers.Dense(2, name="d")(x))
    model.compile(**(compile_kwargs or {"optimizer": "sgd", "loss": "mse"}))
    return model


def batches_of(*arrays, size=B):
    return [tuple(a[s:s + size] for a in arrays) for s in range(0, len(arrays[0]), size)]


def gen(*arrays, size=B):
    yield from batches_of(*arrays, size=size)


class Batches(fgc.utils.PyDataset):
    """A PyDataset over arrays that records which indices were asked for."""

    def __init__(self, *arrays, size=B, **kwargs):
        super().__init__(**kwargs)
        self.items, self.asked, self.epochs_begun, self.epochs_ended = batches_of(*arrays, size=size), [], 0, 0

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        self.asked.append(index)
        return self.items[index]

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


def same_weights(a, b):
    return all(np.array_equal(wa, wb) for wa, wb in zip(a.get_weights(), b.get_weights()))


class OnlyIterable:
    def __iter__(self):
        return iter([])


quiet = pytest.mark.filterwarnings("ignore:.*shuffle=True is ignored")


# ---------------------------------------------------------------------------------------------- equal to arrays
@quiet
def test_generator_fit_evaluate_predict_equal_arrays(data):
    x, y = data
    ref, got = build(), build()
    h_ref = ref.fit(x, y, batch_size=B, shuffle=False, verbose=0)
    h_got = got.fit(gen(x, y), verbose=0)
    assert h_got.history == h_ref.history
    assert same_weights(got, ref)
    assert got.evaluate(gen(x, y), verbose=0) == ref.evaluate(x, y, batch_size=B, verbose=0)
    assert got.evaluate(gen(x, y), verbose=0, return_dict=True) == ref.evaluate(x, y, batch_size=B, verbose=0,
                                                                                  return_dict=True)
    expected = ref.predict(x, batch_size=B)
    np.testing.assert_array_equal(got.predict(gen(x)), expected)          # batches of x alone
    np.testing.assert_array_equal(got.predict(gen(x, y)), expected)       # (x, y): y is not used
    np.testing.assert_array_equal(got.predict((b[0] for b in batches_of(x))), expected)   # bare arrays


def test_pydataset_two_epochs_equal_arrays(data):
    x, y = data
    ref, got = build(), build()
    h_ref = ref.fit(x, y, batch_size=B, shuffle=False, epochs=2, verbose=0)
    ds = Batches(x, y)
    h_got = got.fit(ds, shuffle=False, epochs=2, verbose=0)
    assert h_got.history == h_ref.history and same_weights(got, ref)
    assert ds.epochs_begun == ds.epochs_ended == 2


def test_pydataset_shuffle_orders_batches_as_keras():
    # Keras shuffles a finite PyDataset's batch order with random.Random(epoch), epochs counted from 1
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((64, 4)), rng.standard_normal((64, 2))
    ds = Batches(x, y)
    got = build()
    got.fit(ds, epochs=2, verbose=0)   # shuffle=True is fit's default
    ref = build()
    orders = []
    for epoch in (1, 2):
        order = list(range(4))
        random.Random(epoch).shuffle(order)
        orders += order
        xs = np.concatenate([ds.items[i][0] for i in order])
        ys = np.concatenate([ds.items[i][1] for i in order])
        ref.fit(xs, ys, batch_size=B, shuffle=False, verbose=0)
    assert ds.asked[1:] == orders   # asked[0]: the first batch, read once to check the data
    assert same_weights(got, ref)


def test_sequence_like_object_and_iterator(data):
    x, y = data

    class OldSequence:   # Keras 2 style: no base class, __len__ + __getitem__ (+ on_epoch_end)
        def __init__(self):
            self.ended = 0

        def __len__(self):
            return len(batches_of(x, y))

        def __getitem__(self, i):
            return batches_of(x, y)[i]

        def on_epoch_end(self):
            self.ended += 1

    ref = build()
    ref.fit(x, y, batch_size=B, shuffle=False, epochs=2, verbose=0)
    seq = OldSequence()
    got = build()
    got.fit(seq, shuffle=False, epochs=2, verbose=0)
    assert same_weights(got, ref) and seq.ended == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = build()
        it.fit(iter(batches_of(x, y)), verbose=0)
    one = build()
    one.fit(x, y, batch_size=B, shuffle=False, verbose=0)
    assert same_weights(it, one)


@quiet
def test_multi_input_output_dicts_and_sample_weights():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))
    ya, yb = rng.standard_normal((40, 1)), rng.integers(0, 3, 40)
    sw = rng.uniform(0.1, 2.0, 40)

    def make():
        fgc.utils.set_random_seed(2)
        ia, ib = fgc.Input((3,), name="a"), fgc.Input((2,), name="b")
        h = layers.Concatenate()([ia, ib])
        model = fgc.Model({"a": ia, "b": ib}, {"reg": layers.Dense(1, name="reg")(h),
                                               "cls": layers.Dense(3, activation="softmax", name="cls")(h)})
        model.compile("adam", {"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                      metrics={"cls": ["accuracy"]})
        return model

    def batches():
        for s in range(0, 40, 12):
            yield ({"a": a[s:s + 12], "b": b[s:s + 12]}, {"reg": ya[s:s + 12], "cls": yb[s:s + 12]},
                   {"reg": sw[s:s + 12], "cls": sw[s:s + 12]})

    ref, got = make(), make()
    h_ref = ref.fit({"a": a, "b": b}, {"reg": ya, "cls": yb}, sample_weight={"reg": sw, "cls": sw},
                    batch_size=12, shuffle=False, verbose=0)
    h_got = got.fit(batches(), verbose=0)
    assert h_got.history == h_ref.history and same_weights(got, ref)
    expected = ref.predict({"a": a, "b": b}, batch_size=12)
    predicted = got.predict(({"a": a[s:s + 12], "b": b[s:s + 12]},) for s in range(0, 40, 12))
    for key in ("reg", "cls"):
        np.testing.assert_array_equal(predicted[key], expected[key])


def test_validation_data_as_sources(data):
    x, y = data
    vx, vy = x[:30] * 2, y[:30]
    ref = build()
    h_ref = ref.fit(x, y, batch_size=B, shuffle=False, epochs=2, validation_data=(vx, vy), verbose=0)
    got = build()
    h_got = got.fit(x, y, batch_size=B, shuffle=False, epochs=2, validation_data=Batches(vx, vy), verbose=0)
    assert h_got.history == h_ref.history
    # a generator validates once; the second epoch has no validation data left (warned, not made up)
    third = build()
    with pytest.warns(UserWarning, match="ran out of data; no validation this epoch"):
        h = third.fit(x, y, batch_size=B, shuffle=False, epochs=2, validation_data=gen(vx, vy), verbose=0)
    assert h.history["val_loss"] == h_ref.history["val_loss"][:1]


@quiet
def test_unbuilt_sequential_builds_from_the_first_batch(data):
    x, y = data

    def make():
        fgc.utils.set_random_seed(4)
        model = fgc.Sequential([layers.Dense(3, activation="relu"), layers.Dense(2)])
        model.compile("sgd", "mse")
        return model

    ref, got = make(), make()
    fgc.utils.set_random_seed(5)   # the weights are drawn when fit builds the model
    ref.fit(x, y, batch_size=B, shuffle=False, verbose=0)
    fgc.utils.set_random_seed(5)
    got.fit(gen(x, y), verbose=0)
    assert got.layers[0].get_weights()[0].shape == (4, 3)
    assert same_weights(got, ref)


@quiet
def test_unbuilt_subclassed_model_builds_from_the_first_batch(data):
    x, y = data

    class Net(fgc.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    models = []
    for source in ((x, y), (gen(x, y),)):
        fgc.utils.set_random_seed(6)
        model = Net()
        model.compile("sgd", "mse")
        if len(source) == 2:
            model.fit(*source, batch_size=B, shuffle=False, verbose=0)
        else:
            model.fit(source[0], verbose=0)
        models.append(model)
    assert same_weights(*models)
    fgc.utils.set_random_seed(6)
    assert Net().predict(gen(x)).shape == (N, 2)


@quiet
def test_steps_per_execution_groups_generator_batches(data):
    x, y = data
    compiled = {"optimizer": "sgd", "loss": "mse", "steps_per_execution": 2}
    ref, got = build(compiled), build(compiled)
    h_ref = ref.fit(x, y, batch_size=B, shuffle=False, verbose=0)
    h_got = got.fit(gen(x, y), verbose=0)
    np.testing.assert_allclose(h_got.history["loss"], h_ref.history["loss"], rtol=1e-6)
    for wa, wb in zip(got.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- steps
def test_endless_generator_takes_steps_per_epoch(data):
    x, y = data
    taken = []

    def endless():
        i = 0
        while True:
            taken.append(i)
            yield x[(i % 4) * B:(i % 4 + 1) * B], y[(i % 4) * B:(i % 4 + 1) * B]
            i += 1

    model = build()
    with pytest.warns(UserWarning, match="shuffle=True is ignored"):
        history = model.fit(endless(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert len(taken) <= 3 * 2 + 1   # the steps, plus at most one batch read ahead
    ref = build()
    ref.fit(np.concatenate([x[:64], x[:32]]), np.concatenate([y[:64], y[:32]]), batch_size=B, shuffle=False,
            verbose=0)
    assert same_weights(model, ref)


def test_pydataset_steps_continue_across_epochs_and_restart(data):
    x, y = data
    ds = Batches(x, y)   # 5 batches
    seen = []

    class Count(fgc.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(0)

        def on_train_batch_end(self, batch, logs=None):
            seen[-1] += 1

    with pytest.warns(UserWarning, match="ran out of data; this epoch ends early"):
        build().fit(ds, steps_per_epoch=3, epochs=3, shuffle=False, verbose=0, callbacks=[Count()])
    # Keras: epoch 1 reads batches 0-2, epoch 2 the remaining 3-4 (and warns), epoch 3 starts over
    assert ds.asked[1:] == [0, 1, 2, 3, 4, 0, 1, 2]
    assert seen == [3, 2, 3]


def test_finite_generator_stops_training_when_used_up(data):
    x, y = data
    model = build()
    with pytest.warns(UserWarning, match="ran out of data; interrupting training"):
        history = model.fit(gen(x, y), epochs=3, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 1


def test_generator_running_out_mid_epoch_ends_it(data):
    x, y = data
    model = build()
    with pytest.warns(UserWarning, match="ran out of data; this epoch ends early"):
        history = model.fit(gen(x, y), steps_per_epoch=10, shuffle=False, verbose=0)
    ref = build()
    h_ref = ref.fit(x, y, batch_size=B, shuffle=False, verbose=0)
    assert history.history == h_ref.history and same_weights(model, ref)


def test_evaluate_and_predict_steps(data):
    x, y = data
    model = build()
    assert model.evaluate(gen(x, y), steps=2, verbose=0) == pytest.approx(
        model.evaluate(x[:32], y[:32], batch_size=B, verbose=0), rel=1e-12)
    assert model.predict(gen(x), steps=2).shape == (32, 2)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert model.predict(gen(x), steps=9).shape == (N, 2)


def test_callbacks_and_progress_see_the_steps(data, capsys):
    x, y = data
    params = []

    class Params(fgc.callbacks.Callback):
        def on_train_begin(self, logs=None):
            params.append(self.params["steps"])

    model = build()
    model.fit(gen(x, y), shuffle=False, verbose=2, callbacks=[Params()])
    model.fit(Batches(x, y), shuffle=False, verbose=0, callbacks=[Params()])
    model.fit(Batches(x, y), steps_per_epoch=2, shuffle=False, verbose=0, callbacks=[Params()])
    assert params == [None, 5, 2]      # unknown for a generator, as Keras
    assert "5/5" in capsys.readouterr().out   # the epoch line counts the steps once they are known


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs, match", [
    ({"y": np.zeros((N, 2))}, "y must not be passed"),
    ({"sample_weight": np.ones(N)}, "sample_weight must not be passed"),
    ({"class_weight": {0: 1.0}}, "class_weight is not supported"),
    ({"batch_size": 8}, "batch_size must not be passed"),
    ({"validation_split": 0.2}, "validation_split is not supported"),
])
def test_arguments_refused_with_a_generator(data, kwargs, match):
    x, y = data
    model = build()
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit(gen(x, y), shuffle=False, verbose=0, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_shuffle_with_a_generator_warns_as_keras(data):
    x, y = data
    with pytest.warns(UserWarning, match="shuffle=True is ignored"):
        build().fit(gen(x, y), verbose=0)


def test_other_refusals(data):
    x, y = data
    model = build()
    with pytest.raises(ValueError, match="validation_batch_size must not be passed"):
        model.fit(x, y, validation_data=Batches(x, y), validation_batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="evaluate\\(\\).*batch_size must not be passed"):
        model.evaluate(gen(x, y), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="predict\\(\\).*batch_size must not be passed"):
        model.predict(gen(x), batch_size=4)

    class Endless(fgc.utils.PyDataset):
        num_batches = None

        def __getitem__(self, i):
            return x[:B], y[:B]

    with pytest.raises(ValueError, match="endless.*steps_per_epoch="):
        model.fit(Endless(), shuffle=False, verbose=0)
    history = model.fit(Endless(), steps_per_epoch=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 1
    with pytest.raises(ValueError, match="yielded no batches"):
        model.fit(iter([]), verbose=0)


@pytest.mark.parametrize("bad, match", [
    ({1, 2, 3}, "set has no order"),
    ("data.csv", "Strings cannot be fed"),
    (object(), "not data fgc can read"),
    (OnlyIterable(), "iterable but neither an iterator"),
])
def test_unknown_objects_are_refused_at_once(data, bad, match):
    x, y = data
    model = build()
    for call in (lambda: model.fit(bad, verbose=0), lambda: model.evaluate(bad, verbose=0),
                 lambda: model.predict(bad)):
        with pytest.raises(TypeError, match=match) as info:
            call()
        assert "PyDataset" in str(info.value) and "generator" in str(info.value)


def test_fake_dataloader_without_torch_is_refused():
    class DataLoader:   # named like torch's, but not from torch.utils.data
        def __iter__(self):
            return iter([])

    with pytest.raises(TypeError, match="torch DataLoader"):
        build().fit(DataLoader(), verbose=0)


def test_a_source_inside_array_data_is_refused(data):
    x, y = data
    model = build()
    with pytest.raises(TypeError, match="input 'x' is an object of type generator"):
        model.fit({"x": gen(x)}, y, verbose=0)
    with pytest.raises(TypeError, match="input 'x' is an object of type generator"):
        model.train_on_batch(gen(x), y)


def test_sequence_like_is_never_materialised(data):
    # the reported bug: np.asarray over an object with __len__/__getitem__ ran for minutes into an OOM kill
    x, y = data

    class Huge:
        def __init__(self):
            self.calls = 0

        def __len__(self):
            return 10 ** 12

        def __getitem__(self, i):
            self.calls += 1
            return x[:B], y[:B]

    huge = Huge()
    model = build()
    model.fit(huge, steps_per_epoch=2, shuffle=False, verbose=0)
    assert model.evaluate(huge, steps=2, verbose=0) > 0
    assert model.predict(huge, steps=1).shape == (B, 2)
    assert huge.calls <= 8


@quiet
def test_bad_batches_name_their_index(data):
    x, y = data

    def wrong_shape():
        yield from batches_of(x, y)[:3]
        yield np.zeros((B, 5)), y[:B]

    with pytest.raises(ValueError, match=r"fit\(\): the generator, batch 3: input 'x' expects shape"):
        build().fit(wrong_shape(), verbose=0)
    with pytest.raises(ValueError, match="batch 0 has 4 entries"):
        build().fit(iter([(x, y, None, None)]), verbose=0)
    with pytest.raises(TypeError, match="batch 0 is an object of type str"):
        build().fit(iter(["x"]), verbose=0)
    with pytest.raises(ValueError, match="batch 1.*need targets y"):
        build().fit(iter([(x[:B], y[:B]), (x[:B],)]), verbose=0)
    with pytest.raises(TypeError, match=r"batch 2 of the epoch \(__getitem__\(2\)\): input 'x' has dtype"):
        ds = Batches(x, y)
        ds.items[2] = (x[:B].astype(str), y[:B])
        build().fit(ds, shuffle=False, verbose=0)


@quiet
def test_fixed_batch_size_model_rejects_a_short_batch(data):
    x, y = data
    fgc.utils.set_random_seed(1)
    inp = fgc.Input((4,), batch_size=B, name="x")
    model = fgc.Model(inp, layers.Dense(2)(inp))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="batch 4 holds 6 samples.*fixed batch size of 16"):
        model.fit(gen(x, y), verbose=0)
    model.fit(gen(x[:64], y[:64]), verbose=0)


def test_pydataset_class_weight_equals_arrays():
    rng = np.random.default_rng(5)
    x, ids = rng.standard_normal((48, 4)), rng.integers(0, 2, 48)

    def make():
        fgc.utils.set_random_seed(1)
        inp = fgc.Input((4,), name="x")
        model = fgc.Model(inp, layers.Dense(2, activation="softmax")(inp))
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model

    weights = {0: 1.0, 1: 3.0}
    ref, got = make(), make()
    h_ref = ref.fit(x, ids, batch_size=B, class_weight=weights, shuffle=False, verbose=0)
    h_got = got.fit(Batches(x, ids), class_weight=weights, shuffle=False, verbose=0)
    assert h_got.history == h_ref.history and same_weights(got, ref)
    with pytest.raises(ValueError, match="class_weight and per-batch sample weights"):
        make().fit(Batches(x, ids, np.ones(48)), class_weight=weights, shuffle=False, verbose=0)


def test_pydataset_arguments_checked():
    with pytest.raises(ValueError, match="workers must be an integer >= 0"):
        fgc.utils.PyDataset(workers=-1)
    with pytest.raises(ValueError, match="max_queue_size must be an integer >= 1"):
        fgc.utils.PyDataset(max_queue_size=0)
    assert fgc.utils.Sequence is fgc.utils.PyDataset

    class NoSuper(fgc.utils.PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

    with pytest.warns(UserWarning, match="should call super\\(\\).__init__"):
        assert NoSuper().workers == 1
    by_hand = list(Batches(np.arange(12.0).reshape(3, 4), size=2))   # iterating runs __getitem__ in order
    assert [b[0].tolist() for b in by_hand] == [[[0, 1, 2, 3], [4, 5, 6, 7]], [[8, 9, 10, 11]]]


def test_dataloader_like_iterable_is_read_again_every_epoch(data):
    # a class from torch.utils.data's module is iterated as a plain iterable, as Keras' adapter does (no torch here)
    x, y = data

    class DataLoader:
        __module__ = "torch.utils.data.dataloader"

        def __init__(self):
            self.passes = 0

        def __len__(self):
            return len(batches_of(x, y))

        def __iter__(self):
            self.passes += 1
            return iter([list(b) for b in batches_of(x, y)])   # default_collate gives lists

    loader = DataLoader()
    got = build()
    with pytest.warns(UserWarning, match="shuffle=True is ignored because x is the torch DataLoader"):
        h_got = got.fit(loader, epochs=2, verbose=0)
    ref = build()
    h_ref = ref.fit(x, y, batch_size=B, shuffle=False, epochs=2, verbose=0)
    assert h_got.history == h_ref.history and same_weights(got, ref)
    assert loader.passes >= 2
    with pytest.raises(ValueError, match="class_weight is not supported"):
        got.fit(loader, class_weight={0: 1.0}, shuffle=False, verbose=0)


def test_progress_bar_with_unknown_steps():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    bar = fgc.callbacks.ProgbarLogger(verbose=1, stream=out)
    bar.set_params({"epochs": 1, "steps": None, "verbose": 1})
    bar.on_epoch_begin(0)
    bar.on_train_batch_end(0, {"loss": 0.5})
    bar.on_train_batch_end(1, {"loss": 0.25})
    bar.on_epoch_end(0, {"loss": 0.25})
    text = out.getvalue()
    assert "1/Unknown" in text and text.rstrip().split("\r")[-1].startswith("2/2 ")


def test_batches_of_different_sequence_lengths_weigh_as_keras():
    # each batch's loss is its own mean over its timesteps; the epoch's is the batch-size-weighted mean of them
    rng = np.random.default_rng(7)
    fgc.utils.set_random_seed(3)
    inp = fgc.Input((None, 3), name="x")
    model = fgc.Model(inp, layers.Dense(1, name="d")(inp))
    model.compile("sgd", "mse", weighted_metrics=["mae"])
    parts = [(rng.standard_normal((n, t, 3)), rng.standard_normal((n, t, 1)), rng.uniform(0.5, 2, n))
             for n, t in ((8, 5), (8, 9), (3, 2))]
    got = model.evaluate(iter(parts), verbose=0, return_dict=True)
    sizes = np.array([len(p[0]) for p in parts], float)
    losses = [model.evaluate(*p[:2], sample_weight=p[2], batch_size=len(p[0]), verbose=0, return_dict=True)
              for p in parts]
    assert got["loss"] == pytest.approx(np.dot(sizes, [b["loss"] for b in losses]) / sizes.sum(), rel=1e-6)
    # Keras' weighted mae: each sample's mean over its timesteps, then sum(w * value) / sum(w) over the epoch
    pred = [model.predict(p[0], batch_size=len(p[0])) for p in parts]
    num = sum(float((p[2] * np.abs(q[..., 0] - p[1][..., 0]).mean(axis=1)).sum()) for p, q in zip(parts, pred))
    den = sum(float(p[2].sum()) for p in parts)
    assert got["mae"] == pytest.approx(num / den, rel=1e-5)


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_keras2_loader_arguments_point_to_pydataset(data, method):
    x, y = data
    model = build()
    call = getattr(model, method)
    with pytest.raises(TypeError, match=rf"{method}\(\) got workers: .*super\(\).__init__\(workers=...\)"):
        call(Batches(x, y), workers=4) if method == "predict" else call(Batches(x, y), workers=4, verbose=0)


def test_generator_error_names_the_batch(data):
    x, y = data

    def failing():
        yield from batches_of(x, y)[:2]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone") as info:
        build().fit(failing(), shuffle=False, verbose=0)
    assert "while reading batch 2 from the generator" in info.value.__notes__
