"""Features, PCA and t-SNE: from pixels to points in the unit square.

Pure functions: each takes arrays and keyword-only parameters (the seed among them) and returns
new arrays; nothing here reads a file, prints or looks at the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tsnegrid.embed.knn import nearest_others
from tsnegrid.runtime.workers import single_thread_blas, submit, worker_pool

#: Called with the fraction of a long computation done so far.
Progress = Callable[[float], None]


@dataclass(frozen=True)
class Embedding:
    """A 2-D embedding normalised to the unit square.

    Attributes
    ----------
    points : (n, 2) float64 in [0, 1], each axis min-max normalised (a constant axis sits at 0.5).
    perplexity : the perplexity t-SNE actually used.
    notes : sentences for the report about what was adjusted and why.
    """

    points: NDArray[np.float64]
    perplexity: float
    notes: tuple[str, ...] = ()


def pixel_features(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Flatten images and scale them to [0, 1].

    Parameters
    ----------
    pixels : (n, h, w) or (n, h, w, c) uint8.

    Returns
    -------
    (n, h*w[*c]) float32 in [0, 1].
    """
    flat = pixels.reshape(len(pixels), -1)
    return flat.astype(np.float32) / np.float32(255.0)


def reduce_pca(
    features: NDArray[np.floating], *, n_components: int, seed: int, threads: int = 1
) -> NDArray[np.float64]:
    """Project features onto their first principal components.

    Uses the exact covariance eigendecomposition (the fastest exact solver for tall, narrow data
    such as 70,000 x 784): the steps of scikit-learn's ``PCA(svd_solver="covariance_eigh")``, so
    the scores are the ones it computes (to 1e-10, tested), without the cost of importing it.
    Nothing is random; ``seed`` is accepted for a uniform stage signature. Each component's sign
    makes its largest-magnitude score positive.

    The matrix products run on one BLAS thread each, over fixed blocks of rows that ``threads``
    worker threads share and that are summed in block order: OpenBLAS's own threads would change
    the last bits with their number (and t-SNE magnifies them); these do not.

    Parameters
    ----------
    features : (n, d) floats.
    n_components : wanted dimensions; capped at min(n, d) (at least 1).
    threads : worker threads; the result is the same for any count.

    Returns
    -------
    (n, k) float64 with k = min(n_components, n, d).
    """
    n, d = features.shape
    k = max(1, min(n_components, n, d))
    if n < 2 or not np.any(features != features[:1]):
        return np.zeros((n, k))  # no variance: every projection is 0
    x = features.astype(np.float64, copy=False)
    mean = np.mean(x, axis=0)
    blocks = [slice(lo, lo + _PCA_BLOCK_ROWS) for lo in range(0, n, _PCA_BLOCK_ROWS)]
    with single_thread_blas(), worker_pool(threads) as pool:
        # The covariance from the uncentred Gram matrix (no centred copy of x), float64.
        grams = [submit(pool, _gram, x[rows]) for rows in blocks]
        cov = grams[0].result()
        for gram in grams[1:]:
            cov += gram.result()
        cov -= n * mean[:, None] * mean[None, :]
        cov /= n - 1
        _, vectors = np.linalg.eigh(cov)  # eigenvalues ascending
        axes = np.ascontiguousarray(vectors[:, ::-1][:, :k])  # (d, k), largest eigenvalue first
        reduced = np.empty((n, k))
        for job in [submit(pool, _project, x, axes, rows, reduced) for rows in blocks]:
            job.result()
        reduced -= mean[None, :] @ axes  # centre after projecting
    return _fix_signs(reduced)


#: Rows per block of PCA's products (fixed: the sums' order must not depend on the threads).
_PCA_BLOCK_ROWS = 4096


