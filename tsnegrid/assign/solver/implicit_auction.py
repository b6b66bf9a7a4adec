"""An epsilon-scaling auction on the full implicit problem: every bid can see all M nodes.

On tight clusters the candidate lists built from interpolated potentials collapse: a cluster's
points all list about the same nodes, too few of them, so the sparse auction of
:mod:`.eps_auction` stalls in a price war and leaves its prices hundreds of squared node spacings
off. The exact solve then needs one Dijkstra search across the cluster per stuck point, and
certification adds tens of thousands of edges per round. Here no edge is missing: a point bids
with its best two values ``|p - q_j|^2 - v_j`` over all nodes.

Each point caches its ``k`` best nodes with their costs and ``rest``, the ``k+1``-th best value
when they were found. Prices only fall, so values only rise and ``rest`` stays a lower bound on
every node outside the cache: while the second best in the cache is at most ``rest``, the cache
gives the exact best two, and only otherwise is the list found again by the max-pyramid search
of :mod:`.pyramid`, cut off at the largest cached value (``k`` nodes lie below it, so the search
prunes from its first step). That search stays exact as prices fall: level 0 *is* ``v``, each
bid refreshes the block maxima above the node it lowered, and the plane bounds, built from
``|q_j|^2 - v_j`` which only grows, stay lower bounds; they loosen, so they are rebuilt every
``TIGHTEN_EVERY`` bids per row. The ``M - n`` zero-cost dummy rows bid for the nodes of highest
potential, as in :mod:`.eps_auction`. Only the potentials and the final assignment are used:
the exact solve and the certification of :mod:`.certify` stand behind every result.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.solver.eps_auction import _top_valid
from tsnegrid.assign.solver.graph import Lattice
from tsnegrid.assign.solver.pyramid import (
    _fill_levels,
    _fill_planes,
    _heap_pop,
    _heap_push,
    _query,
    build_pyramid,
)

TIGHTEN_EVERY = 1.0  # bids, per row, between rebuilds of the pyramid's bounds


@nb.njit(cache=True)
def _lower(pyr, j, value):  # type: ignore[no-untyped-def]
    """Set ``v_j = value`` (a decrease) and refresh the block maxima above node ``j``."""
    maxima, offsets, lrows, lcols = pyr[0], pyr[2], pyr[3], pyr[4]
    maxima[j] = value
    r, c = j // lcols[0], j % lcols[0]
    for lev in range(1, len(lrows)):
        r, c = r >> 1, c >> 1
        src, crows, ccols = offsets[lev - 1], lrows[lev - 1], lcols[lev - 1]
        best = -np.inf
        for ca in range(2 * r, min(2 * r + 2, crows)):
            for cb in range(2 * c, min(2 * c + 2, ccols)):
                best = max(best, maxima[src + ca * ccols + cb])
        k = offsets[lev] + r * lcols[lev] + c
        if maxima[k] == best:
            return  # unchanged here, so unchanged above
        maxima[k] = best


@nb.njit(cache=True)
def _tighten(pyr):  # type: ignore[no-untyped-def]
    """Rebuild the block maxima and planes from the current potentials (bounds loosen as they
    fall, and a loose bound makes every later search visit more blocks)."""
    maxima, planes, offsets, lrows, lcols, xs, ys = pyr
    cols = lcols[0]
    w = np.empty(lrows[0] * cols)
    for j in range(len(w)):
        w[j] = xs[j % cols] ** 2 + ys[j // cols] ** 2 - maxima[j]
    _fill_levels(maxima, offsets, lrows, lcols)
    _fill_planes(w, offsets, lrows, lcols, xs, ys, planes)


@nb.njit(cache=True)
def _refresh(i, pts, pyr, cache, work, cutoff):  # type: ignore[no-untyped-def]
    """Find row ``i``'s ``k`` best nodes again, searching below ``cutoff`` only.

    ``cutoff`` must exceed the value of ``k`` nodes (the cached ones), so that the search finds
    at least ``k``; every node it does not return has a value of at least the ``k+1``-th found,
    or of ``cutoff`` when fewer were found.
    """
    maxima, planes, offsets, lrows, lcols, xs, ys = pyr
    idx, cost, rest = cache
    vals, found, hkeys, hitems = work
    k = idx.shape[1]
    count = _query(
        pts[0][i],
        pts[1][i],
        cutoff,
        k + 1,
        maxima,
        planes,
        offsets,
        lrows,
        lcols,
        xs,
        ys,
        vals,
        found,
        hkeys,
        hitems,
    )
    first = 1 if count == k + 1 else 0  # a full max-heap holds the k+1-th value at its root
    rest[i] = vals[0] if first else cutoff
    for t in range(k):
        idx[i, t] = found[t + first] if t + first < count else -1
        if idx[i, t] >= 0:
            dx = pts[0][i] - xs[idx[i, t] % lcols[0]]
            dy = pts[1][i] - ys[idx[i, t] // lcols[0]]
            cost[i, t] = dx * dx + dy * dy


@nb.njit(cache=True)
def _best_two(i, pts, pyr, cache, work):  # type: ignore[no-untyped-def]
    """Row ``i``'s best node, its value and the second-best value over all M nodes."""
    maxima = pyr[0]
    idx, cost, rest = cache
    w1, w2, j1 = np.inf, np.inf, -1
    for attempt in range(2):
        w1, w2, j1, top = np.inf, np.inf, -1, -np.inf
        for t in range(idx.shape[1]):
            j = idx[i, t]
            if j < 0:
                top = np.inf  # a short list: search everything
                break
            w = cost[i, t] - maxima[j]
            top = max(top, w)
            if w < w1:
                w1, w2, j1 = w, w1, j
            elif w < w2:
                w2 = w
        if w2 <= rest[i] or attempt == 1:
            break
        _refresh(i, pts, pyr, cache, work, np.nextafter(top, np.inf))
    return j1, w1, min(w2, rest[i])


