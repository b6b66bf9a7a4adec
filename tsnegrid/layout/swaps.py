"""Pair swaps that lower a rank-weighted neighbour energy, the linearised DPQ_16 (numba).

For an image at a cell, its *sequence* is the feature distances to the images in its 4 direct
neighbour cells, sorted, then those to its 4 diagonal neighbours, sorted (empty and masked cells
are skipped, so ranks shift up as in DPQ). Its energy is ``Σ_r weights[r] * sequence[r]``. DPQ_16
is a smooth increasing function of the mean sequences over all ranks; its derivative puts
almost all of its weight on these first 8 ranks (``RANK_WEIGHTS``), so lowering the total energy
raises DPQ_16. A swap of the contents of two cells changes the energy of those two anchors and
of their neighbours only; the kernel keeps each cell's energy and its distances to the images
within ``w`` rows and columns (the *window*, :func:`init_window`: every distance a swap with a
partner within ``w - 1``, or ``w - 2`` with 20 neighbour slots, can need, so a candidate swap
is priced from tables), and applies a swap only when it lowers the total strictly, so the
energy never rises.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from tsnegrid.quality.networks import sort4, sort8
from tsnegrid.runtime.workers import run_ranges

#: -d DPQ_16 / d(mean distance at rank r), relative to rank 1, on Fashion-MNIST and colours.
RANK_WEIGHTS = np.array(
    [
        1.0,
        0.34,
        0.16,
        0.11,
        0.09,
        0.07,
        0.055,
        0.045,
        0.04,
        0.033,
        0.028,
        0.024,
        0.021,
        0.018,
        0.016,
        0.014,
        0.012,
        0.011,
        0.01,
        0.009,
    ]
)
_DR = np.array([-1, 1, 0, 0, -1, -1, 1, 1, -2, 2, 0, 0, -2, -2, -1, -1, 1, 1, 2, 2], dtype=np.int64)
_DC = np.array([0, 0, -1, 1, -1, 1, -1, 1, 0, 0, -2, 2, -1, 1, -2, 2, -2, 2, -1, 1], dtype=np.int64)
_RING_END = np.array([4, 8, 12, 20], dtype=np.int64)
_OPPOSITE = np.array(
    [1, 0, 3, 2, 7, 6, 5, 4, 9, 8, 11, 10, 19, 18, 17, 16, 15, 14, 13, 12], dtype=np.int64
)


@numba.njit(cache=True, nogil=True)
def _distance(features, a, b):  # type: ignore[no-untyped-def]
    s = 0.0
    for q in range(features.shape[1]):
        t = features[a, q] - features[b, q]
        s += t * t
    return np.sqrt(s)


@numba.njit(cache=True, nogil=True)
def neighbour_table(rows, cols, usable, ns):  # type: ignore[no-untyped-def]
    """(rows*cols, ns) neighbour cell in each slot (-1 off the grid or masked)."""
    nbr = np.full((rows * cols, ns), -1, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            for s in range(ns):
                rr, cc = r + _DR[s], c + _DC[s]
                if 0 <= rr < rows and 0 <= cc < cols and usable[rr * cols + cc]:
                    nbr[r * cols + c, s] = rr * cols + cc
    return nbr


@numba.njit(cache=True, nogil=True)
def _energy(dist, present, weights, ns, buf):  # type: ignore[no-untyped-def]
    """Rank-weighted sum of the present distances, sorted within each ring of equal grid
    distance, rings in order of grid distance; ``buf`` is work space of 8."""
    total = 0.0
    rank = 0
    lo = 0
    for ring in range(_RING_END.size):
        hi = _RING_END[ring]
        if hi > ns:
            break
        m = 0
        for s in range(lo, hi):
            if present[s]:
                buf[m] = dist[s]
                m += 1
        # A branch-free network sorts the ring (the same order as an insertion sort, without
        # its mispredicted comparisons).
        if hi - lo == 4:
            sort4(buf, 0, m)
        else:
            sort8(buf, 0, m)
        for t in range(m):
            total += weights[rank] * buf[t]
            rank += 1
        lo = hi
    return total


@numba.njit(cache=True, nogil=True)
def init_state(item_at, nbr, near, w, weights):  # type: ignore[no-untyped-def]
    """Each cell's energy (0 for cells without an image), from the window table ``near`` of
    :func:`init_window`."""
    n_cells = item_at.size
    ns = nbr.shape[1]
    energy = np.zeros(n_cells)
    d8 = np.zeros(ns)
    present = np.zeros(ns, dtype=np.bool_)
    buf = np.empty(8)
    for cell in range(n_cells):
        if item_at[cell] < 0:
            continue
        for s in range(ns):
            t = nbr[cell, s]
            present[s] = t >= 0 and item_at[t] >= 0
            d8[s] = near[cell, _slot(s, w)]
        energy[cell] = _energy(d8, present, weights, ns, buf)
    return energy


@numba.njit(cache=True, nogil=True)
def _slot(s, w):  # type: ignore[no-untyped-def]
    """The window slot (see :func:`init_window`) of neighbour slot ``s``."""
    return (_DR[s] + w) * (2 * w + 1) + _DC[s] + w


def init_window(  # type: ignore[no-untyped-def]
    features, item_at, rows, cols, w, pool: ThreadPoolExecutor | None = None, parts: int = 1
):
    """(rows*cols, (2w+1)²) distance from each cell's image to the image at each offset
    (dr, dc) within ``w`` (slot ``(dr + w) * (2w + 1) + dc + w``); 0 where either is missing.

    Each pair is computed once, from the earlier cell in row-major order, which writes both of
    its slots; every slot has one writer, so ``parts`` ranges of cells fill the table on
    ``pool`` with the same values as one."""
    near = np.zeros((rows * cols, (2 * w + 1) ** 2))
    run_ranges(pool, rows * cols, parts, _window_cells, features, item_at, near, rows, cols, w)
    return near


@numba.njit(cache=True, nogil=True)
def _window_cells(features, item_at, near, rows, cols, w, lo, hi):  # type: ignore[no-untyped-def]
    """:func:`init_window`'s pairs from cells ``lo:hi`` to the offsets after them."""
    for cell in range(lo, hi):
        _refresh_window(features, item_at, near, rows, cols, w, cell, True)


