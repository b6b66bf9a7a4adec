"""Tests of the layout polish: never worse by DPQ_16, one image per usable cell, thread-free."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from tsnegrid.assign.assignment import assign_to_grid
from tsnegrid.errors import UsageError
from tsnegrid.layout import PolishedLayout, polish, polish_layout
from tsnegrid.layout.kernels import EMPTY, UNUSABLE, solve_small_lap
from tsnegrid.layout.swaps import (
    RANK_WEIGHTS,
    init_state,
    init_window,
    neighbour_table,
    swap_sweep,
)
from tsnegrid.quality.baselines import random_layout, sorted_layout
from tsnegrid.quality.dpq import dpq
from tsnegrid.runtime.workers import worker_pool


def _blobs(n: int, d: int, seed: int) -> NDArray[np.float64]:
    """n points around 6 seeded centres in d dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, d)) * 4
    return centres[rng.integers(6, size=n)] + rng.normal(size=(n, d))


def _projected_start(x: NDArray[np.float64], rows: int, cols: int) -> NDArray[np.intp]:
    """The pipeline's kind of start: a 2-D map (here the top two principal axes) + exact LAP."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    points = (points - points.min(axis=0)) / np.ptp(points, axis=0)
    return assign_to_grid(points, rows, cols).node_of_point


def _disc_mask(rows: int, cols: int) -> NDArray[np.bool_]:
    r, c = np.mgrid[:rows, :cols]
    return (((r - (rows - 1) / 2) / rows) ** 2 + ((c - (cols - 1) / 2) / cols) ** 2 <= 0.25).ravel()


def _assert_one_to_one(layout: PolishedLayout, n: int, usable: NDArray[np.bool_]) -> None:
    nodes = layout.node_of_point
    assert nodes.shape == (n,)
    assert np.unique(nodes).size == n
    assert nodes.min() >= 0 and nodes.max() < usable.size
    assert usable[nodes].all()


@pytest.mark.parametrize(
    ("n", "rows", "cols", "seed", "start"),
    [
        (144, 12, 12, 0, "projected"),
        (150, 10, 17, 1, "projected"),  # a rectangle with 20 empty cells
        (120, 12, 12, 2, "random"),
        (100, 9, 13, 3, "sorted"),
        (64, 8, 8, 4, "projected"),
    ],
)
def test_polish_never_lowers_dpq(n: int, rows: int, cols: int, seed: int, start: str) -> None:
    x = _blobs(n, 10, seed=n + rows)
    nodes = {
        "projected": lambda: _projected_start(x, rows, cols),
        "random": lambda: random_layout(n, rows, cols, seed=3),
        "sorted": lambda: sorted_layout(x, rows, cols),
    }[start]()
    result = polish_layout(x, nodes, rows, cols, seed=seed)
    before = dpq(x, nodes, rows, cols).value
    after = dpq(x, result.node_of_point, rows, cols).value
    assert result.dpq_before == pytest.approx(before, abs=1e-12)
    assert result.dpq_after == pytest.approx(after, abs=1e-12)
    assert after >= before
    _assert_one_to_one(result, n, np.ones(rows * cols, dtype=bool))


def test_polish_improves_a_random_layout_and_reports_its_work() -> None:
    x = _blobs(200, 8, seed=1)
    start = random_layout(200, 15, 15, seed=0)
    result = polish_layout(x, start, 15, 15, seed=0)
    assert not result.kept_input
    assert result.dpq_after > result.dpq_before + 0.05
    assert result.moved == np.count_nonzero(result.node_of_point != start) > 0
    assert result.filter_passes > 0 and result.swap_sweeps > 0 and result.swaps > 0


def test_effort_zero_returns_the_input() -> None:
    x = _blobs(50, 4, seed=2)
    start = random_layout(50, 8, 8, seed=1)
    result = polish_layout(x, start, 8, 8, seed=0, effort=0)
    np.testing.assert_array_equal(result.node_of_point, start)
    assert result.kept_input and result.moved == 0
    assert result.dpq_after == result.dpq_before


def test_mask_is_respected() -> None:
    rows, cols = 16, 20
    usable = _disc_mask(rows, cols)
    n = int(usable.sum()) - 7  # a few usable cells stay empty too
    x = _blobs(n, 6, seed=4)
    start = np.flatnonzero(usable)[np.random.default_rng(0).permutation(int(usable.sum()))[:n]]
    result = polish_layout(x, start, rows, cols, usable=usable, seed=1)
    _assert_one_to_one(result, n, usable)
    assert result.dpq_after >= result.dpq_before
    assert result.dpq_after > result.dpq_before  # a random start leaves room


@pytest.mark.parametrize("effort", [1.0, 2.0])
def test_same_result_on_one_and_two_threads(effort: float) -> None:
    # 34 rows: four bands of swap sweeps, two of each parity run at once on two threads.
    x = _blobs(1000, 12, seed=5)
    start = _projected_start(x, 34, 30)
    one = polish_layout(x, start, 34, 30, seed=7, threads=1, effort=effort)
    two = polish_layout(x, start, 34, 30, seed=7, threads=2, effort=effort)
    np.testing.assert_array_equal(one.node_of_point, two.node_of_point)
    assert (one.dpq_before, one.dpq_after, one.swaps, one.swap_sweeps) == (
        two.dpq_before,
        two.dpq_after,
        two.swaps,
        two.swap_sweeps,
    )


def test_same_seed_same_result() -> None:
    x = _blobs(200, 5, seed=6)
    start = random_layout(200, 15, 15, seed=2)
    first = polish_layout(x, start, 15, 15, seed=3)
    again = polish_layout(x, start, 15, 15, seed=3)
    np.testing.assert_array_equal(first.node_of_point, again.node_of_point)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"usable": np.ones(20, dtype=bool)}, "usable must be a \\(100,\\) bool array"),
        ({"usable": np.arange(100) < 30}, "leaves 30 usable cells for 50 images"),
        ({"node_of_point": np.arange(49)}, "node_of_point must be \\(50,\\)"),
        ({"node_of_point": np.zeros(50, dtype=int)}, "50 distinct cells"),
        ({"node_of_point": np.arange(50) + 60}, "50 distinct cells"),
        ({"features": np.zeros(50)}, "features must be a finite \\(n, d\\) array"),
        ({"effort": -1.0}, "effort -1.0 is negative"),
        ({"usable": np.arange(100) >= 10}, "cells the mask leaves unusable"),
    ],
)
def test_bad_arguments_raise_usage_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "features": _blobs(50, 3, seed=0),
        "node_of_point": np.arange(50),
        "rows": 10,
        "cols": 10,
        "seed": 0,
    }
    args.update(kwargs)
    with pytest.raises(UsageError, match=message) as caught:
        polish_layout(**args)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("k", [1, 2, 5, 16, 25])
def test_small_lap_matches_scipy(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(20):
        cost = rng.random((25, 25)) * rng.integers(1, 100)
        assign = np.empty(25, dtype=np.int64)
        solve_small_lap(cost, k, assign)
        rows, cols = linear_sum_assignment(cost[:k, :k])
        assert np.unique(assign[:k]).size == k
        ours = cost[np.arange(k), assign[:k]].sum()
        assert ours == pytest.approx(cost[rows, cols].sum(), rel=1e-12)


@pytest.mark.parametrize(("slots", "reach"), [(8, 1), (8, 2), (20, 1)])
def test_swap_sweeps_keep_their_bookkeeping_exact(slots: int, reach: int) -> None:
    """After sweeps, the cached distances, window and energies equal ones computed afresh, and
    the total energy fell: the incremental swap gains are the true ones."""
    rows, cols = 14, 15
    x = _blobs(170, 6, seed=8)
    usable = _disc_mask(rows, cols) | (np.arange(rows * cols) % 3 == 0)
    cells = np.flatnonzero(usable)[:170]
    item_at = np.full(rows * cols, EMPTY, dtype=np.int64)
    item_at[~usable] = UNUSABLE
    item_at[np.random.default_rng(1).permutation(cells)] = np.arange(170)
    nbr = neighbour_table(rows, cols, usable, slots)
    w = reach + (1 if slots == 8 else 2)
    near = init_window(x, item_at, rows, cols, w)
    energy = init_state(item_at, nbr, near, w, RANK_WEIGHTS)
    start_energy = energy.sum()
    active = item_at >= 0
    gained = 0.0
    for _ in range(3):
        _, gain = swap_sweep(
            x,
            item_at,
            usable,
            nbr,
            near,
            w,
            energy,
            RANK_WEIGHTS,
            rows,
            cols,
            reach,
            active,
            0,
            rows,
        )
        gained += gain
    # The window of distances the swaps are priced from is kept exactly, and the energies.
    fresh_near = init_window(x, item_at, rows, cols, w)
    np.testing.assert_array_equal(near, fresh_near)
    for parts in (2, 3, 7):  # filled in ranges of cells on threads: the same table
        with worker_pool(parts) as pool:
            np.testing.assert_array_equal(
                init_window(x, item_at, rows, cols, w, pool, parts), fresh_near
            )
    np.testing.assert_allclose(
        energy, init_state(item_at, nbr, fresh_near, w, RANK_WEIGHTS), atol=1e-9
    )
    assert energy.sum() == pytest.approx(start_energy + gained, abs=1e-8)
    assert gained < 0
    assert (item_at[~usable] == UNUSABLE).all()


def test_beats_flas_defaults_from_its_own_layout() -> None:
    """Polishing FLAS's layout of random colours raises its DPQ_16 (vc_flas optional)."""
    vc_flas = pytest.importorskip("vc_flas")
    colours = np.random.default_rng(0).random((256, 3))
    arrangement = vc_flas.flas(colours.reshape(16, 16, 3).astype(np.float32), seed=1)
    sorting = arrangement.sorting.ravel()
    start = np.empty(256, dtype=np.intp)
    start[sorting] = np.arange(256)
    result = polish_layout(colours, start, 16, 16, seed=0)
    assert result.dpq_after > dpq(colours, start, 16, 16).value


