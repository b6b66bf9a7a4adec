"""t-SNE of a large collection through a seeded sample: the sample embedded by our engine, the
other points placed against it as openTSNE's ``transform`` places new points, then all points
refined together for a few iterations.

1. A seeded sample of ``sample_size`` rows; one HNSW graph of the sample
   (:mod:`tsnegrid.embed.approx`'s parameters, built on one thread) gives each sampled row its
   t-SNE neighbours and each other row its :data:`PLACE_K` nearest sampled rows.
2. Our t-SNE (:mod:`tsnegrid.embed.bhtsne`) of the sample, with its usual schedule.
3. Each other point starts at the mean of its sampled neighbours' positions weighted by their
   affinities (perplexity :data:`PLACE_PERPLEXITY`), then takes :data:`PLACE_ITER` gradient
   steps of its own KL divergence against the fixed sample embedding: attraction to its sampled
   neighbours, repulsion from all sampled points normalised per point, as openTSNE's partial
   embeddings do (learning rate 0.1, exaggeration 1.5, momentum 0.8, gradient norm clipped at
   0.25). The repulsion of the fixed sample is a fixed field of the position: it is computed
   once by Barnes-Hut on a fine grid and interpolated bilinearly (openTSNE interpolates its FFT
   grid the same way), so a step costs one grid look-up and ``PLACE_K`` attractions per point.
4. All points refined together: :data:`REFINE_ITER` plain t-SNE iterations of our engine from
   these positions, on approximate neighbours found without a search of all points: each
   point's :data:`REFINE_K` nearest among the points that share one of its
   :data:`REFINE_BUCKETS` nearest sampled points as their own nearest (and those sampled points
   themselves), at perplexity ``REFINE_K / 3``. Placed points then repel each other too.

Each stage splits the points over threads without changing a number (every point's sums are its
own): like the rest of the engine, the result is the same for any thread count.

Measured on Fashion-MNIST PCA-100 features (benchmarks/million.py's, 2 threads; 10-NN kept on
2,000 seeded rows, 5-NN accuracy on 20,000). At 200,000 points, t-SNE of all (approximate
neighbours) keeps 0.334 and scores 0.806 in 384 CPU-s; a sample of 20,000 (a tenth, as at
1,000,000) keeps 0.316 and scores 0.801 in 63 CPU-s (without the refinement 0.209 and 0.774;
without the placement steps either 0.088 and 0.704); a sample of 50,000 keeps 0.332 and scores
0.803 in about 95 CPU-s; a sample of 100,000 keeps 0.351 and scores 0.809 in 211 CPU-s (the
refinement's perplexity of 5 favours the nearest neighbours). At 1,000,000 points a sample of
100,000 takes 367 CPU-s (the graph and the queries 76, the sample's t-SNE 139, placement and
candidates 49, the refinement 103), at a peak of 2.4 GiB, and keeps 0.277, scoring 0.823.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from tsnegrid.embed import bhtsne
from tsnegrid.embed.approx import QUERY_EXTRA, build_index, drop_self
from tsnegrid.embed.knn import pair_sq_distances
from tsnegrid.embed.neighbours import tsne_neighbour_count
from tsnegrid.embed.quadtree import build_tree
from tsnegrid.results import Neighbours
from tsnegrid.runtime.workers import submit, worker_pool

#: Nearest sampled rows of each placed row, and the perplexity of their affinities
#: (openTSNE's ``transform``: perplexity 5, 3 x 5 neighbours).
PLACE_K = 15
PLACE_PERPLEXITY = 5.0
#: openTSNE's ``transform`` optimisation, except the number of steps.
PLACE_ITER = 100
PLACE_LEARNING_RATE = 0.1
PLACE_EXAGGERATION = 1.5
PLACE_MOMENTUM = 0.8
PLACE_MAX_GRAD_NORM = 0.25
#: The refinement of all points: iterations, neighbours per point, and the sampled points whose
#: followers are each point's candidate neighbours.
REFINE_ITER = 50
REFINE_K = 15
REFINE_BUCKETS = 4
#: Spacing of the repulsion field's grid in t-SNE units (a kernel's width is 1), and the
#: largest grid side; the Barnes-Hut angle of the field.
FIELD_SPACING = 0.1
FIELD_MAX_SIDE = 2049
FIELD_THETA = 0.5
#: Grid nodes per side of a group that shares one walk of the tree.
_FIELD_BLOCK = 8
_MIN_GAIN = bhtsne.MIN_GAIN
#: Rows per job of the neighbour distances and of the placement.
_ROW_BLOCK = 16_384
#: Shares of the progress: the graph and queries, the sample's t-SNE, the placement and the
#: candidate neighbours, the refinement.
_PROGRESS = (0.15, 0.45, 0.05, 0.35)


@dataclass(frozen=True)
class SampledTsne:
    """A t-SNE embedding made through a sample.

    points : (n, 2) float64 embedding in t-SNE units (not normalised).
    sample : (s,) sorted row indices of the sample.
    sample_neighbours : the sample's t-SNE neighbours, as indices into ``sample``.
    placement : each other row's :data:`PLACE_K` nearest sampled rows (indices into ``sample``),
        rows in the order of the rows not in ``sample``.
    neighbours : every row's approximate :data:`REFINE_K` nearest other rows, the refinement's
        (``method="sampled"``); None without a refinement.
    """

    points: NDArray[np.float64]
    sample: NDArray[np.intp]
    sample_neighbours: Neighbours
    placement: Neighbours
    neighbours: Neighbours | None = None


def sample_rows(n: int, size: int, *, seed: int) -> NDArray[np.intp]:
    """``size`` of the rows ``0..n-1``, drawn without replacement by ``default_rng(seed)``,
    sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False)).astype(np.intp)


