"""The sparse candidate graph: rows are points, columns are lattice nodes, stored as CSR.

Edges come from three places: each point's low nodes under the current potentials
(:mod:`.flood`), one edge per point from a sorting-based assignment (so a perfect matching always
exists), and the violating pairs that certification finds. Costs are squared distances computed
the same way everywhere, plus ``MASK_PENALTY`` on the nodes a mask takes away.

A mask is solved exactly as the unmasked problem with that penalty on every pair of a real point
and a masked node (the dummy rows still reach every node at zero cost). Any assignment into the
usable nodes costs the same in both problems, so a lower bound of the penalised problem bounds the
masked one. And no optimum of the penalised problem uses a masked node: with at least ``n``
usable nodes, the masked optimum's dual (c-concave potentials, which vary by at most the largest
squared distance, 2 in the unit square) extended by the dummy level ``t`` on the masked nodes is
feasible for the penalised problem with a slack of at least ``MASK_PENALTY - 4`` on every masked
pair, so complementary slackness keeps them out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numba as nb
import numpy as np
from numpy.typing import NDArray

from tsnegrid.runtime.workers import numba_threads

MERGE_BLOCK = 4096  # rows per thread, at least, when edges are merged
MASK_PENALTY = 16.0  # added to the cost of a masked node (squared distances are at most ~2.5)


@dataclass(frozen=True)
class Lattice:
    """The points and the node coordinates of one ``rows x cols`` problem."""

    px: NDArray[np.float64]  # (n,) point x
    py: NDArray[np.float64]  # (n,) point y
    xs: NDArray[np.float64]  # (cols,) node x
    ys: NDArray[np.float64]  # (rows,) node y
    rows: int
    cols: int
    # (M,) MASK_PENALTY on masked nodes, 0 on usable ones; empty when every node is usable
    penalty: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    threads: int = 1  # worker threads for the per-point kernels (results do not depend on it)

    @classmethod
    def of(
        cls,
        points: NDArray[np.float64],
        xs: NDArray[np.float64],
        ys: NDArray[np.float64],
        usable: NDArray[np.bool_] | None = None,
        threads: int = 1,
    ) -> Lattice:
        """The problem of ``points`` (n, 2) on the nodes ``xs`` (cols,) x ``ys`` (rows,).

        ``usable`` (rows * cols,) bool, or None for all; ``threads`` as in :attr:`threads`.
        """
        px = np.ascontiguousarray(points[:, 0], dtype=np.float64)
        py = np.ascontiguousarray(points[:, 1], dtype=np.float64)
        penalty = np.zeros(0)
        if usable is not None and not usable.all():
            penalty = np.where(usable, 0.0, MASK_PENALTY)
        return cls(px, py, xs, ys, len(ys), len(xs), penalty, max(1, int(threads)))

    @property
    def n(self) -> int:
        return len(self.px)

    @property
    def m(self) -> int:
        return self.rows * self.cols

    @property
    def masked(self) -> bool:
        """Whether some nodes are masked (see :data:`MASK_PENALTY`)."""
        return len(self.penalty) > 0

    @property
    def usable(self) -> NDArray[np.bool_]:
        """(M,) whether each node may take a point."""
        return self.penalty == 0.0 if self.masked else np.ones(self.m, dtype=np.bool_)

    def reduced_potentials(self, v: NDArray[np.float64]) -> NDArray[np.float64]:
        """(M,) ``v`` minus the mask's penalty: what a real point sees (``c_ij - v_j``)."""
        return v - self.penalty if self.masked else v

    def costs(self, rows_of: NDArray[np.int64], cols_of: NDArray[np.int64]) -> NDArray[np.float64]:
        """Cost of every pair ``(rows_of[e], cols_of[e])``, penalty included (see
        :func:`pair_costs`)."""
        return pair_costs(
            self.px, self.py, self.xs, self.ys, self.cols, rows_of, cols_of, self.penalty
        )

    @property
    def spacing(self) -> float:
        """The smaller distance between neighbouring nodes (1.0 for a single node)."""
        gaps = [float(a[1] - a[0]) for a in (self.xs, self.ys) if len(a) > 1]
        return min(gaps, default=1.0)

    @property
    def points(self) -> NDArray[np.float64]:
        """(n, 2) the points again."""
        return np.column_stack([self.px, self.py])


