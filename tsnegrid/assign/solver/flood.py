"""Candidate nodes of each point: a best-first flood of the lattice from its best node.

Under node potentials ``v`` the reduced value ``|p - q_j|^2 - v_j`` of a point ``p`` is a bowl
over the lattice, stretched where ``v`` is steep, with its floor at the point's best node (on
t-SNE output often many cells away from ``p``). Steepest descent finds that floor, from a node
whose pre-image under ``v`` holds the point (a cell or two from the floor, see
:func:`_preimage_starts`) or from the point's own node in an auction, and a best-first flood from
it (a heap of the frontier's values, four neighbours per node) collects the ``k`` lowest nodes of
the bowl, whatever its shape, for a few dozen heap operations per point. With a mask, the descent
starts at the usable node nearest to the point instead, and masked nodes, whose penalty lifts them
far above every usable one, come last in a flood.

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


@nb.njit(cache=True)
def _axis_slope(vals, coords, at, stride, count):  # type: ignore[no-untyped-def]
    """Central difference of ``vals`` along one axis at flat index ``at`` (one-sided at an end,
    0 on a single node); ``stride`` steps one node along the axis, ``count`` nodes there are."""
    if count == 1:
        return 0.0
    pos = (at // stride) % count
    lo, hi = max(pos - 1, 0), min(pos + 1, count - 1)
    return (vals[at + (hi - pos) * stride] - vals[at - (pos - lo) * stride]) / (
        coords[hi] - coords[lo]
    )


@nb.njit(cache=True)
def _preimage_starts(px, py, xs, ys, v):  # type: ignore[no-untyped-def]
    """(n,) a start for each point's descent: a node whose pre-image lies in the point's cell.

    A point ``p`` is lowest at a node ``q`` where ``p = q - grad v(q) / 2`` (the gradient of
    ``|p - q|^2 - v(q)`` in ``q`` vanishes there). Each node's pre-image ``q - grad v / 2``
    (central differences) is dropped into the lattice cell it falls in, the first node in node
    order keeping the cell; a point starts from its cell's node, -1 (the nearest node) where no
    pre-image fell. Where potentials are steep (t-SNE's clusters stretched over empty regions)
    that node is a cell or two from the point's floor, where the nearest node is tens of cells.
    """
    rows, cols = len(ys), len(xs)
    cell = np.full(rows * cols, -1, dtype=np.int64)
    for j in range(rows * cols):
        r, c = j // cols, j % cols
        qx = xs[c] - 0.5 * _axis_slope(v, xs, j, 1, cols)
        qy = ys[r] - 0.5 * _axis_slope(v, ys, j, cols, rows)
        at = _nearest(qy, ys) * cols + _nearest(qx, xs)
        if cell[at] < 0:
            cell[at] = j
    start = np.empty(len(px), dtype=np.int64)
    for i in range(len(px)):
        start[i] = cell[_nearest(py[i], ys) * cols + _nearest(px[i], xs)]
    return start


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
    where it has a usable one, else from the node whose pre-image holds it
    (:func:`_preimage_starts`; with a mask, the usable node nearest to it, :func:`nearest_usable`);
    masked nodes come last in a flood, through their penalty.
    """
    k = min(k, lat.m)
    v_real = np.ascontiguousarray(lat.reduced_potentials(v))
    if lat.masked:
        start = nearest_usable(lat)
    else:
        start = _preimage_starts(lat.px, lat.py, lat.xs, lat.ys, v_real)
    if own is not None:
        usable = own >= 0
        if lat.masked:
            usable[usable] = lat.usable[own[usable]]
        start = np.where(usable, own, start)
    out = np.empty((lat.n, k), dtype=np.int64)
    run_blocks(
        lat.n,
        lat.threads,
        lambda lo, hi: _flood_block(lat.px, lat.py, lat.xs, lat.ys, v_real, start, lo, hi, out),
    )
    return csr_of_lists(out, np.full(lat.n, k, dtype=np.int64))
