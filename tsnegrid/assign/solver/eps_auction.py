"""An epsilon-scaling forward auction that moves the starting potentials most of the way.

Potentials interpolated from the coarse level are off by a few squared node spacings over large
areas. Shortest augmenting paths would correct that one long search at a time; an auction does
it with local bids (each unmatched point takes its best node and lowers that node's potential by
its margin over the second best plus ``eps``), so a correction travels as a chain of bids. The
margin shrinks by ``factor`` per phase; a phase stops at a bid budget (bids can stall where a
region lacks candidate edges), and a phase before the last also stops when its last few waiting
rows stop clearing fast. Only the potentials are kept: the exact solve starts from them.

The waiting rows bid in rounds, each round's bids computed together on numba's threads and then
placed in queue order (see :func:`_phase`), so that the bids, the auction's costliest part, use
every core while the result stays that of one fixed sequence.

The ``M - n`` zero-cost dummy rows bid too, for the nodes of highest potential (found with a
lazy max-heap), so that the empty cells end up at the top potential level, as optimality asks.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from tsnegrid.assign.solver.pyramid import _heap_pop, _heap_push
from tsnegrid.runtime.prefetch import LINE_FLOATS, prefetch_at
from tsnegrid.runtime.workers import numba_threads

TAIL_MIN = 16  # a phase's tail (see scaled_auction's tail_share) has at least these rows
PARALLEL_ROUND = 64  # rounds of fewer bids are computed on the calling thread alone
AHEAD = 4  # rows ahead whose edges a thread of a round asks for (see _round_bids)


@nb.njit(cache=True)
def _top_valid(hkeys, hitems, size, v):  # type: ignore[no-untyped-def]
    """Bring the top entry up to date; return the heap size.

    Potentials only decrease, so an entry whose potential changed since it was pushed is re-pushed
    with its current value, which sinks it to its place (a lazy decrease-key).
    """
    while size > 0 and -hkeys[0] != v[hitems[0]]:
        j = hitems[0]
        size = _heap_pop(hkeys, hitems, size)
        size = _heap_push(hkeys, hitems, size, -v[j], j)
    return size


@nb.njit(cache=True, nogil=True)
def _row_bid(i, g, v, eps):  # type: ignore[no-untyped-def]
    """Real row ``i``'s best column and the amount to lower its potential by; (-1, 0) for none."""
    indptr, indices, costs = g
    w1, w2, j1 = np.inf, np.inf, -1
    for e in range(indptr[i], indptr[i + 1]):
        w = costs[e] - v[indices[e]]
        if w < w1:
            w1, w2, j1 = w, w1, indices[e]
        elif w < w2:
            w2 = w
    return j1, min(w2 - w1, 1.0) + eps  # one-edge rows bid a bounded step


@nb.njit(cache=True)
def _bid(i, n, g, v, eps, heap):  # type: ignore[no-untyped-def]
    """Row ``i``'s best column, the amount to lower its potential by and the heap's size."""
    if i >= n:  # a dummy row: value -v_j for every column
        hkeys, hitems, size = heap
        size = _top_valid(hkeys, hitems, size, v)
        j1 = hitems[0]
        v1 = v[j1]
        size = _heap_pop(hkeys, hitems, size)
        size = _top_valid(hkeys, hitems, size, v)
        v2 = v[hitems[0]] if size > 0 else v1 - 1.0  # a single node: bid a bounded step
        return j1, v1 - v2 + eps, size
    j1, step = _row_bid(i, g, v, eps)
    return j1, step, heap[2]


@nb.njit(cache=True, inline="always")
def _ask_for_edges(i, n, g):  # type: ignore[no-untyped-def]
    """Ask for the memory of real row ``i``'s edges (see :mod:`tsnegrid.runtime.prefetch`)."""
    if i < n:
        indptr, indices, costs = g
        for e in range(indptr[i], indptr[i + 1], LINE_FLOATS):
            prefetch_at(indices, e)
            prefetch_at(costs, e)


@nb.njit(cache=True, parallel=True)
def _round_bids(rows, n, g, v, eps, bid_col, bid_step):  # type: ignore[no-untyped-def]
    """Every real row's bid under the potentials as they stand (dummy rows: column -2).

    The waiting rows lie anywhere in the graph's 55 MB of edges (at 70,000 points), so each bid
    waited on memory: each thread asks for the edges of the row ``AHEAD`` on first.
    """
    for a in nb.prange(len(rows)):
        i = rows[a]
        if a + AHEAD < len(rows):
            _ask_for_edges(rows[a + AHEAD], n, g)
        if i < n:
            bid_col[a], bid_step[a] = _row_bid(i, g, v, eps)
        else:
            bid_col[a] = -2


@nb.njit(cache=True)
def _keep(i, n, g, v, vmax, eps, col4row):  # type: ignore[no-untyped-def]
    """Whether row ``i``'s column is still within ``eps`` of its best (eps-slackness)."""
    j = col4row[i]
    if j < 0:
        return False
    if i >= n:
        return v[j] >= vmax - eps
    indptr, indices, costs = g
    best, mine = np.inf, np.inf
    for e in range(indptr[i], indptr[i + 1]):
        w = costs[e] - v[indices[e]]
        best = min(best, w)
        if indices[e] == j:
            mine = w
    return mine <= best + eps