def _gram(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    return rows.T @ rows


def _project(
    x: NDArray[np.float64], axes: NDArray[np.float64], rows: slice, out: NDArray[np.float64]
) -> None:
    np.matmul(x[rows], axes, out=out[rows])


def _fix_signs(reduced: NDArray[np.float64]) -> NDArray[np.float64]:
    """Flip each component so its largest-magnitude score is positive (a stable convention)."""
    idx = np.abs(reduced).argmax(axis=0)
    signs = np.sign(reduced[idx, np.arange(reduced.shape[1])])
    signs[signs == 0] = 1.0
    return reduced * signs


@dataclass(frozen=True)
class Neighbours:
    """Each item's ``k`` nearest other items in feature space (exact, euclidean), nearest first.

    Computed once and shared: t-SNE's affinities and the quality stage's neighbourhoods both
    start from it.
    """

    indices: NDArray[np.intp]  # (n, k)
    distances: NDArray[np.float64]  # (n, k)


def tsne_neighbour_count(n_points: int, perplexity: float) -> int:
    """How many neighbours t-SNE's affinities use: ``3 * perplexity`` (capped as t-SNE caps
    the perplexity), at most ``n - 1``."""
    return min(n_points - 1, int(3 * min(perplexity, max_perplexity(n_points))))


def feature_neighbours(features: NDArray[np.floating], k: int, *, threads: int) -> Neighbours:
    """The exact ``k`` nearest other rows of every row, nearest first, ties by index.

    A brute-force search (:func:`tsnegrid.embed.knn.nearest_others`): the neighbours openTSNE's exact
    mode finds, and distances summed as its k-d tree sums them (bit for bit for up to 15
    features; beyond, its brute-force search may differ in the last bit). The same for any
    ``threads``.
    """
    indices, sq_distances = nearest_others(features, k, threads=threads)
    return Neighbours(indices, np.sqrt(sq_distances))


def max_perplexity(n_points: int) -> float:
    """The largest perplexity t-SNE accepts sensibly for ``n_points`` (``(n - 1) / 3``)."""
    return max(1.0, (n_points - 1) / 3.0)


def embed_tsne(
    features: NDArray[np.floating],
    *,
    perplexity: float,
    seed: int,
    max_iter: int | None = None,
    engine: str = "tsnegrid",
    threads: int = 1,
    progress: Progress | None = None,
    neighbours: Neighbours | None = None,
) -> Embedding:
    """t-SNE to 2-D with PCA initialisation, normalised to [0, 1] per axis.

    Parameters
    ----------
    features : (n, k) floats, usually the PCA output.
    perplexity : lowered to :func:`max_perplexity` (with a note) when too large for ``n``.
    seed : the t-SNE ``random_state``.
    max_iter : optimisation iterations, early exaggeration (250) included; None: the engine's
        own default (``DEFAULT_ITER``: ours and openTSNE's 750, scikit-learn's 1000, the
        notebook's).
    engine : ``"tsnegrid"`` (ours, :mod:`tsnegrid.embed.bhtsne`: openTSNE's method with a faster
        Barnes-Hut), ``"opentsne"`` (Barnes-Hut below 10,000 points, FFT-accelerated above,
        exact neighbours so the result does not depend on ``threads``) or ``"sklearn"`` (the
        notebook's Barnes-Hut).
    threads : worker threads; the result is the same for any count.
    progress : called with the fraction of iterations done (not by scikit-learn; the result
        does not depend on it).
    neighbours : :func:`feature_neighbours` of ``features`` for :func:`tsne_neighbour_count`
        neighbours (searched here when None or of another size); openTSNE given them skips its
        own search (same result); ignored by scikit-learn.

    Returns
    -------
    Embedding with (n, 2) points in [0, 1]^2.
    """
    n = len(features)
    notes: list[str] = []
    used = float(perplexity)
    if used > max_perplexity(n):
        used = max_perplexity(n)
        notes.append(
            f"Perplexity {perplexity:g} is too large for {n} images; t-SNE used {used:g} "
            "(at most (N - 1) / 3)."
        )
    if _all_identical(features):
        notes.append("All images are identical: every point sits at the centre.")
        return Embedding(points=np.full((n, 2), 0.5), perplexity=used, notes=tuple(notes))
    if n < 4:
        notes.append(f"{n} images are too few for t-SNE: they are spread on a line by PCA score.")
        return Embedding(points=_line_layout(features), perplexity=used, notes=tuple(notes))
    max_iter = max_iter or DEFAULT_ITER[engine]
    if neighbours is not None and neighbours.indices.shape[1] != tsne_neighbour_count(n, used):
        neighbours = None  # not the neighbours t-SNE's affinities use
    if engine == "tsnegrid":
        if neighbours is None:
            neighbours = feature_neighbours(features, tsne_neighbour_count(n, used),
                                            threads=threads)  # fmt: skip
        raw = _own_tsne(features, neighbours, perplexity=used, seed=seed, max_iter=max_iter,
                        threads=threads, progress=progress)  # fmt: skip
    elif engine == "opentsne":
        raw = _opentsne(features, perplexity=used, seed=seed, max_iter=max_iter, threads=threads,
                        progress=progress, neighbours=neighbours)  # fmt: skip
    else:
        raw = _sklearn_tsne(features, perplexity=used, seed=seed, max_iter=max_iter,
                            threads=threads)  # fmt: skip
    return Embedding(points=normalise_unit(raw), perplexity=used, notes=tuple(notes))


TSNE_ENGINES = ("tsnegrid", "opentsne", "sklearn")
EARLY_EXAGGERATION_ITER = 250
#: Each engine's own default number of iterations, early exaggeration included. openTSNE's is
#: enough: on 2,500 Fashion-MNIST images, 750 iterations keep the same 5-NN accuracy as 1,000
#: (0.76) in a third less time; late Barnes-Hut iterations are the slowest. Ours follows it.
DEFAULT_ITER = {"tsnegrid": 750, "opentsne": 750, "sklearn": 1000}


class _IterationCounter:
    """An openTSNE callback that reports the fraction done over both optimisation phases."""

    def __init__(self, progress: Progress, n_iter: int) -> None:
        self.progress = progress
        self.total = EARLY_EXAGGERATION_ITER + n_iter
        self.offset = 0
        self.last = 0

    def __call__(self, iteration: int, error: float, embedding: object) -> bool:
        if iteration < self.last:  # the second phase counts from 1 again
            self.offset = EARLY_EXAGGERATION_ITER
        self.last = iteration
        self.progress(min(1.0, (self.offset + iteration) / self.total))
        return False  # never stop early


def _own_tsne(
    features: NDArray[np.floating],
    neighbours: Neighbours,
    *,
    perplexity: float,
    seed: int,
    max_iter: int,
    threads: int,
    progress: Progress | None,
) -> NDArray[np.float64]:
    from tsnegrid.embed import bhtsne

    schedule = bhtsne.Schedule(early_iter=EARLY_EXAGGERATION_ITER,
                               late_iter=max(max_iter - EARLY_EXAGGERATION_ITER, 1))  # fmt: skip
    init = bhtsne.initial_layout(features, seed=seed)
    return bhtsne.tsne(neighbours.indices, neighbours.distances, init, perplexity=perplexity,
                       schedule=schedule, threads=threads, progress=progress)  # fmt: skip


def _sklearn_tsne(
    features: NDArray[np.floating], *, perplexity: float, seed: int, max_iter: int, threads: int
) -> NDArray[np.float64]:
    from sklearn.manifold import TSNE  # the notebook's engine, imported only when chosen

    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                max_iter=max_iter, random_state=seed, n_jobs=threads)  # fmt: skip
    return np.asarray(tsne.fit_transform(features.astype(np.float32, copy=False)), np.float64)


