"""The sparse candidate graph: rows are points, columns are lattice nodes, stored as CSR.

Edges come from three places: each point's low nodes under the current potentials
(:mod:`.flood`), one edge per point from a sorting-based assignment (so a perfect matching always
exists), and the violating pairs that certification finds. Costs are squared distances computed
the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Lattice:
    """The points and the node coordinates of one ``rows x cols`` problem."""

    px: NDArray[np.float64]  # (n,) point x
    py: NDArray[np.float64]  # (n,) point y
    xs: NDArray[np.float64]  # (cols,) node x
    ys: NDArray[np.float64]  # (rows,) node y
    rows: int
    cols: int

    @classmethod
    def of(cls, points: NDArray[np.float64], xs: NDArray[np.float64], ys: NDArray[np.float64]):  # type: ignore[no-untyped-def]
        """The problem of ``points`` (n, 2) on the nodes ``xs`` (cols,) x ``ys`` (rows,)."""
        px = np.ascontiguousarray(points[:, 0], dtype=np.float64)
        py = np.ascontiguousarray(points[:, 1], dtype=np.float64)
        return cls(px, py, xs, ys, len(ys), len(xs))

    @property
    def n(self) -> int:
        return len(self.px)

    @property
    def m(self) -> int:
        return self.rows * self.cols

    @property
    def spacing(self) -> float:
        """The smaller distance between neighbouring nodes (1.0 for a single node)."""
        gaps = [float(a[1] - a[0]) for a in (self.xs, self.ys) if len(a) > 1]
        return min(gaps, default=1.0)

    @property
    def points(self) -> NDArray[np.float64]:
        """(n, 2) the points again."""
        return np.column_stack([self.px, self.py])


@nb.njit(cache=True)
def pair_costs(px, py, xs, ys, cols, rows_of, cols_of):  # type: ignore[no-untyped-def]
    """Squared distance of point ``rows_of[e]`` to node ``cols_of[e]`` for every pair ``e``."""
    out = np.empty(len(rows_of))
    for e in range(len(rows_of)):
        i, j = rows_of[e], cols_of[e]
        dx = px[i] - xs[j % cols]
        dy = py[i] - ys[j // cols]
        out[e] = dx * dx + dy * dy
    return out


@nb.njit(cache=True)
def merge_edges(indptr, indices, add_rows, add_cols, m):  # type: ignore[no-untyped-def]
    """CSR with the pairs ``(add_rows[e], add_cols[e])`` added; duplicates dropped, order kept."""
    n = len(indptr) - 1
    extra = np.zeros(n + 1, dtype=np.int64)
    for r in add_rows:
        extra[r + 1] += 1
    extra = np.cumsum(extra)
    start = np.empty(n + 1, dtype=np.int64)
    for i in range(n + 1):
        start[i] = indptr[i] + extra[i]
    order = np.argsort(add_rows, kind="mergesort")
    stamp = np.full(m, -1, dtype=np.int64)
    out = np.empty(start[n], dtype=np.int64)
    new_ptr = np.zeros(n + 1, dtype=np.int64)
    w = 0
    a = 0
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            if stamp[j] != i:
                stamp[j] = i
                out[w] = j
                w += 1
        while a < len(order) and add_rows[order[a]] == i:
            j = add_cols[order[a]]
            a += 1
            if stamp[j] != i:
                stamp[j] = i
                out[w] = j
                w += 1
        new_ptr[i + 1] = w
    return new_ptr, out[:w].copy()


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
    """A feasible assignment: points sorted by y fill the lattice rows, each row sorted by x.

    It is far from optimal but it puts one edge per point into the graph so that a perfect
    matching always exists, whatever the candidate lists are.
    """
    by_y = np.lexsort((lat.px, lat.py))
    node = np.empty(lat.n, dtype=np.int64)
    for start in range(0, lat.n, lat.cols):
        chunk = by_y[start : start + lat.cols]
        node[chunk[np.lexsort((lat.py[chunk], lat.px[chunk]))]] = start + np.arange(len(chunk))
    return node


def uncovered_column_edges(lat: Lattice, indices: NDArray[np.int64], k: int):  # type: ignore[no-untyped-def]
    """Edges from each node that at most one edge reaches to its ``k`` nearest points.

    Candidate lists under rough potentials can all miss a region (the gaps between tight
    clusters); its nodes would then be reachable only through the sorting assignment's long
    edges, and matching them that way leaves wildly wrong potentials for certification to undo.
    """
    from scipy.spatial import cKDTree

    lonely = np.flatnonzero(np.bincount(indices, minlength=lat.m) <= 1)
    k = min(k, lat.n)
    if len(lonely) == 0 or k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    r, c = np.divmod(lonely, lat.cols)
    _, near = cKDTree(lat.points).query(np.column_stack([lat.xs[c], lat.ys[r]]), k=k)
    near = np.asarray(near, dtype=np.int64).reshape(len(lonely), k)
    return near.ravel(), np.repeat(lonely, k)