def sample_note(n: int, sample_size: int) -> str:
    """The Embedding page's sentence on how the points were made."""
    return (
        f"t-SNE of a seeded sample of {sample_size:,} images; the other {n - sample_size:,} "
        f"were placed against it from their {PLACE_K} nearest sampled images, as openTSNE "
        f"places new points, then all {n:,} refined together for {REFINE_ITER} t-SNE "
        f"iterations on approximate neighbours."
    )


def sampled_tsne(
    features: NDArray[np.floating],
    *,
    perplexity: float,
    seed: int,
    sample_size: int,
    schedule: bhtsne.Schedule,
    place_iter: int = PLACE_ITER,
    refine_iter: int = REFINE_ITER,
    threads: int = 1,
    progress: Callable[[float], None] | None = None,
) -> SampledTsne:
    """t-SNE of a seeded sample of the rows, the other rows placed against it.

    Parameters
    ----------
    features : (n, d) floats, usually the PCA output; n > ``sample_size`` >= 4.
    perplexity : of the sample's t-SNE (at most ``(sample_size - 1) / 3``).
    seed : draws the sample, the graph's levels and the t-SNE's initial jitter.
    sample_size : rows embedded by t-SNE.
    schedule : the sample's t-SNE iterations (see :class:`tsnegrid.embed.bhtsne.Schedule`).
    place_iter : gradient steps of each placed point (0: the weighted mean alone).
    refine_iter : iterations of the refinement of all points together (0: none).
    threads : worker threads; the result is the same for any count.
    progress : called with the fraction done.

    Returns
    -------
    SampledTsne, its points in t-SNE units.
    """
    x = np.ascontiguousarray(features, dtype=np.float64)
    n = len(x)
    if not 4 <= sample_size < n:
        raise ValueError(f"need 4 <= sample_size < n, got {sample_size} of {n}")
    report = _Stages(progress)
    sample = sample_rows(n, sample_size, seed=seed)
    rest = np.setdiff1d(np.arange(n), sample).astype(np.intp)
    k = tsne_neighbour_count(sample_size, perplexity)
    own, placement = _sample_graph(x, sample, rest, k, seed=seed, threads=threads, report=report)
    y_sample = _sample_tsne(x[sample], own, perplexity, seed, schedule, threads, report)
    y_rest = place_points(
        y_sample, placement.indices, placement.distances, n_iter=place_iter, threads=threads
    )
    points = np.empty((n, 2))
    points[sample] = y_sample
    points[rest] = y_rest
    if refine_iter <= 0:
        report(3, 1.0)
        return SampledTsne(points, sample, own, placement)
    near = candidate_neighbours(x, sample, own.indices, placement.indices, threads=threads)
    report(2, 1.0)
    points = bhtsne.tsne(
        near.indices,
        near.distances,
        points,
        perplexity=near.indices.shape[1] / 3.0,
        schedule=bhtsne.Schedule(early_iter=0, late_iter=refine_iter),
        threads=threads,
        progress=lambda f: report(3, f),
    )
    return SampledTsne(points, sample, own, placement, near)


