"""Tests of the layout quality metrics: DPQ, neighbourhood preservation, displacement, coherence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.typing import NDArray

from tsnegrid.quality import dpq as dpq_module
from tsnegrid.quality.dpq import dpq_many
from tsnegrid.quality.metrics import (
    Displacement,
    class_coherence,
    displacement,
    dpq,
    evaluate_layout,
    grid_positions,
    neighbourhood_preservation,
    quality_to_json,
)

Layout = tuple[NDArray[np.float64], NDArray[np.intp]]

# ---------------------------------------------------------------- slow references from the formulas


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


def slow_np(features: NDArray[np.float64], positions: NDArray[np.float64], k: int) -> float:
    """Neighbourhood preservation by loops: order by own distance, other distance, index."""
    f, pos = np.asarray(features, float), np.asarray(positions, float)

    def nearest(x: NDArray[np.float64], other: NDArray[np.float64], i: int) -> set[int]:
        def key(j: int) -> tuple[float, float, int]:
            return (float(np.sum((x[i] - x[j]) ** 2)), float(np.sum((other[i] - other[j]) ** 2)), j)

        return set(sorted((j for j in range(len(x)) if j != i), key=key)[:k])

    shared = sum(len(nearest(f, pos, i) & nearest(pos, f, i)) for i in range(len(f)))
    return shared / (len(f) * k)


def full_grid_layout(rows: int, cols: int) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Features equal to the grid (col, row) coordinates: the perfect layout."""
    nodes = np.arange(rows * cols)
    return grid_positions(nodes, cols), nodes


# ---------------------------------------------------------------------------------------- DPQ


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


def test_dpq_blocks_give_the_same_value(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    features, nodes = rng.normal(size=(90, 4)), rng.permutation(100)[:90]
    expected = dpq(features, nodes, 10, 10).value
    monkeypatch.setattr(dpq_module, "_BLOCK_ELEMENTS", 7 * 90)  # 7 anchors per block
    assert dpq(features, nodes, 10, 10).value == pytest.approx(expected, rel=1e-12)


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


def test_dpq_estimate_agrees_with_exact_within_its_error(clustered_layout: Layout) -> None:
    features, nodes = clustered_layout
    exact = dpq(features, nodes, 55, 55)
    assert exact.exact
    for seed in (0, 1):
        est = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=400, seed=seed)
        assert not est.exact and est.n_anchors == 400
        assert 0.0 < est.stderr < 0.05
        assert abs(est.value - exact.value) < 3 * est.stderr


def test_dpq_estimate_is_seeded(clustered_layout: Layout) -> None:
    features, nodes = clustered_layout
    a = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=100, seed=4)
    b = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=100, seed=4)
    c = dpq(features, nodes, 55, 55, exact_max=1000, n_anchors=100, seed=5)
    assert a == b
    assert a.value != c.value


# ------------------------------------------------------------------ neighbourhood preservation


def test_np_hand_case_with_grid_ties_broken_by_feature_distance() -> None:
    # Items 0..3 on a 1x4 grid with features 0, 5, 4, 9.
    # Feature order: 0 -> 2,1,3   1 -> 2,3,0   2 -> 1,0,3   3 -> 1,2,0
    # Grid order:    0 -> 1,2,3   1 -> 2,0,3 (0 and 2 tie at one cell; 2 is more similar)
    #                2 -> 1,3,0 (1 and 3 tie; 1 is more similar)   3 -> 2,1,0
    # k=1: items 1 and 2 agree -> 2/4.  k=2: items 0, 3 keep both, 1 and 2 keep one -> 3/4.
    features = np.array([[0.0], [5.0], [4.0], [9.0]])
    positions = grid_positions(np.arange(4), 4)
    got = neighbourhood_preservation(features, positions, ks=[1, 2, 3])
    np.testing.assert_allclose(got, [0.5, 0.75, 1.0])


def test_np_is_one_for_the_same_space_and_order_independent() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((200, 2))
    np.testing.assert_allclose(neighbourhood_preservation(x, x), np.ones(10))
    features = rng.normal(size=(200, 6))
    order = rng.permutation(200)
    np.testing.assert_allclose(
        neighbourhood_preservation(features[order], x[order]),
        neighbourhood_preservation(features, x),
        rtol=1e-12,
    )