def test_progress_rises_to_one() -> None:
    x = _blobs(120, 4, seed=9)
    seen: list[float] = []
    polish_layout(x, random_layout(120, 11, 11, seed=0), 11, 11, seed=0, progress=seen.append)
    assert seen[-1] == 1.0
    assert all(0.0 <= a <= b <= 1.0 for a, b in itertools.pairwise(seen))
    assert len(seen) > 3


def test_sorting_from_large_radii_lifts_random_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random colours from a projected start: the LAS passes before the filtered passes lift
    DPQ_16 well above the polish without them (measured +0.008 to +0.019 on four seeds)."""
    x = np.random.default_rng(0).random((576, 3))
    start = _projected_start(x, 24, 24)
    with_las = polish_layout(x, start, 24, 24, seed=0)
    monkeypatch.setattr(polish, "LAS_MAX_IMAGES", 0)
    without = polish_layout(x, start, 24, 24, seed=0)
    assert with_las.filter_passes > without.filter_passes > 0
    assert with_las.dpq_after > without.dpq_after + 0.005
    assert with_las.dpq_after > 0.95


@pytest.mark.parametrize(
    ("n", "effort", "las", "reaches"),
    [
        (2_500, None, True, (1,)),
        (10_000, None, True, (1, 2)),
        (30_000, None, False, (1,)),
        (15_000, None, False, (1,)),
        (2_500, 2.0, True, (1, 2)),
        (2_500, 0.3, False, (1,)),
    ],
)
def test_plan_spends_more_per_image_where_the_budget_allows(
    n: int, effort: float | None, las: bool, reaches: tuple[int, ...]
) -> None:
    side = int(np.ceil(np.sqrt(n)))
    mask = np.ones(side * side, dtype=bool)
    plan = polish.plan_polish((n, 100), side, side, mask, effort, seed=0, threads=1)
    assert (plan.las > 0) == las
    assert plan.reaches == reaches
    assert plan.passes > 0 and plan.sweeps > 0


@pytest.mark.parametrize(("radius", "d"), [(1, 7), (3, 7), (2, 21), (4, 21), (5, 7)])
def test_smoothed_map_is_the_window_mean_on_any_number_of_threads(radius: int, d: int) -> None:
    """The box filter against a direct window sum (images weigh 1, empty cells their previous
    value at a small weight, masked cells nothing), the same bits on 1 to 3 threads, into a
    map of d columns or into one of :func:`line_rows` (21 values: 3 cache lines to share)."""
    from tsnegrid.layout.kernels import line_rows, padded, smooth_map

    rows, cols, hole = 9, 11, 0.01
    rng = np.random.default_rng(2)
    x = rng.normal(size=(70, d))
    item_at = np.full(rows * cols, EMPTY, dtype=np.int64)
    item_at[rng.permutation(rows * cols)[:70]] = np.arange(70)
    item_at[np.flatnonzero(item_at == EMPTY)[:5]] = UNUSABLE
    previous = rng.normal(size=(rows * cols, d))
    value = np.zeros((rows * cols, d))
    weight = np.where(item_at >= 0, 1.0, np.where(item_at == EMPTY, hole, 0.0))
    value[item_at >= 0] = x[item_at[item_at >= 0]]
    value[item_at == EMPTY] = hole * previous[item_at == EMPTY]
    expected = np.empty((rows * cols, d))
    for r, c in itertools.product(range(rows), range(cols)):
        window = [
            a * cols + b
            for a in range(max(0, r - radius), min(rows, r + radius + 1))
            for b in range(max(0, c - radius), min(cols, c + radius + 1))
        ]
        expected[r * cols + c] = value[window].sum(0) / weight[window].sum()
    results = []
    for threads in (1, 2, 3):
        out = np.empty((rows * cols, d))
        with worker_pool(threads) as pool:
            smooth_map(x, item_at, rows, cols, radius, hole, previous, out, pool, threads)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
        results.append(out)
        # In place (out is previous), as the passes call it: the same bits.
        same = previous.copy()
        with worker_pool(threads) as pool:
            smooth_map(x, item_at, rows, cols, radius, hole, same, same, pool, threads)
        assert np.array_equal(same, out)
        wide = line_rows(rows * cols, d)
        wide[:, :d] = previous
        with worker_pool(threads) as pool:
            smooth_map(x, item_at, rows, cols, radius, hole, wide, wide, pool, threads)
        assert np.array_equal(wide[:, :d], out)
        assert not wide[:, d:].any()  # the padding stays 0
        # As the passes call it: every array in rows of whole cache lines, no copies.
        lines, before = padded(x), padded(previous)
        with worker_pool(threads) as pool:
            smooth_map(lines, item_at, rows, cols, radius, hole, before, before, pool, threads)
        assert np.array_equal(before[:, :d], out) and not before[:, d:].any()
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize(("d", "threads", "ranges"), [
    (100, 2, [(0, 6), (6, 13)]),
    (100, 3, [(0, 4), (4, 8), (8, 13)]),
    (7, 2, [(0, 1)]),  # one cache line: one thread
    (20, 16, [(0, 1), (1, 2), (2, 3)]),
])  # fmt: skip
def test_smoothed_map_threads_take_whole_cache_lines(
    d: int, threads: int, ranges: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each thread filters whole cache lines of a row (8 float64 each), so that no two threads
    write the same line of the map, and together they cover every dimension."""
    from tsnegrid.layout import kernels

    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(kernels, "_smooth_lines", lambda *a: seen.append((a[-2], a[-1])))
    x = kernels.padded(np.zeros((4, d)))
    item_at = np.arange(4, dtype=np.int64)
    out = kernels.line_rows(4, d)
    kernels.smooth_map(x, item_at, 2, 2, 1, 0.01, out, out, None, threads)
    assert sorted(seen) == ranges


