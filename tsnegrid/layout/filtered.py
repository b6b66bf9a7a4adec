"""The filtered-map assignment passes of the polish (LAS/FLAS's loop at small radii).

Each pass box-filters the grid of feature vectors (:func:`~tsnegrid.layout.kernels.smooth_map`)
and re-assigns the images of each tile of cells to those cells by an exact linear assignment
against the filtered map (:func:`~tsnegrid.layout.kernels.reassign_tiles`). The tiles of a pass
are disjoint and the map is fixed meanwhile, so they run on any number of threads with the same
result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from tsnegrid.layout.kernels import UNUSABLE, line_rows, padded, reassign_tiles, smooth_map
from tsnegrid.runtime.workers import worker_pool

RADII = (3, 2, 1)  # filter radii, each for an equal share of the passes
STRIDES = (1, 2)  # tiles of adjacent cells, then of every other cell, in turn (radius > 1)
TILE = 5  # side of the square tiles (25 cells per assignment)
HOLE_WEIGHT = 0.01  # an empty cell's weight in the filter (FLAS's default)
_CHUNKS = 16  # tile chunks per pass handed to the worker threads (fixed: same result)


def filter_passes(
    x: NDArray[np.float64],
    item_at: NDArray[np.int64],
    rows: int,
    cols: int,
    passes: int,
    *,
    seed: int,
    threads: int,
    tick: Callable[[], None],
) -> None:
    """``passes`` filtered-map assignment passes, in place on ``item_at``.

    Parameters
    ----------
    x : (n, d) centred features.
    item_at : (rows*cols,) image of each cell, ``EMPTY`` or ``UNUSABLE``; changed in place.
    passes : passes in all, shared equally by the radii of ``RADII`` in turn.
    seed : seeds the tilings' offsets.
    threads : worker threads for the tiles; the result does not depend on it.
    tick : called after each pass.
    """
    if passes == 0:
        return
    rng = np.random.default_rng(seed)
    usable_cells = np.flatnonzero(item_at != UNUSABLE)
    # the box filter's inputs and outputs in rows of whole cache lines (see smooth_map)
    x_lines = padded(x)
    previous = line_rows(rows * cols, x.shape[1])
    smoothed = line_rows(rows * cols, x.shape[1])
    per_radius = passes // len(RADII)
    with worker_pool(threads) as pool:
        smooth_map(x_lines, item_at, rows, cols, 1, 0.0, previous, previous, pool, threads)
        for done in range(passes):
            radius = RADII[min(done // max(per_radius, 1), len(RADII) - 1)]
            smooth_map(
                x_lines, item_at, rows, cols, radius, HOLE_WEIGHT, previous, smoothed, pool, threads
            )
            previous, smoothed = smoothed, previous
            stride = STRIDES[done % len(STRIDES)] if radius > 1 else 1
            offset = rng.integers(TILE * stride, size=2)
            cells, sizes = tiles(usable_cells, cols, int(offset[0]), int(offset[1]), stride)
            bounds = np.linspace(0, sizes.size, _CHUNKS + 1).astype(np.int64).tolist()
            jobs = [
                (x, previous, item_at, cells, sizes, lo, hi)
                for lo, hi in itertools.pairwise(bounds)
            ]
            list(map(_reassign, jobs) if pool is None else pool.map(_reassign, jobs))
            tick()


def _reassign(job: tuple[object, ...]) -> int:
    """:func:`reassign_tiles` of one chunk of tiles (for the worker pool)."""
    return int(reassign_tiles(*job))


def tiles(
    usable_cells: NDArray[np.int64],
    cols: int,
    off_r: int,
    off_c: int,
    stride: int = 1,
    side: int = TILE,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(n_tiles, side²) usable cells of each tile (-1 pads), and (n_tiles,) their counts.

    A tile is side x side cells ``stride`` apart (so it spans ``side * stride`` rows and
    columns), the tiling shifted by the offsets; the tiles partition the usable cells.
    """
    r, c = np.divmod(usable_cells + 0, cols)
    r, c = r + off_r, c + off_c
    span = side * stride
    tiles_across = cols // span + 2
    block = (r // span) * tiles_across + c // span
    tile = (block * stride + r % stride) * stride + c % stride
    order = np.argsort(tile, kind="stable")
    sorted_tile = tile[order]
    starts = np.flatnonzero(np.r_[True, sorted_tile[1:] != sorted_tile[:-1]])
    sizes = np.diff(np.r_[starts, sorted_tile.size])
    out = np.full((starts.size, side * side), -1, dtype=np.int64)
    slot = np.arange(sorted_tile.size) - np.repeat(starts, sizes)
    out[np.repeat(np.arange(starts.size), sizes), slot] = usable_cells[order]
    return out, sizes.astype(np.int64)