def test_np_on_a_sparse_grid_matches_slow_reference() -> None:
    # Integer features tie in feature space and on the grid at once; empty cells make ragged
    # grid neighbourhoods.
    rng = np.random.default_rng(4)
    features = rng.integers(0, 3, size=(45, 3)).astype(float)
    nodes = rng.permutation(80)[:45]
    positions = grid_positions(nodes, 10)
    got = neighbourhood_preservation(features, positions)
    want = [slow_np(features, positions, k) for k in range(1, 11)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_np_of_random_grid_is_low_and_perfect_grid_is_one() -> None:
    features, nodes = full_grid_layout(15, 15)
    perfect = neighbourhood_preservation(features, grid_positions(nodes, 15))
    shuffled = np.random.default_rng(1).permutation(nodes)
    random = neighbourhood_preservation(features, grid_positions(shuffled, 15))
    np.testing.assert_allclose(perfect, 1.0)
    assert np.all(random < 0.2)


def test_np_rejects_k_out_of_range() -> None:
    with pytest.raises(ValueError, match="every k"):
        neighbourhood_preservation(np.zeros((3, 2)), np.zeros((3, 2)), ks=[3])


# ------------------------------------------------------------------ displacement and coherence


def test_displacement_hand_case_on_rectangular_grid() -> None:
    # 2 rows x 5 cols: nodes 0.25 apart in x (1 cell = 0.25) and 1.0 apart in y (1 cell = 1.0).
    points = np.array([[0.25, 0.5], [1.0, 1.0], [0.5, 0.0]])
    nodes = np.array([0, 9, 1])  # (0, 0) at (0, 0); (1, 4) at (1, 1); (0, 1) at (0.25, 0)
    got = displacement(points, nodes, 2, 5)
    cells = [np.hypot(1.0, 0.5), 0.0, 1.0]
    want = Displacement(
        mean=float(np.mean(cells)),
        median=1.0,
        max=float(np.hypot(1.0, 0.5)),
        total_cost=0.25**2 + 0.5**2 + 0.25**2,
    )
    for name in ("mean", "median", "max", "total_cost"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12)


def test_class_coherence_hand_case() -> None:
    # row 0:  A  A  B        pairs: (A,A) (A,B) in row 0, (A,A) in column 0;
    # row 1:  A  .  ?        empty (.) and unknown (?) cells make no pairs  ->  2 of 3.
    labels = np.array([0, 0, 1, 0, -1])
    nodes = np.array([0, 1, 2, 3, 5])
    assert class_coherence(labels, nodes, 2, 3) == pytest.approx(2 / 3)


def test_class_coherence_is_none_without_labels_or_pairs() -> None:
    assert class_coherence(None, np.arange(4), 2, 2) is None
    assert class_coherence(np.full(4, -1), np.arange(4), 2, 2) is None
    assert class_coherence(np.array([1, 1]), np.array([0, 3]), 2, 2) is None


# ----------------------------------------------------------------------------- evaluate_layout


def test_evaluate_layout_and_json() -> None:
    rng = np.random.default_rng(9)
    features, nodes = full_grid_layout(6, 6)
    points = features / 5.0 + rng.normal(scale=0.01, size=features.shape)
    labels = (features[:, 0] >= 3).astype(np.int64)
    quality = evaluate_layout(features, points, nodes, labels, 6, 6, seed=0)
    assert quality.dpq16.value == pytest.approx(1.0)
    assert quality.np_embedding is not None and quality.np_embedding.shape == (10,)
    np.testing.assert_allclose(quality.np_grid, 1.0)
    assert quality.displacement is not None and quality.displacement.max < 0.2
    assert quality.coherence == pytest.approx(54 / 60)  # 6 of 60 pairs cross the x=2.5 border
    data = json.loads(json.dumps(quality_to_json(quality)))
    assert data["dpq16"]["exact"] is True
    assert data["neighbourhood_preservation"]["k"] == list(range(1, 11))
    assert data["displacement_cells"]["max"] == pytest.approx(quality.displacement.max)


def test_evaluate_layout_without_points_or_labels() -> None:
    features, nodes = full_grid_layout(3, 4)
    quality = evaluate_layout(features, None, nodes, None, 3, 4, seed=0)
    assert quality.np_embedding is None and quality.displacement is None
    assert quality.coherence is None
    data = quality_to_json(quality)
    assert data["neighbourhood_preservation"]["embedding"] is None
    assert data["displacement_cells"] is None and data["assignment_cost"] is None


def test_shared_feature_candidates_give_the_same_scores():
    from tsnegrid.quality.metrics import evaluate_layout, layout_ks, nearest_candidates

    rng = np.random.default_rng(5)
    feats = rng.normal(size=(60, 8))
    points = rng.random((60, 2))
    nodes = rng.permutation(64)[:60]
    alone = evaluate_layout(feats, points, nodes, None, 8, 8, seed=0)
    cand = nearest_candidates(feats, max(layout_ks(60)))
    shared = evaluate_layout(feats, points, nodes, None, 8, 8, seed=0, feature_candidates=cand)
    np.testing.assert_array_equal(alone.np_grid, shared.np_grid)
    assert alone.np_embedding is not None and shared.np_embedding is not None
    np.testing.assert_array_equal(alone.np_embedding, shared.np_embedding)


def test_quality_stage_reports_progress_in_five_steps():
    from tsnegrid.quality.assess import assess_quality

    rng = np.random.default_rng(2)
    feats = rng.normal(size=(30, 4))
    seen: list[float] = []
    report = assess_quality(
        feats,
        rng.random((30, 2)),
        rng.permutation(36)[:30],
        np.zeros(30, dtype=np.int64),
        6,
        6,
        seed=0,
        progress=seen.append,
    )
    assert seen == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert [s.name for s in report.layouts] == ["t-SNE + LAP", "random", "sorted"]


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


@pytest.mark.parametrize("k_start", [3, 10, 25])
def test_nearest_candidates_from_a_start_equal_a_fresh_search(k_start: int) -> None:
    # Integer coordinates make ties everywhere, so rows whose start set cuts a tie must be
    # searched again; rows it settles must give the same candidates as the fresh search.
    from sklearn.neighbors import NearestNeighbors

    from tsnegrid.quality.metrics import nearest_candidates

    x = np.random.default_rng(3).integers(0, 6, (150, 3)).astype(np.float64)
    start = NearestNeighbors().fit(x).kneighbors(n_neighbors=k_start, return_distance=False)
    fresh = nearest_candidates(x, 8)
    seeded = nearest_candidates(x, 8, start=start)

    def candidate_sets(idx: NDArray[np.intp]) -> list[set[int]]:
        d2 = ((x[:, None, :] - x[np.maximum(idx, 0)]) ** 2).sum(axis=2)
        kth = np.sort(np.where(idx >= 0, d2, np.inf), axis=1)[:, 7]
        return [set(row[(row >= 0) & (d <= t)]) for row, d, t in zip(idx, d2, kth, strict=True)]

    # Every item within the 8th distance (all ties) is a candidate, either way.
    assert candidate_sets(seeded) == candidate_sets(fresh)