class _Stages:
    """Reports each stage's fraction done as the overall fraction."""

    def __init__(self, progress: Callable[[float], None] | None) -> None:
        self.progress = progress
        self.starts = np.concatenate([[0.0], np.cumsum(_PROGRESS)])

    def __call__(self, stage: int, fraction: float) -> None:
        if self.progress is not None:
            self.progress(float(self.starts[stage] + _PROGRESS[stage] * fraction))


def _sample_graph(
    x: NDArray[np.float64],
    sample: NDArray[np.intp],
    rest: NDArray[np.intp],
    k: int,
    *,
    seed: int,
    threads: int,
    report: _Stages,
) -> tuple[Neighbours, Neighbours]:
    """The sample's ``k`` neighbours among itself, and each other row's :data:`PLACE_K` nearest
    sampled rows, from one HNSW graph of the sample; indices into ``sample``, ordered by
    (distance, index), distances in float64 as the exact search computes them."""
    x_sample = x[sample].astype(np.float32)
    index = build_index(x_sample, seed=seed, progress=lambda f: report(0, 0.8 * f))
    index.set_num_threads(max(1, threads))
    index.set_ef(k + 1 + QUERY_EXTRA)
    found = index.knn_query(x_sample, k=k + 1)[0].view(np.int64)
    own = drop_self(found, k)
    del found, x_sample
    report(0, 0.9)
    index.set_ef(PLACE_K + QUERY_EXTRA)
    near = np.empty((len(rest), PLACE_K), np.intp)
    for lo in range(0, len(rest), 20 * _ROW_BLOCK):  # float32 copies of a slice at a time
        rows = rest[lo : lo + 20 * _ROW_BLOCK]
        near[lo : lo + len(rows)] = index.knn_query(x[rows].astype(np.float32), k=PLACE_K)[0]
    del index
    own_sorted = _by_distance(x, sample, sample, own, threads)
    near_sorted = _by_distance(x, rest, sample, near, threads)
    report(0, 1.0)
    return Neighbours(*own_sorted, method="approx"), Neighbours(*near_sorted, method="approx")


