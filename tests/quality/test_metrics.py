"""Tests of the layout quality metrics: DPQ, neighbourhood preservation, displacement, coherence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.typing import NDArray

from tsnegrid.quality.metrics import (
    Displacement,
    class_coherence,
    displacement,
    evaluate_layout,
    grid_positions,
    neighbourhood_preservation,
    quality_to_json,
)

# ---------------------------------------------------------------- slow references from the formulas


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


@pytest.mark.slow
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


def slow_np_rows(
    features: NDArray[np.float64], positions: NDArray[np.float64], k: int, rows: list[int]
) -> float:
    """slow_np averaged over ``rows`` only (their neighbours among all items)."""
    f, pos = np.asarray(features, float), np.asarray(positions, float)

    def nearest(x: NDArray[np.float64], other: NDArray[np.float64], i: int) -> set[int]:
        def key(j: int) -> tuple[float, float, int]:
            return (float(np.sum((x[i] - x[j]) ** 2)), float(np.sum((other[i] - other[j]) ** 2)), j)

        return set(sorted((j for j in range(len(x)) if j != i), key=key)[:k])

    return sum(len(nearest(f, pos, i) & nearest(pos, f, i)) for i in rows) / (len(rows) * k)


def test_np_over_a_sample_of_rows_averages_those_rows_only() -> None:
    rng = np.random.default_rng(9)
    features = rng.integers(0, 3, size=(70, 3)).astype(float)  # ties in both spaces
    positions = grid_positions(rng.permutation(81)[:70], 9)
    rows = np.sort(rng.choice(70, 17, replace=False))
    got = neighbourhood_preservation(features, positions, rows=rows)
    want = [slow_np_rows(features, positions, k, rows.tolist()) for k in range(1, 11)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    every = neighbourhood_preservation(features, positions, rows=np.arange(70))
    np.testing.assert_array_equal(every, neighbourhood_preservation(features, positions))


def test_np_of_random_grid_is_low_and_perfect_grid_is_one() -> None:
    features, nodes = full_grid_layout(15, 15)
    perfect = neighbourhood_preservation(features, grid_positions(nodes, 15))
    shuffled = np.random.default_rng(1).permutation(nodes)
    random = neighbourhood_preservation(features, grid_positions(shuffled, 15))
    np.testing.assert_allclose(perfect, 1.0)
    assert np.all(random < 0.2)


@pytest.mark.parametrize("d", [2, 7, 100])
def test_sq_distances_are_numpys_to_the_bit(monkeypatch: pytest.MonkeyPatch, d: int) -> None:
    """The gathered differences give NumPy's own expression's sums, row chunks and all, for
    strided features and a sample of rows too."""
    from tsnegrid.quality import metrics

    monkeypatch.setattr(metrics, "_ROW_CHUNK", 7)  # several chunks and a short last one
    rng = np.random.default_rng(d)
    x = rng.normal(size=(60, 2 * d))[:, ::2]  # not contiguous
    rows = np.sort(rng.choice(60, 23, replace=False)).astype(np.intp)
    idx = rng.integers(0, 60, size=(23, 9)).astype(np.intp)
    diff = x[idx] - x[rows, None, :]
    want = np.einsum("ijk,ijk->ij", diff, diff)
    np.testing.assert_array_equal(metrics._sq_distances(x, rows, idx), want)


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
