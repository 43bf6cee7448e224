"""A batch source is never materialised: the peak of Python-side allocations during fit / predict stays
within a few batches, however many batches the source yields (issue 10)."""
import tracemalloc

import numpy as np
import pytest

import fgc
from fgc import layers

ROWS, DIM, BATCHES = 1024, 256, 40
BATCH_BYTES = ROWS * DIM * 8          # each float64 batch: 2 MiB; all of them: 80 MiB


def build():
    fgc.utils.set_random_seed(1)
    x = fgc.Input((DIM,), name="x")
    model = fgc.Model(x, layers.Dense(1, name="d")(x))
    model.compile("sgd", "mse")
    return model


def batches():
    rng = np.random.default_rng(0)
    for _ in range(BATCHES):
        yield rng.standard_normal((ROWS, DIM)), rng.standard_normal((ROWS, 1))


class Big(fgc.utils.PyDataset):
    def __len__(self):
        return BATCHES

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        return rng.standard_normal((ROWS, DIM)), rng.standard_normal((ROWS, 1))


def peak_bytes(run) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("source", ["generator", "pydataset-threads"])
def test_fit_peak_stays_within_a_few_batches(source):
    model = build()
    model.predict(np.zeros((2, DIM)))   # compile sessions outside the measurement
    if source == "generator":
        def run():
            model.fit(batches(), shuffle=False, verbose=0)
    else:
        def run():
            model.fit(Big(workers=2, max_queue_size=2), shuffle=False, verbose=0)
    peak = peak_bytes(run)
    assert peak < 8 * BATCH_BYTES, f"peak {peak / 2**20:.1f} MiB for {BATCHES} batches of 2 MiB"


def test_predict_peak_is_the_outputs_plus_a_few_batches():
    model = build()
    model.predict(np.zeros((2, DIM)))
    peak = peak_bytes(lambda: model.predict((x for x, _ in batches())))
    outputs = BATCHES * ROWS * 4 * 2   # the float32 outputs, and their concatenation
    assert peak < outputs + 6 * BATCH_BYTES
