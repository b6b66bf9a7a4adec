from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tsnegrid.runtime.workers import (
    even_cuts,
    numba_threads,
    run_ranges,
    shrinking_cuts,
    start_chunks,
    submit,
    worker_pool,
)


def test_one_thread_means_no_pool_and_the_work_done_at_once() -> None:
    with worker_pool(1) as pool:
        assert pool is None
        assert submit(pool, pow, 2, 10).result() == 1024


def test_an_interrupt_cancels_the_queued_work_instead_of_waiting_for_it() -> None:
    release, ran = threading.Event(), []

    def task(i: int) -> None:
        ran.append(i)
        release.wait(10)

    with pytest.raises(KeyboardInterrupt), worker_pool(2) as pool:
        assert pool is not None
        for i in range(20):
            submit(pool, task, i)
        threading.Timer(0.2, release.set).start()  # lets the two running tasks end
        raise KeyboardInterrupt
    assert sorted(ran) == [0, 1]  # the 18 queued ones never started


def test_busy_cores_counts_what_other_processes_used_of_our_cpus() -> None:
    from tsnegrid.runtime.workers import busy_cores

    readings = iter(
        [
            {0: (100, 1000), 1: (50, 1000), 2: (0, 1000)},
            {0: (200, 1100), 1: (55, 1100), 2: (100, 1100)},
        ]
    )
    # cpu 0 fully busy over the sample, cpu 1 5% busy; cpu 2 is not ours
    busy = busy_cores([0, 1], read=lambda: next(readings), own=lambda: 0, seconds=0)
    assert busy == pytest.approx(1.05)


def test_busy_cores_leaves_out_this_processs_own_threads() -> None:
    from tsnegrid.runtime.workers import busy_cores

    readings = iter([{0: (100, 1000), 1: (50, 1000)}, {0: (200, 1100), 1: (55, 1100)}])
    # Of the 105 busy ticks, 60 were this process's (a spinning pool of its own).
    ours = iter([7, 67])
    busy = busy_cores([0, 1], read=lambda: next(readings), own=lambda: next(ours), seconds=0)
    assert busy == pytest.approx(0.45)
    readings = iter([{0: (0, 0)}, {0: (10, 100)}])
    ours = iter([0, 30])  # rounding of the tick counters: never below 0
    assert busy_cores([0], read=lambda: next(readings), own=lambda: next(ours), seconds=0) == 0.0


def test_busy_cores_is_none_where_it_cannot_be_read() -> None:
    from tsnegrid.runtime.workers import busy_cores

    def unreadable() -> dict[int, tuple[int, int]]:
        raise OSError("no /proc here")

    assert busy_cores([0], read=unreadable, seconds=0) is None
    assert busy_cores([0], read=lambda: {0: (0, 1)}, own=lambda: int("?"), seconds=0) is None
    assert busy_cores([5], read=lambda: {0: (0, 1)}, seconds=0) is None


@pytest.mark.parametrize(
    ("threads", "cpus", "busy", "expected"),
    [
        (2, 2, 0.0, 2),  # an idle machine: as asked
        (2, 2, 0.3, 2),  # light background work: still both
        (2, 2, 1.0, 1),  # one core taken by another process: one thread
        (2, 2, 2.0, 1),  # everything busy: never fewer than one
        (4, 2, 0.0, 2),  # never more threads than CPUs to run them
        (2, 2, None, 2),  # unknown load: as asked
        (1, 8, 0.0, 1),
    ],
)
def test_threads_to_use(threads: int, cpus: int, busy: float | None, expected: int) -> None:
    from tsnegrid.runtime.workers import threads_to_use

    assert threads_to_use(threads, cpus, busy) == expected


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(("n", "parts"), [(10, 1), (10, 3), (2, 5), (0, 2)])
def test_run_ranges_covers_every_index_once(threads: int, n: int, parts: int) -> None:
    hits = np.zeros(n, dtype=np.int64)

    def mark(tag: int, lo: int, hi: int) -> None:
        assert tag == 7  # the extra arguments come first
        hits[lo:hi] += 1

    with worker_pool(threads) as pool:
        run_ranges(pool, n, parts, mark, 7)
    assert hits.tolist() == [1] * n


def test_run_ranges_raises_a_ranges_error() -> None:
    def fail(lo: int, hi: int) -> None:
        if lo > 0:
            raise ValueError(f"range {lo}:{hi}")

    with worker_pool(2) as pool, pytest.raises(ValueError, match="range 5:10"):
        run_ranges(pool, 10, 2, fail)


