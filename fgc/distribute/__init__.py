"""Data-parallel training over MPI: ``mpirun -n K python train.py`` with one extra argument to compile.

    model.compile(optimizer="adam", loss="mse", distribute=fgc.distribute.DataParallel())
    model.fit(x, y, batch_size=256, epochs=10)     # 256 = the global batch, 256/K rows per process

Every process runs the same script on the same data. Each global batch is split into K contiguous
shards; each process computes the gradient of its shard (sample weights are scaled by the *global*
batch, so the sum of the K gradients is the gradient of the global batch's mean loss), one
``Allreduce`` sums the flat gradient buffer (one more per weight too big for it), and every process
runs the same optimizer update, so weights stay bit-identical. Rank 0's weights and optimizer state
are broadcast at the first step and at the start of every ``fit``. Logs are reduced over the
processes; callbacks and the progress bar run on rank 0 only.
"""
from __future__ import annotations

import numbers

from .group import DistributedError, Group, load_mpi

__all__ = ["DataParallel", "DistributedError"]


class DataParallel:
    """Data parallelism over the processes of an MPI communicator (``MPI.COMM_WORLD`` by default).

    ``timeout`` (seconds) bounds every wait for the other processes: past it each waiting process
    raises ``DistributedError`` naming the processes that did not come, instead of hanging. It has to
    cover the slowest step of the slowest process (and the step's compilation at the first step)."""

    def __init__(self, timeout: float = 60.0, comm=None):
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
            raise ValueError(f"DataParallel(timeout=...) takes a positive number of seconds, got {timeout!r}")
        MPI = load_mpi()
        self.timeout = float(timeout)
        self._comm = MPI.COMM_WORLD if comm is None else comm
        self._group: Group | None = None

    @property
    def group(self) -> Group:
        if self._group is None:   # collective: every process compiles with its DataParallel
            self._group = Group(self._comm, self.timeout)
        return self._group

    @property
    def rank(self) -> int:
        return self._comm.Get_rank()

    @property
    def num_processes(self) -> int:
        return self._comm.Get_size()

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, num_processes={self.num_processes}, timeout={self.timeout:g})"
