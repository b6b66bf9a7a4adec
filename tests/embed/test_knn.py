import numpy as np
import pytest
from numpy.typing import NDArray

from tsnegrid.embed import knn
from tsnegrid.embed.knn import nearest_others


def reference(x: NDArray[np.float64], k: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """All pairwise squared distances by direct differences; order by (distance, index)."""
    n = len(x)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(n), (n, n)), d2), axis=-1)[:, :k]
    return order, np.take_along_axis(d2, order, axis=1)


@pytest.mark.parametrize(("n", "d", "k"), [(2, 3, 1), (12, 6, 11), (150, 6, 30), (200, 40, 60)])
def test_equals_an_exhaustive_search_and_is_the_same_on_any_threads(n, d, k, monkeypatch):
    monkeypatch.setattr(knn, "_BLOCK_ROWS", 7)  # several blocks, a short last one
    monkeypatch.setattr(knn, "_COLUMN_CHUNK", 13)  # heaps fed chunk by chunk
    x = np.random.default_rng(n).normal(size=(n, d))
    want_idx, want_d2 = reference(x, k)
    for threads in (1, 3):
        idx, d2 = nearest_others(x, k, threads=threads)
        assert idx.dtype == np.intp and d2.dtype == np.float64
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_allclose(d2, want_d2, rtol=1e-12)


def test_distances_are_summed_in_feature_order():
    # As a k-d tree sums them: bit for bit, not merely close.
    x = np.random.default_rng(1).normal(size=(80, 9)) * 10.0 ** np.arange(-4, 5)
    idx, d2 = nearest_others(x, 10)
    want = np.zeros(idx.shape)
    for f in range(x.shape[1]):
        want += (x[:, None, f] - x[idx, f]) ** 2
    np.testing.assert_array_equal(d2, want)


def test_ties_are_broken_by_index_even_across_the_candidate_margin(monkeypatch):
    # 20 copies of each of 30 points: the k-th neighbour ties with more items than the margin
    # holds, so rows are settled by the exhaustive search, whose order must be the same.
    exhaustive = []
    original = knn._Search.exhaustive

    def spy(self, row, k):
        exhaustive.append(row)
        return original(self, row, k)

    monkeypatch.setattr(knn._Search, "exhaustive", spy)
    monkeypatch.setattr(knn, "_COLUMN_CHUNK", 64)
    x = np.repeat(np.random.default_rng(2).normal(size=(30, 5)), 20, axis=0)
    want_idx, want_d2 = reference(x, 25)
    idx, d2 = nearest_others(x, 25, threads=2)
    assert exhaustive
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(d2, want_d2, rtol=1e-12, atol=0)


def test_integer_grid_ties_and_a_subset_of_rows():
    x = np.random.default_rng(3).integers(0, 4, (300, 2)).astype(np.float64)
    want_idx, want_d2 = reference(x, 12)
    rows = np.array([5, 0, 299, 5])
    idx, d2 = nearest_others(x, 12, rows=rows)
    np.testing.assert_array_equal(idx, want_idx[rows])
    np.testing.assert_array_equal(d2, want_d2[rows])


def test_k_must_leave_the_item_out():
    x = np.zeros((4, 2))
    assert nearest_others(x, 0)[0].shape == (4, 0)
    with pytest.raises(ValueError, match=r"k must be in 0\.\.3"):
        nearest_others(x, 4)
