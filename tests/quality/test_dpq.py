"""Tests of the layout quality metrics: DPQ, neighbourhood preservation, displacement, coherence."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from tsnegrid.quality import dpq as dpq_module
from tsnegrid.quality.dpq import dpq_many
from tsnegrid.quality.metrics import (
    dpq,
    grid_positions,
)

Layout = tuple[NDArray[np.float64], NDArray[np.intp]]


def slow_dpq(
    features: NDArray[np.float64],
    node_of_point: NDArray[np.intp],
    rows: int,
    cols: int,
    p: float = 16.0,
) -> float:
    """DPQ_p straight from the definition in issue 4: loops, sorted() with a key, no blocks."""
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    r, c = np.divmod(np.asarray(node_of_point), cols)
    d = [[float(np.sqrt(np.sum((x[i] - x[j]) ** 2))) for j in range(n)] for i in range(n)]
    mean_d = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    d_2d = np.zeros(n - 1)
    d_hd = np.zeros(n - 1)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        by_grid = sorted(others, key=lambda j: ((r[i] - r[j]) ** 2 + (c[i] - c[j]) ** 2, d[i][j]))
        by_d = sorted(others, key=lambda j: d[i][j])
        for k in range(1, n):
            d_2d[k - 1] += sum(d[i][j] for j in by_grid[:k]) / k / n
            d_hd[k - 1] += sum(d[i][j] for j in by_d[:k]) / k / n
    delta_2d = np.maximum(0.0, (mean_d - d_2d) / mean_d)
    delta_hd = np.maximum(0.0, (mean_d - d_hd) / mean_d)
    return float(np.sum(delta_2d**p) ** (1 / p) / np.sum(delta_hd**p) ** (1 / p))


def full_grid_layout(rows: int, cols: int) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Features equal to the grid (col, row) coordinates: the perfect layout."""
    nodes = np.arange(rows * cols)
    return grid_positions(nodes, cols), nodes


@pytest.fixture(scope="module")
def clustered_layout() -> Layout:
    """3,025 items in 8 clusters on a 55x55 grid, laid out by cluster with local noise."""
    rng = np.random.default_rng(11)
    n = 55 * 55
    labels = np.sort(rng.integers(0, 8, size=n))
    centres = rng.normal(scale=4.0, size=(8, 20))
    features = centres[labels] + rng.normal(size=(n, 20))
    nodes = np.arange(n)
    # Swap 20% of the cells so the layout is good but not perfect.
    swap = rng.choice(n, size=n // 5, replace=False)
    nodes[swap] = nodes[rng.permutation(swap)]
    return features, nodes


@pytest.mark.parametrize(
    ("rows", "cols", "n", "n_features"), [(5, 7, 30, 4), (4, 4, 16, 2), (1, 9, 7, 3)]
)
def test_dpq_matches_slow_reference(rows: int, cols: int, n: int, n_features: int) -> None:
    rng = np.random.default_rng(rows * 100 + cols)
    features = rng.normal(size=(n, n_features))
    nodes = rng.permutation(rows * cols)[:n]
    assert dpq(features, nodes, rows, cols).value == pytest.approx(
        slow_dpq(features, nodes, rows, cols), rel=1e-9
    )


def test_dpq_matches_reference_with_tied_distances_and_clusters() -> None:
    # Integer features give many equal distances, so the tie-breaking by d is exercised.
    rng = np.random.default_rng(3)
    features = rng.integers(0, 3, size=(24, 2)).astype(float)
    nodes = rng.permutation(30)[:24]
    got = dpq(features, nodes, 5, 6)
    assert got.exact and got.stderr == 0.0 and got.n_anchors == 24
    assert got.value == pytest.approx(slow_dpq(features, nodes, 5, 6), rel=1e-9)
    assert dpq(features, nodes, 5, 6, p=2).value == pytest.approx(
        slow_dpq(features, nodes, 5, 6, p=2), rel=1e-9
    )


@pytest.mark.parametrize(("rows", "cols"), [(6, 6), (4, 9)])
def test_dpq_of_perfect_layout_is_one(rows: int, cols: int) -> None:
    features, nodes = full_grid_layout(rows, cols)
    assert dpq(features, nodes, rows, cols).value == pytest.approx(1.0, abs=1e-12)


def test_dpq_of_random_layout_is_far_below_perfect() -> None:
    features, nodes = full_grid_layout(20, 20)
    shuffled = np.random.default_rng(0).permutation(nodes)
    # Ties in grid distance are broken by the smaller feature distance, which lifts a random
    # layout well above 0 (a random 4-neighbour set still holds a closest-of-four).
    assert dpq(features, shuffled, 20, 20).value < 0.5


def test_dpq_is_invariant_to_item_order() -> None:
    rng = np.random.default_rng(5)
    features, nodes = rng.normal(size=(40, 3)), rng.permutation(49)[:40]
    order = rng.permutation(40)
    assert dpq(features[order], nodes[order], 7, 7).value == pytest.approx(
        dpq(features, nodes, 7, 7).value, rel=1e-12
    )


def test_dpq_without_information_is_one() -> None:
    assert dpq(np.ones((5, 2)), np.arange(5), 2, 3).value == 1.0
    assert dpq(np.array([[0.0], [1.0]]), np.array([0, 3]), 2, 2).value == 1.0


def test_dpq_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="distinct"):
        dpq(np.zeros((3, 2)), np.array([0, 0, 1]), 2, 2)
    with pytest.raises(ValueError, match="distinct"):
        dpq(np.zeros((3, 2)), np.array([0, 1, 4]), 2, 2)
    with pytest.raises(ValueError, match="at least 2"):
        dpq(np.zeros((1, 2)), np.array([0]), 2, 2)
    with pytest.raises(ValueError, match="integer"):
        dpq(np.zeros((2, 2)), np.array([0.0, 1.0]), 2, 2)
    with pytest.raises(ValueError, match="NaN"):
        dpq(np.array([[0.0], [np.nan]]), np.array([0, 1]), 1, 2)


