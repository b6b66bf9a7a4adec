from __future__ import annotations

import threading

import pytest

from tsnegrid.workers import submit, worker_pool


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