def _by_distance(
    x: NDArray[np.float64],
    rows: NDArray[np.intp],
    sample: NDArray[np.intp],
    local: NDArray[np.intp],
    threads: int,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Each row's sampled neighbours ``local`` (indices into ``sample``, sorted here in place)
    ordered by (distance, index), and their float64 distances."""
    distances = np.empty(local.shape)

    def block(lo: int) -> None:
        part = local[lo : lo + _ROW_BLOCK]
        sq = pair_sq_distances(x, rows[lo : lo + len(part)], sample[part])
        order = np.lexsort((part, sq), axis=-1)
        part[:] = np.take_along_axis(part, order, 1)
        distances[lo : lo + len(part)] = np.sqrt(np.take_along_axis(sq, order, 1))

    with worker_pool(threads) as pool:
        for job in [submit(pool, block, lo) for lo in range(0, len(local), _ROW_BLOCK)]:
            job.result()
    return local, distances


def _sample_tsne(
    x_sample: NDArray[np.float64],
    neighbours: Neighbours,
    perplexity: float,
    seed: int,
    schedule: bhtsne.Schedule,
    threads: int,
    report: _Stages,
) -> NDArray[np.float64]:
    """Our t-SNE of the sample."""
    return bhtsne.tsne(
        neighbours.indices,
        neighbours.distances,
        bhtsne.initial_layout(x_sample, seed=seed),
        perplexity=perplexity,
        schedule=schedule,
        threads=threads,
        progress=lambda f: report(1, f),
    )


# --- the refinement's neighbours ----------------------------------------------------------


def candidate_neighbours(
    x: NDArray[np.float64],
    sample: NDArray[np.intp],
    sample_neighbours: NDArray[np.intp],
    placement: NDArray[np.intp],
    *,
    threads: int = 1,
) -> Neighbours:
    """Every row's approximate :data:`REFINE_K` nearest other rows, without a search of all rows.

    Each row has anchors, sampled rows near it: a sampled row its nearest sampled rows
    (``sample_neighbours``), another row its ``placement``; and a home, its nearest sampled row
    (itself for a sampled row). Its candidates are the rows whose home is its own home or one of
    its first :data:`REFINE_BUCKETS` anchors, and its first :data:`REFINE_K` anchors (so there
    are always enough); the nearest of them by exact distance, ordered by (distance, index).

    Parameters
    ----------
    x : (n, d) features.
    sample : (s,) sorted sampled rows.
    sample_neighbours : (s, m) each sampled row's nearest sampled rows (into ``sample``).
    placement : (n - s, m') each other row's nearest sampled rows (into ``sample``).
    threads : worker threads; the result is the same for any count.

    Returns
    -------
    Neighbours (n, k) with ``method="sampled"``, k = :data:`REFINE_K` (or the fewer neighbours
    given).
    """
    n = len(x)
    k = min(REFINE_K, sample_neighbours.shape[1], placement.shape[1])
    anchors = np.empty((n, k), np.int64)
    is_sampled = np.zeros(n, bool)
    is_sampled[sample] = True
    anchors[sample] = sample[sample_neighbours[:, :k]]
    anchors[~is_sampled] = sample[placement[:, :k]]
    home = anchors[:, 0].copy()
    home[sample] = sample
    followers = np.argsort(home, kind="stable")
    starts = np.searchsorted(home[followers], np.arange(n + 1))
    indices = np.empty((n, k), np.int64)
    distances = np.empty((n, k))
    with worker_pool(threads) as pool:
        jobs = [
            submit(
                pool,
                _nearest_candidates,
                x,
                home,
                anchors,
                starts,
                followers,
                indices,
                distances,
                lo,
                min(n, lo + _ROW_BLOCK),
            )
            for lo in range(0, n, _ROW_BLOCK)
        ]
        for job in jobs:
            job.result()
    return Neighbours(indices.astype(np.intp, copy=False), distances, method="sampled")


@numba.njit(cache=True, nogil=True)
def _nearest_candidates(
    x: NDArray[np.float64],
    home: NDArray[np.int64],
    anchors: NDArray[np.int64],
    starts: NDArray[np.int64],
    followers: NDArray[np.int64],
    indices: NDArray[np.int64],
    distances: NDArray[np.float64],
    lo: int,
    hi: int,
) -> None:
    """Rows ``followers[lo:hi]`` of :func:`candidate_neighbours`: in the order of their homes,
    so that consecutive rows share most candidates (in cache)."""
    k = indices.shape[1]
    buckets = min(REFINE_BUCKETS, k) + 1
    largest = np.max(starts[1:] - starts[:-1])
    found = np.empty(buckets * largest + k, np.int64)
    sq = np.empty(len(found))
    seen = np.full(len(x), -1, np.int64)  # the last row that listed each row: no repeats
    for p in range(lo, hi):
        i = followers[p]
        seen[i] = i
        c = 0
        for a in range(buckets + k):
            if a < buckets:
                j = home[i] if a == 0 else anchors[i, a - 1]
                first, last = starts[j], starts[j + 1]
            else:  # the anchors themselves
                first, last = -1, 0
            for e in range(first, last):
                m = anchors[i, a - buckets] if e < 0 else followers[e]
                if seen[m] != i:
                    seen[m] = i
                    found[c] = m
                    c += 1
        found[:c].sort()  # candidates by index, so that ties in distance go by index
        for t in range(c):
            total = 0.0
            for f in range(x.shape[1]):  # summed feature by feature, as knn sums
                diff = x[i, f] - x[found[t], f]
                total += diff * diff
            sq[t] = total
        order = np.argsort(sq[:c], kind="mergesort")[:k]  # stable: ties by index
        for t in range(k):
            indices[i, t] = found[order[t]]
            distances[i, t] = np.sqrt(sq[order[t]])


# --- placement ----------------------------------------------------------------------------


def place_points(
    reference: NDArray[np.float64],
    indices: NDArray[np.intp],
    distances: NDArray[np.float64],
    *,
    n_iter: int = PLACE_ITER,
    threads: int = 1,
) -> NDArray[np.float64]:
    """New points placed against a fixed t-SNE embedding, as openTSNE's ``transform`` does.

    Parameters
    ----------
    reference : (s, 2) t-SNE embedding of the reference points, in t-SNE units.
    indices, distances : (m, k) each new point's nearest reference points (indices into
        ``reference``) and their distances in feature space.
    n_iter : gradient steps (0: each point at the affinity-weighted mean of its neighbours).
    threads : worker threads; the result is the same for any count.

    Returns
    -------
    (m, 2) float64 positions in the reference's units.
    """
    ref = np.ascontiguousarray(reference, dtype=np.float64)
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    perplexity = min(PLACE_PERPLEXITY, max(1.0, idx.shape[1] / 3.0))
    field = repulsion_field(ref, threads=threads) if n_iter > 0 else _EMPTY_FIELD
    out = np.empty((len(idx), 2))
    with worker_pool(threads) as pool:
        weights = bhtsne._conditional_affinities(distances, perplexity, pool, threads)
        jobs = [
            submit(pool, _place, ref, idx, weights, field, n_iter, out, lo, lo + _ROW_BLOCK)
            for lo in range(0, len(idx), _ROW_BLOCK)
        ]
        for job in jobs:
            job.result()
    return out


@dataclass(frozen=True)
class Field:
    """t-SNE's repulsion of a fixed embedding on a grid: ``values[a, b]`` holds ``sum_j
    q_j^2 (p - y_j)`` (two columns) and ``sum_j q_j`` at ``p = origin + (a, b) * spacing``."""

    values: NDArray[np.float64]  # (side, side, 3)
    origin: NDArray[np.float64]  # (2,)
    spacing: float


_EMPTY_FIELD = Field(np.zeros((2, 2, 3)), np.zeros(2), 1.0)


def repulsion_field(reference: NDArray[np.float64], *, threads: int = 1) -> Field:
    """:class:`Field` of ``reference`` (s, 2) over its bounding box and a margin of 1, by the
    grouped Barnes-Hut walk of :mod:`tsnegrid.embed.quadtree` (angle :data:`FIELD_THETA`)."""
    lo = reference.min(axis=0) - 1.0
    span = float((reference.max(axis=0) + 1.0 - lo).max())
    side = int(min(FIELD_MAX_SIDE, np.ceil(span / FIELD_SPACING) + 1))
    spacing = span / (side - 1)
    blocks = -(-side // _FIELD_BLOCK)
    values = np.zeros((side, side, 3))
    tree = build_tree(reference)
    with worker_pool(threads) as pool:
        jobs = [
            submit(pool, _field_rows, reference, tree, lo, spacing, bx, FIELD_THETA, values)
            for bx in range(blocks)
        ]
        for job in jobs:
            job.result()
    return Field(values, lo, spacing)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _field_rows(
    y: NDArray[np.float64],
    tree: tuple,
    origin: NDArray[np.float64],
    spacing: float,
    bx: int,
    theta: float,
    values: NDArray[np.float64],
) -> None:
    """The field on the grid nodes of block row ``bx`` (``_FIELD_BLOCK`` rows of nodes), one
    walk of the tree per block of ``_FIELD_BLOCK`` x ``_FIELD_BLOCK`` nodes."""
    side = values.shape[0]
    a0 = bx * _FIELD_BLOCK
    a1 = min(side, a0 + _FIELD_BLOCK)
    cells = np.empty((tree[7] + len(y), 3))
    for b0 in range(0, side, _FIELD_BLOCK):
        b1 = min(side, b0 + _FIELD_BLOCK)
        box = (
            origin[0] + a0 * spacing,
            origin[1] + b0 * spacing,
            origin[0] + (a1 - 1) * spacing,
            origin[1] + (b1 - 1) * spacing,
        )
        length = _interaction_list(y, tree, box, theta, cells)
        for a in range(a0, a1):
            px = origin[0] + a * spacing
            for b in range(b0, b1):
                py = origin[1] + b * spacing
                rx, ry, sq = 0.0, 0.0, 0.0
                for m in range(length):
                    dx = px - cells[m, 0]
                    dy = py - cells[m, 1]
                    q = 1.0 / (1.0 + dx * dx + dy * dy)
                    wq = cells[m, 2] * q
                    sq += wq
                    wq *= q
                    rx += wq * dx
                    ry += wq * dy
                values[a, b, 0] = rx
                values[a, b, 1] = ry
                values[a, b, 2] = sq


@numba.njit(cache=True, nogil=True)
def _interaction_list(
    y: NDArray[np.float64], tree: tuple, box: tuple, theta: float, cells: NDArray[np.float64]
) -> int:
    """The cells (centre x, centre y, points) and single points that stand for all of ``y``
    seen from the box ``(lo_x, lo_y, hi_x, hi_y)``: a cell is summarised when its side is under
    ``theta`` times its centre's distance to the box. Returns how many rows of ``cells``."""
    order, node_start, node_end, node_com, node_width, node_child, node_nchild, _ = tree
    lo_x, lo_y, hi_x, hi_y = box
    stack = np.empty(4 * 24 + 4, np.int64)
    stack[0] = 0
    top = 1
    length = 0
    while top > 0:
        top -= 1
        v = stack[top]
        if node_nchild[v] == 0:
            for a in range(node_start[v], node_end[v]):
                cells[length, 0] = y[order[a], 0]
                cells[length, 1] = y[order[a], 1]
                cells[length, 2] = 1.0
                length += 1
            continue
        cx, cy = node_com[v, 0], node_com[v, 1]
        gap_x = max(lo_x - cx, 0.0, cx - hi_x)
        gap_y = max(lo_y - cy, 0.0, cy - hi_y)
        if node_width[v] ** 2 < theta * theta * (gap_x * gap_x + gap_y * gap_y):
            cells[length, 0] = cx
            cells[length, 1] = cy
            cells[length, 2] = node_end[v] - node_start[v]
            length += 1
        else:
            for c in range(node_nchild[v]):
                stack[top] = node_child[v] + c
                top += 1
    return length


def _place(
    ref: NDArray[np.float64],
    idx: NDArray[np.int64],
    weights: NDArray[np.float64],
    field: Field,
    n_iter: int,
    out: NDArray[np.float64],
    lo: int,
    hi: int,
) -> None:
    hi = min(hi, len(idx))
    _place_kernel(ref, idx, weights, field.values, field.origin, field.spacing, n_iter, out, lo, hi)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _place_kernel(
    ref: NDArray[np.float64],
    idx: NDArray[np.int64],
    weights: NDArray[np.float64],
    values: NDArray[np.float64],
    origin: NDArray[np.float64],
    spacing: float,
    n_iter: int,
    out: NDArray[np.float64],
    lo: int,
    hi: int,
) -> None:
    """Points ``lo:hi``: start at the weighted mean of their neighbours, then ``n_iter`` steps
    with momentum and gains (openTSNE's), each point on its own."""
    k = idx.shape[1]
    for i in range(lo, hi):
        yx, yy = 0.0, 0.0
        for a in range(k):
            yx += weights[i, a] * ref[idx[i, a], 0]
            yy += weights[i, a] * ref[idx[i, a], 1]
        ux, uy, gain_x, gain_y = 0.0, 0.0, 1.0, 1.0
        for _ in range(n_iter):
            ax, ay = 0.0, 0.0
            for a in range(k):
                dx = yx - ref[idx[i, a], 0]
                dy = yy - ref[idx[i, a], 1]
                pq = weights[i, a] / (1.0 + dx * dx + dy * dy)
                ax += pq * dx
                ay += pq * dy
            rx, ry, z = _look_up(values, origin, spacing, yx, yy)
            gx = PLACE_EXAGGERATION * ax - rx / z
            gy = PLACE_EXAGGERATION * ay - ry / z
            norm = np.sqrt(gx * gx + gy * gy)
            if norm > PLACE_MAX_GRAD_NORM:
                gx *= PLACE_MAX_GRAD_NORM / norm
                gy *= PLACE_MAX_GRAD_NORM / norm
            gain_x = gain_x + 0.2 if np.sign(ux) != np.sign(gx) else gain_x * 0.8 + _MIN_GAIN
            gain_y = gain_y + 0.2 if np.sign(uy) != np.sign(gy) else gain_y * 0.8 + _MIN_GAIN
            ux = PLACE_MOMENTUM * ux - PLACE_LEARNING_RATE * gain_x * gx
            uy = PLACE_MOMENTUM * uy - PLACE_LEARNING_RATE * gain_y * gy
            yx += ux
            yy += uy
        out[i, 0] = yx
        out[i, 1] = yy


@numba.njit(cache=True, nogil=True)
def _look_up(
    values: NDArray[np.float64], origin: NDArray[np.float64], spacing: float, px: float, py: float
) -> tuple[float, float, float]:
    """The field at ``(px, py)``, bilinear between the four grid nodes around it (clamped to
    the grid)."""
    side = values.shape[0]
    fx = min(max((px - origin[0]) / spacing, 0.0), side - 1.000001)
    fy = min(max((py - origin[1]) / spacing, 0.0), side - 1.000001)
    a, b = int(fx), int(fy)
    tx, ty = fx - a, fy - b
    w00, w01 = (1 - tx) * (1 - ty), (1 - tx) * ty
    w10, w11 = tx * (1 - ty), tx * ty
    return (
        w00 * values[a, b, 0]
        + w01 * values[a, b + 1, 0]
        + w10 * values[a + 1, b, 0]
        + w11 * values[a + 1, b + 1, 0],
        w00 * values[a, b, 1]
        + w01 * values[a, b + 1, 1]
        + w10 * values[a + 1, b, 1]
        + w11 * values[a + 1, b + 1, 1],
        w00 * values[a, b, 2]
        + w01 * values[a, b + 1, 2]
        + w10 * values[a + 1, b, 2]
        + w11 * values[a + 1, b + 1, 2],
    )
