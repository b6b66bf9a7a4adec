"""Worker threads for the stages whose kernels release the GIL (Pillow encoding, numba, numpy),
and how many threads t-SNE can use on a busy machine.

Work is split into pieces whose results are combined in submission order, so the output never
depends on the number of threads; one thread means no pool at all (everything on the caller).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T")


@contextmanager
def worker_pool(threads: int) -> Iterator[ThreadPoolExecutor | None]:
    """A pool of ``threads`` worker threads, or None for one thread.

    On an error or an interrupt the work still queued is cancelled, not waited for.
    """
    if threads <= 1:
        yield None
        return
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tsnegrid")
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def submit(pool: ThreadPoolExecutor | None, fn: Callable[..., T], *args: object) -> Future[T]:
    """``pool.submit``, or without a pool the call done now, as a finished future."""
    if pool is not None:
        return pool.submit(fn, *args)
    done: Future[T] = Future()
    done.set_result(fn(*args))
    return done


def run_ranges(
    pool: ThreadPoolExecutor | None, n: int, parts: int, fn: Callable[..., object], *args: object
) -> None:
    """``fn(*args, lo, hi)`` for ``parts`` consecutive ranges covering ``0..n``, on ``pool``
    (without one, in turn here); returns when all are done, raising the first error. ``fn``
    must write only its own range's outputs, so the split changes no result."""
    parts = max(1, parts)
    cuts = [n * k // parts for k in range(parts + 1)]
    jobs = [submit(pool, fn, *args, lo, hi) for lo, hi in itertools.pairwise(cuts)]
    for job in jobs:
        job.result()


def even_cuts(weights: Sequence[int] | NDArray[np.int64], parts: int) -> list[int]:
    """``parts + 1`` bounds from 0 to ``len(weights)`` cutting the items into runs of about
    equal total weight: no run weighs more than a share and one item (a run beside an item
    heavier than a share may be empty)."""
    ends = np.cumsum(np.asarray(weights, dtype=np.int64))
    if len(ends) == 0:
        return [0] * (parts + 1)
    at = np.searchsorted(ends, ends[-1] * np.arange(1, parts) / parts, side="right")
    return [0, *np.minimum(at, len(ends)).tolist(), len(ends)]


def shrinking_cuts(weights: Sequence[int] | NDArray[np.int64], threads: int) -> list[int]:
    """Bounds from 0 to ``len(weights)`` cutting the items into runs for ``threads`` threads
    that take the next run as they come free (:func:`start_chunks`): each run about half an
    even share of the weight still left, down to ``1 / (16 threads)`` of the total, so the
    first runs are long and the last short and the threads end close together (guided
    scheduling). As in :func:`even_cuts`, a run weighs at most its share and one item, and
    runs beside an item heavier than a share may be empty. One thread has nothing to balance:
    one run.
    """
    if threads <= 1:
        return [0, len(weights)]
    least = 1.0 / (16 * threads)
    left, fractions = 1.0, []
    while left > least:
        left -= max(left / (2 * threads), least)
        fractions.append(1.0 - left)
    ends = np.cumsum(np.asarray(weights, dtype=np.int64))
    if len(ends) == 0:
        return [0] * (len(fractions) + 2)
    at = np.searchsorted(ends, ends[-1] * np.asarray(fractions), side="right")
    return [0, *np.minimum(at, len(ends)).tolist(), len(ends)]


def start_chunks(
    pool: ThreadPoolExecutor | None,
    workers: int,
    fn: Callable[..., object],
    calls: Sequence[tuple[object, ...]],
) -> Callable[[], None]:
    """Start ``workers`` threads of ``pool`` on ``fn(*args)`` for every ``args`` of ``calls``,
    each thread taking the next call not yet taken; return ``finish``, which the caller calls
    when it is free: it takes the calls left itself, waits for the workers and raises the first
    error.

    Whoever is free takes the next call, so a caller busy with something else meanwhile (t-SNE
    builds its tree) and calls of uneven cost still end together. Each call must write only its
    own outputs: which thread runs it then changes no result. Without a pool every call runs in
    ``finish``.
    """
    taken = itertools.count()  # next() on it is atomic: each index goes to one thread
    failed = threading.Event()  # after an error the others take no new chunk

    def drain() -> None:
        for k in taken:
            if k >= len(calls) or failed.is_set():
                return
            try:
                fn(*calls[k])
            except BaseException:
                failed.set()
                raise

    jobs = [pool.submit(drain) for _ in range(workers)] if pool is not None else []

    def finish() -> None:
        try:
            drain()
        finally:
            wait(jobs)
        for job in jobs:
            job.result()

    return finish


_WORKQUEUE_LOCK = threading.RLock()


@contextmanager
def numba_threads(threads: int) -> Iterator[None]:
    """numba's parallel loops (``prange``) on ``threads`` threads meanwhile, at most the size of
    its pool (``NUMBA_NUM_THREADS``, the CPU count by default). The setting is the calling
    thread's own; the previous one comes back afterwards.

    numba's fallback threading layer, ``workqueue`` (where neither TBB nor OpenMP is found),
    aborts the process when two threads launch parallel loops at once: under it, and before
    numba has chosen a layer, such sections take turns.
    """
    import numba

    before = numba.get_num_threads()
    pool_size = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    with nullcontext() if _threadsafe_layer() else _WORKQUEUE_LOCK:
        numba.set_num_threads(max(1, min(int(threads), pool_size)))
        try:
            yield
        finally:
            numba.set_num_threads(before)


def _threadsafe_layer() -> bool:
    """Whether numba's chosen threading layer allows parallel loops from several threads."""
    import numba

    try:
        return str(numba.threading_layer()) != "workqueue"
    except ValueError:  # no layer chosen yet: no parallel loop has run
        return False


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """BLAS on one thread meanwhile. OpenBLAS's results change in the last bits with its thread
    count, and its idle threads spin on the cores our own worker threads need."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


#: How long :func:`busy_cores` watches the machine.
BUSY_SAMPLE_SECONDS = 0.05  # five ticks of /proc/stat's 100 Hz clock per CPU


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class CpuSample:
    """The machine's and this process's CPU tick counters at one moment."""

    seconds: float  # time.monotonic()
    cpus: dict[int, tuple[int, int]]  # {cpu: (busy ticks, total ticks)}
    own: int  # ticks this process has used


def sample_cpus(
    *,
    read: Callable[[], dict[int, tuple[int, int]]] | None = None,
    own: Callable[[], int] | None = None,
) -> CpuSample | None:
    """The counters now; None where they cannot be read (no ``/proc``).

    ``read`` returns ``{cpu: (busy ticks, total ticks)}`` (default: ``/proc/stat``); ``own`` the
    ticks this process has used (default: ``/proc/self/stat``).
    """
    try:
        return CpuSample(time.monotonic(), (read or _proc_stat)(), (own or _own_ticks)())
    except (OSError, ValueError, IndexError):
        return None


def busy_cores(
    cpus: Sequence[int],
    *,
    since: CpuSample | None = None,
    read: Callable[[], dict[int, tuple[int, int]]] | None = None,
    own: Callable[[], int] | None = None,
    seconds: float = BUSY_SAMPLE_SECONDS,
) -> float | None:
    """How many of ``cpus`` other processes kept busy since the sample ``since`` (or, without
    one, over the next ``seconds``), watched for at least ``seconds``; None where that cannot be
    read (no ``/proc``).

    This process's own threads are not counted, so it may work meanwhile (the pipeline takes
    the sample before the neighbour search and reads it after: no waiting). Nor is a library's
    pool that spins a while after its last task (OpenBLAS does): it is not another process.
    """
    before = since if since is not None else sample_cpus(read=read, own=own)
    if before is None:
        return None
    time.sleep(max(0.0, before.seconds + seconds - time.monotonic()))
    after = sample_cpus(read=read, own=own)
    if after is None:
        return None
    busy = 0.0
    totals = []
    for cpu in cpus:
        if cpu not in before.cpus or cpu not in after.cpus:
            return None
        total = after.cpus[cpu][1] - before.cpus[cpu][1]
        busy += (after.cpus[cpu][0] - before.cpus[cpu][0]) / total if total > 0 else 0.0
        totals.append(total)
    per_cpu = sum(totals) / len(totals) if totals else 0.0
    if per_cpu > 0:
        busy -= (after.own - before.own) / per_cpu
    return min(max(busy, 0.0), float(len(cpus)))


def threads_to_use(threads: int, n_cpus: int, busy: float | None) -> int:
    """``threads``, but no more than the CPUs left free (rounded to the nearest), and at least 1.

    Threads that synchronise many times a second (t-SNE's gradient loop) crawl when one of them
    shares its core with another process: each step waits for the descheduled thread. On the
    2-core machine, 2 threads beside a busy process took 26 s where 1 thread took 5 s.
    """
    free = n_cpus - (busy or 0.0)
    return max(1, min(threads, n_cpus, int(free + 0.5)))


def _own_ticks() -> int:
    """User and system ticks of this process, all its threads, from ``/proc/self/stat``."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime and stime: fields 14 and 15 of stat(5)


def _proc_stat() -> dict[int, tuple[int, int]]:
    """``{cpu: (busy, total)}`` jiffies from ``/proc/stat`` (idle and iowait are not busy)."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(f) for f in fields[:8]]
            idle = ticks[3] + ticks[4]
            out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return out
