"""Exact k-nearest-neighbour search by brute force, without scikit-learn (a costly import).

Distances come from ``|a|² + |b|² - 2 a·b`` (matrix products by blocks of rows and columns), each
row's nearest few candidates are picked from them, and the candidates' distances are then recomputed
directly as ``Σ (a - b)²``, summed feature by feature in order (the arithmetic of scikit-learn's k-d
tree, so the same neighbours get the same distances to the bit). A row whose k-th distance is too
close to the first left-out candidate for rounding to settle it is searched again over all items
with direct differences, so the result is exact. Neighbours are ordered by (distance, index):
deterministic, and independent of the number of threads.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from tsnegrid.runtime.workers import submit, worker_pool

#: Rows per block: the unit of work of a thread (its product with each column chunk).
_BLOCK_ROWS = 128
#: Columns per product: 128 x 1,024 float64 distances (1 MiB) stay in cache for the heaps.
_COLUMN_CHUNK = 1024
#: Candidates kept beyond k per row, so rounding in the fast distances cannot lose a neighbour.
_MARGIN = 8


def nearest_others(
    x: NDArray[np.floating],
    k: int,
    *,
    rows: NDArray[np.intp] | None = None,
    threads: int = 1,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Each row's ``k`` nearest other rows of ``x`` (exact, euclidean), nearest first.

    Parameters
    ----------
    x : (n, d) floats.
    k : neighbours per row, in 0..n-1.
    rows : the rows to search for (default: all), as indices into ``x``.
    threads : worker threads over blocks of rows; the result is the same for any count.

    Returns
    -------
    indices : (len(rows), k) intp, ordered by (distance, index); never the row itself.
    sq_distances : (len(rows), k) float64 squared euclidean distances.
    """
    data = np.ascontiguousarray(x, dtype=np.float64)  # one compiled kernel for every input
    n = data.shape[0]
    todo = np.arange(n, dtype=np.intp) if rows is None else np.asarray(rows, dtype=np.intp)
    if not 0 <= k <= n - 1:
        raise ValueError(f"k must be in 0..{n - 1} for {n} items, got {k}")
    if k == 0 or todo.size == 0:
        return np.zeros((todo.size, k), dtype=np.intp), np.zeros((todo.size, k))
    search = _Search(data)
    # The result does not depend on the blocks: distances that decide it are direct ones.
    step = _BLOCK_ROWS
    with worker_pool(threads) as pool:
        futures = [
            submit(pool, search.block, todo[lo : lo + step], k) for lo in range(0, todo.size, step)
        ]
        parts = [f.result() for f in futures]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


