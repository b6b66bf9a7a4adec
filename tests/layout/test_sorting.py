"""Tests of the LAS passes from large radii: the warm auction, the passes, the cost axes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from tsnegrid.layout import sorting
from tsnegrid.layout.filtered import tiles
from tsnegrid.layout.kernels import EMPTY, UNUSABLE, auction_tiles
from tsnegrid.layout.sorting import las_passes, las_radii, principal_features
from tsnegrid.quality.dpq import dpq


def _item_at(n: int, rows: int, cols: int, usable: NDArray[np.bool_], seed: int) -> NDArray:
    item_at = np.full(rows * cols, EMPTY, dtype=np.int64)
    item_at[~usable] = UNUSABLE
    cells = np.random.default_rng(seed).permutation(np.flatnonzero(usable))[:n]
    item_at[cells] = np.arange(n)
    return item_at


@pytest.mark.parametrize(("n", "side"), [(36, 6), (30, 6), (64, 8)])
def test_auction_is_within_k_eps_of_the_optimum(n: int, side: int) -> None:
    """One tile holding the whole grid: the auction's cost is within k * eps of scipy's
    optimum, also warm-started from its own prices after the map changed."""
    rng = np.random.default_rng(n)
    k = side * side
    x = rng.normal(size=(n, 3))
    item_at = _item_at(n, side, side, np.ones(k, dtype=bool), seed=1)
    cells, sizes = tiles(np.arange(k), side, 0, 0, 1, side)
    prices, eps = np.zeros(k), 1e-4
    for _ in range(3):
        smoothed = rng.normal(size=(k, 3))
        assert auction_tiles(x, smoothed, item_at, cells, sizes, 0, 1, prices, eps) == 0
        cost = ((x[:, None, :] - smoothed[None, :, :]) ** 2).sum(axis=2)
        placed = np.flatnonzero(item_at >= 0)
        assert sorted(item_at[placed].tolist()) == list(range(n))
        ours = cost[item_at[placed], placed].sum()
        best_rows, best_cols = linear_sum_assignment(cost)
        assert ours <= cost[best_rows, best_cols].sum() + k * eps + 1e-9


def test_las_radii_shrink_to_one_and_small_grids_have_none() -> None:
    radii = las_radii(100, 100, 10_000, 100)
    assert radii[0] == 25 and radii[-1] == 1
    assert sorting.tile_side(100, 100) == 28 and sorting.tile_side(50, 50) == 14
    assert all(a >= b for a, b in itertools.pairwise(radii))
    assert las_radii(6, 6, 36, 3) == []
    whole, tiled = las_radii(32, 32, 1024, 3), las_radii(32, 32, 1024, 100)
    assert len(whole) > len(tiled)  # the whole grid at once is cheap: a slower decay


@pytest.mark.parametrize("threads", [1, 2])
def test_las_passes_keep_cells_and_raise_dpq(threads: int) -> None:
    """On tiles (a 44 x 46 grid of 40-d features is too big for one auction) with a mask
    and empty cells: one image per usable cell, masked cells untouched, DPQ_16 up from a
    random layout, the same on one and two threads."""
    rows, cols = 44, 46
    r, c = np.divmod(np.arange(rows * cols), cols)
    usable = (r - rows / 2) ** 2 + (c - cols / 2) ** 2 <= (rows / 2) ** 2
    n = int(usable.sum()) - 25
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 40))[rng.integers(6, size=n)] * 3 + rng.normal(size=(n, 40))
    x -= x.mean(axis=0)
    start = _item_at(n, rows, cols, usable, seed=2)
    results = []
    for t in (1, threads):
        item_at = start.copy()
        passes = las_passes(x, item_at, rows, cols, seed=4, threads=t, tick=lambda: None)
        assert passes == len(las_radii(rows, cols, int(usable.sum()), 40)) > 0
        results.append(item_at)
    np.testing.assert_array_equal(results[0], results[1])
    item_at = results[0]
    assert (item_at[~usable] == UNUSABLE).all()
    placed = np.flatnonzero(item_at >= 0)
    assert sorted(item_at[placed].tolist()) == list(range(n))
    node_before, node_after = np.empty(n, np.int64), np.empty(n, np.int64)
    node_before[start[start >= 0]] = np.flatnonzero(start >= 0)
    node_after[item_at[placed]] = placed
    assert dpq(x, node_after, rows, cols).value > dpq(x, node_before, rows, cols).value + 0.1


def test_principal_features_keep_distances_of_low_dimensional_features() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 50))  # rank 5 in 50 dimensions
    x -= x.mean(axis=0)
    z = principal_features(x, 8, seed=1)
    assert z.shape == (300, 8)
    before = np.linalg.norm(x[:, None] - x[None], axis=2)
    after = np.linalg.norm(z[:, None] - z[None], axis=2)
    np.testing.assert_allclose(after, before, atol=1e-8)
    np.testing.assert_array_equal(principal_features(x[:, :8], 8, seed=1), x[:, :8])
