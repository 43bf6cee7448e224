"""PyDataset workers: ordered prefetch on a thread or process pool, bounded queue, errors, shutdown (issue 10)."""
import multiprocessing
import threading
import time

import numpy as np
import pytest

import fgc
from fgc import layers
from fgc.training.prefetch import OrderedPrefetcher

B = 8


def build():
    fgc.utils.set_random_seed(1)
    x = fgc.Input((3,), name="x")
    model = fgc.Model(x, layers.Dense(2, name="d")(x))
    model.compile("sgd", "mse")
    return model


class Slow(fgc.utils.PyDataset):
    """Batches whose fetch time decreases with the index, so unordered workers would finish out of order."""

    def __init__(self, x, y, fail_at=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.fail_at = x, y, fail_at

    def __len__(self):
        return -(-len(self.x) // B)

    def __getitem__(self, index):
        time.sleep(0.002 * (len(self) - index))
        if index == self.fail_at:
            raise KeyError(f"no record {index}")
        return self.x[index * B:(index + 1) * B], self.y[index * B:(index + 1) * B]


def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((45, 3)), rng.standard_normal((45, 2))


def pool_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fgc-data")]


def same_weights(a, b):
    return all(np.array_equal(wa, wb) for wa, wb in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("processes", [False, True])
def test_workers_give_the_batches_in_order(processes):
    x, y = data()
    ref = build()
    h_ref = ref.fit(x, y, batch_size=B, shuffle=False, epochs=2, validation_data=(x[:20], y[:20]), verbose=0)
    got = build()
    ds = Slow(x, y, workers=3, use_multiprocessing=processes, max_queue_size=4)
    h_got = got.fit(ds, shuffle=False, epochs=2, validation_data=Slow(x[:20], y[:20], workers=2), verbose=0)
    assert h_got.history == h_ref.history and same_weights(got, ref)
    np.testing.assert_array_equal(got.predict(ds), ref.predict(x, batch_size=B))
    assert got.evaluate(ds, verbose=0) == ref.evaluate(x, y, batch_size=B, verbose=0)
    assert not pool_threads() and not multiprocessing.active_children()


def test_queue_holds_at_most_max_queue_size_batches():
    started, release = [], threading.Event()

    class Blocking:
        def __getitem__(self, index):
            started.append(index)
            release.wait(5)
            return index

    fetcher = OrderedPrefetcher(Blocking(), range(100), workers=4, processes=False, max_queue_size=3, label="t")
    try:
        time.sleep(0.05)
        assert len(started) <= 3          # requested ahead: never more than the queue
        release.set()
        assert [next(fetcher) for _ in range(10)] == list(range(10))
        assert len(started) <= 10 + 3
    finally:
        release.set()
        fetcher.close()


@pytest.mark.parametrize("processes", [False, True])
def test_worker_error_names_the_batch_and_pools_end(processes):
    x, y = data()
    model = build()
    before = model.get_weights()
    with pytest.raises(KeyError, match="no record 2") as info:
        model.fit(Slow(x, y, fail_at=2, workers=2, use_multiprocessing=processes), shuffle=False, verbose=0)
    where = "worker process" if processes else "worker thread"
    assert any(f"batch 2 of Slow (a PyDataset) (__getitem__(2) in a {where})" in n for n in info.value.__notes__)
    assert not pool_threads() and not multiprocessing.active_children()
    # the two good batches trained; the failure did not leave a half-written step
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_error_without_workers_names_the_batch():
    x, y = data()
    with pytest.raises(KeyError) as info:
        build().fit(Slow(x, y, fail_at=3, workers=0), shuffle=False, verbose=0)
    assert any("batch 3 of Slow (a PyDataset) (__getitem__(3))" in n for n in info.value.__notes__)


def test_keyboard_interrupt_shuts_the_pool_down():
    x, y = data()

    class Interrupt(fgc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build().fit(Slow(x, y, workers=3), shuffle=False, epochs=3, verbose=0, callbacks=[Interrupt()])
    assert not pool_threads()
