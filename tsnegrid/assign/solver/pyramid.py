"""Max-pyramid of node potentials and branch-and-bound queries over the whole lattice.

For a point ``p`` and node potentials ``v`` the reduced value of node ``j`` is
``|p - q_j|^2 - v_j``. Over a block of the lattice it is at least the squared distance from ``p``
to the block's bounding box minus the block's largest ``v``, so a pyramid of block maxima (2 x 2
blocks per level) lets a best-first search find the ``k`` smallest values, or every value under a
cut-off, while visiting only the blocks that could hold one. The bound uses the same float
operations as the leaf values, so a pruned block never holds a smaller computed value.

Where ``v`` is steep (a cluster spread over a large area) that bound is loose by the slope times
the block size. A second bound is then much tighter: writing ``w_j = |q_j|^2 - v_j``, the reduced
value is ``|p|^2 - 2 p.q_j + w_j``, and over a block ``w_j >= a + g.q_j`` for a slope ``g`` fitted
to the block and ``a`` the exact minimum of ``w_j - g.q_j`` over its nodes, so the value is at
least ``|p|^2 + a + min over the corners of (g - 2p).q``. It is exact to first order; it is
computed differently from the leaves, so it gives up a margin far above float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.solver.blocks import run_blocks


@dataclass(frozen=True)
class Pyramid:
    """Block maxima of ``v`` on a ``rows x cols`` lattice, all levels in one flat array.

    ``level_rows[l] x level_cols[l]`` blocks of ``2**l x 2**l`` nodes sit at
    ``maxima[offsets[l]:offsets[l + 1]]``; level 0 is ``v`` itself.
    """

    maxima: NDArray[np.float64]
    planes: NDArray[np.float64]  # (len(maxima), 3) a, gx, gy of each block's plane under w
    offsets: NDArray[np.int64]
    level_rows: NDArray[np.int64]
    level_cols: NDArray[np.int64]
    xs: NDArray[np.float64]  # (cols,) node x coordinates
    ys: NDArray[np.float64]  # (rows,) node y coordinates


def build_pyramid(
    v: NDArray[np.float64], xs: NDArray[np.float64], ys: NDArray[np.float64]
) -> Pyramid:
    """Max-pyramid of node potentials ``v`` (``(rows * cols,)``) on nodes ``xs`` x ``ys``.

    ``xs`` (cols,) and ``ys`` (rows,) are the increasing node coordinates of each axis. A node
    at ``-inf`` is left out of every search; a block whose plane those nodes make infinite or
    undefined keeps only its box bound (a plane bound of ``-inf``, sound for any potentials).
    """
    rows, cols = len(ys), len(xs)
    shapes = [(rows, cols)]
    while shapes[-1] != (1, 1):
        r, c = shapes[-1]
        shapes.append(((r + 1) // 2, (c + 1) // 2))
    level_rows = np.array([s[0] for s in shapes], dtype=np.int64)
    level_cols = np.array([s[1] for s in shapes], dtype=np.int64)
    offsets = np.zeros(len(shapes) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(level_rows * level_cols)
    maxima = np.empty(int(offsets[-1]))
    maxima[: rows * cols] = v
    _fill_levels(maxima, offsets, level_rows, level_cols)
    w = ((xs[None, :] ** 2 + ys[:, None] ** 2).ravel() - v).astype(np.float64)
    planes = np.zeros((len(maxima), 3))
    _fill_planes(w, offsets, level_rows, level_cols, xs, ys, planes)
    if not np.isfinite(v).all():
        planes[~np.isfinite(planes).all(axis=1)] = (-np.inf, 0.0, 0.0)
    return Pyramid(maxima, planes, offsets, level_rows, level_cols, xs, ys)


@nb.njit(cache=True)
def _fill_levels(maxima, offsets, level_rows, level_cols):  # type: ignore[no-untyped-def]
    for lev in range(1, len(level_rows)):
        pr, pc = level_rows[lev - 1], level_cols[lev - 1]
        src, dst = offsets[lev - 1], offsets[lev]
        for a in range(level_rows[lev]):
            for b in range(level_cols[lev]):
                best = -np.inf
                for ca in range(2 * a, min(2 * a + 2, pr)):
                    for cb in range(2 * b, min(2 * b + 2, pc)):
                        best = max(best, maxima[src + ca * pc + cb])
                maxima[dst + a * level_cols[lev] + b] = best


@nb.njit(cache=True)
def _fill_planes(w, offsets, level_rows, level_cols, xs, ys, planes):  # type: ignore[no-untyped-def]
    """Slope of ``w`` across each block (from its corners) and the exact offset below it."""
    rows, cols = level_rows[0], level_cols[0]
    for lev in range(1, len(level_rows)):
        lc, base = level_cols[lev], offsets[lev]
        for a in range(level_rows[lev]):
            r0, r1 = a << lev, min((a + 1) << lev, rows) - 1
            for b in range(lc):
                c0, c1 = b << lev, min((b + 1) << lev, cols) - 1
                gx, gy = 0.0, 0.0
                if c1 > c0:
                    gx = (w[r0 * cols + c1] - w[r0 * cols + c0] + w[r1 * cols + c1]
                          - w[r1 * cols + c0]) / (2.0 * (xs[c1] - xs[c0]))  # fmt: skip
                if r1 > r0:
                    gy = (w[r1 * cols + c0] - w[r0 * cols + c0] + w[r1 * cols + c1]
                          - w[r0 * cols + c1]) / (2.0 * (ys[r1] - ys[r0]))  # fmt: skip
                planes[base + a * lc + b, 1] = gx
                planes[base + a * lc + b, 2] = gy
                planes[base + a * lc + b, 0] = np.inf
        for r in range(rows):
            for c in range(cols):
                k = base + (r >> lev) * lc + (c >> lev)
                val = w[r * cols + c] - planes[k, 1] * xs[c] - planes[k, 2] * ys[r]
                planes[k, 0] = min(planes[k, 0], val)


@nb.njit(cache=True, inline="always")
def _plane_bound(px, py, planes, b, x0, x1, y0, y1):  # type: ignore[no-untyped-def]
    a, cx, cy = planes[b, 0], planes[b, 1] - 2.0 * px, planes[b, 2] - 2.0 * py
    lin = min(cx * x0, cx * x1) + min(cy * y0, cy * y1)
    bound = px * px + py * py + a + lin
    return bound - 1e-11 * (1.0 + abs(a) + abs(lin) + px * px + py * py)


@nb.njit(cache=True, inline="always")
def _gap(p, lo, hi):  # type: ignore[no-untyped-def]
    if p < lo:
        return lo - p
    if p > hi:
        return p - hi
    return 0.0


@nb.njit(cache=True)
def _result_push(vals, idx, count, k, val, j):  # type: ignore[no-untyped-def]
    """Keep the ``k`` smallest values in a max-heap ``vals[:count]``; return the new count."""
    if count < k:
        pos = count
        count += 1
        while pos > 0:
            parent = (pos - 1) >> 1
            if vals[parent] >= val:
                break
            vals[pos], idx[pos] = vals[parent], idx[parent]
            pos = parent
        vals[pos], idx[pos] = val, j
        return count
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= count:
            break
        if child + 1 < count and vals[child + 1] > vals[child]:
            child += 1
        if vals[child] <= val:
            break
        vals[pos], idx[pos] = vals[child], idx[child]
        pos = child
    vals[pos], idx[pos] = val, j
    return count


@nb.njit(cache=True)
def _heap_push(keys, items, size, key, item):  # type: ignore[no-untyped-def]
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if keys[parent] <= key:
            break
        keys[pos], items[pos] = keys[parent], items[parent]
        pos = parent
    keys[pos], items[pos] = key, item
    return size + 1


@nb.njit(cache=True)
def _heap_pop(keys, items, size):  # type: ignore[no-untyped-def]
    """Remove the root of a min-heap; the caller read it before. Return the new size."""
    size -= 1
    key, item = keys[size], items[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= key:
            break
        keys[pos], items[pos] = keys[child], items[child]
        pos = child
    if size > 0:
        keys[pos], items[pos] = key, item
    return size


LEVEL_BITS = 6  # a heap item is a block's position within its level, shifted, or'd with the level


@nb.njit(cache=True)
def _query(  # type: ignore[no-untyped-def]
    px, py, cutoff, k, maxima, planes, offsets, lrows, lcols, xs, ys, vals, idx, hkeys, hitems
):
    """Best-first search for the ``k`` smallest reduced values below ``cutoff``; return count."""
    rows, cols = lrows[0], lcols[0]
    top = len(lrows) - 1
    count = 0
    if top == 0:  # a 1 x 1 lattice has no blocks to search
        val = (px - xs[0]) ** 2 + (py - ys[0]) ** 2 - maxima[0]
        return _result_push(vals, idx, count, k, val, 0) if val < cutoff else 0
    size = _heap_push(hkeys, hitems, 0, -np.inf, top)
    while size > 0:
        bound, item = hkeys[0], hitems[0]
        size = _heap_pop(hkeys, hitems, size)
        cut = vals[0] if count == k else cutoff
        if bound >= cut:
            break
        lev = item & ((1 << LEVEL_BITS) - 1)
        pos = item >> LEVEL_BITS
        a, b = pos // lcols[lev], pos % lcols[lev]
        child = lev - 1
        cr, cc, base = lrows[child], lcols[child], offsets[child]
        for ca in range(2 * a, min(2 * a + 2, cr)):
            for cb in range(2 * b, min(2 * b + 2, cc)):
                cut = vals[0] if count == k else cutoff
                if child == 0:
                    dx = px - xs[cb]
                    dy = py - ys[ca]
                    val = dx * dx + dy * dy - maxima[ca * cols + cb]
                    if val < cut:
                        count = _result_push(vals, idx, count, k, val, ca * cols + cb)
                    continue
                r0 = ca << child
                c0 = cb << child
                r1 = min(r0 + (1 << child), rows) - 1
                c1 = min(c0 + (1 << child), cols) - 1
                gx = _gap(px, xs[c0], xs[c1])
                gy = _gap(py, ys[r0], ys[r1])
                blk = ca * cc + cb
                bnd = gx * gx + gy * gy - maxima[base + blk]
                if bnd < cut:
                    pb = _plane_bound(px, py, planes, base + blk, xs[c0], xs[c1], ys[r0], ys[r1])
                    bnd = max(bnd, pb)
                if bnd < cut:
                    size = _heap_push(hkeys, hitems, size, bnd, (blk << LEVEL_BITS) | child)
    return count


@nb.njit(cache=True, nogil=True)
def _query_block(px, py, cutoffs, maxima, planes, offsets, lrows, lcols, xs, ys, lo, hi, out):  # type: ignore[no-untyped-def]
    """Points ``lo:hi`` of :func:`smallest_reduced`, written to their rows of ``out``."""
    out_idx, out_val, counts = out
    k = out_idx.shape[1]
    hkeys = np.empty(4 * len(maxima) + 8)
    hitems = np.empty(4 * len(maxima) + 8, dtype=np.int64)
    for i in range(lo, hi):
        counts[i] = _query(
            px[i],
            py[i],
            cutoffs[i],
            k,
            maxima,
            planes,
            offsets,
            lrows,
            lcols,
            xs,
            ys,
            out_val[i],
            out_idx[i],
            hkeys,
            hitems,
        )


def smallest_reduced(
    pyramid: Pyramid,
    points: NDArray[np.float64],
    k: int,
    cutoffs: NDArray[np.float64] | None = None,
    threads: int = 1,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """For each point, the (up to) ``k`` nodes of smallest ``|p - q_j|^2 - v_j`` below its cut-off.

    Parameters
    ----------
    pyramid : the max-pyramid of ``v``.
    points : (n, 2) float64 point coordinates.
    k : how many nodes to keep per point.
    cutoffs : (n,) only values strictly below are returned; ``None`` means no cut-off.
    threads : worker threads (each point is searched alone: the result does not depend on it).

    Returns
    -------
    idx : (n, k) int64 node indices, -1 past ``counts[i]``; unordered.
    val : (n, k) float64 reduced values, ``inf`` past ``counts[i]``.
    counts : (n,) int64 how many were found.
    """
    n = len(points)
    cut = np.full(n, np.inf) if cutoffs is None else np.ascontiguousarray(cutoffs, np.float64)
    p = pyramid
    px, py = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    out = (
        np.full((n, k), -1, dtype=np.int64),
        np.full((n, k), np.inf),
        np.zeros(n, dtype=np.int64),
    )
    run_blocks(
        n,
        threads,
        lambda lo, hi: _query_block(
            px,
            py,
            cut,
            p.maxima,
            p.planes,
            p.offsets,
            p.level_rows,
            p.level_cols,
            p.xs,
            p.ys,
            lo,
            hi,
            out,
        ),
    )
    return out
