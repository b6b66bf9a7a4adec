"""t-SNE: from features to points in the unit square, with one of three engines.

Pure functions: each takes arrays and keyword-only parameters (the seed among them) and returns
new arrays; nothing here reads a file, prints or looks at the clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tsnegrid.config import TsneEngine, choices
from tsnegrid.embed.neighbours import feature_neighbours, max_perplexity, tsne_neighbour_count
from tsnegrid.results import Embedding, Neighbours, Progress

if TYPE_CHECKING:
    from tsnegrid.embed.bhtsne import Schedule

#: Above this many points our engine embeds a seeded sample (half this many, or a tenth of the
#: points if more) and places and refines the others (:mod:`tsnegrid.embed.sampled`). At 200,000
#: Fashion-MNIST points, t-SNE of all takes 384 CPU-s on 2 threads (57 of them the neighbour
#: search), about what the pipeline can give t-SNE at any size; at 1,000,000 the sampled path
#: takes 367 CPU-s (benchmarks/million.py).
SAMPLE_FROM = 200_000


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
    sample_from: int = SAMPLE_FROM,
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
        own search (same result); ignored by scikit-learn, and above ``sample_from``.
    sample_from : above this many points our engine embeds a seeded sample of
        :func:`sample_size` points, places the others against it and refines all together
        (:func:`tsnegrid.embed.sampled.sampled_tsne`, with a note); the other engines always
        embed all points.

    Returns
    -------
    Embedding with (n, 2) points in [0, 1]^2.
    """
    n = len(features)
    used, notes = _usable_perplexity(perplexity, n)
    if _all_identical(features):
        notes.append("All images are identical: every point sits at the centre.")
        return Embedding(points=np.full((n, 2), 0.5), perplexity=used, notes=tuple(notes))
    if n < 4:
        notes.append(f"{n} images are too few for t-SNE: they are spread on a line by PCA score.")
        return Embedding(points=_line_layout(features), perplexity=used, notes=tuple(notes))
    if samples(engine, n, sample_from):
        size = sample_size(n, sample_from)
        return _sampled_embedding(features, used, notes, size, seed, max_iter, threads, progress)
    if neighbours is not None and neighbours.indices.shape[1] != tsne_neighbour_count(n, used):
        neighbours = None  # not the neighbours t-SNE's affinities use
    run_engine = {"tsnegrid": _own_tsne, "opentsne": _opentsne, "sklearn": _sklearn_tsne}[engine]
    raw = run_engine(
        features,
        perplexity=used,
        seed=seed,
        threads=threads,
        progress=progress,
        max_iter=max_iter or DEFAULT_ITER[engine],
        neighbours=neighbours,
    )
    return Embedding(points=normalise_unit(raw), perplexity=used, notes=tuple(notes))


def samples(engine: str, n: int, sample_from: int = SAMPLE_FROM) -> bool:
    """Whether :func:`embed_tsne` embeds a sample of ``n`` points (and searches only the
    sample's neighbours itself)."""
    return engine == "tsnegrid" and n > sample_from


def sample_size(n: int, sample_from: int = SAMPLE_FROM) -> int:
    """Points in the t-SNE sample of ``n`` > ``sample_from`` points: half of ``sample_from``, or
    a tenth of ``n`` if more."""
    return max(sample_from // 2, n // 10)


def _sampled_embedding(
    features: NDArray[np.floating],
    perplexity: float,
    notes: list[str],
    sample_size: int,
    seed: int,
    max_iter: int | None,
    threads: int,
    progress: Progress | None,
) -> Embedding:
    """t-SNE of a seeded sample of ``sample_size`` points, the others placed against it."""
    from tsnegrid.embed.sampled import sample_note, sampled_tsne

    perplexity = min(perplexity, max_perplexity(sample_size))
    sampled = sampled_tsne(
        features,
        perplexity=perplexity,
        seed=seed,
        sample_size=sample_size,
        schedule=_schedule(max_iter or DEFAULT_ITER["tsnegrid"]),
        threads=threads,
        progress=progress,
    )
    notes.append(sample_note(len(features), sample_size))
    return Embedding(
        points=normalise_unit(sampled.points), perplexity=perplexity, notes=tuple(notes)
    )


def _usable_perplexity(perplexity: float, n: int) -> tuple[float, list[str]]:
    """``perplexity``, or the largest one ``n`` points allow, with a note saying so."""
    if perplexity <= max_perplexity(n):
        return float(perplexity), []
    used = max_perplexity(n)
    return used, [
        f"Perplexity {perplexity:g} is too large for {n} images; t-SNE used {used:g} "
        "(at most (N - 1) / 3)."
    ]


TSNE_ENGINES = choices(TsneEngine)
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
    *,
    perplexity: float,
    seed: int,
    max_iter: int,
    threads: int,
    progress: Progress | None,
    neighbours: Neighbours | None,
) -> NDArray[np.float64]:
    from tsnegrid.embed import bhtsne

    if neighbours is None:
        k = tsne_neighbour_count(len(features), perplexity)
        neighbours = feature_neighbours(features, k, threads=threads)

    init = bhtsne.initial_layout(features, seed=seed)
    return bhtsne.tsne(
        neighbours.indices,
        neighbours.distances,
        init,
        perplexity=perplexity,
        schedule=_schedule(max_iter),
        threads=threads,
        progress=progress,
    )


def _schedule(max_iter: int) -> Schedule:
    """Our engine's schedule: :data:`EARLY_EXAGGERATION_ITER` exaggerated iterations, then the
    rest of ``max_iter`` (at least one)."""
    from tsnegrid.embed import bhtsne

    return bhtsne.Schedule(
        early_iter=EARLY_EXAGGERATION_ITER, late_iter=max(max_iter - EARLY_EXAGGERATION_ITER, 1)
    )


def _sklearn_tsne(
    features: NDArray[np.floating],
    *,
    perplexity: float,
    seed: int,
    max_iter: int,
    threads: int,
    progress: Progress | None,
    neighbours: Neighbours | None,
) -> NDArray[np.float64]:
    """scikit-learn's Barnes-Hut, the notebook's; it reports no progress and finds its own
    neighbours."""
    from sklearn.manifold import TSNE  # the notebook's engine, imported only when chosen

    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        learning_rate="auto",
        max_iter=max_iter,
        random_state=seed,
        n_jobs=threads,
    )
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
        n_components=2,
        perplexity=perplexity,
        initialization="pca",
        neighbors="exact",
        early_exaggeration_iter=EARLY_EXAGGERATION_ITER,
        n_iter=n_iter,
        random_state=seed,
        n_jobs=threads,
        verbose=False,
        callbacks=callbacks,
        callbacks_every_iters=25,
    )
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
