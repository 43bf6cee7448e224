"""Batches.chunks (fgc/training/loop.py): each batch's sample weights over its own loss elements, the
rows of a shuffled pass gathered once."""
import numpy as np

from fgc.training.loop import Batches


def _data(n=10):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.random((n, 3)).astype(np.float32), "sw/out": rng.random(n).astype(np.float32)}
    return Batches(arrays, {"sw/out": 2})   # 2 loss elements per sample


def test_every_batch_weight_is_divided_by_its_own_batch_and_element_count():
    data = _data()
    got = list(data.chunks(4))
    assert [sizes for _, sizes in got] == [[4], [4], [2]]
    for i, (feeds, (n,)) in enumerate(got):
        rows = slice(4 * i, 4 * i + n)
        np.testing.assert_array_equal(feeds["x"], data.arrays["x"][rows])
        np.testing.assert_array_equal(feeds["sw/out"], data.arrays["sw/out"][rows] * np.float32(1 / (n * 2)))


def test_grouped_and_limited_passes_scale_as_single_batches():
    data = _data()
    grouped = list(data.chunks(4, group=2))
    assert [sizes for _, sizes in grouped] == [[4, 4], [2]]
    np.testing.assert_array_equal(grouped[0][0]["sw/out"].reshape(-1), data.arrays["sw/out"][:8] * np.float32(1 / 8))
    assert grouped[0][0]["x"].shape == (2, 4, 3)
    limited = list(data.chunks(3, limit=2, keys=["sw/out"]))
    assert [sizes for _, sizes in limited] == [[3], [3]] and list(limited[0][0]) == ["sw/out"]
    np.testing.assert_array_equal(limited[1][0]["sw/out"], data.arrays["sw/out"][3:6] * np.float32(1 / 6))


def test_a_shuffled_subset_gathers_the_rows_in_order():
    data = _data()
    order = np.array([3, 1, 4, 0, 9, 2, 6, 5, 8, 7])
    shuffled = data.subset(order)
    for key, values in data.arrays.items():
        np.testing.assert_array_equal(shuffled.arrays[key], values[order])
    assert shuffled.loss_elements == data.loss_elements and data.subset(slice(2, 5)).n == 3


def test_a_shuffle_into_an_earlier_one_rewrites_its_arrays_and_batches():
    data = _data()
    first = data.shuffled(np.arange(10)[::-1])
    batches = list(first.chunks(4))
    order = np.array([3, 1, 4, 0, 9, 2, 6, 5, 8, 7])
    again = data.shuffled(order, into=first)
    assert again is first
    fresh = list(data.subset(order).chunks(4))
    reused = list(again.chunks(4))
    for (got, got_sizes), (want, want_sizes), (old, _) in zip(reused, fresh, batches):
        assert got_sizes == want_sizes and got.keys() == want.keys()
        for key in want:
            assert got[key] is old[key]   # the same views (and scaled arrays), made once
            np.testing.assert_array_equal(got[key], want[key])   # the weights rescaled, the short batch too


def test_batches_read_the_arrays_as_they_are_at_each_pass():
    data = _data()
    list(data.chunks(4))
    data.arrays["sw/out"][:] = 1.0
    data.arrays["x"][:] = 2.0
    for feeds, (n,) in data.chunks(4):
        np.testing.assert_array_equal(feeds["sw/out"], np.full(n, np.float32(1 / (n * 2))))
        np.testing.assert_array_equal(feeds["x"], np.full((n, 3), 2.0, np.float32))


def test_a_shuffle_leaves_uniform_feeds_ungathered():
    rng = np.random.default_rng(0)
    data = Batches({"x": rng.random((10, 3)).astype(np.float32), "sw/out": np.ones(10, np.float32)},
                   {"sw/out": 1}, uniform=["sw/out"])
    order = rng.permutation(10)
    first = data.shuffled(order)
    assert np.shares_memory(first.arrays["sw/out"], data.arrays["sw/out"])
    again = data.shuffled(order[::-1].copy(), into=first)
    np.testing.assert_array_equal(again.arrays["x"], data.arrays["x"][order[::-1]])
    np.testing.assert_array_equal(again.arrays["sw/out"], np.ones(10, np.float32))
    assert again.uniform == {"sw/out"}


def test_the_weights_of_ones_are_scaled_once_and_not_rescaled_each_pass():
    data = Batches({"x": np.zeros((10, 3), np.float32), "sw/out": np.ones(10, np.float32)}, {"sw/out": 2},
                   uniform=["sw/out"])
    first = [feeds["sw/out"] for feeds, _ in data.chunks(4)]
    plan = next(iter(data._plans.values()))
    assert plan.products == []   # nothing to recompute: a shuffle never writes the uniform rows
    again = [feeds["sw/out"] for feeds, _ in data.chunks(4)]
    for got, old, n in zip(again, first, (4, 4, 2)):
        assert got is old
        np.testing.assert_array_equal(got, np.full(n, np.float32(1 / (n * 2))))
