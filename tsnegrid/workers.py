"""Worker threads for the stages whose kernels release the GIL (Pillow encoding, numba, numpy).

Work is split into pieces whose results are combined in submission order, so the output never
depends on the number of threads; one thread means no pool at all (everything on the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

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