def test_dpq_grid_rank_by_binary_search_matches_lookup_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    features, nodes = rng.normal(size=(50, 5)), rng.permutation(60)[:50]
    expected = dpq(features, nodes, 6, 10).value
    monkeypatch.setattr(dpq_module, "_LUT_MAX", 4)  # forces the searchsorted branch
    assert dpq_module._grid_distance_ranks(6, 10)[1].size == 0
    assert dpq(features, nodes, 6, 10).value == pytest.approx(expected, rel=1e-12)


def test_grid_order_kernel_sorts_large_groups_by_distance() -> None:
    # One rank for every other item: the kernel must return the sorted distances, which takes
    # the slice-sort branch (groups larger than the insertion-sort limit).
    rng = np.random.default_rng(2)
    n = 200
    d = rng.random((3, n))
    anchors = np.array([0, 5, 17])
    d[np.arange(3), anchors] = -1.0
    rr, cc = np.zeros(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    uniq = np.array([0, 1], dtype=np.int64)
    lut = np.ones(n * n, dtype=np.int32)
    lut[0] = 0
    out = np.zeros(n - 1)
    dpq_module._accumulate_grid_order(d, anchors, rr, cc, uniq, lut, out)
    np.testing.assert_allclose(out, np.sort(d, axis=1)[:, 1:].sum(axis=0), rtol=1e-12)


def test_grid_order_kernel_sorts_groups_of_every_size() -> None:
    # Items in one row, the anchor first; the table gives groups of 1 to 20 items and one of
    # 40, which take the insertion sort, each sorting network and the slice sort.
    sizes = [*range(1, 21), 40]
    n = 1 + sum(sizes)
    group = np.repeat(np.arange(1, len(sizes) + 1), sizes)
    lut = np.zeros((n - 1) ** 2 + 1, dtype=np.int32)
    lut[np.arange(1, n) ** 2] = group
    rng = np.random.default_rng(5)
    d = rng.random((1, n))
    d[0, 0] = -1.0
    out = np.zeros(n - 1)
    rr, cc = np.zeros(n, dtype=np.int64), np.arange(n, dtype=np.int64)
    uniq = np.arange(len(sizes) + 1, dtype=np.int64)
    dpq_module._accumulate_grid_order(d, np.array([0]), rr, cc, uniq, lut, out)
    expected = np.concatenate([np.sort(d[0, 1:][group == g]) for g in range(1, len(sizes) + 1)])
    np.testing.assert_array_equal(out, expected)


def test_dpq_blocks_give_the_same_value(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    features, nodes = rng.normal(size=(90, 4)), rng.permutation(100)[:90]
    expected = dpq(features, nodes, 10, 10).value
    monkeypatch.setattr(dpq_module, "_BLOCK_ELEMENTS", 7 * 90)  # 7 anchors per block
    assert dpq(features, nodes, 10, 10).value == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_dpq_estimate_agrees_with_exact_within_its_error(clustered_layout: Layout) -> None:
    features, nodes = clustered_layout
    exact = dpq(features, nodes, 55, 55)
    assert exact.exact
    for seed in (0, 1):
        est = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=400, seed=seed)
        assert not est.exact and est.n_anchors == 400
        assert 0.0 < est.stderr < 0.05
        assert abs(est.value - exact.value) < 3 * est.stderr


@pytest.mark.slow
def test_dpq_estimate_is_seeded(clustered_layout: Layout) -> None:
    features, nodes = clustered_layout
    a = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=100, seed=4)
    b = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=100, seed=4)
    c = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=100, seed=5)
    assert a == b
    assert a.value != c.value


@pytest.mark.parametrize("exact_max", [10_000, 40])
def test_dpq_many_equals_dpq_of_each_layout(
    exact_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One pass over shared distance blocks must give each layout exactly its own DPQ, exact or
    # estimated (same anchors, same jackknife groups), and the same on any number of threads.
    rng = np.random.default_rng(11)
    features = rng.normal(size=(90, 6))
    layouts = [rng.permutation(100)[:90] for _ in range(3)]
    monkeypatch.setattr(dpq_module, "_BLOCK_ELEMENTS", 90 * 7)  # several blocks of anchors
    many = dpq_many(features, layouts, 10, 10, exact_max=exact_max, n_anchors=30, seed=5)
    threaded = dpq_many(
        features, layouts, 10, 10, exact_max=exact_max, n_anchors=30, seed=5, threads=3
    )
    assert threaded == many
    for nodes, got in zip(layouts, many, strict=True):
        alone = dpq(features, nodes, 10, 10, exact_max=exact_max, n_anchors=30, seed=5)
        assert got == alone
    assert many[0].exact == (exact_max >= 90)


def test_dpq_many_rejects_a_bad_layout() -> None:
    features = np.zeros((3, 2))
    with pytest.raises(ValueError, match="distinct"):
        dpq_many(features, [np.array([0, 1, 2]), np.array([0, 0, 1])], 2, 2)


def test_the_anchors_keep_their_work_bounded_above_100000_images():
    from tsnegrid.quality.dpq import MIN_ANCHORS, N_ANCHORS, anchors_for

    assert anchors_for(50_000) == anchors_for(100_000) == N_ANCHORS == 2_000
    assert anchors_for(300_000) == 666
    assert anchors_for(1_000_000) == MIN_ANCHORS == 400
