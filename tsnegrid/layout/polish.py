"""Polish a grid layout for distance preservation (DPQ_16), starting from t-SNE + exact LAP.

Two ways from the given layout (never from random) are tried, and the better by DPQ_16 kept:

* **pair swaps** alone (:mod:`tsnegrid.layout.swaps`): sweeps in cell order in which every
  image takes the best swap with a cell within one row and column that strictly lowers the
  rank-weighted distance to its 8 grid neighbours, the linearised DPQ_16. Bands of rows far
  enough apart are swept concurrently, in a fixed order, so the result does not depend on the
  thread count;
* **sorting, then pair swaps**: first linear assignment sorting (LAS, Barthel et al. 2023)
  from large radii (:mod:`tsnegrid.layout.sorting`, up to ``LAS_MAX_IMAGES`` images): the grid
  of feature vectors is box-filtered with a radius shrinking from a quarter of the grid to 1,
  and after each filtering the images are re-assigned to the cells against the filtered map by
  a warm-started auction, on the whole grid when it is small, else on large tiles; then the
  loop of FLAS at small radii (:mod:`tsnegrid.layout.filtered`): radius 3, then 2, then 1, the
  images of each tile of 5 x 5 cells (adjacent, or every other cell in turn at radii above 1)
  re-assigned by an exact linear assignment. Tiles are disjoint and the map is fixed during a
  pass, so tiles run on any number of threads with the same result; the tilings move by
  seeded random offsets.

Neither always wins (measured in ``benchmarks/layouts.py``: sorting helps random colours,
Fashion-MNIST and the openclipart shapes, and hurts digits and the openclipart signs, where the
mean vector of a neighbourhood is a poor stand-in for its images), so both run and DPQ_16
decides. The result is kept only when its DPQ_16 is above the input's (exact up to 5,000
images, else all layouts estimated on the same 500 anchors); otherwise the input is returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tsnegrid.errors import UsageError
from tsnegrid.layout.filtered import RADII, filter_passes
from tsnegrid.layout.kernels import EMPTY, UNUSABLE
from tsnegrid.layout.sorting import las_passes, las_radii
from tsnegrid.layout.sweeps import swap_sweeps
from tsnegrid.quality.dpq import anchors_for, dpq_many
from tsnegrid.results import PolishedLayout

PASSES = 10  # filter passes per radius at effort 1
SWEEPS = 20  # most swap sweeps at effort 1 (they stop when no swap helps)
FULL_EFFORT_MAX = 70_000  # the automatic effort is 1 up to this many images (38-52 s at 70,000)
MIN_AUTO_EFFORT = 0.05  # 70,000 / n down to 1,400,000 images: about the time of 70,000 at any size
WIDE_EFFORT = 2.0  # from this effort on, swap sweeps with partners 2 rows and columns away too
WIDE_AUTO = (8_000, 12_000)  # and for these many images at the automatic effort
LAS_EFFORT = 0.5  # LAS passes from this effort on,
LAS_MAX_IMAGES = 12_000  # up to this many images (20,000 took 47 s on busy cores; 70,000
# would miss its 60 s)
CHECK_EXACT_MAX = 5_000  # DPQ_16 check exact up to this many images,
CHECK_ANCHORS = 500  # else estimated for both layouts on the same anchors (fewer above 200,000
# images: half the quality stage's, 200 at 1,000,000, where 500 took about half the polish)


def polish_layout(
    features: ArrayLike,
    node_of_point: ArrayLike,
    rows: int,
    cols: int,
    *,
    usable: ArrayLike | None = None,
    seed: int,
    threads: int = 1,
    effort: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> PolishedLayout:
    """Move images between cells so that the layout's DPQ_16 rises (never falls).

    Parameters
    ----------
    features : (n, d) feature vectors (the PCA features); DPQ's distances are between rows.
    node_of_point : (n,) distinct usable cells of the starting layout (t-SNE + exact LAP).
    rows, cols : grid shape; cells may stay empty (n < rows*cols).
    usable : (rows*cols,) bool, the cells an image may take; None: all.
    seed : seeds the tilings' offsets (and the DPQ anchors above 5,000 images).
    threads : worker threads (filter tiles, bands of swap sweeps, the DPQ check); the result
        does not depend on it.
    effort : scales the filter passes and the most swap sweeps (0: no polishing, the input is
        returned with its DPQ_16); LAS passes run from ``LAS_EFFORT`` on (up to
        ``LAS_MAX_IMAGES`` images); from ``WIDE_EFFORT`` (2) on, sweeps with swap partners two
        rows and columns away follow (about +0.002 DPQ_16 for twice the sweeps' time). None: 1
        up to ``FULL_EFFORT_MAX`` images, then ``FULL_EFFORT_MAX / n`` (at least
        ``MIN_AUTO_EFFORT``), with the wider sweeps for ``WIDE_AUTO`` images (where the time
        allowed per image is larger than at 2,500 images); 70,000 images took 38-52 s on two
        busy cores at effort 1.
    progress : called with the fraction of the work done, from 0 to 1.

    Returns
    -------
    PolishedLayout

    Raises
    ------
    UsageError
        Wrong shapes, a layout that is not distinct usable cells, fewer usable cells than
        images, or a negative ``effort``.
    """
    x, start, mask = _validate(features, node_of_point, rows, cols, usable, effort)
    plan = plan_polish(x.shape, rows, cols, mask, effort, seed=seed, threads=threads)
    tick = _Ticks(progress, plan.las + plan.passes + 2 * plan.sweeps * len(plan.reaches) + 1)
    tries = [
        _polish_once(x, start, mask, rows, cols, filtered, plan, tick)
        for filtered in ((False, True) if plan.passes or plan.las else (False,))
    ]
    result = _best(x, start, tries, rows, cols, seed=seed, threads=threads)
    tick.finish()
    return result


def plan_polish(
    shape: tuple[int, ...],
    rows: int,
    cols: int,
    mask: NDArray[np.bool_],
    effort: float | None,
    *,
    seed: int,
    threads: int,
) -> Plan:
    """The work of a polish of ``shape`` (n, d) features at ``effort`` (see
    :func:`polish_layout`)."""
    n = shape[0]
    wide = WIDE_AUTO[0] <= n <= WIDE_AUTO[1] if effort is None else effort >= WIDE_EFFORT
    if effort is None:
        effort = max(MIN_AUTO_EFFORT, min(1.0, FULL_EFFORT_MAX / n))
    las = effort >= LAS_EFFORT and n <= LAS_MAX_IMAGES
    return Plan(
        las=len(las_radii(rows, cols, int(mask.sum()), shape[1])) if las else 0,
        passes=max(0, round(PASSES * effort)) * len(RADII),
        sweeps=max(0, round(SWEEPS * effort)),
        reaches=(1, 2) if wide else (1,),
        seed=seed,
        threads=threads,
    )


def _best(
    x: NDArray[np.float64],
    start: NDArray[np.int64],
    tries: list[_Try],
    rows: int,
    cols: int,
    *,
    seed: int,
    threads: int,
) -> PolishedLayout:
    """The try with the highest DPQ16 (the first of equals), or the input if none beats it."""
    scores = dpq_many(
        x,
        [start] + [t.node_of_point for t in tries],
        rows,
        cols,
        exact_max=CHECK_EXACT_MAX,
        n_anchors=min(CHECK_ANCHORS, anchors_for(x.shape[0]) // 2),
        seed=seed,
        threads=threads,
    )
    best = max(range(len(tries)), key=lambda i: scores[i + 1].value)
    chosen, after = tries[best], scores[best + 1]
    kept = not after.value > scores[0].value
    result = start if kept else chosen.node_of_point
    return PolishedLayout(
        node_of_point=result.astype(np.intp),
        dpq_before=scores[0].value,
        dpq_after=scores[0].value if kept else after.value,
        dpq_exact=after.exact,
        filter_passes=0 if kept else chosen.filter_passes,
        swap_sweeps=0 if kept else chosen.swap_sweeps,
        swaps=0 if kept else chosen.swaps,
        moved=int(np.count_nonzero(result != start)),
        kept_input=kept,
    )


class _Ticks:
    """Reports the fraction of ``total`` steps done to ``progress`` (if any)."""

    def __init__(self, progress: Callable[[float], None] | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(min(1.0, self.done / self.total))

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(1.0)


@dataclass(frozen=True)
class _Try:
    node_of_point: NDArray[np.int64]
    filter_passes: int
    swap_sweeps: int
    swaps: int


@dataclass(frozen=True)
class Plan:
    """The work of one polish: passes, sweeps and the swap partners' reach."""

    las: int  # LAS passes from large radii (before the filtered-map passes)
    passes: int  # filtered-map passes
    sweeps: int  # most swap sweeps per reach
    reaches: tuple[int, ...]  # swap partners within these many rows and columns, in turn
    seed: int
    threads: int


def _polish_once(
    x: NDArray[np.float64],
    start: NDArray[np.int64],
    mask: NDArray[np.bool_],
    rows: int,
    cols: int,
    filtered: bool,
    plan: Plan,
    tick: _Ticks,
) -> _Try:
    """Swap sweeps from ``start``, after the LAS and filtered-map passes when ``filtered``
    (the try's ``filter_passes`` counts both)."""
    item_at = np.full(rows * cols, EMPTY, dtype=np.int64)
    item_at[~mask] = UNUSABLE
    item_at[start] = np.arange(start.size)
    sorted_by_las = 0
    if filtered and plan.las:
        sorted_by_las = las_passes(
            x, item_at, rows, cols, seed=plan.seed, threads=plan.threads, tick=tick
        )
    passes = plan.passes if filtered else 0
    filter_passes(x, item_at, rows, cols, passes, seed=plan.seed, threads=plan.threads, tick=tick)
    sweeps_run, swaps = swap_sweeps(
        x,
        item_at,
        mask,
        rows,
        cols,
        plan.sweeps,
        reaches=plan.reaches,
        threads=plan.threads,
        tick=tick,
    )
    for _ in range(plan.sweeps * len(plan.reaches) - sweeps_run):
        tick()
    return _Try(_node_of_item(item_at, start.size), sorted_by_las + passes, sweeps_run, swaps)


def _validate(
    features: ArrayLike,
    node_of_point: ArrayLike,
    rows: int,
    cols: int,
    usable: ArrayLike | None,
    effort: float | None,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """Centred contiguous features, the start cells and the usable mask; UsageError if bad."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise UsageError(
            f"polish: features must be a finite (n, d) array with n >= 2, "
            f"got shape {x.shape}; pass the PCA features of the images"
        )
    n = x.shape[0]
    if rows < 1 or cols < 1:
        raise UsageError(f"polish: grid {rows}x{cols} is empty; use at least 1 row and column")
    nodes = np.asarray(node_of_point)
    if nodes.shape != (n,) or not np.issubdtype(nodes.dtype, np.integer):
        raise UsageError(
            f"polish: node_of_point must be ({n},) integer cells like the "
            f"features, got shape {nodes.shape} of {nodes.dtype}"
        )
    mask = _validate_mask(usable, rows, cols, n)
    if nodes.min() < 0 or nodes.max() >= rows * cols or np.bincount(nodes).max() > 1:
        raise UsageError(
            f"polish: node_of_point must be {n} distinct cells of the {rows}x{cols} "
            "grid; pass the assignment's node_of_point"
        )
    if not mask[nodes].all():
        raise UsageError(
            "polish: node_of_point puts images on cells the mask leaves unusable; "
            "assign to the usable cells first"
        )
    if effort is not None and not effort >= 0:
        raise UsageError(f"polish: effort {effort} is negative; use 0 (off), 1 (default) or more")
    return np.ascontiguousarray(x - x.mean(axis=0)), nodes.astype(np.int64), mask


def _validate_mask(usable: ArrayLike | None, rows: int, cols: int, n: int) -> NDArray[np.bool_]:
    if usable is None:
        return np.ones(rows * cols, dtype=np.bool_)
    mask = np.asarray(usable)
    if mask.dtype != np.bool_ or mask.shape != (rows * cols,):
        raise UsageError(
            f"polish: usable must be a ({rows * cols},) bool array, one per cell "
            f"of the {rows}x{cols} grid, got shape {mask.shape} of {mask.dtype}"
        )
    if int(mask.sum()) < n:
        raise UsageError(
            f"polish: the mask leaves {int(mask.sum()):,} usable cells for {n:,} "
            "images; use a larger grid or a mask with more usable cells"
        )
    return mask


def _node_of_item(item_at: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    occupied = np.flatnonzero(item_at >= 0)
    node = np.empty(n, dtype=np.int64)
    node[item_at[occupied]] = occupied
    return node