def test_line_rows_start_on_cache_lines() -> None:
    """Rows of whole cache lines, the first on a line: a thread's lines are its own."""
    from tsnegrid.layout.kernels import line_rows

    for cells, d in [(1, 1), (5, 8), (7, 100), (3, 9)]:
        out = line_rows(cells, d)
        assert out.shape == (cells, -(-d // 8) * 8)
        assert out.ctypes.data % 64 == 0 and out.flags.c_contiguous
        assert not out.any()


@pytest.mark.parametrize("radius", [1, 2, 12])
def test_smoothed_map_gives_a_window_that_weighs_nothing_the_features_mean(radius: int) -> None:
    """A cell whose whole window is masked gets the mean of the features; windows wider than
    the grid are clipped at its border."""
    from tsnegrid.layout.kernels import smooth_map

    rows, cols, d = 8, 9, 3
    rng = np.random.default_rng(5)
    item_at = np.full(rows * cols, UNUSABLE, dtype=np.int64)
    item_at[:cols] = np.arange(cols)  # images on the bottom row only
    x = rng.normal(size=(cols, d))
    out = np.full((rows * cols, d), np.nan)
    weights = smooth_map(x, item_at, rows, cols, radius, 0.01, np.zeros_like(out), out)
    top = np.arange((rows - 1) * cols, rows * cols)  # more than radius rows from the images
    if radius < rows - 1:
        assert np.all(weights[top] == 0)
        np.testing.assert_allclose(out[top], np.broadcast_to(x.mean(0), (cols, d)), rtol=1e-12)
    else:  # the window reaches every row: each cell is its columns' mean
        for c in range(cols):
            window = np.arange(max(0, c - radius), min(cols, c + radius + 1))
            np.testing.assert_allclose(out[top[c]], x[window].mean(0), rtol=1e-12)
