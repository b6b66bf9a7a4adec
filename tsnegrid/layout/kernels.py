"""numba kernels of the layout polish: the smoothed map and the small exact assignments.

Cells hold ``item_at[cell]``: a point index, ``EMPTY`` (a usable cell without an image) or
``UNUSABLE`` (masked out). Every kernel here is deterministic and touches only the cells it is
given, so disjoint tiles may run on any number of threads with the same result.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numpy.typing import NDArray

from tsnegrid.runtime.prefetch import LINE_BYTES, LINE_FLOATS, prefetch
from tsnegrid.runtime.workers import run_ranges

EMPTY = -1
UNUSABLE = -2
MAX_BIDS = 10_000  # bids per cell at most in an auction (it needs tens)
AHEAD = 8  # cells ahead whose feature row the box filter asks for (see _smooth_lines)


def smooth_map(
    features: NDArray[np.float64],
    item_at: NDArray[np.int64],
    rows: int,
    cols: int,
    radius: int,
    hole_weight: float,
    previous: NDArray[np.float64],
    out: NDArray[np.float64],
    pool: ThreadPoolExecutor | None = None,
    threads: int = 1,
) -> NDArray[np.float64]:
    """Box-filtered map of the features on the grid, normalised by the filtered weights.

    A cell's value is the weighted mean over the ``(2 radius + 1)²`` window around it (clipped
    at the border) of the cells' vectors: an image's features with weight 1, an empty cell's
    ``previous`` smoothed value with weight ``hole_weight``, a masked cell nothing. ``out`` is
    (rows*cols, d) or wider (it may be ``previous``); cells whose window weighs nothing get
    the mean of the features. The dimensions are split into ``threads`` ranges of whole cache
    lines, filtered on the worker threads of ``pool`` when given: every value is the same sum
    in the same order whatever the split.

    The passes call it with ``features``, ``previous`` and ``out`` from :func:`line_rows`
    (rows of whole cache lines, zero beyond d: no two threads write one line, and the kernel
    runs on whole lines); other arrays are copied into such rows first. Returns the
    (rows*cols,) filtered weights.
    """
    weights = _window_weights(item_at, rows, cols, radius, hole_weight)
    d = features.shape[1]
    if not (d % LINE_FLOATS == 0 and previous.shape[1] == out.shape[1] == d):
        result = padded(previous[:, :d]) if previous is out else line_rows(len(out), d)
        before = result if previous is out else padded(previous[:, :d])
        wide = padded(features)
        smooth_map(wide, item_at, rows, cols, radius, hole_weight, before, result, pool, threads)
        out[:, :d] = result[:, :d]
        return weights
    args = (features, item_at, rows, cols, radius, hole_weight, previous, out, weights)
    lines = d // LINE_FLOATS
    run_ranges(pool, lines, min(threads, lines), _smooth_lines, *args)
    return weights


def line_rows(count: int, d: int) -> NDArray[np.float64]:
    """A zeroed (count, d rounded up to a cache line) array whose rows start on cache lines,
    for :func:`smooth_map` (the values beyond d stay 0 there).

    Its threads write the dimensions of whole cache lines, so no two of them write the same
    line: rows of 100 values (800 bytes) shared a line at every other cell, and the threads
    then waited on each other.
    """
    width = -(-d // LINE_FLOATS) * LINE_FLOATS
    buf = np.zeros(count * width + LINE_FLOATS)
    skip = (-buf.ctypes.data % LINE_BYTES) // buf.itemsize
    return buf[skip : skip + count * width].reshape(count, width)


def padded(values: NDArray[np.floating]) -> NDArray[np.float64]:
    """``values`` (n, d) copied into :func:`line_rows` (n, d rounded up to a cache line)."""
    out = line_rows(len(values), values.shape[1])
    out[:, : values.shape[1]] = values
    return out


@numba.njit(cache=True, nogil=True)
def _window_weights(item_at, rows, cols, radius, hole_weight):  # type: ignore[no-untyped-def]
    """(rows*cols,) the summed weights of each cell's window (see :func:`smooth_map`)."""
    # Prefix sums over (rows+1, cols+1): window sums in O(1) per cell.
    wacc = np.zeros((rows + 1, cols + 1))
    for r in range(rows):
        for c in range(cols):
            item = item_at[r * cols + c]
            w = 0.0
            if item >= 0:
                w = 1.0
            elif item == EMPTY:
                w = hole_weight
            wacc[r + 1, c + 1] = wacc[r, c + 1] + wacc[r + 1, c] - wacc[r, c] + w
    weights = np.zeros(rows * cols)
    for r in range(rows):
        r0, r1 = max(0, r - radius), min(rows, r + radius + 1)
        for c in range(cols):
            c0, c1 = max(0, c - radius), min(cols, c + radius + 1)
            weights[r * cols + c] = wacc[r1, c1] - wacc[r0, c1] - wacc[r1, c0] + wacc[r0, c0]
    return weights


