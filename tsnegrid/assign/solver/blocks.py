"""Per-point kernels on worker threads, split so that the result never depends on the split.

The kernels run here (candidate floods, the certification's branch and bound) compute each
point's output from the point alone and write it to that point's own row of a shared output
array, so any split of the points gives the same arrays, bit for bit. The kernels are numba
functions compiled with ``nogil=True``; each block runs on one worker thread of
:func:`tsnegrid.runtime.workers.worker_pool`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from tsnegrid.runtime.workers import submit, worker_pool

MIN_BLOCK = 4096  # fewer points than this per thread are not worth a thread


def blocks(n: int, threads: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges covering ``0..n`` in order: one per thread, at least
    ``MIN_BLOCK`` points each (a single block for one thread or a small ``n``)."""
    parts = max(1, min(threads, n // MIN_BLOCK))
    edges = np.linspace(0, n, parts + 1).round().astype(np.int64)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def run_blocks(n: int, threads: int, work: Callable[[int, int], object]) -> None:
    """Call ``work(start, stop)`` on every block of :func:`blocks`, on ``threads`` threads.

    ``work`` must write only its own points' outputs; errors are raised here.
    """
    parts = blocks(n, threads)
    if len(parts) == 1:
        work(*parts[0])
        return
    with worker_pool(len(parts)) as pool:
        futures = [submit(pool, work, a, b) for a, b in parts]
        for future in futures:
            future.result()
