"""Distance preservation quality (DPQ_p) of a grid layout, exact or estimated from anchors.

Barthel, Hezel, Jung, Schall, "Improved Evaluation and Generation of Grid Layouts using Distance
Preservation Quality and Linear Assignment Sorting", Computer Graphics Forum 42(1), 2023.

For N items on a grid (empty cells excluded) with feature distances ``d(i, j)``:

* ``D̄ = 1/(N(N-1)) Σ_{i≠j} d(i, j)``, the mean distance;
* for each anchor ``i``, ``d_i^2D(1..N-1)`` are the distances ``d(i, j)`` of the other items in
  the order of their squared grid distance ``(r_i - r_j)² + (c_i - c_j)²`` from ``i`` (grid
  distance counted in cells along each axis; ties broken by the smaller ``d``), and
  ``d_i^HD(1..N-1)`` the same distances sorted by ``d`` itself;
* ``D_k = 1/N Σ_i (1/k) Σ_{j≤k} d_i(j)`` for each sequence, ``ΔD_k = max(0, (D̄ - D_k) / D̄)``;
* ``DPQ_p = ||ΔD^2D||_p / ||ΔD^HD||_p`` over ``k = 1..N-1``, in [0, 1] because a sorted sequence
  has the smallest prefix means (``D_k^HD <= D_k^2D``).

The work is O(N² log N): every anchor sorts all N-1 others twice. It is done by blocks of anchors
(a block's distance matrix holds at most ``_BLOCK_ELEMENTS`` entries), so memory stays O(N) plus one
block, never N x N. ``D_k`` is a mean over anchors and only the column sums of the sorted sequences
are kept, which is what makes both the blocking and the anchor estimate possible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from tsnegrid.quality.networks import sort4, sort8, sort16
from tsnegrid.results import Estimate
from tsnegrid.runtime.workers import single_thread_blas, worker_pool

#: Anchors of an estimate: 2,000 up to 100,000 images, then as many as keep anchors x images
#: (the work) at 2e8, at least 400 (standard error: 0.0014 with 2,000 anchors on 300,000
#: Fashion-MNIST images, so about 0.003 with 400).
N_ANCHORS = 2_000
ANCHOR_WORK = 200_000_000
MIN_ANCHORS = 400
_BLOCK_ELEMENTS = 1 << 21  # 2M float64 = 16 MiB per block array
_MIN_BLOCKS = 16  # blocks per group at least (when rows allow): work for every thread
_MIN_BLOCK_ROWS = 64
_N_GROUPS = 20  # jackknife groups of anchors for the estimate's standard error
_LUT_MAX = 1 << 24  # largest squared grid distance served by a lookup table (64 MiB of int32)
_NEAR = 1e-4  # pairs with |a-b|² below this share of max |x|² get direct differences
_PAIR_CHUNK = 1 << 14  # near pairs recomputed at once
_INSERTION_MAX = 32  # in-group sorts up to this size are insertion sorts, up to 16 sorting
# networks (tsnegrid.quality.networks); a slice sort's overhead would dominate the metric there


def anchors_for(n: int) -> int:
    """The anchors of an estimate for ``n`` images (see :data:`ANCHOR_WORK`)."""
    return int(np.clip(ANCHOR_WORK // max(n, 1), MIN_ANCHORS, N_ANCHORS))


def dpq(
    features: ArrayLike,
    node_of_point: ArrayLike,
    rows: int,
    cols: int,
    *,
    p: float = 16,
    exact_max: int = 10_000,
    n_anchors: int = 2_000,
    seed: int = 0,
) -> Estimate:
    """Distance preservation quality DPQ_p of a grid layout (Barthel et al. 2023).

    Parameters
    ----------
    features : (n, n_features) array; ``d(i, j)`` is the euclidean distance between rows.
    node_of_point : (n,) distinct node indices ``r * cols + c``.
    rows, cols : grid shape.
    p : norm over k = 1..n-1 (16 in the paper; ``np.inf`` allowed).
    exact_max : up to this many items every item is an anchor and the value is exact.
    n_anchors : beyond ``exact_max``, the number of anchors drawn without replacement.
    seed : seeds the anchor sample.

    Returns
    -------
    Estimate
        Exact (``stderr == 0``) when ``n <= exact_max`` or ``n_anchors >= n``. Otherwise every
        ``D_k`` and ``D̄`` is estimated without bias by its mean over a uniform sample of anchors
        (each anchor still sorts all n-1 others), and DPQ_p is the plug-in ratio of those, whose
        bias is O(1/n_anchors), small beside its error. The standard error is the delete-a-group
        jackknife over 20 random groups of anchors, times the finite-population correction
        ``1 - n_anchors / n`` on the variance (Wolter, *Introduction to Variance Estimation*, 2007,
        ch. 4). When every pairwise distance is equal no order beats another and DPQ is 1.0.

    Notes
    -----
    Rows and columns of the grid count as one cell each, so on a rectangular grid the grid
    distance is measured in cells, not in unit-square coordinates.
    """
    return dpq_many(
        features,
        [node_of_point],
        rows,
        cols,
        p=p,
        exact_max=exact_max,
        n_anchors=n_anchors,
        seed=seed,
    )[0]


def dpq_many(
    features: ArrayLike,
    layouts: Sequence[ArrayLike],
    rows: int,
    cols: int,
    *,
    p: float = 16,
    exact_max: int = 10_000,
    n_anchors: int = 2_000,
    seed: int = 0,
    threads: int = 1,
) -> list[Estimate]:
    """:func:`dpq` of several layouts of the same items on the same grid, in one pass.

    Each value equals ``dpq(features, layout, ...)`` with the same arguments: the layouts share
    the anchors, each block of feature distances and its sorted (HD) sequences, which are most
    of the work, so scoring three layouts costs little more than scoring one. ``threads``
    worker threads share the work; the values do not depend on their number.
    """
    if p < 1:
        raise ValueError(f"p must be >= 1 (a norm), got {p}")
    x = _validate_features(features)
    positions = [_validate_nodes(x.shape[0], nodes, rows, cols) for nodes in layouts]
    n = x.shape[0]
    if n <= exact_max or n_anchors >= n:
        sums_2d, sums_hd = _anchor_sums(x, positions, rows, cols, [np.arange(n)], threads)
        return [
            Estimate(
                value=_dpq_from_sums(s2d[0], sums_hd[0], n, p), stderr=0.0, exact=True, n_anchors=n
            )
            for s2d in sums_2d
        ]
    if n_anchors < 2:
        raise ValueError(f"n_anchors must be at least 2 for an estimate, got {n_anchors}")
    anchors = np.random.default_rng(seed).choice(n, size=n_anchors, replace=False)
    groups = np.array_split(anchors, min(_N_GROUPS, n_anchors))
    sizes = [len(g) for g in groups]
    sums_2d, sums_hd = _anchor_sums(x, positions, rows, cols, groups, threads)
    return [
        Estimate(
            value=_dpq_from_sums(s2d.sum(axis=0), sums_hd.sum(axis=0), n_anchors, p),
            stderr=_jackknife_stderr(s2d, sums_hd, sizes, p, n),
            exact=False,
            n_anchors=n_anchors,
        )
        for s2d in sums_2d
    ]


def _validate_features(features: ArrayLike) -> NDArray[np.float64]:
    """Centred float64 features; raise ValueError on bad input."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (n, n_features), got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"DPQ needs at least 2 items, got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinity")
    # Centring leaves distances unchanged and shrinks the cancellation in |a|² + |b|² - 2a·b.
    return x - x.mean(axis=0)


