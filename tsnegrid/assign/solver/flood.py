"""Candidate nodes of each point: a best-first flood of the lattice from its best node.

Under node potentials ``v`` the reduced value ``|p - q_j|^2 - v_j`` of a point ``p`` is a bowl
over the lattice, stretched where ``v`` is steep, with its floor at the point's best node (on
t-SNE output often many cells away from ``p``). Steepest descent from the node nearest ``p``
finds that floor, and a best-first flood from it (a heap of the frontier's values, four
neighbours per node) collects the ``k`` lowest nodes of the bowl, whatever its shape, for a few
dozen heap operations per point. With a mask, the descent starts at the usable node nearest
to the point instead, and masked nodes, whose penalty lifts them far above every usable one, come
last in a flood.

The lists are a heuristic: a point whose bowl has a second floor elsewhere misses it. Exactness
does not rest on them: certification (:mod:`.certify`) searches all ``M`` nodes of every point
with the max-pyramid and adds every violating pair, and the bound comes from its exact minima.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.solver.blocks import run_blocks
from tsnegrid.assign.solver.graph import Lattice, csr_of_lists
from tsnegrid.assign.solver.pyramid import _heap_pop, _heap_push


@nb.njit(cache=True, inline="always")
def _nearest(p, coords):  # type: ignore[no-untyped-def]
    """Index of the node of the evenly spaced axis ``coords`` nearest to ``p``."""
    if len(coords) == 1:
        return 0
    at = round((p - coords[0]) / (coords[1] - coords[0]))
    return min(max(at, 0), len(coords) - 1)


@nb.njit(cache=True, inline="always")
def _value(px, py, xs, ys, v, r, c):  # type: ignore[no-untyped-def]
    return (px - xs[c]) ** 2 + (py - ys[r]) ** 2 - v[r * len(xs) + c]


@nb.njit(cache=True)
def _descend(px, py, xs, ys, v, r, c):  # type: ignore[no-untyped-def]
    """(row, col) of a local minimum of the reduced value: steepest descent over the eight
    neighbours, from node (r, c)."""
    rows, cols = len(ys), len(xs)
    best = _value(px, py, xs, ys, v, r, c)
    while True:
        br, bc = r, c
        for a in range(max(r - 1, 0), min(r + 2, rows)):
            for b in range(max(c - 1, 0), min(c + 2, cols)):
                val = _value(px, py, xs, ys, v, a, b)
                if val < best:
                    best, br, bc = val, a, b
        if br == r and bc == c:
            return r, c
        r, c = br, bc


@nb.njit(cache=True, nogil=True)
def _flood_block(px, py, xs, ys, v, start, lo, hi, out):  # type: ignore[no-untyped-def]
    """Rows ``lo:hi`` of ``out`` (n, k): the first ``k`` nodes that a best-first flood from each
    point's floor reaches. The descent starts at ``start[i]`` or, when ``start`` is empty or
    ``start[i]`` is -1, at the node nearest to the point."""
    rows, cols = len(ys), len(xs)
    k = out.shape[1]
    seen = np.full(rows * cols, -1, dtype=np.int64)  # the last point that pushed each node
    hkeys = np.empty(4 * k + 8)
    hitems = np.empty(4 * k + 8, dtype=np.int64)
    for i in range(lo, hi):
        if len(start) and start[i] >= 0:
            r, c = start[i] // cols, start[i] % cols
        else:
            r, c = _nearest(py[i], ys), _nearest(px[i], xs)
        r, c = _descend(px[i], py[i], xs, ys, v, r, c)
        seen[r * cols + c] = i
        size = _heap_push(hkeys, hitems, 0, 0.0, r * cols + c)
        for t in range(k):
            j = hitems[0]
            size = _heap_pop(hkeys, hitems, size)
            out[i, t] = j
            r, c = j // cols, j % cols
            for a, b in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= a < rows and 0 <= b < cols and seen[a * cols + b] != i:
                    seen[a * cols + b] = i
                    val = _value(px[i], py[i], xs, ys, v, a, b)
                    size = _heap_push(hkeys, hitems, size, val, a * cols + b)


def nearest_usable(lat: Lattice) -> NDArray[np.int64]:
    """(n,) the usable node nearest to each point (empty when every node is usable)."""
    if not lat.masked:
        return np.zeros(0, dtype=np.int64)
    from scipy.spatial import cKDTree

    nodes = np.flatnonzero(lat.usable)
    r, c = np.divmod(nodes, lat.cols)
    tree = cKDTree(np.column_stack([lat.xs[c], lat.ys[r]]))
    _, near = tree.query(lat.points, workers=lat.threads)
    return nodes[np.asarray(near, dtype=np.int64)]


def candidates(
    lat: Lattice, v: NDArray[np.float64], k: int, own: NDArray[np.int64] | None = None
) -> tuple[NDArray, NDArray]:
    """CSR (indptr, indices) of each point's ``min(k, M)`` candidate nodes under ``c_ij - v_j``.

    A point's descent starts from its ``own`` node (an auction's, within a margin of its best)
    where it has a usable one, else from the usable node nearest to it (:func:`nearest_usable`);
    masked nodes come last in a flood, through their penalty.
    """
    k = min(k, lat.m)
    start = nearest_usable(lat)  # empty without a mask: the flood starts at the nearest node
    if own is not None:
        usable = own >= 0
        if lat.masked:
            usable[usable] = lat.usable[own[usable]]
            start = np.where(usable, own, start)
        else:
            start = np.where(usable, own, -1)
    v_real = np.ascontiguousarray(lat.reduced_potentials(v))
    out = np.empty((lat.n, k), dtype=np.int64)
    run_blocks(
        lat.n,
        lat.threads,
        lambda lo, hi: _flood_block(lat.px, lat.py, lat.xs, lat.ys, v_real, start, lo, hi, out),
    )
    return csr_of_lists(out, np.full(lat.n, k, dtype=np.int64))
