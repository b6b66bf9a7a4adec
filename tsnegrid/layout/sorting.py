"""Linear assignment sorting (LAS, Barthel et al. 2023) from large radii, before the polish.

The filtered-map passes of :mod:`tsnegrid.layout.filtered` start at radius 3 on tiles of 5 x 5
cells: they smooth a layout locally but cannot move groups of images across the grid. These
passes do: the grid of feature vectors is box-filtered with a radius that starts at a quarter of
the grid's longer side and shrinks by ``DECAY`` per pass down to 1, and after each filtering the
images are re-assigned to the cells against the filtered map by a warm-started auction
(:func:`~tsnegrid.layout.kernels.auction_tiles`): on the whole grid at once when it is small
(``FULL_GRID_WORK``), else on square tiles of about a quarter of the grid's side (adjacent
cells, or every other cell at radii from ``STRIDE_FROM``) at seeded random offsets. The
costs are squared distances in at most ``DIMS`` principal axes of the features (the assignment
is a heuristic; DPQ_16 and the pair swaps after it use all of them).

Tiles are disjoint and the map is fixed during a pass, so they run on any number of threads
with the same result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numba
import numpy as np
from numpy.typing import NDArray

from tsnegrid.layout.filtered import HOLE_WEIGHT, tiles
from tsnegrid.layout.kernels import UNUSABLE, auction_tiles, line_rows, padded, smooth_map
from tsnegrid.runtime.workers import single_thread_blas, worker_pool

START_SHARE = 0.25  # first radius: this share of the grid's longer side
STRIDE_FROM = 6  # tiles of every other cell from this radius on
DECAY = 0.9  # radius factor per pass on tiles
FULL_DECAY = 0.95  # radius factor per pass when the whole grid is one auction (cheap)
TILE_SHARE = 0.28  # side of the square tiles: this share of the grid's longer side,
SIDES = (14, 28)  # clipped to these (196 to 784 cells per auction)
FULL_GRID_WORK = 20_000_000  # whole grid as one auction up to usable cells² x dims
DIMS = 32  # principal axes of the features in the assignment costs
EPS = 0.02  # auction step, as a share of the features' mean squared norm
_AXES_SAMPLE = 4_000  # rows that estimate the principal axes
_CHUNKS = 16  # tile chunks per pass handed to the worker threads (fixed: same result)


def las_radii(rows: int, cols: int, n_usable: int, n_features: int) -> list[int]:
    """The filter radius of each pass: from ``START_SHARE`` of the longer side down to 1
    (none when that is below 2), shrinking by ``DECAY``, or ``FULL_DECAY`` when the whole grid
    is one auction."""
    decay = FULL_DECAY if _whole_grid(n_usable, min(DIMS, n_features)) else DECAY
    radius = START_SHARE * max(rows, cols)
    if radius < 2:
        return []
    radii = []
    while radius > 1:
        radii.append(max(1, round(radius)))
        radius *= decay
    return [*radii, 1]


def las_passes(
    x: NDArray[np.float64],
    item_at: NDArray[np.int64],
    rows: int,
    cols: int,
    *,
    seed: int,
    threads: int,
    tick: Callable[[], None],
) -> int:
    """LAS passes in place on ``item_at`` (one per radius of :func:`las_radii`).

    Parameters
    ----------
    x : (n, d) centred features.
    item_at : (rows*cols,) image of each cell, ``EMPTY`` or ``UNUSABLE``; changed in place.
    seed : seeds the tilings' offsets.
    threads : worker threads for the tiles; the result does not depend on it.
    tick : called after each pass.

    Returns
    -------
    The number of passes made.
    """
    usable = np.flatnonzero(item_at != UNUSABLE)
    radii = las_radii(rows, cols, usable.size, x.shape[1])
    scale = float(np.mean(np.einsum("ij,ij->i", x, x)))
    if not radii or scale <= 0:
        return 0
    z = principal_features(x, DIMS, seed=seed)
    whole = _whole_grid(usable.size, z.shape[1])
    side = max(rows, cols) if whole else tile_side(rows, cols)
    rng = np.random.default_rng(seed)
    # the box filter's inputs and outputs in rows of whole cache lines (see smooth_map)
    z_lines = padded(z)
    previous = line_rows(rows * cols, z.shape[1])
    smoothed = line_rows(rows * cols, z.shape[1])
    prices = np.zeros(rows * cols)
    with worker_pool(threads) as pool:
        smooth_map(z_lines, item_at, rows, cols, 1, 0.0, previous, previous, pool, threads)
        for radius in radii:
            smooth_map(
                z_lines, item_at, rows, cols, radius, HOLE_WEIGHT, previous, smoothed, pool, threads
            )
            previous, smoothed = smoothed, previous
            stride = 2 if radius >= STRIDE_FROM and not whole else 1
            offset = (0, 0) if whole else rng.integers(side * stride, size=2).tolist()
            cells, sizes = tiles(usable, cols, offset[0], offset[1], stride, side)
            cells = cells[:, : sizes.max()]  # the auctions' cost matrices are this wide
            bounds = np.linspace(0, sizes.size, _CHUNKS + 1).astype(np.int64).tolist()
            jobs = [
                (z, previous, item_at, cells, sizes, lo, hi, prices, EPS * scale)
                for lo, hi in itertools.pairwise(bounds)
            ]
            list(map(_auction, jobs) if pool is None else pool.map(_auction, jobs))
            tick()
    return len(radii)


def tile_side(rows: int, cols: int) -> int:
    """The side of the square tiles on a grid too big for one auction."""
    return int(np.clip(round(TILE_SHARE * max(rows, cols)), *SIDES))


def _whole_grid(n_usable: int, dims: int) -> bool:
    return n_usable * n_usable * dims <= FULL_GRID_WORK


def _auction(job: tuple[object, ...]) -> int:
    """:func:`auction_tiles` of one chunk of tiles (for the worker pool)."""
    return int(auction_tiles(*job))


def principal_features(x: NDArray[np.float64], dims: int, *, seed: int) -> NDArray[np.float64]:
    """``x`` (centred) projected on its top ``dims`` principal axes (itself if it has no more).

    The axes come from the covariance of at most ``_AXES_SAMPLE`` seeded rows; the sums run in
    a fixed order and LAPACK on one thread, so the result does not depend on any thread count.
    """
    n, d = x.shape
    if d <= dims:
        return x
    rows = np.sort(np.random.default_rng(seed).permutation(n)[: min(n, _AXES_SAMPLE)])
    sample = x[rows]
    covariance = np.einsum("ki,kj->ij", sample, sample)
    with single_thread_blas():  # the same last bits whatever BLAS's thread count
        _, vectors = np.linalg.eigh(covariance)
    axes = np.ascontiguousarray(vectors[:, ::-1][:, :dims])
    return _project(x, axes)


@numba.njit(cache=True, nogil=True)
def _project(x, axes):  # type: ignore[no-untyped-def]
    n, d = x.shape
    out = np.zeros((n, axes.shape[1]))
    for i in range(n):
        for k in range(axes.shape[1]):
            s = 0.0
            for q in range(d):
                s += x[i, q] * axes[q, k]
            out[i, k] = s
    return out
