"""The pair-swap sweeps of the polish, over bands of rows (see :mod:`tsnegrid.layout.swaps`)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from tsnegrid.layout.swaps import (
    RANK_WEIGHTS,
    init_state,
    init_window,
    neighbour_table,
    swap_sweep,
)
from tsnegrid.runtime.workers import worker_pool

SLOTS = 8  # grid neighbours in the swap energy: 8 (3x3) or 20 (up to distance sqrt 5)


def swap_sweeps(
    x: NDArray[np.float64],
    item_at: NDArray[np.int64],
    mask: NDArray[np.bool_],
    rows: int,
    cols: int,
    sweeps: int,
    *,
    reaches: tuple[int, ...] = (1,),
    threads: int,
    tick: Callable[[], None],
) -> tuple[int, int]:
    """Pair-swap sweeps in place on ``item_at``: for each reach of ``reaches``, up to ``sweeps``
    (fewer when a sweep makes no swap). Returns (sweeps run, swaps made). ``mask``
    (rows*cols,) marks the usable cells.

    A sweep runs over fixed bands of ``4 reach + 4`` rows, the even ones then the odd ones;
    bands of one parity are far enough apart to run concurrently (:func:`swap_sweep`), and
    their order within a parity does not matter, so the result is the same on any number of
    threads.
    """
    if sweeps == 0:
        return 0, 0
    nbr = neighbour_table(rows, cols, mask, SLOTS)
    w = max(reaches) + (1 if SLOTS == 8 else 2)  # every distance a swap can price
    swept = swaps = 0
    with worker_pool(threads) as pool:
        near = init_window(x, item_at, rows, cols, w, pool, threads)
        energy = init_state(item_at, nbr, near, w, RANK_WEIGHTS)
        for reach in reaches:
            band = 4 * reach + 4
            edges = [*range(0, rows, band), rows] if rows >= 2 * band else [0, rows]
            bands = list(itertools.pairwise(edges))
            active = item_at >= 0

            state = (x, item_at, mask, nbr, near, w, energy, rows, cols, reach, active)
            sweep_band = functools.partial(_sweep_band, state)

            for _ in range(sweeps):
                made = sum(
                    sum(map(sweep_band, todo) if pool is None else pool.map(sweep_band, todo))
                    for todo in (bands[0::2], bands[1::2])
                )
                swept, swaps = swept + 1, swaps + made
                tick()
                if made == 0:
                    break
    return swept, swaps


def _sweep_band(state: tuple, rows_of: tuple[int, int]) -> int:
    """One band's pair swaps (see :func:`swap_sweep`); the number of swaps made."""
    x, item_at, mask, nbr, near, w, energy, rows, cols, reach, active = state
    made, _ = swap_sweep(
        x,
        item_at,
        mask,
        nbr,
        near,
        w,
        energy,
        RANK_WEIGHTS,
        rows,
        cols,
        reach,
        active,
        rows_of[0],
        rows_of[1],
    )
    return int(made)
