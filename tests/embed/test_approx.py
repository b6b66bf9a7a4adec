import sys

import numpy as np
import pytest
from numpy.typing import NDArray

from tsnegrid.embed import approx
from tsnegrid.embed.approx import (
    AUTO_APPROX_FROM,
    approximate_neighbours,
    neighbour_recall,
    resolve_method,
)
from tsnegrid.embed.knn import nearest_others, pair_sq_distances
from tsnegrid.errors import UsageError
from tsnegrid.runtime.workers import single_thread_blas


def clustered(n: int = 2000, d: int = 20, clusters: int = 15, seed: int = 0) -> NDArray:
    """Gaussian clusters of different spreads: neighbours that are easy to find but not trivial."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(clusters, d))
    which = rng.integers(0, clusters, n)
    return centres[which] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, clusters)[which, None]


@pytest.fixture(scope="module")
def points() -> NDArray:
    return clustered()


@pytest.fixture(scope="module")
def exact(points):
    with single_thread_blas():  # OpenBLAS's own threads beside the search's: many times slower
        return nearest_others(points, 30)


@pytest.fixture(scope="module")
def found(points):
    return approximate_neighbours(points, 30, seed=3, threads=1)


def test_recall_against_the_exact_search_is_high(points, found):
    assert neighbour_recall(points, found.indices, sample=600, seed=0) >= 0.97
    exact, _ = nearest_others(points, 30)
    hits = np.mean(
        [np.intersect1d(a, b).size / 30 for a, b in zip(found.indices, exact, strict=True)]
    )
    assert hits >= 0.97


def test_rows_exclude_themselves_and_are_ordered_by_distance_then_index(points, found):
    n = len(points)
    assert found.indices.shape == found.distances.shape == (n, 30)
    assert found.indices.dtype == np.intp and found.distances.dtype == np.float64
    assert found.method == "approx"
    assert not np.any(found.indices == np.arange(n)[:, None])
    assert all(len(set(row)) == 30 for row in found.indices.tolist())
    d, i = found.distances, found.indices
    assert np.all((d[:, 1:] > d[:, :-1]) | ((d[:, 1:] == d[:, :-1]) & (i[:, 1:] > i[:, :-1])))


def test_distances_are_the_exact_searchs_to_the_bit(points, found, exact):
    rows = np.arange(len(points))
    np.testing.assert_array_equal(
        found.distances, np.sqrt(pair_sq_distances(points, rows, found.indices))
    )
    same = found.indices == exact[0]
    assert same.mean() > 0.9
    np.testing.assert_array_equal(found.distances[same], np.sqrt(exact[1])[same])


def test_the_same_for_a_seed_whatever_the_threads(points, found):
    again = approximate_neighbours(points, 30, seed=3, threads=3)
    np.testing.assert_array_equal(again.indices, found.indices)
    np.testing.assert_array_equal(again.distances, found.distances)


def test_duplicates_are_neighbours_at_zero_and_never_the_row_itself():
    x = np.repeat(clustered(200, 5, 4, seed=1), 3, axis=0)  # each point three times
    got = approximate_neighbours(x, 4, seed=0)
    twins = (np.arange(len(x))[:, None] // 3) * 3 + np.array([0, 1, 2])[None, :]
    for row, (idx, dist) in enumerate(zip(got.indices, got.distances, strict=True)):
        assert row not in idx
        assert set(idx[:2]) == set(twins[row]) - {row}
        assert dist[0] == dist[1] == 0.0


def test_neighbour_recall_is_one_for_the_exact_and_low_for_random_indices(points, exact):
    assert neighbour_recall(points, exact[0][:, :12], sample=500, seed=1) == 1.0
    noise = np.random.default_rng(0).integers(0, len(points), (len(points), 12))
    assert neighbour_recall(points, noise, sample=300, seed=1) < 0.1
    with pytest.raises(ValueError, match="neighbour indices"):
        neighbour_recall(points, exact[0][:, :5], seed=1)


def test_auto_is_exact_below_the_switch_and_approx_from_it():
    assert resolve_method("auto", AUTO_APPROX_FROM - 1) == "exact"
    assert resolve_method("auto", AUTO_APPROX_FROM) == "approx"
    assert resolve_method("exact", 10**7) == "exact"
    assert resolve_method("approx", 50) == "approx"
    with pytest.raises(UsageError, match="auto, exact or approx"):
        resolve_method("fast", 100)


def test_clear_errors_for_bad_k_and_a_missing_library(points, monkeypatch):
    with pytest.raises(ValueError, match=r"k in 1\.\.n-1"):
        approximate_neighbours(points[:10], 10, seed=0)
    with pytest.raises(ValueError, match=r"k in 1\.\.n-1"):
        approximate_neighbours(points[0], 1, seed=0)
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # import hnswlib now raises ImportError
    with pytest.raises(UsageError, match="pip install hnswlib"):
        approximate_neighbours(points[:50], 5, seed=0)


def test_progress_reaches_one(points, monkeypatch):
    monkeypatch.setattr(approx, "_INSERT_CHUNK", 1000)
    seen: list[float] = []
    approximate_neighbours(points, 5, seed=0, progress=seen.append)
    assert seen == pytest.approx([0.5, 1.0])
