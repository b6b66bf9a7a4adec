"""Certification over the full n x M problem without forming the cost matrix.

Given node potentials ``v`` (dummy-held columns at ``t``), the best row potential of point ``i``
on the full problem is ``u*_i = min_j (c_ij - v_j)``, found exactly by the max-pyramid search.
With the ``M - n`` zero-cost dummy rows at ``-max(v)``, weak duality gives, for any ``v``,

    cost(any assignment) >= sum_i u*_i + sum_j v_j - (M - n) * max_j v_j,

so the bound is honest whatever state the solver is in. With a mask, ``c_ij`` carries the
penalty of :mod:`.graph` on masked nodes (the search runs on ``v`` minus the penalty): the bound
is then one of the penalised problem, and so of every assignment into the usable nodes. Pairs
with ``c_ij - v_j`` below the matched value of row ``i`` are the violations that must join the
sparse graph.

A round after the first checks only what changed since the one before (see :class:`Basis`): a
repair moves the potentials of a few regions, and searching every point again for them was most
of such a round's time (at a million t-SNE-like points on 2 threads, the last two of four rounds
took 1.6-1.7 s each, where no node had risen and 39, then 1, had fallen; 0.07 s each now). The
result is the full round's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.solver.graph import Lattice
from tsnegrid.assign.solver.problem import SparseProblem
from tsnegrid.assign.solver.pyramid import build_pyramid, smallest_reduced

# Reduced costs this far below zero count as violations; smaller ones are float rounding of
# c_ij - v_j (values of order one) and are covered by the bound, which uses the exact minima.
VIOLATION_RTOL = 1e-15
# A round whose potentials rose on more than this share of the nodes searches every point again
# (the search for the points those nodes could reach would cost as much).
RAISED_SHARE = 1 / 16


@dataclass(frozen=True)
class Basis:
    """What a certification round leaves for the next one to check only what changed.

    A point whose matched value did not change, that had no violation, whose node of least
    reduced value (``argmin``) kept its potential, and for which no node whose potential rose
    now has a reduced value below its old minimum, has the same exact minimum and still no
    violation: every other node's value stayed or rose.
    """

    u_matched: NDArray[np.float64]  # (n,) its matched values c_ij - v_j
    argmin: NDArray[np.int64]  # (n,) a node where each point's minimum u*_i is reached
    violated: NDArray[np.bool_]  # (n,) whether a value fell below the violation limit


@dataclass(frozen=True)
class Certificate:
    """What one certification pass found."""

    u_star: NDArray[np.float64]  # (n,) exact min_j c_ij - v_j over all M nodes
    v: NDArray[np.float64]  # (M,) the node potentials it was computed from
    lower_bound: float
    new_rows: NDArray[np.int64]  # (e,) violating pairs not yet in the graph
    new_cols: NDArray[np.int64]  # (e,)
    hub_cols: NDArray[np.int64]  # columns whose potential exceeds the dummy level
    basis: Basis

    @property
    def clean(self) -> bool:
        return len(self.new_rows) == 0 and len(self.hub_cols) == 0


@nb.njit(cache=True)
def _new_pairs(search, idx, val, counts, limit, indptr, indices):  # type: ignore[no-untyped-def]
    """Flatten ``idx[a, t]`` with ``val[a, t] < limit[i]`` that are not edges of row ``i`` yet,
    ``i = search[a]`` (the rows searched, in order)."""
    rows = np.empty(idx.size, dtype=np.int64)
    cols = np.empty(idx.size, dtype=np.int64)
    w = 0
    for a in range(len(counts)):
        i = search[a]
        for t in range(counts[a]):
            if val[a, t] >= limit[i]:
                continue
            j = idx[a, t]
            present = False
            for e in range(indptr[i], indptr[i + 1]):
                if indices[e] == j:
                    present = True
                    break
            if not present:
                rows[w] = i
                cols[w] = j
                w += 1
    return rows[:w].copy(), cols[:w].copy()


def certify(prob: SparseProblem, k: int, previous: Certificate | None = None) -> Certificate:
    """Check every reduced cost of the full problem against the current potentials.

    Parameters
    ----------
    prob : a problem whose rows are all matched.
    k : at most this many violating nodes are reported per point (the most violating ones).
    previous : the certificate of the round before on the same problem, if any: then only the
        points that the changes since could affect are searched (see :class:`Basis`); the
        certificate is the same.
    """
    lat = prob.lat
    v = prob.full_potentials()
    col4row = prob.col4row
    matched = lat.costs(np.arange(lat.n, dtype=np.int64), col4row)
    u_matched = matched - v[col4row]
    limit = u_matched - VIOLATION_RTOL * (1.0 + np.abs(u_matched))
    pyramid = build_pyramid(lat.reduced_potentials(v), lat.xs, lat.ys)
    points = lat.points
    search = None if previous is None else _changed_rows(lat, points, v, u_matched, previous)
    if previous is not None and search is not None:
        points = points[search]
        u_star, argmin = previous.u_star.copy(), previous.basis.argmin.copy()
        violated = previous.basis.violated.copy()
    else:
        search = np.arange(lat.n, dtype=np.int64)
        u_star, argmin, violated = u_matched.copy(), col4row.copy(), np.zeros(lat.n, np.bool_)
    idx, val, counts = smallest_reduced(pyramid, points, k, u_matched[search], lat.threads)
    at = np.arange(len(search))
    best = np.argmin(val, axis=1)
    least = val[at, best]
    u_star[search] = np.minimum(u_matched[search], least)
    argmin[search] = np.where(counts > 0, idx[at, best], col4row[search])
    violated[search] = least < limit[search]
    new_rows, new_cols = _new_pairs(search, idx, val, counts, limit, prob.indptr, prob.indices)
    n_dummy = lat.m - lat.n
    hub = np.flatnonzero(v > prob.t).astype(np.int64) if n_dummy else np.zeros(0, np.int64)
    bound = float(np.sum(u_star) + np.sum(v) - n_dummy * np.max(v))
    basis = Basis(u_matched, argmin, violated)
    return Certificate(u_star, v, bound, new_rows, new_cols, hub, basis)


def _changed_rows(
    lat: Lattice,
    points: NDArray[np.float64],
    v: NDArray[np.float64],
    u_matched: NDArray[np.float64],
    previous: Certificate,
) -> NDArray[np.int64] | None:
    """The points (of ``points``, the lattice's) whose minimum or violations may have changed
    since ``previous`` (in order), or None where every point must be searched (potentials rose
    on more than ``RAISED_SHARE`` of the nodes)."""
    base = previous.basis
    raised = v > previous.v
    if np.count_nonzero(raised) > RAISED_SHARE * lat.m:
        return None
    moved = v != previous.v
    changed = (u_matched != base.u_matched) | base.violated | moved[base.argmin]
    if raised.any():
        # The other points' exact minima against the nodes that rose alone (the rest -inf).
        others = np.flatnonzero(~changed)
        only = build_pyramid(lat.reduced_potentials(np.where(raised, v, -np.inf)), lat.xs, lat.ys)
        counts = smallest_reduced(only, points[others], 1, previous.u_star[others], lat.threads)[2]
        changed[others[counts > 0]] = True
    return np.flatnonzero(changed).astype(np.int64)
