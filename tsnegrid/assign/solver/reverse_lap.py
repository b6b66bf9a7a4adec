"""Shortest augmenting paths searched backwards, from the free columns (square problems).

A forward search from a free row scans every column closer than the nearest free column. When
the last free columns lie together in a sparse region (the bids from scratch leave exactly those
free: the auction filled them from afar) and the free rows are spread over the lattice, every
forward search scans nearly the whole graph. Searching from all free columns at once, backwards
along the edges into each column, ends at the nearest free row instead: a ball around the sparse
region, not around a random row.

The dual update mirrors the forward one: with ``D`` the length of the path found and ``d`` the
distance of each scanned node, column potentials rise by ``D - d`` and the potentials of the rows
holding them fall by as much, so every edge stays feasible and the path becomes tight. Raised
column potentials make the forward searches' sort keys stale, so the rows reached are marked
unsorted.

With dummy rows (the hub of :mod:`.sparse_lap`) the hub is one more node of the search: a scanned
hub column ``k`` reaches it at ``d_k + t - v_k`` (a dummy row could take ``k``), and the hub
reaches every dummy-held column at its own distance (the dummy row gives that column up). The
dummy level ``t`` then rises by ``D - d_hub`` like any scanned potential, and a path through the
hub moves one dummy row: the dummy-held column it passes joins the real rows at the new ``t``,
and the hub column it came from becomes dummy-held.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from tsnegrid.assign.solver.pyramid import _heap_pop, _heap_push
from tsnegrid.assign.solver.sparse_lap import DUMMY


@nb.njit(cache=True)
def by_column(indices, erow, costs, m):  # type: ignore[no-untyped-def]
    """The graph by columns: (M + 1,) start of each column's entries, then (nnz,) the row
    (int32) and the cost of each entry, the edges of a column in CSR order.

    Rows and costs are copied next to each other so that a search reads a column's edges in
    one sweep instead of through an index into the row-major arrays.
    """
    colptr = np.zeros(m + 1, dtype=np.int64)
    for e in range(len(indices)):
        colptr[indices[e] + 1] += 1
    for j in range(m):
        colptr[j + 1] += colptr[j]
    fill = colptr[:m].copy()
    rows = np.empty(len(indices), dtype=np.int32)
    cost = np.empty(len(indices))
    for e in range(len(indices)):
        j = indices[e]
        rows[fill[j]] = erow[e]
        cost[fill[j]] = costs[e]
        fill[j] += 1
    return colptr, rows, cost


@nb.njit(cache=True)
def _scan_column(j, dj, g, cols, st, ws, size):  # type: ignore[no-untyped-def]
    """Relax the edges into column ``j`` (at distance ``dj``), and the hub's edge to it where it
    is a hub column; return the heap size."""
    ready = g[6]
    colptr, crow, ccost = cols
    u, v, t, col_dummy, col4row = st[0], st[1], st[2][0], st[3], st[5]
    rdist, predcol, cdone, hkeys, hitems, touched = ws[1], ws[2], ws[3], ws[4], ws[5], ws[6]
    is_hub, hub_dist, hub_from = ws[8], ws[9], ws[10]
    vj = t if col_dummy[j] else v[j]
    for a in range(colptr[j], colptr[j + 1]):
        k = np.int64(crow[a])
        ready[k] = False
        mk = col4row[k]
        if mk >= 0 and cdone[mk]:
            continue  # settled (a rounding-negative reduced cost must not re-route it)
        nd = dj + ccost[a] - u[k] - vj
        if nd < rdist[k]:
            if rdist[k] == np.inf:
                touched[0] += 1
                touched[touched[0]] = k
            rdist[k] = nd
            predcol[k] = j
            if mk < 0:  # a free row: the search ends when it leaves the heap
                size = _heap_push(hkeys, hitems, size, nd, -(k + 1))
            else:
                size = _heap_push(hkeys, hitems, size, nd, mk)
    if is_hub[j] and not col_dummy[j] and hub_from[1] == 0:  # a dummy row could take j
        nd = dj + t - vj
        if nd < hub_dist[0]:
            hub_dist[0] = nd
            hub_from[0] = j
            size = _heap_push(hkeys, hitems, size, nd, len(v))  # the hub's item: M
    return size


@nb.njit(cache=True)
def _scan_hub(dh, st, ws, size):  # type: ignore[no-untyped-def]
    """The hub, at distance ``dh``: every dummy-held column is given up at that distance."""
    col_dummy = st[3]
    cdone, hkeys, hitems, hub_from = ws[3], ws[4], ws[5], ws[10]
    hub_from[1] = 1  # scanned
    for c in range(len(col_dummy)):
        if col_dummy[c] and not cdone[c]:
            size = _heap_push(hkeys, hitems, size, dh, c)
    return size


@nb.njit(cache=True)
def _search_back(free_cols, g, cols, st, ws):  # type: ignore[no-untyped-def]
    """Dijkstra from every free column; return (the free row reached or -1, its distance)."""
    cdist, cdone, hkeys, hitems, scanned = ws[0], ws[3], ws[4], ws[5], ws[7]
    hub_from = ws[10]
    m = len(cdone)
    size = 0
    for f in free_cols:
        cdist[f] = 0.0
        size = _heap_push(hkeys, hitems, size, 0.0, f)
    while size > 0:
        d, item = hkeys[0], hitems[0]
        size = _heap_pop(hkeys, hitems, size)
        if item < 0:
            return -item - 1, d
        if item == m:
            if hub_from[1] == 0:
                size = _scan_hub(d, st, ws, size)
            continue
        j = item
        if cdone[j]:
            continue
        cdone[j] = True
        cdist[j] = d
        scanned[0] += 1
        scanned[scanned[0]] = j
        size = _scan_column(j, d, g, cols, st, ws, size)
    return -1, np.inf


@nb.njit(cache=True)
def _update_and_flip(end, dend, st, ws):  # type: ignore[no-untyped-def]
    """Shift the scanned potentials (and the dummy level, where the hub was scanned) by
    ``dend - d`` and flip the matching along the path; return the free column it started from
    (now matched, to a real row or a dummy one)."""
    u, v, tval, col_dummy, row4col, col4row = st
    cdist, predcol, scanned = ws[0], ws[2], ws[7]
    hub_dist, hub_from = ws[9], ws[10]
    for s in range(1, scanned[0] + 1):
        j = scanned[s]
        shift = dend - cdist[j]
        v[j] += shift
        if row4col[j] >= 0:
            u[row4col[j]] -= shift
    if hub_from[1] == 1:
        tval[0] += dend - hub_dist[0]
    i = end
    while True:
        j = predcol[i]
        nxt = row4col[j]
        row4col[j] = i
        col4row[i] = j
        if nxt == DUMMY:  # reached through the hub: its dummy row moves to the hub column
            col_dummy[j] = False
            v[j] = tval[0]
            j = hub_from[0]
            nxt = row4col[j]
            row4col[j] = DUMMY
            col_dummy[j] = True
        if nxt < 0:
            return j  # the free column the path started from
        i = nxt


@nb.njit(cache=True)
def _reset(free_cols, ws):  # type: ignore[no-untyped-def]
    """Clear what one search wrote (``touched`` and ``scanned`` keep their count at index 0)."""
    cdist, rdist, predcol, cdone, touched, scanned = ws[0], ws[1], ws[2], ws[3], ws[6], ws[7]
    for s in range(1, scanned[0] + 1):
        cdone[scanned[s]] = False
        cdist[scanned[s]] = np.inf
    for f in free_cols:
        cdist[f] = np.inf
    for s in range(1, touched[0] + 1):
        rdist[touched[s]] = np.inf
        predcol[touched[s]] = -1
    scanned[0] = 0
    touched[0] = 0
    ws[9][0] = np.inf
    ws[10][0] = -1
    ws[10][1] = 0


@nb.njit(cache=True)
def augment_back(g, cols, st, free_value):  # type: ignore[no-untyped-def]
    """Match every free row by backward searches; return how many could not be matched.

    ``g`` and ``st`` are as in :func:`.sparse_lap.augment_rows`; ``cols`` is :func:`by_column`
    of the graph; ``free_value`` marks a free column in ``row4col``.
    """
    u, row4col = st[0], st[4]
    hub_cols = g[5]
    n, m = len(u), len(row4col)
    cap = 2 * len(g[1]) + 2 * m + 2
    is_hub = np.zeros(m, dtype=np.bool_)
    is_hub[hub_cols] = True
    ws = (
        np.full(m, np.inf),
        np.full(n, np.inf),
        np.full(n, -1, dtype=np.int64),
        np.zeros(m, dtype=np.bool_),
        np.empty(cap),
        np.empty(cap, dtype=np.int64),
        np.zeros(n + 1, dtype=np.int64),
        np.zeros(m + 1, dtype=np.int64),
        is_hub,
        np.full(1, np.inf),  # the hub's distance
        np.array([-1, 0], dtype=np.int64),  # the hub column it was reached from; scanned
    )
    free_cols = np.flatnonzero(row4col == free_value)
    failed = 0
    while len(free_cols):
        end, dend = _search_back(free_cols, g, cols, st, ws)
        if end < 0:
            failed = len(free_cols)
            break
        root = _update_and_flip(end, dend, st, ws)
        _reset(free_cols, ws)
        # the other free columns stay free: drop the root, keep the order (as flatnonzero)
        free_cols = free_cols[free_cols != root]
    return failed
