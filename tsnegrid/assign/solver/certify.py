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
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.solver.problem import SparseProblem
from tsnegrid.assign.solver.pyramid import build_pyramid, smallest_reduced

# Reduced costs this far below zero count as violations; smaller ones are float rounding of
# c_ij - v_j (values of order one) and are covered by the bound, which uses the exact minima.
VIOLATION_RTOL = 1e-15


@dataclass(frozen=True)
class Certificate:
    """What one certification pass found."""

    u_star: NDArray[np.float64]  # (n,) exact min_j c_ij - v_j over all M nodes
    v: NDArray[np.float64]  # (M,) the node potentials it was computed from
    lower_bound: float
    new_rows: NDArray[np.int64]  # (e,) violating pairs not yet in the graph
    new_cols: NDArray[np.int64]  # (e,)
    hub_cols: NDArray[np.int64]  # columns whose potential exceeds the dummy level

    @property
    def clean(self) -> bool:
        return len(self.new_rows) == 0 and len(self.hub_cols) == 0


@nb.njit(cache=True)
def _new_pairs(idx, val, counts, limit, indptr, indices):  # type: ignore[no-untyped-def]
    """Flatten ``idx[i, t]`` with ``val[i, t] < limit[i]`` that are not edges of row ``i`` yet."""
    rows = np.empty(idx.size, dtype=np.int64)
    cols = np.empty(idx.size, dtype=np.int64)
    w = 0
    for i in range(len(counts)):
        for t in range(counts[i]):
            if val[i, t] >= limit[i]:
                continue
            j = idx[i, t]
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


def certify(prob: SparseProblem, k: int) -> Certificate:
    """Check every reduced cost of the full problem against the current potentials.

    Parameters
    ----------
    prob : a problem whose rows are all matched.
    k : at most this many violating nodes are reported per point (the most violating ones).
    """
    lat = prob.lat
    v = prob.full_potentials()
    rows = np.arange(lat.n, dtype=np.int64)
    matched = lat.costs(rows, prob.col4row)
    u_matched = matched - v[prob.col4row]
    pyramid = build_pyramid(lat.reduced_potentials(v), lat.xs, lat.ys)
    idx, val, counts = smallest_reduced(pyramid, lat.points, k, u_matched, lat.threads)
    u_star = np.minimum(u_matched, val.min(axis=1))
    limit = u_matched - VIOLATION_RTOL * (1.0 + np.abs(u_matched))
    new_rows, new_cols = _new_pairs(idx, val, counts, limit, prob.indptr, prob.indices)
    n_dummy = lat.m - lat.n
    hub = np.flatnonzero(v > prob.t).astype(np.int64) if n_dummy else np.zeros(0, np.int64)
    bound = float(np.sum(u_star) + np.sum(v) - n_dummy * np.max(v))
    return Certificate(u_star, v, bound, new_rows, new_cols, hub)
