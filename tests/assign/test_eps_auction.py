"""Tests of the scaled auction: a partial matching, potentials that only fall, phases cut short."""

from __future__ import annotations

import numpy as np
import pytest

from tsnegrid.assign.grid import axis_coords
from tsnegrid.assign.solver.eps_auction import scaled_auction
from tsnegrid.assign.solver.flood import candidates
from tsnegrid.assign.solver.graph import Lattice, row_of_edges


def _instance(seed: int) -> tuple[Lattice, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Points spread over the middle of a full 24 x 24 lattice (its border short of points, so
    that bids travel far) and their 24 candidate nodes under v = 0."""
    rng = np.random.default_rng(seed)
    side = 24
    pts = 0.1 + 0.8 * rng.random((side * side, 2))
    lat = Lattice.of(pts, axis_coords(side), axis_coords(side))
    indptr, indices = candidates(lat, np.zeros(lat.m), 24)
    return lat, (indptr, indices, lat.costs(row_of_edges(indptr), indices))


@pytest.mark.parametrize("tail_share", [0.0, 5e-4, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_auction_returns_a_matching_on_lowered_potentials(tail_share: float, seed: int) -> None:
    lat, (indptr, indices, costs) = _instance(seed)
    h2 = lat.spacing**2
    runs = []
    for _ in range(2):
        v = np.zeros(lat.m)
        owner = scaled_auction(
            indptr, indices, costs, v, h2, 0.01 * h2, 100 * lat.n, 4.0, tail_share
        )
        runs.append((owner, v))
        held = owner[owner >= 0]
        assert len(np.unique(held)) == len(held)  # no row holds two nodes
        assert v.max() <= 0.0  # bids only lower potentials
        for j in np.flatnonzero(owner >= 0):  # every held node is one of its row's candidates
            i = owner[j]
            assert j in indices[indptr[i] : indptr[i + 1]]
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
