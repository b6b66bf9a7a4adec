"""Augmenting row reduction: a zero-margin auction that refines the starting potentials.

Interpolated potentials leave many points wanting the same node. Resolving those conflicts one
Dijkstra search at a time is slow, while bids settle them locally: an unmatched point takes its
best node ``j1`` and lowers that node's potential by the margin ``w2 - w1`` over its second best,
so that the point is indifferent between the two and the previous holder is pushed out
(Jonker & Volgenant's augmenting row reduction). Lowering a potential only raises other reduced
costs, so every matched edge stays tight and every edge feasible: the state handed to the
shortest augmenting paths is exactly dual feasible. Ties can make bids cycle, so the auction runs
against a bid budget and leaves the rest to the exact solve. Dummy-held columns take no bids.

On a full lattice the exact phase starts instead from the scaled auction's own matching
(:func:`match_tight`), whose free nodes lie next to the free points.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _best_two(i, indptr, indices, costs, v, t, col_dummy):  # type: ignore[no-untyped-def]
    """Best and second-best ``c_ij - v_j`` over row ``i``'s edges, and their columns."""
    w1, w2, j1, j2 = np.inf, np.inf, -1, -1
    for e in range(indptr[i], indptr[i + 1]):
        j = indices[e]
        w = costs[e] - (t if col_dummy[j] else v[j])
        if w < w1:
            w1, w2, j1, j2 = w, w1, j, j1
        elif w < w2:
            w2, j2 = w, j
    return w1, w2, j1, j2


@nb.njit(cache=True)
def row_reduction(free_rows, g, st, budget):  # type: ignore[no-untyped-def]
    """Bid for ``free_rows`` (FIFO, displaced rows re-queued) until done or ``budget`` bids.

    ``g`` is (indptr, indices, costs) and ``st`` is (u, v, t, col_dummy, row4col, col4row); the
    arrays are updated in place. Returns the number of bids made.
    """
    indptr, indices, costs = g
    u, v, t, col_dummy, row4col, col4row = st
    queue = np.empty(len(free_rows) + budget + 1, dtype=np.int64)
    queue[: len(free_rows)] = free_rows
    head, tail = 0, len(free_rows)
    bids = 0
    while head < tail and bids < budget:
        i = queue[head]
        head += 1
        w1, w2, j1, j2 = _best_two(i, indptr, indices, costs, v, t, col_dummy)
        if j1 < 0 or col_dummy[j1] or w2 == np.inf:
            continue  # the exact solve handles rows that want a dummy-held column
        if w1 < w2:
            v[j1] -= w2 - w1
        elif row4col[j1] >= 0:
            if col_dummy[j2]:
                continue
            j1 = j2  # a tie: take the other column rather than bid against a holder for nothing
        u[i] = w2
        old = row4col[j1]
        row4col[j1] = i
        col4row[i] = j1
        bids += 1
        if old >= 0:
            col4row[old] = -1
            queue[tail] = old
            tail += 1
    return bids


@nb.njit(cache=True)
def match_tight(owner, g, u, v, row4col, col4row):  # type: ignore[no-untyped-def]
    """Match each point to its auction node where that edge attains the point's ``u``.

    ``owner`` (M,) is the auction's row of each node; ``g`` is (indptr, indices, costs). The
    auction leaves every point within its margin of its best node; the pairs that are exactly
    tight under ``u = min_j c_ij - v_j`` satisfy complementary slackness and are kept, so the
    free points lie next to free nodes (their own auction nodes) and their paths are short.
    """
    indptr, indices, costs = g
    for j in range(len(owner)):
        i = owner[j]
        if i < 0 or i >= len(u):
            continue
        for e in range(indptr[i], indptr[i + 1]):
            if indices[e] == j:
                if costs[e] - v[j] <= u[i]:
                    row4col[j] = i
                    col4row[i] = j
                break
