"""Approximate nearest neighbours (hnswlib's HNSW graphs) for collections where the exact search,
quadratic in the number of items, is too slow; and the recall that measures what they miss.

What is promised: the same ``features``, ``k`` and ``seed`` give the same neighbours and
distances for ANY number of threads, on the same machine. The graph is built on one thread
(hnswlib's parallel insertion races, so its graph would change from run to run), items inserted
in index order with levels drawn from ``seed``; the queries then run on ``threads`` threads, each
query a read-only walk of that graph, whose answer does not depend on which thread runs it.

What hnswlib cannot promise: the same graph on another CPU or another hnswlib build. Its float32
distance kernels depend on the instruction set (pip compiles it from source with -march=native;
AVX-512 is also chosen at run time), and a different rounding can turn the graph's walk
elsewhere, so another machine may return a few different neighbours (the recall stays the
same); a parallel build (not used here) would differ from run to run.

The distances returned are not hnswlib's: they are recomputed in float64 as the exact search
computes them (:func:`tsnegrid.embed.knn.pair_sq_distances`), and each row is
ordered by (distance, index), as the exact search orders it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tsnegrid.embed.knn import nearest_others, pair_sq_distances
from tsnegrid.errors import UsageError
from tsnegrid.results import Neighbours
from tsnegrid.runtime.workers import single_thread_blas, submit, worker_pool

#: ``auto`` uses the approximate search from this many items on (benchmarks/neighbours.py: at
#: 2 threads the exact search is quicker below it, the approximate one clearly quicker above).
AUTO_APPROX_FROM = 100_000
#: Graph degree (hnswlib's ``M``) and candidates kept while inserting (``ef_construction``):
#: recall@10 >= 0.998 on Fashion-MNIST PCA-100 at k = 90, in the least build time measured.
GRAPH_DEGREE = 16
BUILD_CANDIDATES = 50
#: Candidates kept while querying, beyond the k + 1 asked for (the item itself among them).
QUERY_EXTRA = 10
#: Items inserted per call (progress is reported between them; the graph is the same).
_INSERT_CHUNK = 20_000
#: Rows per block of the float64 distance recomputation on the worker threads.
_DISTANCE_BLOCK = 8192
#: Neighbours compared by :func:`neighbour_recall`.
RECALL_K = 10

Method = Literal["auto", "exact", "approx"]


def resolve_method(method: str, n_items: int) -> Literal["exact", "approx"]:
    """The search ``method`` stands for at ``n_items``: ``auto`` is ``approx`` from
    :data:`AUTO_APPROX_FROM` items on, else ``exact``."""
    if method == "auto":
        return "approx" if n_items >= AUTO_APPROX_FROM else "exact"
    if method in ("exact", "approx"):
        return method  # type: ignore[return-value]
    raise UsageError(f"--neighbours {method!r} is not a search method: use auto, exact or approx")


def approximate_neighbours(
    features: NDArray[np.floating],
    k: int,
    *,
    seed: int,
    threads: int = 1,
    progress: Callable[[float], None] | None = None,
) -> Neighbours:
    """Each row's ``k`` nearest other rows (approximately), nearest first, from an HNSW graph.

    Parameters
    ----------
    features : (n, d) floats, usually PCA scores; searched as float32, distances in float64.
    k : neighbours per row, in 1..n-1.
    seed : draws the graph's levels.
    threads : query threads; the result is the same for any count (the graph is built on one).
    progress : called with the fraction of the graph built so far (the build is most of it).

    Returns
    -------
    Neighbours with (n, k) indices (never the row itself) ordered by (distance, index), and
    (n, k) float64 euclidean distances computed as :func:`tsnegrid.embed.knn.nearest_others`
    computes them.
    """
    x = np.asarray(features)
    n = x.shape[0]
    if x.ndim != 2 or not 1 <= k <= n - 1:
        raise ValueError(f"need (n, d) features and k in 1..n-1; got shape {x.shape}, k={k}")
    x32 = x.astype(np.float32)
    index = build_index(x32, seed=seed, progress=progress)
    index.set_ef(k + 1 + QUERY_EXTRA)
    index.set_num_threads(max(1, threads))
    found = index.knn_query(x32, k=k + 1)[0].view(np.int64)  # labels < 2**63: no copy
    del index, x32  # the graph and the float32 copy: about as much memory as the answer
    return Neighbours(*_exact_order(x, drop_self(found, k), threads=threads), method="approx")


def search_parameters() -> dict[str, object]:
    """What the approximate neighbours depend on besides features, k and seed: for cache keys
    and the manifest (the library's version included: another build may find others)."""
    from importlib.metadata import version

    return {
        "library": "hnswlib",
        "version": version("hnswlib"),
        "M": GRAPH_DEGREE,
        "ef_construction": BUILD_CANDIDATES,
        "ef": f"k + 1 + {QUERY_EXTRA}",
    }


def build_index(x: NDArray[np.float32], *, seed: int, progress: Callable[[float], None] | None):  # type: ignore[no-untyped-def]
    """The HNSW graph of ``x``'s rows (labels = row indices), inserted in order on one thread."""
    hnswlib = _import_hnswlib()
    n, d = x.shape
    index = hnswlib.Index(space="l2", dim=d)
    index.init_index(
        max_elements=n, ef_construction=BUILD_CANDIDATES, M=GRAPH_DEGREE, random_seed=seed
    )
    index.set_num_threads(1)  # parallel insertion races: the graph would differ run to run
    for lo in range(0, n, _INSERT_CHUNK):
        hi = min(n, lo + _INSERT_CHUNK)
        index.add_items(x[lo:hi], np.arange(lo, hi), num_threads=1)
        if progress is not None:
            progress(hi / n)
    return index


def _import_hnswlib():  # type: ignore[no-untyped-def]
    try:
        import hnswlib
    except ImportError:
        raise UsageError(
            "--neighbours approx needs the hnswlib package: pip install hnswlib "
            "(or use --neighbours exact)"
        ) from None
    return hnswlib


def drop_self(found: NDArray[np.int64], k: int) -> NDArray[np.intp]:
    """(n, k + 1) query results -> (n, k): each row without itself (it is not always first:
    duplicates tie with it), or without its last candidate where it is absent."""
    keep = found != np.arange(len(found))[:, None]
    keep[keep.all(axis=1), k] = False  # itself not found: drop the farthest instead
    return found[keep].reshape(len(found), k).astype(np.intp, copy=False)


def _exact_order(
    x: NDArray[np.floating], indices: NDArray[np.intp], *, threads: int
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Each row's neighbours ordered by (distance, index), with their euclidean distances
    computed in float64 as the exact search computes them; blocks of rows on worker threads,
    written in place (one (n, k) float64 array more, not four)."""
    data = np.ascontiguousarray(x, dtype=np.float64)
    distances = np.empty(indices.shape)
    with worker_pool(threads) as pool:
        jobs = [
            submit(pool, _order_block, data, indices, distances, lo, lo + _DISTANCE_BLOCK)
            for lo in range(0, len(indices), _DISTANCE_BLOCK)
        ]
        for job in jobs:
            job.result()
    return indices, distances


def _order_block(
    data: NDArray[np.float64],
    indices: NDArray[np.intp],
    distances: NDArray[np.float64],
    lo: int,
    hi: int,
) -> None:
    block = indices[lo:hi]  # a view: sorted in place below
    sq = pair_sq_distances(data, np.arange(lo, lo + len(block)), block)
    order = np.lexsort((block, sq), axis=-1)
    block[:] = np.take_along_axis(block, order, 1)
    distances[lo:hi] = np.sqrt(np.take_along_axis(sq, order, 1))


def neighbour_recall(
    features: NDArray[np.floating],
    approx_indices: NDArray[np.intp],
    *,
    sample: int = 2000,
    seed: int,
    threads: int = 1,
) -> float:
    """Recall@10 of approximate neighbours against the exact search, on a seeded sample of rows.

    Parameters
    ----------
    features : (n, d) floats the neighbours were searched in.
    approx_indices : (n, k) each row's neighbours, nearest first (k >= 10, or k = n - 1).
    sample : rows checked (all rows when n is smaller), drawn with ``default_rng(seed)``.
    seed : draws the sample.
    threads : threads of the exact search; the result is the same for any count.

    Returns
    -------
    The mean, over the sampled rows, of the share of the exact 10 nearest others among the
    first 10 approximate ones (ties at the 10th distance broken by index), in [0, 1].
    """
    n = len(features)
    m = min(RECALL_K, n - 1)
    if approx_indices.shape[0] != n or approx_indices.shape[1] < m:
        raise ValueError(f"need ({n}, >={m}) neighbour indices, got {approx_indices.shape}")
    if m < 1:
        return 1.0
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    with single_thread_blas():  # OpenBLAS threads beside ours: ten times slower on 2 cores
        exact, _ = nearest_others(features, m, rows=rows, threads=threads)
    hits = [np.intersect1d(a, b).size for a, b in zip(approx_indices[rows, :m], exact, strict=True)]
    return float(np.sum(hits) / (m * rows.size))
