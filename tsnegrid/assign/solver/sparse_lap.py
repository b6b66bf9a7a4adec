"""Shortest augmenting paths on a sparse bipartite graph, warm-started from node potentials.

The problem is made square by ``M - n`` zero-cost dummy rows. They are interchangeable, so they
are contracted into one *hub*: a dummy-matched column is flagged in ``col_dummy`` and has the
potential ``t`` (all of them share it: a dummy row reaching one reaches the others at zero
reduced cost), and the hub has an edge to every column of ``hub_cols`` at reduced cost
``t - v_k``. Dual feasibility is kept throughout: ``c_ij - u_i - v_j >= 0`` on every edge, equal
on matched ones, and ``v_k <= t`` on hub columns. Each augmentation is one Dijkstra search
(Jonker-Volgenant style, stopping at the first unmatched column) followed by the usual update of
the potentials of the scanned nodes, so the potentials stay a certificate for the sparse graph.
A search relaxes a row's edges lazily, in order of reduced cost, so edges that cannot matter
before it ends are never read; a row's edges are sorted when a search first reaches the row.
(Starting one search from all free rows at once was tried: the first tree to reach a cluster of
free columns takes them all, so few rows are served per search.)
"""

from __future__ import annotations

import numba as nb
import numpy as np

from tsnegrid.assign.solver.pyramid import _heap_pop, _heap_push

FREE = -1  # row4col of a column that no row (real or dummy) holds
ABORTED = -3  # what a search that ran past its scan limit returns
DUMMY = -2  # row4col of a dummy-matched column; also pred[] of a column reached from the hub


@nb.njit(cache=True)
def _sort_row(i, g, v, t, col_dummy):  # type: ignore[no-untyped-def]
    """Sort row ``i``'s edges by ``skey`` = ``c_ij - v_j`` under the current potentials."""
    indptr, indices, costs, skey, ready = g[0], g[1], g[2], g[4], g[6]
    a, b = indptr[i], indptr[i + 1]
    for e in range(a, b):
        j = indices[e]
        skey[e] = costs[e] - (t if col_dummy[j] else v[j])
    order = np.argsort(skey[a:b]) + a
    indices[a:b] = indices[order]
    costs[a:b] = costs[order]
    skey[a:b] = skey[order]
    ready[i] = True


@nb.njit(cache=True)
def _relax_edges(i, di, e, stop, g, u, v, t, col_dummy, ws, heap):  # type: ignore[no-untyped-def]
    """Relax row ``i``'s edges from ``e`` on while their lower bound is below the heap top.

    A row's edges are sorted by ``skey`` = ``c_ij - v_j`` as it was when the row was sorted.
    Potentials only decrease, so ``di + skey[e] - u_i`` bounds the distance through every later
    edge: the rest of the row waits in the heap under that key, and edges that cannot beat the
    end of the search are never looked at.
    """
    if e == g[0][i] and not g[6][i]:
        _sort_row(i, g, v, t, col_dummy)
    indices, costs, skey = g[1], g[2], g[4]
    dist, pred, done, touched = ws[0], ws[1], ws[2], ws[5]
    hkeys, hitems, size, nt = heap
    ui = u[i]
    while e < stop:
        if size > 0 and di + skey[e] - ui > hkeys[0]:
            size = _heap_push(hkeys, hitems, size, di + skey[e] - ui, -(e + 1))
            break
        j = indices[e]
        e += 1
        if done[j]:
            continue
        nd = di + costs[e - 1] - ui - (t if col_dummy[j] else v[j])
        if nd < dist[j]:
            if dist[j] == np.inf:
                touched[nt] = j
                nt += 1
            dist[j] = nd
            pred[j] = i
            size = _heap_push(hkeys, hitems, size, nd, j)
    return size, nt


@nb.njit(cache=True)
def _relax_hub(dh, hub_cols, v, t, col_dummy, dist, pred, done, heap, touched, nt):  # type: ignore[no-untyped-def]
    hkeys, hitems, size = heap
    for k in hub_cols:
        if done[k] or col_dummy[k]:
            continue
        nd = dh + t - v[k]
        if nd < dist[k]:
            if dist[k] == np.inf:
                touched[nt] = k
                nt += 1
            dist[k] = nd
            pred[k] = DUMMY
            size = _heap_push(hkeys, hitems, size, nd, k)
    return size, nt