class _Search:
    """What every block shares: the data, centred copies for the fast distances, and bounds."""

    def __init__(self, x: NDArray[np.float64]) -> None:
        self.x = x
        # Centring changes no distance but shrinks the norms, and so the rounding of the fast
        # formula; the direct recomputation uses the original rows.
        self.centred = x - x.mean(axis=0)
        self.sq = np.einsum("ij,ij->i", self.centred, self.centred)
        d = x.shape[1]
        # Absolute error bound of the fast distance plus the direct one (each a few d ulps of
        # |a|² + |b|²), doubled for safety: below it, rounding could reorder two items.
        self.tolerance = 8.0 * (d + 4) * np.finfo(np.float64).eps
        self.max_sq = float(self.sq.max())

    def block(self, rows: NDArray[np.intp], k: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        n = self.x.shape[0]
        # -2 a·b (scaling by -2 is exact); |b|² is added where the values are read, and |a|² is
        # the same along a row.
        scaled = -2.0 * self.centred[rows]
        here = np.arange(rows.size)
        m = min(n - 1, k + _MARGIN)
        if m < n - 1:
            # Column chunks small enough to stay in cache between the product that writes them
            # and the heaps that read them; the heaps carry over from chunk to chunk.
            heap_v = np.full((rows.size, m + 1), np.inf)
            heap_i = np.full((rows.size, m + 1), -1, dtype=np.int64)
            for lo in range(0, n, _COLUMN_CHUNK):
                fast = scaled @ self.centred[lo : lo + _COLUMN_CHUNK].T
                mine = (rows >= lo) & (rows < lo + fast.shape[1])
                fast[here[mine], rows[mine] - lo] = np.inf  # never the item itself
                _push(fast, self.sq[lo : lo + fast.shape[1]], lo, heap_v, heap_i)
            # The nearest left-out item's fast distance: every left-out one is at least as far.
            cand, first_out = heap_i[:, 1:], heap_v[:, 0] + self.sq[rows]
        else:  # every other item is a candidate (the item itself sorts last, at infinity)
            fast = scaled @ self.centred.T
            fast[here, rows] = np.inf
            cand = np.argpartition(fast + self.sq[None, :], m - 1, axis=1)[:, :m]
            first_out = np.full(rows.size, np.inf)
        d2 = self.direct(rows, cand)
        order = np.lexsort((cand, d2), axis=-1)
        cand, d2 = np.take_along_axis(cand, order, 1), np.take_along_axis(d2, order, 1)
        idx, dist = cand[:, :k].astype(np.intp), d2[:, :k]
        slack = self.tolerance * (self.sq[rows] + self.max_sq)
        unsure = np.flatnonzero(d2[:, k - 1] >= first_out - slack)
        for i in unsure:  # a near tie at the boundary: settle it over all items
            idx[i], dist[i] = self.exhaustive(int(rows[i]), k)
        return idx, dist

    def direct(self, rows: NDArray[np.intp], cand: NDArray[np.intp]) -> NDArray[np.float64]:
        """Squared distances ``x[rows[i]]`` to ``x[cand[i, j]]``, by direct differences."""
        return _direct_sq_distances(self.x, rows, np.ascontiguousarray(cand))

    def exhaustive(self, row: int, k: int) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """The k nearest others of one row by direct distances to every item."""
        n = self.x.shape[0]
        others = np.delete(np.arange(n, dtype=np.intp), row)
        d2 = self.direct(np.array([row]), others[None, :])[0]
        order = np.lexsort((others, d2))[:k]
        return others[order], d2[order]


@numba.njit(cache=True, nogil=True)
def _direct_sq_distances(x, rows, cand):  # type: ignore[no-untyped-def]
    """``out[i, j] = Σ_f (x[rows[i], f] - x[cand[i, j], f])²``, summed over f in order, as a
    k-d tree sums (no fast-math: no reassociation, no fused multiply-add)."""
    out = np.empty(cand.shape)
    d = x.shape[1]
    for i in range(cand.shape[0]):
        a = x[rows[i]]
        for j in range(cand.shape[1]):
            b = x[cand[i, j]]
            acc = 0.0
            for f in range(d):
                t = a[f] - b[f]
                acc += t * t
            out[i, j] = acc
    return out


@numba.njit(cache=True, nogil=True)
def _push(values, offsets, first_column, heap_v, heap_i):  # type: ignore[no-untyped-def]
    """Offer each row of ``values + offsets`` (columns ``first_column`` on) to that row's
    max-heap of its ``m + 1`` smallest so far (``heap_v``, ``heap_i``: (rows, m + 1), filled
    with +inf and -1 to start). At the end of the columns, a heap's root is the row's
    (m+1)-th smallest value and the rest are its m smallest, in no order.

    One comparison for most values, where a partition would move and index all of them.
    """
    rows, n = values.shape
    size = heap_v.shape[1]
    for r in range(rows):
        row = values[r]
        hv = heap_v[r]
        hi = heap_i[r]
        for j in range(n):
            v = row[j] + offsets[j]
            if v < hv[0]:
                hv[0] = v
                hi[0] = first_column + j
                _sift_down(hv, hi, 0, size)


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_down(heap_v, heap_i, pos, size):  # type: ignore[no-untyped-def]
    v, i = heap_v[pos], heap_i[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and heap_v[child + 1] > heap_v[child]:
            child += 1
        if heap_v[child] <= v:
            break
        heap_v[pos], heap_i[pos] = heap_v[child], heap_i[child]
        pos = child
    heap_v[pos], heap_i[pos] = v, i


def warm_up() -> None:
    """Load this module's compiled kernels on a tiny search.

    The first kernel a process loads also starts numba itself (~0.2-0.4 s, partly outside the
    GIL); the pipeline does this on a thread while the dataset is read, so the neighbour
    search does not wait for it. The result is thrown away.
    """
    nearest_others(np.arange(32.0).reshape(16, 2), 1)


def pair_sq_distances(
    x: NDArray[np.floating], rows: NDArray[np.intp], cand: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Squared distances from ``x[rows[i]]`` to each ``x[cand[i, j]]``, by direct differences
    summed feature by feature in order: the arithmetic :func:`nearest_others` reports with, so
    the same pair gets the same distance to the bit.

    Parameters
    ----------
    x : (n, d) floats.
    rows : (m,) indices into ``x``.
    cand : (m, c) indices into ``x``.

    Returns
    -------
    (m, c) float64.
    """
    data = np.ascontiguousarray(x, dtype=np.float64)
    return _direct_sq_distances(
        data, np.asarray(rows, dtype=np.intp), np.ascontiguousarray(cand, dtype=np.intp)
    )
