"""How good a grid layout is: DPQ, neighbourhood preservation, displacement, class coherence.

Every function is pure. Distances in feature space are euclidean. Grid positions are integer
``(col, row)`` coordinates, so neighbouring cells are 1 apart along either axis whatever the grid's
aspect; the unit-square node positions of :mod:`tsnegrid.assign.grid` are used only where the
t-SNE points live (displacement and the assignment cost).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray

from tsnegrid.assign.grid import grid_nodes
from tsnegrid.embed.knn import nearest_others
from tsnegrid.quality.dpq import Estimate, dpq
from tsnegrid.results import DEFAULT_KS, Displacement, LayoutQuality

__all__ = [
    "Displacement",
    "Estimate",
    "LayoutQuality",
    "class_coherence",
    "displacement",
    "displacement_cells",
    "dpq",
    "evaluate_layout",
    "grid_positions",
    "label_grid",
    "neighbourhood_preservation",
    "quality_to_json",
]

_ROW_CHUNK = 4096  # rows of the neighbour tables handled at once (bounds memory at large n)


def grid_positions(node_of_point: ArrayLike, cols: int) -> NDArray[np.float64]:
    """(n, 2) integer ``(col, row)`` coordinates of each item's cell, as float64."""
    rr, cc = np.divmod(np.asarray(node_of_point, dtype=np.int64), cols)
    return np.column_stack([cc, rr]).astype(np.float64)


