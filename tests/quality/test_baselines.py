"""Tests of the baseline arrangements: random and sorted by principal components."""

from __future__ import annotations

import numpy as np
import pytest

from tsnegrid.quality.baselines import principal_scores, random_layout, sorted_layout


def test_random_layout_is_a_seeded_set_of_distinct_cells() -> None:
    a = random_layout(10, 3, 4, seed=1)
    assert a.shape == (10,) and a.dtype == np.intp
    assert np.unique(a).size == 10 and a.min() >= 0 and a.max() < 12
    np.testing.assert_array_equal(a, random_layout(10, 3, 4, seed=1))
    assert not np.array_equal(a, random_layout(10, 3, 4, seed=2))


def test_random_layout_of_a_full_grid_is_a_permutation() -> None:
    np.testing.assert_array_equal(np.sort(random_layout(12, 3, 4, seed=0)), np.arange(12))


@pytest.mark.parametrize("n", [0, 13])
def test_layouts_reject_counts_that_do_not_fit(n: int) -> None:
    with pytest.raises(ValueError, match="fit"):
        random_layout(n, 3, 4, seed=0)
    with pytest.raises(ValueError, match="fit"):
        sorted_layout(np.zeros((n, 2)), 3, 4)


def test_sorted_layout_rows_follow_pc1_and_columns_pc2() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(10, 4)) * [10.0, 3.0, 1.0, 1.0]
    pc1, pc2 = principal_scores(features, 2).T
    nodes = sorted_layout(features, 3, 4)
    rows, cols = np.divmod(nodes, 4)
    np.testing.assert_array_equal(np.bincount(rows), [4, 4, 2])  # the last row partly filled
    np.testing.assert_array_equal(np.sort(cols[rows == 2]), [0, 1])
    assert np.all(np.diff(rows[np.argsort(pc1)]) >= 0)  # larger PC1: later (lower) row
    for r in range(3):
        in_row = np.flatnonzero(rows == r)
        assert np.all(np.diff(pc2[in_row[np.argsort(cols[in_row])]]) > 0)


def test_principal_scores_find_the_axes_of_an_uncorrelated_design() -> None:
    # A full 4x8 lattice stretched 3x along x: x and y are exactly uncorrelated, x varies most.
    y, x = np.divmod(np.arange(32), 8)
    features = np.column_stack([3.0 * x, y, np.zeros(32)])
    scores = principal_scores(features, 2)
    np.testing.assert_allclose(scores[:, 0], 3.0 * (x - 3.5), atol=1e-9)
    np.testing.assert_allclose(scores[:, 1], y - 1.5, atol=1e-9)


def test_sorted_layout_is_deterministic_and_independent_of_item_order() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(30, 5)) * [5.0, 3.0, 1.0, 1.0, 1.0]
    nodes = sorted_layout(features, 6, 6)
    assert np.unique(nodes).size == 30
    np.testing.assert_array_equal(nodes, sorted_layout(features.copy(), 6, 6))
    order = rng.permutation(30)
    np.testing.assert_array_equal(sorted_layout(features[order], 6, 6), nodes[order])


def test_sorted_layout_keeps_input_order_for_ties() -> None:
    features = np.zeros((4, 2))
    np.testing.assert_array_equal(sorted_layout(features, 2, 2), [0, 1, 2, 3])


def test_principal_scores_pads_missing_components() -> None:
    scores = principal_scores(np.array([[0.0], [1.0], [3.0]]), 2)
    np.testing.assert_allclose(scores[:, 0], [-4 / 3, -1 / 3, 5 / 3])
    np.testing.assert_array_equal(scores[:, 1], 0.0)