@numba.njit(cache=True, nogil=True)
def _refresh_window(features, item_at, near, rows, cols, w, cell, forward=False):  # type: ignore[no-untyped-def]
    """Recompute the window distances of ``cell``, in its row and in its partners' rows (only
    to the offsets after it in row-major order when ``forward``)."""
    side = 2 * w + 1
    r0, c0 = cell // cols, cell % cols
    a = item_at[cell]
    for dr in range(0 if forward else -w, w + 1):
        r = r0 + dr
        if r < 0 or r >= rows:
            continue
        for dc in range(-w, w + 1):
            c = c0 + dc
            if c < 0 or c >= cols or (dr == 0 and dc <= 0 if forward else dr == 0 and dc == 0):
                continue
            t = r * cols + c
            o = item_at[t]
            v = _distance(features, a, o) if (a >= 0 and o >= 0) else 0.0
            near[cell, (dr + w) * side + dc + w] = v
            near[t, (w - dr) * side + w - dc] = v


@numba.njit(cache=True, nogil=True)
def _swap_delta(  # type: ignore[no-untyped-def]
    item_at, nbr, near, w, energy, weights, ca, cb, dra, dca, da, db, touched, new_e, work
):
    """Energy change of swapping the contents of cells ca and cb; fills the touched anchors'
    new energies (``touched[:m]``, ``new_e[:m]``) and the moved images' distances ``da`` (the
    image now at ca, to ca's neighbours) and ``db``; ca sits ``dra`` rows and ``dca`` columns
    from cb. The distances come from the window table ``near`` (see :func:`init_window`).
    ``work`` is scratch: (ns,) floats, (ns,) bools and 8 floats. Returns (delta, m)."""
    a, b = item_at[ca], item_at[cb]
    ns = nbr.shape[1]
    side = 2 * w + 1
    for s in range(ns):  # the image moving into ca is b, into cb is a
        t = nbr[ca, s]
        o = a if t == cb else (item_at[t] if t >= 0 else -1)
        if b >= 0 and o >= 0:  # b (at cb) to the image at ca + slot s (a, at ca, if that is cb)
            r, c = (dra, dca) if t == cb else (dra + _DR[s], dca + _DC[s])
            da[s] = near[cb, (r + w) * side + c + w]
        else:
            da[s] = 0.0
        t = nbr[cb, s]
        o = b if t == ca else (item_at[t] if t >= 0 else -1)
        if a >= 0 and o >= 0:
            r, c = (-dra, -dca) if t == ca else (_DR[s] - dra, _DC[s] - dca)
            db[s] = near[ca, (r + w) * side + c + w]
        else:
            db[s] = 0.0
    m = 0
    delta = 0.0
    d8, present, buf = work
    for g in range(2 + 2 * ns):
        c = ca if g == 0 else (cb if g == 1 else nbr[ca if g < 2 + ns else cb, (g - 2) % ns])
        if c < 0:
            continue
        dup = False
        for u in range(m):
            if touched[u] == c:
                dup = True
        if dup:
            continue
        item = b if c == ca else (a if c == cb else item_at[c])
        e = 0.0
        if item >= 0:
            for s in range(ns):
                t = nbr[c, s]
                if c == ca:
                    d8[s] = da[s]
                    o = a if t == cb else (item_at[t] if t >= 0 else -1)
                elif c == cb:
                    d8[s] = db[s]
                    o = b if t == ca else (item_at[t] if t >= 0 else -1)
                elif t == ca:
                    o = b
                    d8[s] = da[_OPPOSITE[s]]
                elif t == cb:
                    o = a
                    d8[s] = db[_OPPOSITE[s]]
                else:
                    o = item_at[t] if t >= 0 else -1
                    d8[s] = near[c, _slot(s, w)]
                present[s] = o >= 0
            e = _energy(d8, present, weights, ns, buf)
        touched[m] = c
        new_e[m] = e
        delta += e - energy[c]
        m += 1
    return delta, m