def neighbourhood_preservation(
    features: ArrayLike,
    positions: ArrayLike,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    feature_candidates: NDArray[np.intp] | None = None,
    rows: NDArray[np.intp] | None = None,
) -> NDArray[np.float64]:
    """Fraction of each item's k nearest neighbours in feature space kept among its k nearest.

    ``NP(k) = 1/(n k) Σ_i |N_k^F(i) ∩ N_k^P(i)|`` where ``N_k^F(i)`` are the k nearest items to
    ``i`` by euclidean distance in feature space and ``N_k^P(i)`` in ``positions`` (a 2-D
    embedding, or :func:`grid_positions`); the k-ary neighbourhood preservation of Lee &
    Verleysen, "Quality assessment of dimensionality reduction", Neurocomputing 72, 2009.

    Parameters
    ----------
    features : (n, n_features) array.
    positions : (n, n_dims) array.
    ks : neighbourhood sizes, each in 1..n-1.
    feature_candidates : :func:`nearest_candidates` of ``features`` for ``max(ks)`` (of
        ``rows``), to share the (expensive) feature-space search between layouts of the same
        items.
    rows : the items averaged over (the sum runs over them, their neighbours among all ``n``);
        None: every item. A seeded sample estimates NP for large ``n``.

    Returns
    -------
    (len(ks),) float64 array in [0, 1].

    Notes
    -----
    Ties are the rule on a grid (four cells at distance 1, four at √2, ...). Each space orders an
    item's neighbours by its own distance, then by the distance in the other space, then by
    index: on the grid, of equally near cells the most similar images count as nearest, as DPQ
    breaks grid ties by the smaller feature distance. So a layout whose grid distances order items
    as the features do scores 1, and the result does not depend on the items' order unless both
    distances tie. Distances are recomputed directly from the coordinates (exact on integer grid
    coordinates); candidates come from an exact search (SciPy's k-d tree in 2-D, brute force
    in feature space: :func:`tsnegrid.embed.knn.nearest_others`).
    """
    f = np.asarray(features, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    k_arr = np.asarray(list(ks), dtype=np.int64)
    n = f.shape[0]
    if pos.shape[0] != n or f.ndim != 2 or pos.ndim != 2:
        raise ValueError(
            f"features and positions must be (n, d) arrays, got {f.shape}, {pos.shape}"
        )
    if k_arr.size == 0 or k_arr.min() < 1 or k_arr.max() > n - 1:
        raise ValueError(f"every k must be in 1..{n - 1} for {n} items, got {k_arr.tolist()}")
    k_max = int(k_arr.max())
    items = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    idx_f = (
        nearest_candidates(f, k_max, rows=rows)
        if feature_candidates is None
        else feature_candidates
    )
    idx_p = nearest_candidates(pos, k_max, rows=rows)
    rank_f, rank_p = _ranks(idx_f, f, pos, items), _ranks(idx_p, pos, f, items)
    # A shared item is in both k-neighbourhoods for every k above the larger of its two ranks.
    kept_at_rank = np.zeros(k_max, dtype=np.int64)
    for lo in range(0, items.size, _ROW_CHUNK):
        part = slice(lo, lo + _ROW_CHUNK)
        same = (idx_f[part, :, None] == idx_p[part, None, :]) & (idx_f[part, :, None] >= 0)
        worse = np.maximum(rank_f[part, :, None], rank_p[part, None, :])[same]
        kept_at_rank += np.bincount(worse[worse < k_max], minlength=k_max)
    return np.cumsum(kept_at_rank)[k_arr - 1] / (items.size * k_arr)


def nearest_candidates(
    x: NDArray[np.float64],
    k_max: int,
    *,
    start: NDArray[np.intp] | None = None,
    rows: NDArray[np.intp] | None = None,
) -> NDArray[np.intp]:
    """Each item's nearest others, enough to hold every tie of its k_max-th distance.

    Returns (n, m) indices (or (len(rows), m) for the items ``rows``), padded with -1 where a row
    holds fewer. A row is complete when its farthest candidate is strictly farther than its
    k_max-th, or when it holds all n-1 others. ``start``: each item's (of ``rows``) exact nearest
    others found earlier, nearest first (e.g. t-SNE's :class:`~tsnegrid.embed.tsne.Neighbours`);
    only the rows it leaves incomplete are searched.
    """
    n = x.shape[0]
    items = np.arange(n) if rows is None else np.asarray(rows, dtype=np.intp)
    found: list[tuple[NDArray[np.intp], NDArray[np.intp]]] = []  # (positions in items, idx)
    todo = np.arange(items.size)
    m = min(k_max + 1, n - 1)
    if start is not None and start.shape[1] >= k_max:
        # A prefix of a nearest-first list is the nearest few; as wide as a fresh search's first
        # round (t-SNE's lists hold 90), so later steps handle no more candidates than before.
        head = start[:, : min(start.shape[1], m)]
        done = _complete(x, items, head, k_max, n)
        found.append((todo[done], head[done]))
        todo, m = todo[~done], min(max(m, 2 * head.shape[1]), n - 1)
    tree = None
    while todo.size:
        if x.shape[1] > 3:
            idx = nearest_others(x, m, rows=items[todo])[0]
        else:
            if tree is None:
                from scipy.spatial import cKDTree  # imported only where needed

                tree = cKDTree(x)
            idx = _neighbours_excluding_self(tree, x, items[todo], m)
        done = _complete(x, items[todo], idx, k_max, n)
        found.append((todo[done], idx[done]))
        todo, m = todo[~done], min(2 * m, n - 1)
    out = np.full((items.size, max(idx.shape[1] for _, idx in found)), -1, dtype=np.intp)
    for at, idx in found:
        out[at, : idx.shape[1]] = idx
    return out


def _complete(
    x: NDArray[np.float64], rows: NDArray[np.intp], idx: NDArray[np.intp], k_max: int, n: int
) -> NDArray[np.bool_]:
    """Which rows of candidates ``idx`` hold every tie of their k_max-th distance."""
    d2 = np.sort(_sq_distances(x, rows, idx), axis=1)
    return np.asarray((d2[:, -1] > d2[:, k_max - 1]) | (idx.shape[1] == n - 1))


def _ranks(
    idx: NDArray[np.intp],
    primary: NDArray[np.float64],
    secondary: NDArray[np.float64],
    rows: NDArray[np.intp],
) -> NDArray[np.intp]:
    """Rank of each candidate of item ``rows[i]`` (row ``i`` of ``idx``) by (primary distance,
    secondary distance, index); padding last."""
    safe = np.where(idx >= 0, idx, 0)
    d1 = np.where(idx >= 0, _sq_distances(primary, rows, safe), np.inf)
    d2 = _sq_distances(secondary, rows, safe)
    order = np.lexsort((idx, d2, d1), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(idx.shape[1])[None, :], axis=1)
    return ranks


def _neighbours_excluding_self(
    tree: Any, x: NDArray[np.float64], rows: NDArray[np.intp], m: int
) -> NDArray[np.intp]:
    """(len(rows), m) nearest other items by a ``cKDTree``: query m+1 and drop the item itself
    (or the last)."""
    idx = tree.query(x[rows], k=m + 1)[1]
    drop = idx == rows[:, None]
    # With duplicates the item may be missing from its own list; then the farthest goes.
    drop[~drop.any(axis=1), -1] = True
    return np.asarray(idx[~drop].reshape(rows.size, m), dtype=np.intp)


def _sq_distances(
    x: NDArray[np.float64], rows: NDArray[np.intp], idx: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Squared distances from ``x[rows[i]]`` to ``x[idx[i, j]]``, by direct differences.

    The differences are gathered by :func:`_differences` (numba, without the GIL: the quality
    stage's layouts are scored on threads of their own, and NumPy's fancy indexing holds it)
    and summed by ``einsum``, the sums every version of these numbers has had."""
    out = np.empty(idx.shape)
    diff = np.empty((min(_ROW_CHUNK, rows.size), idx.shape[1], x.shape[1]))
    for lo in range(0, rows.size, _ROW_CHUNK):
        sl = slice(lo, lo + _ROW_CHUNK)
        part = diff[: len(rows[sl])]
        _differences(x, rows[sl], idx[sl], part)
        out[sl] = np.einsum("ijk,ijk->ij", part, part)
    return out


@numba.njit(cache=True, nogil=True)
def _differences(
    x: NDArray[np.float64], rows: NDArray[np.intp], idx: NDArray[np.intp], out: NDArray[np.float64]
) -> None:
    """``out[i, j] = x[idx[i, j]] - x[rows[i]]``."""
    for i in range(idx.shape[0]):
        r = rows[i]
        for j in range(idx.shape[1]):
            c = idx[i, j]
            for k in range(x.shape[1]):
                out[i, j, k] = x[c, k] - x[r, k]


def displacement(points: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int) -> Displacement:
    """Summary of how far each point is from its node, and the total squared cost.

    Distances in cell widths as :func:`displacement_cells`; ``total_cost = Σ_i |p_i - node_i|²`` in
    unit-square coordinates (the assignment's cost).

    Parameters
    ----------
    points : (n, 2) positions (x, y) in the unit square (the normalised t-SNE embedding).
    node_of_point : (n,) node indices ``r * cols + c``.
    """
    cells = displacement_cells(points, node_of_point, rows, cols)
    delta = _offsets(points, node_of_point, rows, cols)
    return Displacement(
        mean=float(cells.mean()),
        median=float(np.median(cells)),
        max=float(cells.max()),
        total_cost=float(np.sum(delta * delta)),
    )


def displacement_cells(
    points: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int
) -> NDArray[np.float64]:
    """(n,) distance from each point to its node in cell widths.

    ``δ_i = sqrt(((x_i - X_i)(cols-1))² + ((y_i - Y_i)(rows-1))²)`` where ``(X_i, Y_i)`` is the
    unit-square position of item i's node (scale 1 on an axis with a single node), so
    neighbouring nodes are 1 apart along each axis even when ``rows != cols``.
    """
    delta = _offsets(points, node_of_point, rows, cols)
    return np.hypot(delta[:, 0] * max(cols - 1, 1), delta[:, 1] * max(rows - 1, 1))


def _offsets(
    points: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int
) -> NDArray[np.float64]:
    """(n, 2) point minus node position, in unit-square coordinates."""
    nodes = np.asarray(node_of_point, dtype=np.intp)
    return np.asarray(points, dtype=np.float64) - grid_nodes(rows, cols)[nodes]


def class_coherence(
    labels: ArrayLike | None, node_of_point: ArrayLike, rows: int, cols: int
) -> float | None:
    """Fraction of 4-neighbour pairs of occupied, labelled cells whose images share a label.

    ``C = |{(a, b) adjacent : l_a = l_b}| / |{(a, b) adjacent}|`` over unordered pairs of cells
    sharing an edge, both occupied by an image with a known label (label >= 0; -1 is unknown).

    Returns
    -------
    float in [0, 1], or None when there are no labels or no such pairs.
    """
    if labels is None:
        return None
    grid = label_grid(labels, node_of_point, rows, cols)
    pairs = [(grid[:, :-1], grid[:, 1:]), (grid[:-1, :], grid[1:, :])]
    n_pairs = sum(int(np.sum((a >= 0) & (b >= 0))) for a, b in pairs)
    n_same = sum(int(np.sum((a >= 0) & (a == b))) for a, b in pairs)
    return n_same / n_pairs if n_pairs else None


def label_grid(
    labels: ArrayLike, node_of_point: ArrayLike, rows: int, cols: int
) -> NDArray[np.int64]:
    """(rows, cols) label of each cell's image; -1 for unknown labels and empty cells."""
    grid = np.full(rows * cols, -1, dtype=np.int64)
    grid[np.asarray(node_of_point)] = np.asarray(labels, dtype=np.int64)
    return grid.reshape(rows, cols)


def layout_ks(n: int) -> tuple[int, ...]:
    """The neighbourhood sizes scored for ``n`` items: 1..10, at most n - 1."""
    return DEFAULT_KS[: max(1, min(len(DEFAULT_KS), n - 1))]


def evaluate_layout(
    features: ArrayLike,
    points: ArrayLike | None,
    node_of_point: ArrayLike,
    labels: ArrayLike | None,
    rows: int,
    cols: int,
    *,
    seed: int,
    exact_max: int = 10_000,
    n_anchors: int = 2_000,
    feature_candidates: NDArray[np.intp] | None = None,
    dpq16: Estimate | None = None,
    np_rows: NDArray[np.intp] | None = None,
) -> LayoutQuality:
    """Every quality number of one layout.

    Parameters
    ----------
    features : (n, n_features) the features the layout should preserve (the PCA features).
    points : (n, 2) the 2-D embedding in the unit square, or None for a layout without one
        (the baselines): then ``np_embedding`` and ``displacement`` are None.
    node_of_point : (n,) distinct node indices.
    labels : (n,) class index, -1 where unknown, or None.
    seed : seeds the DPQ anchor sample (used only beyond ``exact_max`` items).
    feature_candidates : :func:`nearest_candidates` of ``features`` for ``max(layout_ks(n))``,
        shared between layouts of the same items (computed here when None).
    dpq16 : the layout's DPQ_16 when already known (:func:`tsnegrid.quality.dpq.dpq_many` scores
        several layouts in one pass); computed here when None.
    np_rows : the items neighbourhood preservation averages over (``feature_candidates`` then
        holds theirs); None: every item.
    """
    nodes = np.asarray(node_of_point)
    ks = layout_ks(nodes.size)
    cand = feature_candidates
    if cand is None:
        cand = nearest_candidates(np.asarray(features, dtype=np.float64), max(ks), rows=np_rows)
    est = dpq16
    if est is None:
        est = dpq(features, nodes, rows, cols, exact_max=exact_max, n_anchors=n_anchors, seed=seed)
    return LayoutQuality(
        dpq16=est,
        np_embedding=None
        if points is None
        else neighbourhood_preservation(
            features, points, ks=ks, feature_candidates=cand, rows=np_rows
        ),
        np_grid=neighbourhood_preservation(
            features, grid_positions(nodes, cols), ks=ks, feature_candidates=cand, rows=np_rows
        ),
        displacement=None if points is None else displacement(points, nodes, rows, cols),
        coherence=class_coherence(labels, nodes, rows, cols),
        ks=ks,
        np_rows=None if np_rows is None else len(np_rows),
    )


def quality_to_json(quality: LayoutQuality) -> dict[str, Any]:
    """A JSON-ready dict of every number (floats, lists, None); the caller adds schema keys."""
    est, disp = quality.dpq16, quality.displacement
    return {
        "dpq16": {
            "value": est.value,
            "stderr": est.stderr,
            "exact": est.exact,
            "n_anchors": est.n_anchors,
        },
        "neighbourhood_preservation": {
            "k": list(quality.ks),
            "embedding": None if quality.np_embedding is None else quality.np_embedding.tolist(),
            "grid": quality.np_grid.tolist(),
            "sample": quality.np_rows,
        },
        "displacement_cells": None
        if disp is None
        else {"mean": disp.mean, "median": disp.median, "max": disp.max},
        "assignment_cost": None if disp is None else disp.total_cost,
        "class_coherence": quality.coherence,
    }