@nb.njit(cache=True)
def _search(r, g, st, ws, limit):  # type: ignore[no-untyped-def]
    """Dijkstra from free row ``r``, given up (``ABORTED``) when it would scan ``limit`` columns.

    Returns (end column, -1 or ``ABORTED``; its distance; hub distance; hub entry column or -1;
    touched count; scanned count); heap items are columns (>= 0) or a row's remaining edges
    (-(e + 1)).
    """
    indptr, erow, hub_cols = g[0], g[3], g[5]
    u, v, tval, col_dummy, row4col = st[0], st[1], st[2], st[3], st[4]
    dist, pred, done, hkeys, hitems, touched, scanned, rowdist = ws
    t = tval[0]
    hub_dist, hub_entry = np.inf, -1
    rowdist[r] = 0.0
    size, nt = _relax_edges(
        r, 0.0, indptr[r], indptr[r + 1], g, u, v, t, col_dummy, ws, (hkeys, hitems, 0, 0)
    )
    ns = 0
    while size > 0:
        d, item = hkeys[0], hitems[0]
        size = _heap_pop(hkeys, hitems, size)
        if item < 0:  # more edges of a scanned row
            e = -item - 1
            i = erow[e]
            size, nt = _relax_edges(
                i,
                rowdist[i],
                e,
                indptr[i + 1],
                g,
                u,
                v,
                t,
                col_dummy,
                ws,
                (hkeys, hitems, size, nt),
            )
            continue
        j = item
        if done[j] or d > dist[j]:
            continue
        done[j] = True
        if col_dummy[j]:
            if hub_entry < 0:
                hub_dist, hub_entry = d, j
                size, nt = _relax_hub(
                    d,
                    hub_cols,
                    v,
                    t,
                    col_dummy,
                    dist,
                    pred,
                    done,
                    (hkeys, hitems, size),
                    touched,
                    nt,
                )
        elif row4col[j] == FREE:
            return j, d, hub_dist, hub_entry, nt, ns
        elif ns == limit:
            return ABORTED, d, hub_dist, hub_entry, nt, ns
        else:
            scanned[ns] = j
            ns += 1
            i = row4col[j]
            rowdist[i] = d
            size, nt = _relax_edges(
                i, d, indptr[i], indptr[i + 1], g, u, v, t, col_dummy, ws, (hkeys, hitems, size, nt)
            )
    return -1, np.inf, hub_dist, hub_entry, nt, ns


@nb.njit(cache=True)
def _augment(r, end, hub_entry, t_new, st, pred):  # type: ignore[no-untyped-def]
    """Flip the matching along the path that ends at column ``end``."""
    v, col_dummy, row4col, col4row = st[1], st[3], st[4], st[5]
    j = end
    while True:
        p = pred[j]
        if p == DUMMY:  # a dummy row moves to j and frees the column it held
            col_dummy[j] = True
            row4col[j] = DUMMY
            j = hub_entry
            col_dummy[j] = False
            v[j] = t_new
            continue
        old = col4row[p]
        col4row[p] = j
        row4col[j] = p
        if p == r:
            return
        j = old


@nb.njit(cache=True)
def augment_rows(free_rows, g, st, limit):  # type: ignore[no-untyped-def]
    """Match every row of ``free_rows`` (in order); return how many could not be matched.

    A search that would scan ``limit`` columns is given up and its row left free for later; the
    return value is then ``ABORTED`` (see :mod:`.reverse_lap` for what to do instead).

    ``g`` is (indptr, indices, costs, erow, skey, hub_cols, ready): a row's edges are sorted by
    ``skey`` where ``ready`` says so, and sorted on first use otherwise (see
    :func:`_relax_edges`); ``st`` is (u, v, tval, col_dummy, row4col, col4row) and is updated in
    place.
    """
    u, v, tval, row4col = st[0], st[1], st[2], st[4]
    m = len(v)
    cap = 2 * len(g[1]) + len(g[5]) + len(u) + 2
    dist = np.full(m, np.inf)
    pred = np.full(m, FREE, dtype=np.int64)
    done = np.zeros(m, dtype=np.bool_)
    ws = (
        dist,
        pred,
        done,
        np.empty(cap),
        np.empty(cap, dtype=np.int64),
        np.empty(m, dtype=np.int64),
        np.empty(m, dtype=np.int64),
        np.empty(len(u)),
    )
    failed, aborted = 0, False
    for r in free_rows:
        end, dend, hub_dist, hub_entry, nt, ns = _search(r, g, st, ws, limit)
        if end == ABORTED:
            aborted = True
        elif end < 0:
            failed += 1
        else:
            scanned = ws[6]
            for s in range(ns):
                j = scanned[s]
                shift = dend - dist[j]
                v[j] -= shift
                u[row4col[j]] += shift
            u[r] += dend
            t_new = tval[0] - (dend - hub_dist) if hub_entry >= 0 else tval[0]
            _augment(r, end, hub_entry, t_new, st, pred)
            tval[0] = t_new
        touched = ws[5]
        for s in range(nt):
            dist[touched[s]] = np.inf
            done[touched[s]] = False
            pred[touched[s]] = FREE
    return ABORTED if aborted else failed
