"""The exact solver: coarse-to-fine potentials, a sparse warm solve, certify, repeat.

1. Solve a coarser problem (recursively; both axes halved, or on lattices above
   ``ONE_AXIS_FROM`` nodes the longer one) and interpolate its node potentials.
2. Give each point ``K_CANDIDATES`` low nodes under ``c_ij - v_j`` (a flood from its best
   node, see :mod:`.flood`) plus one edge of a feasible sorting-based assignment; refine the
   potentials by a scaled auction (on the full implicit problem where the sparse one stalls:
   tight clusters, see :mod:`.implicit_auction`), find the candidates again under them, then
   solve the sparse problem exactly (on a full lattice from the auction's exactly tight pairs,
   otherwise from row reduction; then shortest augmenting paths, warm, from the free columns
   where those are far).
   A mask is a penalty on the masked nodes (see :mod:`.graph`); each coarse level keeps the
   coarse nodes whose nearest fine node is usable, and the same density of points per usable node.
3. Certify over the full ``n x M`` problem; add the violating pairs and re-solve warm until none
   is left (a round after the first searches only the points the repair could affect, see
   :mod:`.certify`). The returned lower bound comes from the final potentials, so it holds
   regardless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.grid import axis_coords
from tsnegrid.assign.solver.certify import Certificate, certify
from tsnegrid.assign.solver.coarse import (
    coarse_axis,
    coarse_mask,
    hilbert_index,
    interpolate,
    subsample,
)
from tsnegrid.assign.solver.graph import Lattice
from tsnegrid.assign.solver.problem import SparseProblem

K_CANDIDATES = 48  # candidate nodes per point under the interpolated potentials
K_VIOLATIONS = 16  # most violating nodes per point added per certification round
BASE_NODES = 256  # lattices this small start from zero potentials
ONE_AXIS_FROM = 300_000  # lattices with more nodes are coarsened one axis at a time
MAX_ROUNDS = 100  # certification rounds; each one strictly adds edges, so this is a guard


@dataclass(frozen=True)
class Solution:
    """An assignment with the dual certificate it was checked against."""

    node_of_point: NDArray[np.intp]  # (n,) node index, all distinct
    u: NDArray[np.float64]  # (n,) exact min_j c_ij - v_j over all nodes
    v: NDArray[np.float64]  # (M,) node potentials
    lower_bound: float  # sum(u) + sum(v) - (M - n) * max(v)
    rounds: int  # certification rounds that added edges


def solve_lattice(
    points: NDArray[np.float64],
    rows: int,
    cols: int,
    usable: NDArray[np.bool_] | None = None,
    threads: int = 1,
) -> Solution:
    """Optimal assignment of ``points`` (shape ``(n, 2)``) to the ``rows x cols`` grid.

    Node (r, c) sits at ``(c / (cols - 1), r / (rows - 1))``. ``usable`` (rows * cols,) bool
    leaves only those nodes to the points (at least ``n`` of them; None: all). ``threads``
    worker threads run the per-point kernels; the result is the same for any number.

    The points are solved in their order along a Hilbert curve (see :func:`spatial_order`) and
    the results handed back in the caller's order.

    Returns
    -------
    Solution whose ``lower_bound`` comes from potentials feasible for the full problem; the
    assignment is optimal when its cost reaches the bound (see :func:`certify`).
    """
    mask = None if usable is None else np.asarray(usable, dtype=np.bool_).reshape(rows, cols)
    order = spatial_order(points)
    sol = _solve(points[order], axis_coords(cols), axis_coords(rows), mask, threads)[0]
    node = np.empty_like(sol.node_of_point)
    node[order] = sol.node_of_point
    u = np.empty_like(sol.u)
    u[order] = sol.u
    return Solution(node, u, sol.v, sol.lower_bound, sol.rounds)


def spatial_order(points: NDArray[np.float64]) -> NDArray[np.intp]:
    """(n,) the points' indices along a Hilbert curve (ties in input order).

    Every kernel of the solver reads the potentials, matches and distances of a point's
    neighbours: with the points in a random order (a sample of a dataset) each of those reads
    misses the cache, and in this order most hit it: 250,000 t-SNE-like points in a random
    order solve about 1.45x faster on 2 threads, a million too. The subsample that
    :func:`.coarse.subsample` takes for the next coarser level is the same one.
    """
    return np.argsort(hilbert_index(points), kind="stable")


def _solve(
    points: NDArray[np.float64],
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    mask: NDArray[np.bool_] | None,
    threads: int,
) -> tuple[Solution, bool]:
    """(Solution, whether the implicit auction ran) of one level, coarser levels first.

    ``mask`` is (len(ys), len(xs)) bool or None.
    """
    lat = Lattice.of(points, xs, ys, None if mask is None else mask.ravel(), threads)
    v0, implicit = _starting_potentials(points, xs, ys, mask, threads)
    # Where the coarse level's sparse auction stalled from that level's own coarse potentials,
    # this level's would too: skip it.
    prob = SparseProblem.start(lat, v0, min(K_CANDIDATES, lat.m), implicit)
    cert, rounds = _certify_until_clean(prob)
    node = prob.col4row.astype(np.intp)
    return Solution(node, cert.u_star, cert.v, cert.lower_bound, rounds), prob.implicit


def _starting_potentials(
    points: NDArray, xs: NDArray, ys: NDArray, mask: NDArray | None, threads: int
) -> tuple[NDArray, bool]:
    m = len(xs) * len(ys)
    if m <= BASE_NODES:
        return np.zeros(m), False
    xs_c, ys_c = coarser(xs, ys)
    mask_c = None if mask is None else coarse_mask(mask, (xs, ys), (xs_c, ys_c))
    m_coarse = len(xs_c) * len(ys_c)
    u_fine = m if mask is None else int(mask.sum())
    u_coarse = m_coarse if mask_c is None else int(mask_c.sum())
    if u_coarse == 0:  # a mask too fine for the coarse lattice
        return np.zeros(m), False
    n_keep = max(1, min(u_coarse, round(len(points) * u_coarse / u_fine)))
    sol, implicit = _solve(subsample(points, n_keep), xs_c, ys_c, mask_c, threads)
    # A base level's auction starts from zero potentials, off by far more than a coarse level's
    # on clustered points: its bid budget can run out where the finer levels' would not (256
    # nodes with 11 waiting rows, at 250,000 t-SNE-like points on 500 x 501, made every finer
    # level run the implicit auction: 34 s instead of 11).
    return interpolate(sol.v, (xs_c, ys_c), (xs, ys)), implicit and m_coarse > BASE_NODES


def coarser(xs: NDArray, ys: NDArray) -> tuple[NDArray, NDArray]:
    """The next coarser level's axes: both halved, or above ``ONE_AXIS_FROM`` nodes only the
    axis with more nodes (x on a tie).

    Halving one axis halves the nodes, where halving both would quarter them, and the
    interpolated potentials then miss by less. Small lattices gain nothing from it (the extra
    level costs more than the exact phase saves); at a million cells the finest level's exact
    phase meets fewer certification rounds and far fewer long augmenting paths.
    """
    if len(xs) * len(ys) <= ONE_AXIS_FROM:
        return coarse_axis(xs), coarse_axis(ys)
    if len(xs) >= len(ys):
        return coarse_axis(xs), ys
    return xs, coarse_axis(ys)


def _certify_until_clean(prob: SparseProblem) -> tuple[Certificate, int]:
    cert = None
    for rounds in range(MAX_ROUNDS):
        cert = certify(prob, K_VIOLATIONS, cert)
        if cert.clean:
            return cert, rounds
        prob.repair(cert.new_rows, cert.new_cols, cert.hub_cols)
    return certify(prob, K_VIOLATIONS, cert), MAX_ROUNDS