def _validate_nodes(
    n: int, node_of_point: ArrayLike, rows: int, cols: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each item's (row, col); raise ValueError unless these are n distinct nodes of the grid."""
    nodes = np.asarray(node_of_point)
    if nodes.shape != (n,):
        raise ValueError(f"node_of_point must be ({n},) like the features, got {nodes.shape}")
    if not np.issubdtype(nodes.dtype, np.integer):
        raise ValueError(f"node_of_point must hold integer node indices, got dtype {nodes.dtype}")
    if nodes.min() < 0 or nodes.max() >= rows * cols or np.bincount(nodes).max() > 1:
        raise ValueError(f"node_of_point must be distinct nodes of a {rows}x{cols} grid")
    rr, cc = np.divmod(nodes.astype(np.int64), cols)
    return rr, cc


def _anchor_sums(
    x: NDArray[np.float64],
    positions: Sequence[tuple[NDArray[np.int64], NDArray[np.int64]]],
    rows: int,
    cols: int,
    groups: list[NDArray[np.int64]],
    threads: int = 1,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Column sums of the anchors' grid-ordered and sorted distance sequences, per group.

    Returns a (n_layouts, n_groups, n-1) and a (n_groups, n-1) array: ``[l, g, j]`` is
    ``Σ_{i in group g} d_i(j+1)`` in layout ``l``'s grid order, ``[g, j]`` the same sorted by d.
    Blocks of anchors are summed on ``threads`` threads (the kernels release the GIL) and added
    up in block order, so the sums do not depend on the thread count.
    """
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    uniq, lut = _grid_distance_ranks(rows, cols)
    # Block sizes depend on n and the groups, never on the thread count (the sums' order).
    blocks = [
        (g, group[start : start + size])
        for g, group in enumerate(groups)
        for size in [_block_rows(n, group.size)]
        for start in range(0, group.size, size)
    ]

    def block_sums(anchors: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        d = _distance_block(x, sq, anchors)
        part_2d = np.zeros((len(positions), n - 1))
        for layout, (rr, cc) in enumerate(positions):
            _accumulate_grid_order(d, anchors, rr, cc, uniq, lut, part_2d[layout])
        # The anchor's own entry is -1 so it sorts first and is dropped.
        d.sort(axis=1)
        return part_2d, d[:, 1:].sum(axis=0)

    sums_2d = np.zeros((len(positions), len(groups), n - 1))
    sums_hd = np.zeros((len(groups), n - 1))
    # One BLAS thread per block: OpenBLAS's own threads change the last bits with their number.
    with single_thread_blas(), worker_pool(threads) as pool:
        anchor_blocks = [anchors for _, anchors in blocks]
        done = (
            map(block_sums, anchor_blocks) if pool is None else pool.map(block_sums, anchor_blocks)
        )
        for (g, _), (part_2d, part_hd) in zip(blocks, done, strict=True):
            sums_2d[:, g] += part_2d
            sums_hd[g] += part_hd
    return sums_2d, sums_hd


def _block_rows(n: int, anchors: int) -> int:
    """Anchors per block: at most ``_BLOCK_ELEMENTS`` distances, and ``_MIN_BLOCKS`` blocks or
    more when that leaves ``_MIN_BLOCK_ROWS`` rows each."""
    most = max(1, _BLOCK_ELEMENTS // n)
    even = max(_MIN_BLOCK_ROWS, -(-anchors // _MIN_BLOCKS))
    return min(most, even)


def _distance_block(
    x: NDArray[np.float64], sq: NDArray[np.float64], anchors: NDArray[np.int64]
) -> NDArray[np.float64]:
    """(len(anchors), n) euclidean distances, with -1 at each anchor's own entry."""
    d = x[anchors] @ x.T
    d *= -2.0
    d += sq[None, :]
    d += sq[anchors, None]
    # |a|² + |b|² - 2a·b loses the digits of near-identical pairs (a duplicate gets ~1e-8, not
    # 0); recompute those few pairs by direct differences.
    near_rows, near_cols = np.nonzero(d < _NEAR * sq.max())
    for lo in range(0, near_rows.size, _PAIR_CHUNK):
        r, c = near_rows[lo : lo + _PAIR_CHUNK], near_cols[lo : lo + _PAIR_CHUNK]
        diff = x[anchors[r]] - x[c]
        d[r, c] = np.einsum("ij,ij->i", diff, diff)
    np.maximum(d, 0.0, out=d)
    np.sqrt(d, out=d)
    d[np.arange(anchors.size), anchors] = -1.0
    return d


def _grid_distance_ranks(n_rows: int, n_cols: int) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """Sorted distinct squared grid distances, and a table from squared distance to its rank.

    The table is empty when the largest squared distance passes ``_LUT_MAX`` (very elongated
    grids); the kernel then ranks by binary search in the sorted values instead.
    """
    dr2 = np.arange(n_rows, dtype=np.int64) ** 2
    dc2 = np.arange(n_cols, dtype=np.int64) ** 2
    uniq = np.unique(dr2[:, None] + dc2[None, :])
    if uniq[-1] >= _LUT_MAX:
        return uniq, np.zeros(0, dtype=np.int32)
    lut = np.zeros(int(uniq[-1]) + 1, dtype=np.int32)
    lut[uniq] = np.arange(uniq.size, dtype=np.int32)
    return uniq, lut


@numba.njit(cache=True, nogil=True)
def _accumulate_grid_order(d, anchors, rr, cc, uniq, lut, out):  # type: ignore[no-untyped-def]
    """Add each anchor's distances, in (grid distance, d) order, to ``out`` (length n-1).

    A counting sort by grid-distance rank, then a sort by ``d`` inside each rank: O(n) per anchor
    plus the small in-group sorts, instead of a full O(n log n) sort on a composite key.
    """
    n = d.shape[1]
    n_ranks = uniq.size
    counts = np.zeros(n_ranks + 1, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    buf = np.empty(n, dtype=np.float64)
    for b in range(anchors.size):
        a = anchors[b]
        counts[:] = 0
        for j in range(n):
            g = (rr[a] - rr[j]) ** 2 + (cc[a] - cc[j]) ** 2
            k = lut[g] if lut.size > 0 else np.searchsorted(uniq, g)
            rank[j] = k
            counts[k + 1] += 1
        # Rank 0 (grid distance 0) holds only the anchor itself: nodes are distinct.
        for k in range(n_ranks):
            counts[k + 1] += counts[k]
        for j in range(n):
            k = rank[j]
            buf[counts[k]] = d[b, j]
            counts[k] += 1
        # counts[k] now ends rank k; it starts at counts[k-1] (0 for rank 0).
        start = 0
        for k in range(n_ranks):
            stop = counts[k]
            m = stop - start
            if m > _INSERTION_MAX:
                buf[start:stop].sort()
            elif m > 16:
                for t in range(start + 1, stop):  # insertion sort
                    v = buf[t]
                    u = t - 1
                    while u >= start and buf[u] > v:
                        buf[u + 1] = buf[u]
                        u -= 1
                    buf[u + 1] = v
            elif m > 8:  # most groups hold 4, 8 or 16 items: sorting networks
                sort16(buf, start, m)
            elif m > 4:
                sort8(buf, start, m)
            elif m > 1:
                sort4(buf, start, m)
            start = stop
        for t in range(n - 1):
            out[t] += buf[t + 1]


def _dpq_from_sums(
    sum_2d: NDArray[np.float64], sum_hd: NDArray[np.float64], n_anchors: int, p: float
) -> float:
    """DPQ_p from the column sums of ``n_anchors`` anchors' sequences (each of length n-1)."""
    k = np.arange(1, sum_hd.size + 1)
    mean_d = sum_hd.sum() / (n_anchors * sum_hd.size)
    if mean_d <= 0.0:
        return 1.0
    delta_2d = np.maximum(0.0, 1.0 - np.cumsum(sum_2d) / (n_anchors * k) / mean_d)
    delta_hd = np.maximum(0.0, 1.0 - np.cumsum(sum_hd) / (n_anchors * k) / mean_d)
    norm_hd = _pnorm(delta_hd, p)
    if norm_hd == 0.0:
        return 1.0
    return float(min(1.0, _pnorm(delta_2d, p) / norm_hd))


def _pnorm(v: NDArray[np.float64], p: float) -> float:
    """``||v||_p`` of a non-negative vector, scaled by its max so ``v**16`` cannot underflow."""
    top = float(v.max())
    if top == 0.0 or np.isinf(p):
        return top
    return top * float(np.sum((v / top) ** p) ** (1.0 / p))


def _jackknife_stderr(
    sums_2d: NDArray[np.float64],
    sums_hd: NDArray[np.float64],
    sizes: list[int],
    p: float,
    n: int,
) -> float:
    """Delete-a-group jackknife standard error of DPQ_p, with the finite-population correction."""
    total_2d, total_hd, m = sums_2d.sum(axis=0), sums_hd.sum(axis=0), sum(sizes)
    n_groups = len(sizes)
    loo = np.array(
        [
            _dpq_from_sums(total_2d - sums_2d[g], total_hd - sums_hd[g], m - sizes[g], p)
            for g in range(n_groups)
        ]
    )
    variance = (n_groups - 1) / n_groups * np.sum((loo - loo.mean()) ** 2) * (1.0 - m / n)
    return float(np.sqrt(variance))