@nb.njit(cache=True)
def _unassign_slack(pts, pyr, cache, eps, row4col, col4row, ring, work):  # type: ignore[no-untyped-def]
    """Unassign the rows whose node is no longer within ``eps`` of their best; queue them."""
    n, n_all = len(pts[0]), len(col4row)
    v = pyr[0][: len(row4col)]
    vmax = v.max()
    waiting = 0
    for i in range(n_all):
        j = col4row[i]
        keep = False
        if j >= 0 and i >= n:
            keep = v[j] >= vmax - eps
        elif j >= 0:
            dx, dy = pts[0][i] - pyr[5][j % pyr[4][0]], pts[1][i] - pyr[6][j // pyr[4][0]]
            keep = dx * dx + dy * dy - v[j] <= _best_two(i, pts, pyr, cache, work)[1] + eps
        if not keep:
            if j >= 0:
                row4col[j] = -1
                col4row[i] = -1
            ring[waiting] = i
            waiting += 1
    return waiting


@nb.njit(cache=True)
def _phase(pts, pyr, cache, eps, budget, row4col, col4row, work):  # type: ignore[no-untyped-def]
    """One auction at margin ``eps`` (at most ``budget`` bids); return the rows left waiting."""
    n, n_all, m = len(pts[0]), len(col4row), len(row4col)
    v = pyr[0][:m]
    ring = np.empty(n_all, dtype=np.int64)  # each waiting row is queued once: a ring suffices
    hkeys, hitems, size = np.empty(m + 1), np.empty(m + 1, dtype=np.int64), 0
    if n_all > n:
        for j in range(m):
            size = _heap_push(hkeys, hitems, size, -v[j], j)
    waiting = _unassign_slack(pts, pyr, cache, eps, row4col, col4row, ring, work)
    head, every = 0, max(1, int(n_all * TIGHTEN_EVERY))
    for bid in range(budget):
        if waiting == 0:
            break
        if bid % every == every - 1:
            _tighten(pyr)
        i = ring[head]
        head, waiting = (head + 1) % n_all, waiting - 1
        if i >= n:  # a dummy row: value -v_j for every node
            size = _top_valid(hkeys, hitems, size, v)
            j = hitems[0]
            size = _heap_pop(hkeys, hitems, size)
            size = _top_valid(hkeys, hitems, size, v)
            step = v[j] - v[hitems[0]] + eps if size > 0 else 1.0 + eps
        else:
            j, w1, w2 = _best_two(i, pts, pyr, cache, work)
            step = min(w2 - w1, 1.0) + eps  # a one-node problem bids a bounded step
        _lower(pyr, j, v[j] - step)
        if i >= n:  # the bid node left the heap above
            size = _heap_push(hkeys, hitems, size, -v[j], j)
        old = row4col[j]
        row4col[j], col4row[i] = i, j
        if old >= 0:
            col4row[old] = -1
            ring[(head + waiting) % n_all] = old
            waiting += 1
    return waiting


@nb.njit(cache=True)
def _scaled(pts, pyr, k, eps0, eps_min, budget, factor, n_all):  # type: ignore[no-untyped-def]
    m = pyr[3][0] * pyr[4][0]
    n = len(pts[0])
    row4col = np.full(m, -1, dtype=np.int64)
    col4row = np.full(n_all, -1, dtype=np.int64)
    cache = (np.full((n, k), -1, dtype=np.int64), np.zeros((n, k)), np.full(n, np.inf))
    heap = 4 * len(pyr[0]) + 8
    work = (
        np.empty(k + 1),
        np.empty(k + 1, dtype=np.int64),
        np.empty(heap),
        np.empty(heap, dtype=np.int64),
    )
    for i in range(n):
        _refresh(i, pts, pyr, cache, work, np.inf)
    eps = eps0
    while eps >= eps_min:
        _tighten(pyr)
        _phase(pts, pyr, cache, eps, budget, row4col, col4row, work)
        eps /= factor
    return row4col


def implicit_auction(
    lat: Lattice,
    v: NDArray[np.float64],
    k: int,
    eps0: float,
    eps_min: float,
    budget: int,
    factor: float = 4.0,
) -> tuple[NDArray, NDArray]:
    """Refine potentials ``v`` (``(M,)``) at margins ``eps0, eps0 / factor, ...`` to ``eps_min``.

    ``k`` nodes are cached per point; ``budget`` bounds the bids of one phase. Returns the new
    (M,) potentials and (M,) the row holding each node at the end (-1 for none; ``n`` and above
    are dummy rows). On a masked lattice the auction runs on ``v`` minus the penalty with one
    dummy row per usable node left empty: the masked nodes take no bids and keep their ``v``.
    """
    p = build_pyramid(lat.reduced_potentials(v), lat.xs, lat.ys)
    pyr = (p.maxima, p.planes, p.offsets, p.level_rows, p.level_cols, p.xs, p.ys)
    k = max(1, min(k, lat.m - 1))
    n_all = max(int(np.count_nonzero(lat.usable)), lat.n)
    owner = _scaled((lat.px, lat.py), pyr, k, eps0, eps_min, budget, factor, n_all)
    v_new = p.maxima[: lat.m].copy()
    if lat.masked:
        v_new[~lat.usable] = v[~lat.usable]
    return v_new, owner