@numba.njit(cache=True, nogil=True)
def _apply(features, item_at, near, rows, cols, w, energy, ca, cb, touched, new_e, m):  # type: ignore[no-untyped-def]
    """Swap the contents of cells ca and cb: the touched anchors take their new energies, and
    both cells' window distances are computed afresh."""
    item_at[ca], item_at[cb] = item_at[cb], item_at[ca]
    for u in range(m):
        energy[touched[u]] = new_e[u]
    _refresh_window(features, item_at, near, rows, cols, w, ca)
    _refresh_window(features, item_at, near, rows, cols, w, cb)


@numba.njit(cache=True, nogil=True)
def swap_sweep(  # type: ignore[no-untyped-def]
    features,
    item_at,
    usable,
    nbr,
    near,
    w,
    energy,
    weights,
    rows,
    cols,
    reach,
    active,
    row_lo,
    row_hi,
):
    """One sweep over the active cells of rows ``row_lo..row_hi-1`` in order: each image takes
    the best strictly improving swap with a usable cell within ``reach`` rows and columns.

    It reads cells up to ``reach + 2`` rows beyond those rows and writes up to ``2 reach + 2``
    rows beyond, so bands of rows further apart than that may be swept concurrently. ``near``
    is the window table of :func:`init_window`, of a ``w`` at least ``reach`` plus the ring
    of the ``nbr`` slots (1 for 8 slots, 2 for 20); it is kept up to date.

    ``active`` (rows*cols,) marks the cells worth a look: a cell is cleared once looked at and
    set again when a swap changes a cell near enough to change its swaps' gains. Returns
    (swaps made, energy change).
    """
    span = reach + 2  # a swap's gain depends on cells up to 2 beyond the pair
    ns = nbr.shape[1]
    da = np.empty(ns)
    db = np.empty(ns)
    touched = np.empty(2 + 2 * ns, dtype=np.int64)
    new_e = np.empty(2 + 2 * ns)
    best_touched = np.empty(2 + 2 * ns, dtype=np.int64)
    best_new = np.empty(2 + 2 * ns)
    work = (np.empty(ns), np.zeros(ns, dtype=np.bool_), np.empty(8))
    swaps = 0
    gained = 0.0
    for ca in range(row_lo * cols, row_hi * cols):
        if not active[ca]:
            continue
        active[ca] = False
        if item_at[ca] < 0:
            continue
        r, c = ca // cols, ca % cols
        best, best_cb, best_m = -1e-12, -1, 0
        for rr in range(max(0, r - reach), min(rows, r + reach + 1)):
            for cc in range(max(0, c - reach), min(cols, c + reach + 1)):
                cb = rr * cols + cc
                if cb == ca or not usable[cb]:
                    continue
                delta, m = _swap_delta(
                    item_at,
                    nbr,
                    near,
                    w,
                    energy,
                    weights,
                    ca,
                    cb,
                    r - rr,
                    c - cc,
                    da,
                    db,
                    touched,
                    new_e,
                    work,
                )
                if delta < best:
                    best, best_cb, best_m = delta, cb, m
                    best_touched[:m] = touched[:m]
                    best_new[:m] = new_e[:m]
        if best_cb >= 0:
            _apply(
                features,
                item_at,
                near,
                rows,
                cols,
                w,
                energy,
                ca,
                best_cb,
                best_touched,
                best_new,
                best_m,
            )
            swaps += 1
            gained += best
            for cell in (ca, best_cb):
                r0, c0 = cell // cols, cell % cols
                for rr in range(max(0, r0 - span), min(rows, r0 + span + 1)):
                    for cc in range(max(0, c0 - span), min(cols, c0 + span + 1)):
                        active[rr * cols + cc] = True
    return swaps, gained
