"""Tests of the certification: a round after the first searches only what changed, with the
full round's result."""

from __future__ import annotations

import numpy as np
import pytest

from tsnegrid.assign.grid import axis_coords
from tsnegrid.assign.solver import certify as cert_mod
from tsnegrid.assign.solver.certify import Certificate, certify
from tsnegrid.assign.solver.graph import Lattice
from tsnegrid.assign.solver.problem import SparseProblem
from tsnegrid.assign.solver.pyramid import build_pyramid, smallest_reduced

K = 16


def _clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    """t-SNE-like points: a few tight clusters and a sparse background, in the unit square."""
    centres = rng.random((6, 2))
    pts = centres[rng.integers(6, size=n)] + rng.normal(scale=0.06, size=(n, 2))
    pts[: n // 10] = rng.random((n // 10, 2))
    pts -= pts.min(axis=0)
    return np.asarray(pts / pts.max(axis=0))


def _problem(seed: int, n: int, rows: int, cols: int, masked: bool) -> SparseProblem:
    rng = np.random.default_rng(seed)
    usable = None
    if masked:
        yy, xx = np.mgrid[0:rows, 0:cols]
        usable = ((yy - rows / 2) ** 2 + (xx - cols / 2) ** 2 > 4.0).ravel()
    lat = Lattice.of(_clustered(rng, n), axis_coords(cols), axis_coords(rows), usable)
    return SparseProblem.start(lat, np.zeros(lat.m), 24)


def _same(a: Certificate, b: Certificate, prob: SparseProblem) -> None:
    """Certificates equal bit for bit; each ``argmin`` a node where the point's minimum is
    reached (of tied nodes, a later round may keep an earlier one)."""
    for name in ("u_star", "v", "new_rows", "new_cols", "hub_cols"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y), name
    assert a.lower_bound == b.lower_bound
    for name in ("u_matched", "violated"):
        assert np.array_equal(getattr(a.basis, name), getattr(b.basis, name)), name
    lat, rows = prob.lat, np.arange(prob.lat.n)
    reached = lat.costs(rows, a.basis.argmin) - a.v[a.basis.argmin]
    np.testing.assert_allclose(reached, a.u_star, rtol=0, atol=1e-12)


def _perturb(prob: SparseProblem, rng: np.random.Generator, scale: float, raised: int) -> None:
    """Raise ``raised`` random node potentials and lower as many, by up to ``scale`` squared
    node spacings, and swap the nodes of a few pairs of points."""
    lat = prob.lat
    h2 = lat.spacing**2
    cols = rng.choice(lat.m, 2 * raised, replace=False)
    prob.v[cols[:raised]] += rng.random(raised) * scale * h2
    prob.v[cols[raised:]] -= rng.random(raised) * scale * h2
    for a, b in rng.choice(lat.n, (3, 2), replace=False):
        ja, jb = prob.col4row[a], prob.col4row[b]
        prob.col4row[a], prob.col4row[b] = jb, ja
        prob.row4col[ja], prob.row4col[jb] = b, a


@pytest.mark.parametrize(
    ("n", "rows", "cols", "masked"),
    [(900, 30, 30, False), (850, 30, 30, False), (700, 28, 30, True)],
)
@pytest.mark.parametrize("scale", [0.05, 3.0])
def test_a_later_round_equals_a_full_one(
    n: int, rows: int, cols: int, masked: bool, scale: float
) -> None:
    prob = _problem(n + rows, n, rows, cols, masked)
    rng = np.random.default_rng(n * 7 + int(scale * 10))
    previous = certify(prob, K)
    searched = []
    for _ in range(4):
        _perturb(prob, rng, scale, raised=5)
        v = prob.full_potentials()
        u_matched = prob.lat.costs(np.arange(prob.lat.n), prob.col4row) - v[prob.col4row]
        search = cert_mod._changed_rows(prob.lat, prob.lat.points, v, u_matched, previous)
        assert search is not None
        searched.append(len(search))
        later = certify(prob, K, previous)
        _same(later, certify(prob, K), prob)
        previous = later
    assert max(searched) < prob.lat.n  # the rounds did search fewer points


def test_a_round_with_nothing_changed_searches_only_the_violated_points() -> None:
    prob = _problem(5, 900, 30, 30, False)
    rng = np.random.default_rng(1)
    prob.v[rng.choice(prob.lat.m, 40, replace=False)] += 3 * prob.lat.spacing**2
    first = certify(prob, K)
    assert first.basis.violated.any()
    v = prob.full_potentials()
    u_matched = prob.lat.costs(np.arange(prob.lat.n), prob.col4row) - v[prob.col4row]
    search = cert_mod._changed_rows(prob.lat, prob.lat.points, v, u_matched, first)
    assert search is not None
    assert search.tolist() == np.flatnonzero(first.basis.violated).tolist()
    _same(certify(prob, K, first), first, prob)


def test_potentials_risen_on_many_nodes_search_every_point() -> None:
    prob = _problem(6, 900, 30, 30, False)
    first = certify(prob, K)
    prob.v += 1e-9  # every node
    v = prob.full_potentials()
    u_matched = prob.lat.costs(np.arange(prob.lat.n), prob.col4row) - v[prob.col4row]
    assert cert_mod._changed_rows(prob.lat, prob.lat.points, v, u_matched, first) is None
    _same(certify(prob, K, first), certify(prob, K), prob)


def test_a_raised_node_a_point_now_prefers_is_found() -> None:
    """A point whose match, matched value and cheapest node all stayed is searched again when
    another node's potential rose enough to undercut its minimum."""
    prob = _problem(7, 900, 30, 30, False)
    first = certify(prob, K)
    lat = prob.lat
    i = int(np.flatnonzero(~first.basis.violated)[0])
    mine = int(prob.col4row[i])
    others = np.setdiff1d(np.arange(lat.m), [mine, int(first.basis.argmin[i])])
    costs = lat.costs(np.full(len(others), i), others)
    j = int(others[np.argmin(costs - prob.full_potentials()[others])])
    prob.v[j] += 10 * lat.spacing**2
    later = certify(prob, K, first)
    _same(later, certify(prob, K), prob)
    assert later.basis.violated[i]
    assert later.basis.argmin[i] == j


@pytest.mark.parametrize("seed", range(20))
def test_a_pyramid_leaves_out_the_nodes_at_minus_infinity(seed: int) -> None:
    """The branch and bound over a pyramid whose nodes are mostly -inf (the risen-nodes search)
    finds what a brute-force search over the other nodes finds."""
    rng = np.random.default_rng(seed)
    rows, cols = 37, 41
    xs, ys = axis_coords(cols), axis_coords(rows)
    qx, qy = np.tile(xs, rows), np.repeat(ys, cols)
    v = rng.normal(scale=0.3, size=rows * cols) - (qx**2 + qy**2) * rng.random()
    v[rng.random(rows * cols) >= 0.02] = -np.inf
    points = rng.random((300, 2))
    values = (points[:, :1] - qx) ** 2 + (points[:, 1:] - qy) ** 2 - v
    cutoff = np.sort(values, axis=1)[:, 2] + 1e-9  # the third smallest, and a little
    idx, _, counts = smallest_reduced(build_pyramid(v, xs, ys), points, 3, cutoff)
    for i in range(len(points)):
        want = np.flatnonzero(values[i] < cutoff[i])
        assert sorted(idx[i, : counts[i]].tolist()) == sorted(want.tolist())[:3] or (
            counts[i] == 3 and len(want) > 3
        )
        assert np.isfinite(v[idx[i, : counts[i]]]).all()