@nb.njit(cache=True, nogil=True)
def pair_costs(px, py, xs, ys, cols, rows_of, cols_of, penalty):  # type: ignore[no-untyped-def]
    """Squared distance of point ``rows_of[e]`` to node ``cols_of[e]`` for every pair ``e``,
    plus ``penalty[j]`` where ``penalty`` is not empty."""
    out = np.empty(len(rows_of))
    masked = len(penalty) > 0
    for e in range(len(rows_of)):
        i, j = rows_of[e], cols_of[e]
        dx = px[i] - xs[j % cols]
        dy = py[i] - ys[j // cols]
        out[e] = dx * dx + dy * dy
        if masked:
            out[e] += penalty[j]
    return out


def merge_edges(indptr, indices, add_rows, add_cols, m, threads=1):  # type: ignore[no-untyped-def]
    """CSR with the pairs ``(add_rows[e], add_cols[e])`` added; duplicates dropped, order kept.

    Each row's edges come out in the same order: its own, then the added ones in the order
    given, each column once. The rows are split over ``threads`` of numba's threads (each part
    with its own column stamps), so the result does not depend on their number.
    """
    parts = max(1, min(int(threads), (len(indptr) - 1) // MERGE_BLOCK))
    with numba_threads(parts):
        return _merge_edges(indptr, indices, add_rows, add_cols, m, parts)


@nb.njit(cache=True, parallel=True)
def _merge_edges(indptr, indices, add_rows, add_cols, m, parts):  # type: ignore[no-untyped-def]
    n = len(indptr) - 1
    add_ptr = np.zeros(n + 1, dtype=np.int64)
    for r in add_rows:
        add_ptr[r + 1] += 1
    for i in range(n):
        add_ptr[i + 1] += add_ptr[i]
    fill = add_ptr[:n].copy()
    added = np.empty(len(add_rows), dtype=np.int64)
    for a in range(len(add_rows)):  # a stable bucket sort by row
        added[fill[add_rows[a]]] = add_cols[a]
        fill[add_rows[a]] += 1
    stamps = np.full((parts, m), -1, dtype=np.int64)
    counts = np.zeros(n + 1, dtype=np.int64)
    for p in nb.prange(parts):
        _unique_row_edges(indptr, indices, add_ptr, added, n * p // parts, n * (p + 1) // parts,
                          stamps[p], counts, counts, False)  # fmt: skip
    for i in range(n):
        counts[i + 1] += counts[i]
    out = np.empty(counts[n], dtype=np.int64)
    for p in nb.prange(parts):  # this pass marks row i as i + n: no reset of the stamps
        _unique_row_edges(indptr, indices, add_ptr, added, n * p // parts, n * (p + 1) // parts,
                          stamps[p], counts, out, True)  # fmt: skip
    return counts, out


@nb.njit(cache=True, nogil=True)
def _unique_row_edges(indptr, indices, add_ptr, added, lo, hi, stamp, ptr, out, write):  # type: ignore[no-untyped-def]
    """Rows ``lo:hi``'s distinct columns, in order: written to ``out`` from ``ptr[i]`` on, or
    (``write`` false) counted into ``ptr[i + 1]``. ``stamp[j]`` marks the row that last took
    column ``j`` (``i + n`` when writing, so the counting pass's marks need no reset)."""
    key_shift = len(indptr) - 1 if write else 0
    for i in range(lo, hi):
        key = i + key_shift
        w = ptr[i] if write else 0
        for e in range(indptr[i], indptr[i + 1] + add_ptr[i + 1] - add_ptr[i]):
            j = indices[e] if e < indptr[i + 1] else added[add_ptr[i] + e - indptr[i + 1]]
            if stamp[j] != key:
                stamp[j] = key
                if write:
                    out[w] = j
                w += 1
        if not write:
            ptr[i + 1] = w


def csr_of_lists(idx: NDArray[np.int64], counts: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
    """CSR (indptr, indices) of per-row lists ``idx[i, :counts[i]]``."""
    indptr = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    keep = np.arange(idx.shape[1])[None, :] < counts[:, None]
    return indptr, np.ascontiguousarray(idx[keep], dtype=np.int64)


def row_of_edges(indptr: NDArray[np.int64]) -> NDArray[np.int64]:
    """(nnz,) the row of each CSR entry."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))


def sorted_assignment(lat: Lattice) -> NDArray[np.int64]:
    """A feasible assignment: points sorted by y fill the usable nodes of each lattice row in
    turn, each row's points sorted by x.

    It is far from optimal but it puts one edge per point into the graph so that a perfect
    matching (into usable nodes) always exists, whatever the candidate lists are.
    """
    by_y = np.lexsort((lat.px, lat.py))
    nodes = np.flatnonzero(lat.usable)  # row-major, so each lattice row's nodes come together
    bounds = np.searchsorted(nodes, np.arange(0, lat.m + 1, lat.cols))
    node = np.empty(lat.n, dtype=np.int64)
    for a, b in itertools.pairwise(bounds):
        chunk = by_y[min(a, lat.n) : min(b, lat.n)]
        node[chunk[np.lexsort((lat.py[chunk], lat.px[chunk]))]] = nodes[a : a + len(chunk)]
    return node


def uncovered_column_edges(lat: Lattice, indices: NDArray[np.int64], k: int):  # type: ignore[no-untyped-def]
    """Edges from each node that at most one edge reaches to its ``k`` nearest points.

    Candidate lists under rough potentials can all miss a region (the gaps between tight
    clusters); its nodes would then be reachable only through the sorting assignment's long
    edges, and matching them that way leaves wildly wrong potentials for certification to undo.
    """
    from scipy.spatial import cKDTree

    lonely = np.flatnonzero((np.bincount(indices, minlength=lat.m) <= 1) & lat.usable)
    k = min(k, lat.n)
    if len(lonely) == 0 or k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    r, c = np.divmod(lonely, lat.cols)
    _, near = cKDTree(lat.points).query(np.column_stack([lat.xs[c], lat.ys[r]]), k=k)
    near = np.asarray(near, dtype=np.int64).reshape(len(lonely), k)
    return near.ravel(), np.repeat(lonely, k)