@numba.njit(cache=True, nogil=True)
def _smooth_lines(  # type: ignore[no-untyped-def]
    features, item_at, rows, cols, radius, hole_weight, previous, out, weights, l0, l1
):
    """Cache lines ``l0:l1`` (dimensions ``8 l0 : 8 l1``) of :func:`smooth_map` into ``out``.

    The window sums come from 2-D prefix sums of the cell vectors, taken row by row, and output
    row ``r`` needs only two rows of them (``r - radius`` and ``r + radius + 1``): the rows
    are kept in a ring of ``2 radius + 2``, which stays in cache, instead of all of them
    (56 MB at 265 x 265 cells and 100 dimensions, written and read again at every pass: the
    threads then waited on memory). The sums are the same, in the same order. Output row ``r``
    is written once the grid's rows up to ``r + radius`` are read, so ``out`` may be
    ``previous``.

    Every loop over dimensions runs over a line's 8 at a time: with a count known only at run
    time, half the dimensions took 70% of the time of all of them and the second thread gained
    little (12.1 ms on one thread for 70,000 images, 10-16 ms on two; now 11.7 and 6.9). The
    images' feature rows lie in the images' order, not the cells', so each read would wait on
    memory: the row of the image ``AHEAD`` cells on is asked for first (23.5 ms to 12 ms).
    """
    n_lines, ring = l1 - l0, 2 * radius + 2
    acc = np.zeros((ring, cols + 1, n_lines, LINE_FLOATS))  # prefix row q at q % ring
    mean = np.zeros((n_lines, LINE_FLOATS))
    have_mean = False
    done = 0  # prefix rows 0..done are in the ring
    for r in range(rows):
        r0, r1 = max(0, r - radius), min(rows, r + radius + 1)
        for q in range(done, r1):  # prefix row q + 1, from grid row q
            _prefix_row(features, item_at, cols, q, hole_weight, previous, l0, acc[q % ring],
                        acc[(q + 1) % ring])  # fmt: skip
        done = max(done, r1)
        low, high = acc[r0 % ring], acc[r1 % ring]
        for c in range(cols):
            c0, c1 = max(0, c - radius), min(cols, c + radius + 1)
            cell, w = r * cols + c, weights[r * cols + c]
            if w <= 1e-12 and not have_mean:  # nothing in the window: the features' mean
                for i in range(features.shape[0]):
                    for line in range(n_lines):
                        for k in range(LINE_FLOATS):
                            mean[line, k] += features[i, (l0 + line) * LINE_FLOATS + k]
                mean /= max(1, features.shape[0])
                have_mean = True
            for line in range(n_lines):
                at = (l0 + line) * LINE_FLOATS
                for k in range(LINE_FLOATS):
                    s = high[c1, line, k] - low[c1, line, k] - high[c0, line, k] + low[c0, line, k]
                    out[cell, at + k] = s / w if w > 1e-12 else mean[line, k]