@pytest.mark.parametrize("parts", [1, 2, 7, 16, 40])
def test_even_cuts_cover_every_item_once_with_even_weight(parts: int) -> None:
    rows = np.random.default_rng(parts).integers(0, 30, 1001)
    rows[500] = 3000  # one item heavier than a share: the runs beside it are empty
    cuts = even_cuts(rows, parts)
    assert cuts[0] == 0 and cuts[-1] == 1001 and len(cuts) == parts + 1
    assert np.all(np.diff(cuts) >= 0)
    work = np.add.reduceat(np.r_[rows, 0], cuts)[:-1] * (np.diff(cuts) > 0)
    assert work.sum() == rows.sum()
    assert np.all(work <= rows.sum() / parts + rows.max())  # a share and one item at most
    assert even_cuts([], 3) == [0, 0, 0, 0]


def test_shrinking_cuts_give_one_thread_one_run() -> None:
    assert shrinking_cuts(np.ones(5001, np.int64), 1) == [0, 5001]
    assert shrinking_cuts([], 1) == [0, 0]


@pytest.mark.parametrize("threads", [2, 3, 16])
def test_shrinking_cuts_cover_every_item_once_long_runs_first(threads: int) -> None:
    rows = np.random.default_rng(threads).integers(0, 30, 5001)
    rows[2500] = 30000  # one item heavier than a share: the runs beside it are empty
    for weights in (rows, np.ones(5001, np.int64)):
        cuts = shrinking_cuts(weights, threads)
        assert cuts[0] == 0 and cuts[-1] == 5001 and np.all(np.diff(cuts) >= 0)
        work = np.add.reduceat(np.r_[weights, 0], cuts)[:-1] * (np.diff(cuts) > 0)
        assert work.sum() == weights.sum()
        # Half an even share of what is left, at least 1 / (16 threads) of the total.
        left = weights.sum() - np.r_[0, np.cumsum(work)[:-1]]
        share = np.maximum(left / (2 * threads), weights.sum() / (16 * threads))
        assert np.all(work <= share + weights.max())
    ones = np.diff(shrinking_cuts(np.ones(5001, np.int64), threads))
    assert np.all(np.diff(ones) <= 1)  # never longer than the run before, to one item
    assert ones[0] > 2 * ones[-2]  # long first, short last
    assert len(ones) <= 2 * threads * 5  # a few runs a thread
    assert shrinking_cuts([], threads)[-1] == 0


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("chunks", [0, 1, 7, 40])
def test_start_chunks_runs_every_chunk_once(threads: int, chunks: int) -> None:
    hits = np.zeros(chunks, dtype=np.int64)
    busy = threading.Event()
    ran_meanwhile = []

    def mark(tag: int, k: int) -> None:
        assert tag == 7  # each call's arguments in order
        if busy.is_set():
            ran_meanwhile.append(k)
        hits[k] += 1

    with worker_pool(threads) as pool:
        busy.set()
        finish = start_chunks(pool, threads - 1, mark, [(7, k) for k in range(chunks)])
        if threads > 1 and chunks:
            deadline = time.monotonic() + 10.0  # the workers start while the caller is busy
            while not ran_meanwhile and time.monotonic() < deadline:
                time.sleep(0.001)
            assert ran_meanwhile
        busy.clear()
        finish()
    assert hits.tolist() == [1] * chunks


def test_start_chunks_raises_a_chunks_error_and_stops_taking_chunks() -> None:
    taken = []

    def fail(k: int) -> None:
        taken.append(k)
        if k == 2:
            raise ValueError(f"chunk {k}")

    with worker_pool(2) as pool:
        finish = start_chunks(pool, 1, fail, [(k,) for k in range(1000)])
        with pytest.raises(ValueError, match="chunk 2"):
            finish()
    assert 2 in taken and len(taken) < 1000


def test_numba_threads_sets_clamps_and_restores() -> None:
    import numba

    before = numba.get_num_threads()
    pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    with numba_threads(1):
        assert numba.get_num_threads() == 1
        with numba_threads(pool + 5):  # more than numba's pool: its whole pool
            assert numba.get_num_threads() == pool
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), numba_threads(0):  # at least one thread, then restored
        assert numba.get_num_threads() == 1
        raise RuntimeError
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("threadsafe", [True, False])
def test_numba_threads_take_turns_only_under_workqueue(monkeypatch, threadsafe: bool) -> None:
    """numba's workqueue layer aborts on parallel loops launched from two threads at once:
    under it (or before numba chose a layer) the sections take turns, otherwise they overlap."""
    from tsnegrid.runtime import workers

    monkeypatch.setattr(workers, "_threadsafe_layer", lambda: threadsafe)
    inside, most = [0], [0]
    lock = threading.Lock()
    both_started = threading.Barrier(2)

    def section() -> None:
        both_started.wait()
        with numba_threads(1):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.2)
            with lock:
                inside[0] -= 1

    runners = [threading.Thread(target=section) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert most[0] == (2 if threadsafe else 1)