def _opentsne(
    features: NDArray[np.floating],
    *,
    perplexity: float,
    seed: int,
    max_iter: int,
    threads: int,
    progress: Progress | None,
    neighbours: Neighbours | None,
) -> NDArray[np.float64]:
    from openTSNE import TSNE as OpenTSNE
    from openTSNE.affinity import MultiscaleMixture
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    n_iter = max(max_iter - EARLY_EXAGGERATION_ITER, 1)
    callbacks = None if progress is None else _IterationCounter(progress, n_iter)
    # Exact neighbours: the approximate search makes the output depend on the thread count.
    tsne = OpenTSNE(
        n_components=2, perplexity=perplexity, initialization="pca", neighbors="exact",
        early_exaggeration_iter=EARLY_EXAGGERATION_ITER,
        n_iter=n_iter, random_state=seed, n_jobs=threads, verbose=False, callbacks=callbacks,
        callbacks_every_iters=25,
    )  # fmt: skip
    x = np.asarray(features, dtype=np.float64)
    if neighbours is None:
        return np.asarray(tsne.fit(x), dtype=np.float64)
    # The affinities openTSNE would build, from the neighbours already found.
    known = PrecomputedNeighbors(neighbours.indices, neighbours.distances)
    affinities = MultiscaleMixture(perplexities=perplexity, knn_index=known, n_jobs=threads)
    return np.asarray(tsne.fit(x, affinities=affinities), dtype=np.float64)


def normalise_unit(points: NDArray[np.floating]) -> NDArray[np.float64]:
    """Min-max normalise each column to [0, 1]; a constant column becomes 0.5."""
    pts = np.asarray(points, dtype=np.float64)
    lo = pts.min(axis=0)
    span = pts.max(axis=0) - lo
    safe = np.where(span > 0, span, 1.0)
    out = (pts - lo) / safe
    out[:, span <= 0] = 0.5
    return np.clip(out, 0.0, 1.0)


def _all_identical(features: NDArray[np.floating]) -> bool:
    return bool(np.all(features == features[0]))


def _line_layout(features: NDArray[np.floating]) -> NDArray[np.float64]:
    """Points on the horizontal midline, ordered by the first feature (the first PCA score)."""
    n = len(features)
    x = np.full(n, 0.5)
    if n > 1:
        x[np.argsort(features[:, 0], kind="stable")] = np.linspace(0.0, 1.0, n)
    return np.column_stack([x, np.full(n, 0.5)])