@numba.njit(cache=True, nogil=True)
def _prefix_row(features, item_at, cols, q, hole_weight, previous, l0, lo, hi):  # type: ignore[no-untyped-def]
    """Prefix row ``q + 1`` (``hi``) from prefix row ``q`` (``lo``) and grid row ``q``'s
    cells, in the lines ``l0 : l0 + lo.shape[1]`` (see :func:`_smooth_lines`)."""
    n_lines = lo.shape[1]
    hi[0] = 0.0
    for c in range(cols):
        cell = q * cols + c
        if cell + AHEAD < len(item_at) and item_at[cell + AHEAD] >= 0:
            for line in range(l0, l0 + n_lines):
                prefetch(features, item_at[cell + AHEAD], line * LINE_FLOATS)
        item = item_at[cell]
        if item >= 0:
            for line in range(n_lines):
                at = (l0 + line) * LINE_FLOATS
                for k in range(LINE_FLOATS):
                    v = features[item, at + k]
                    hi[c + 1, line, k] = lo[c + 1, line, k] + hi[c, line, k] - lo[c, line, k] + v
        elif item == EMPTY:
            for line in range(n_lines):
                at = (l0 + line) * LINE_FLOATS
                for k in range(LINE_FLOATS):
                    v = hole_weight * previous[cell, at + k]
                    hi[c + 1, line, k] = lo[c + 1, line, k] + hi[c, line, k] - lo[c, line, k] + v
        else:  # a masked cell adds nothing; the + 0.0 keeps the sums' bits (-0.0 becomes 0.0)
            for line in range(n_lines):
                for k in range(LINE_FLOATS):
                    hi[c + 1, line, k] = lo[c + 1, line, k] + hi[c, line, k] - lo[c, line, k] + 0.0


