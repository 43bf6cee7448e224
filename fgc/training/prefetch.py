"""Ordered prefetching of ``dataset[index]`` on a thread or process pool, for PyDataset ``workers``.

At most ``max_queue_size`` batches are requested ahead of the one being consumed, and they come back
in request order whatever order the workers finish in. A failing ``__getitem__`` re-raises in the
caller with a note naming the batch; ``close()`` cancels what is queued and joins the pool, which the
training loop does at the end of each pass and in its ``finally`` (errors, KeyboardInterrupt).
"""
from __future__ import annotations

import collections
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

_worker_dataset = None   # in a worker process: the dataset it serves


def _install(dataset) -> None:
    global _worker_dataset
    _worker_dataset = dataset


def _fetch_in_worker(index):
    return _worker_dataset[index]


def _process_context():
    # fork inherits the dataset without pickling its class (tests and notebooks define them locally)
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class OrderedPrefetcher:
    """Iterates ``dataset[index]`` for each of ``indices``, in order, fetched by ``workers`` threads or processes."""

    def __init__(self, dataset, indices, workers: int, processes: bool, max_queue_size: int, label: str):
        self.label, self.processes = label, processes
        if processes:
            self._pool = ProcessPoolExecutor(workers, mp_context=_process_context(), initializer=_install,
                                             initargs=(dataset,))
            self._fetch = _fetch_in_worker
        else:
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fgc-data")
            self._fetch = dataset.__getitem__
        self._indices = iter(indices)
        self._depth = max(int(max_queue_size), 1)
        self._pending: collections.deque = collections.deque()
        self._position = 0
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < self._depth:
            index = next(self._indices, None)
            if index is None:
                return
            self._pending.append((index, self._pool.submit(self._fetch, index)))

    def __iter__(self):
        return self

    def __next__(self):
        if not self._pending:
            raise StopIteration
        index, future = self._pending.popleft()
        position = self._position
        try:
            batch = future.result()
        except Exception as error:
            self.close()
            where = "a worker process" if self.processes else "a worker thread"
            error.add_note(f"while fetching batch {position} of {self.label} ("
                           f"__getitem__({index}) in {where})")
            raise
        self._position += 1
        self._fill()
        return batch

    def close(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