@nb.njit(cache=True, parallel=True)
def _unhappy(n, g, v, vmax, eps, col4row, out):  # type: ignore[no-untyped-def]
    """``out[i]``: whether row ``i`` must bid again at margin ``eps`` (see :func:`_keep`)."""
    for i in nb.prange(len(col4row)):
        out[i] = not _keep(i, n, g, v, vmax, eps, col4row)


@nb.njit(cache=True)
def _phase(g, v, eps, budget, row4col, col4row, tail_stop):  # type: ignore[no-untyped-def]
    """One auction at margin ``eps``, keeping assignments that still satisfy eps-slackness.

    The waiting rows bid in rounds: all of a round's bids are computed together (on numba's
    threads), then placed in queue order; a bid whose column an earlier bid of the same round
    lowered is computed again on the spot, as a Gauss-Seidel auction would. A bid placed as
    computed still leaves its row within ``eps`` of its best column: the other columns'
    potentials only fell since. The rounds do not depend on the thread count, nor do the results.
    The memory of a round's first rows' edges is asked for together before any bid is made.
    """
    n, n_all, m = len(g[0]) - 1, len(col4row), len(v)
    queue = np.empty(n_all + budget + 1, dtype=np.int64)
    hkeys = np.empty(m + 1)
    hitems = np.empty(m + 1, dtype=np.int64)
    size = 0
    if n_all > n:
        for j in range(m):
            size = _heap_push(hkeys, hitems, size, -v[j], j)
    unhappy = np.empty(n_all, dtype=np.bool_)
    _unhappy(n, g, v, v.max(), eps, col4row, unhappy)
    tail = 0
    for i in range(n_all):
        if unhappy[i]:
            if col4row[i] >= 0:
                row4col[col4row[i]] = -1
                col4row[i] = -1
            queue[tail] = i
            tail += 1
    bid_col = np.empty(n_all, dtype=np.int64)
    bid_step = np.empty(n_all)
    lowered_in = np.zeros(m, dtype=np.int64)  # the round that last lowered each column
    rnd = 0
    head = 0
    # A phase that stops shrinking its queue is in a price war; the exact solve ends it faster.
    # With ``tail_stop`` rows or fewer waiting, it stops once the queue no longer halves.
    check, every, waiting = 0, max(64, n_all), tail
    while head < tail and head < budget:
        if head >= check + every:
            left = tail - head
            if left >= waiting or (left <= tail_stop and 2 * left > waiting):
                break
            check, waiting = head, tail - head
        stop = min(tail, budget)
        for a in range(head, min(stop, head + PARALLEL_ROUND)):  # the round's first rows
            _ask_for_edges(queue[a], n, g)
        if stop - head >= PARALLEL_ROUND:
            _round_bids(queue[head:stop], n, g, v, eps, bid_col, bid_step)
        else:  # the same bids, without waking the other threads for a few rows
            for a in range(stop - head):
                i = queue[head + a]
                bid_col[a], bid_step[a] = _row_bid(i, g, v, eps) if i < n else (-2, 0.0)
        rnd += 1
        for a in range(stop - head):
            i = queue[head + a]
            j, step = bid_col[a], bid_step[a]
            if j == -2 or (j >= 0 and lowered_in[j] == rnd):
                j, step, size = _bid(i, n, g, v, eps, (hkeys, hitems, size))
            if j < 0:
                continue
            v[j] -= step
            lowered_in[j] = rnd
            if i >= n:  # the bid column left the heap in _bid
                size = _heap_push(hkeys, hitems, size, -v[j], j)
            old = row4col[j]
            row4col[j] = i
            col4row[i] = j
            if old >= 0:
                col4row[old] = -1
                queue[tail] = old
                tail += 1
        head = stop


def scaled_auction(  # type: ignore[no-untyped-def]
    indptr, indices, costs, v, eps0, eps_min, budget, factor=4.0, tail_share=0.0, threads=1
):
    """Refine ``v`` (``(M,)``) in place at margins ``eps0, eps0 / factor, ...`` to ``eps_min``.

    ``indptr, indices, costs`` is the CSR candidate graph of the ``n`` points; ``budget`` bounds
    the bids of one phase. A phase before the last stops once at most ``tail_share`` of the rows
    (and at least ``TAIL_MIN``; none for 0) wait and the queue did not halve over the last
    ``n`` bids: the last few rows of a phase need long chains of bids across the lattice (the
    nodes still free lie together, in a region short of points far from them), often most of
    the phase's bids, and the next phase serves them anyway. The last phase goes on (its
    leftovers need long exact searches).
    Each round's bids are computed on ``threads`` threads (see :func:`_phase`); the result is
    the same for any number.
    Returns (M,) the row holding each column at the end (-1 for none; ``n`` and above are
    dummy rows).
    """
    with numba_threads(threads):
        return _scaled_auction(indptr, indices, costs, v, eps0, eps_min, budget, factor, tail_share)


@nb.njit(cache=True)
def _scaled_auction(indptr, indices, costs, v, eps0, eps_min, budget, factor, tail_share):  # type: ignore[no-untyped-def]
    m = len(v)
    n_all = max(m, len(indptr) - 1)
    row4col = np.full(m, -1, dtype=np.int64)
    col4row = np.full(n_all, -1, dtype=np.int64)
    eps = eps0
    tail_stop = max(TAIL_MIN, int(tail_share * n_all)) if tail_share > 0 else 0
    while eps >= eps_min:
        last = eps / factor < eps_min
        _phase((indptr, indices, costs), v, eps, budget, row4col, col4row, 0 if last else tail_stop)
        eps /= factor
    return row4col