@numba.njit(cache=True, nogil=True)
def solve_small_lap(cost, k, assign):  # type: ignore[no-untyped-def]
    """Exact minimum-cost assignment of a k x k cost (top-left of ``cost``): row i -> ``assign[i]``.

    Shortest augmenting paths with dual potentials (the Hungarian method in its O(k³) form).
    """
    inf = np.inf
    u = np.zeros(k + 1)
    v = np.zeros(k + 1)
    p = np.zeros(k + 1, dtype=np.int64)  # p[j]: row matched to column j (1-based; 0 none)
    way = np.zeros(k + 1, dtype=np.int64)
    minv = np.empty(k + 1)
    used = np.empty(k + 1, dtype=np.bool_)
    for i in range(1, k + 1):
        p[0] = i
        j0 = 0
        minv[:] = inf
        used[:] = False
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            for j in range(1, k + 1):
                if not used[j]:
                    cur = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(k + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    for j in range(1, k + 1):
        assign[p[j] - 1] = j - 1


@numba.njit(cache=True, nogil=True)
def reassign_tiles(features, smoothed, item_at, tile_cells, tile_sizes, first, last):  # type: ignore[no-untyped-def]
    """Re-assign the items of tiles ``first..last-1`` to their cells by exact small LAPs.

    ``tile_cells[t, :tile_sizes[t]]`` are the usable cells of tile t. The cost of an image at
    a cell is the squared distance of its features to the cell's ``smoothed`` value; an empty
    cell costs nothing anywhere. Changes ``item_at`` in place on the tiles' cells only.
    Returns how many images changed cell.
    """
    kmax = tile_cells.shape[1]
    d = features.shape[1]
    cost = np.empty((kmax, kmax))
    assign = np.empty(kmax, dtype=np.int64)
    items = np.empty(kmax, dtype=np.int64)
    cell_values = np.empty((d, kmax))  # the tile's smoothed values, a column per cell
    sums = np.empty(kmax)
    moved = 0
    for t in range(first, last):
        k = tile_sizes[t]
        if k < 2:
            continue
        n_images = 0
        for i in range(k):
            items[i] = item_at[tile_cells[t, i]]
            if items[i] >= 0:
                n_images += 1
        if n_images == 0 or (n_images == 1 and k == 1):
            continue
        for j in range(k):
            for q in range(d):
                cell_values[q, j] = smoothed[tile_cells[t, j], q]
        for i in range(k):
            item = items[i]
            # Each cell's sum runs over q in order (the same bits as one cell at a time); the
            # cells side by side are independent sums, which the compiler vectorises.
            sums[:k] = 0.0
            if item >= 0:
                for q in range(d):
                    f = features[item, q]
                    for j in range(k):
                        diff = f - cell_values[q, j]
                        sums[j] += diff * diff
            cost[i, :k] = sums[:k]
        solve_small_lap(cost, k, assign)
        for i in range(k):
            if assign[i] != i and items[i] >= 0:
                moved += 1
            item_at[tile_cells[t, assign[i]]] = items[i]
    return moved


@numba.njit(cache=True, nogil=True)
def _auction(cost, k, col_of_row, row_of_col, price, eps, queue, max_bids):  # type: ignore[no-untyped-def]
    """Minimum-cost assignment of a k x k cost by a Gauss-Seidel auction (Bertsekas), warm.

    Starts from the assignment ``col_of_row``/``row_of_col`` and the prices ``price`` (both
    changed in place): rows whose column is more than ``eps`` worse than their best are freed
    and bid in turn (first in, first out). The result is within ``k * eps`` of the optimum.
    Returns False, with the assignment incomplete, after ``max_bids`` bids.
    """
    head, tail, q = 0, 0, k + 1
    for i in range(k):
        j = col_of_row[i]
        best = -np.inf
        for t in range(k):
            best = max(best, -cost[i, t] - price[t])
        if -cost[i, j] - price[j] < best - eps:
            row_of_col[j], col_of_row[i] = -1, -1
            queue[tail], tail = i, (tail + 1) % q
    for _ in range(max_bids):
        if head == tail:
            return True
        i, head = queue[head], (head + 1) % q
        v1, v2, j1 = -np.inf, -np.inf, 0
        for t in range(k):
            v = -cost[i, t] - price[t]
            if v > v1:
                v1, v2, j1 = v, v1, t
            elif v > v2:
                v2 = v
        price[j1] += v1 - v2 + eps
        prev = row_of_col[j1]
        row_of_col[j1], col_of_row[i] = i, j1
        if prev >= 0:
            col_of_row[prev] = -1
            queue[tail], tail = prev, (tail + 1) % q
    return head == tail


@numba.njit(cache=True, nogil=True, fastmath=True)
def _load_tile(features, smoothed, item_at, cells, k, prices, items, col_of_row, price, cost):  # type: ignore[no-untyped-def]
    """A tile's auction: its images (then one dummy row per empty cell) in their cells, the
    cells' prices, and the squared distances of the images to the cells' smoothed values (0
    for the dummies). Returns the number of images."""
    n_images = 0
    for j in range(k):
        if item_at[cells[j]] >= 0:
            items[n_images], col_of_row[n_images] = item_at[cells[j]], j
            n_images += 1
    row = n_images
    for j in range(k):
        price[j] = prices[cells[j]]
        if item_at[cells[j]] < 0:
            col_of_row[row], row = j, row + 1
    d = features.shape[1]
    a, b = np.empty((k, d)), np.empty((k, d))
    norm_b = np.empty(k)
    for j in range(k):
        b[j] = smoothed[cells[j], :d]
        norm_b[j] = (b[j] * b[j]).sum()
    for i in range(n_images):
        a[i] = features[items[i]]
    cost[:k, :k] = 0.0
    for i in range(n_images):
        norm_a = (a[i] * a[i]).sum()
        for j in range(k):
            s = 0.0
            for q in range(d):
                s += a[i, q] * b[j, q]
            cost[i, j] = norm_a + norm_b[j] - 2.0 * s
    return n_images


@numba.njit(cache=True, nogil=True)
def auction_tiles(features, smoothed, item_at, tile_cells, tile_sizes, first, last, prices, eps):  # type: ignore[no-untyped-def]
    """Re-assign the images of tiles ``first..last-1`` to their cells by warm-started auctions.

    As :func:`reassign_tiles` (squared distances to the ``smoothed`` map, empty cells free),
    but for large tiles: each cell keeps its auction price in ``prices`` from pass to pass,
    so that a pass whose map changed little needs few bids. A tile whose auction runs out of
    bids keeps its images where they were. Returns how many tiles did so.
    """
    kmax = tile_cells.shape[1]
    cost = np.empty((kmax, kmax))
    price = np.empty(kmax)
    col_of_row = np.empty(kmax, dtype=np.int64)
    row_of_col = np.empty(kmax, dtype=np.int64)
    items = np.empty(kmax, dtype=np.int64)
    queue = np.empty(kmax + 1, dtype=np.int64)
    stuck = 0
    for t in range(first, last):
        k, cells = tile_sizes[t], tile_cells[t]
        if k < 2:
            continue
        n_images = _load_tile(
            features, smoothed, item_at, cells, k, prices, items, col_of_row, price, cost
        )
        for i in range(k):
            row_of_col[col_of_row[i]] = i
        if n_images == 0:
            continue
        if not _auction(cost, k, col_of_row, row_of_col, price, eps, queue, MAX_BIDS * k):
            stuck += 1
            continue
        for j in range(k):
            prices[cells[j]] = price[j]
            i = row_of_col[j]
            item_at[cells[j]] = items[i] if i < n_images else EMPTY
    return stuck
