"""The run: every stage called in order, each timed.

``run(config)`` is a chain of plain function calls; it is the only place that reads the clock.
It writes nothing: the report is written by :func:`tsnegrid.report.pages.write_docs`.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.assignment import GridAssignment, Solver, assign_to_grid
from tsnegrid.assign.grid import near_square_grid
from tsnegrid.config import DEFAULT_MAX_IMAGES, Config
from tsnegrid.data.datasets import (
    ImageSet,
    fingerprint,
    load_dataset,
    load_image_folder,
    sample_index,
    subset,
)
from tsnegrid.data.features import load_features
from tsnegrid.embed.tsne import (
    Embedding,
    Neighbours,
    Progress,
    embed_tsne,
    feature_neighbours,
    pixel_features,
    reduce_pca,
    tsne_neighbour_count,
)
from tsnegrid.errors import UsageError
from tsnegrid.quality.assess import QualityReport, assess_quality
from tsnegrid.quality.figures import plot_displacement_map, plot_seams
from tsnegrid.report import figures
from tsnegrid.report.encode import Artifact, MapCells, NamedFigure, render_figures
from tsnegrid.runtime.cache import CacheOutcome, CachePolicy, array_digest, cached, code_version
from tsnegrid.runtime.workers import (
    CpuSample,
    allowed_cpus,
    busy_cores,
    sample_cpus,
    single_thread_blas,
    threads_to_use,
)

T = TypeVar("T")


@dataclass(frozen=True)
class StageTime:
    """How long one stage took in this run, and whether it was computed or loaded.

    ``status`` is ``computed``, ``loaded`` (from the cache) or ``recomputed`` (the cache entry
    was corrupt); ``computed_seconds`` is what computing it took, in this run or the one that
    cached it. ``peak_mib`` is the process's peak resident memory so far, after the stage.
    """

    name: str
    seconds: float
    status: str = "computed"
    computed_seconds: float | None = None
    peak_mib: float = 0.0


#: Called after each stage (the CLI prints progress with it).
StageCallback = Callable[[StageTime], None]
#: Called during a long stage with its name and the fraction done.
ProgressCallback = Callable[[str, float], None]


def _partial(callback: ProgressCallback | None, name: str) -> Progress | None:
    return None if callback is None else (lambda fraction: callback(name, fraction))


@dataclass(frozen=True)
class LayoutPlan:
    """How many images go on which grid, decided from the config and the dataset size."""

    n_images: int
    rows: int
    cols: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    """Everything a run made; the report is rendered from this alone."""

    config: Config
    images: ImageSet
    n_available: int
    dataset_sha256: str
    plan: LayoutPlan
    features: NDArray[np.float64]
    embedding: Embedding
    assignment: GridAssignment
    quality: QualityReport
    figures: tuple[Artifact, ...]  # the page figures, the full map and its tiles, as files
    timings: tuple[StageTime, ...]

    @property
    def notes(self) -> tuple[str, ...]:
        """Everything the run adjusted, for the report."""
        return self.plan.notes + self.embedding.notes

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds of all stages together."""
        return sum(t.seconds for t in self.timings)

    @property
    def peak_mib(self) -> float:
        """Peak resident memory of the run, in MiB."""
        return max((t.peak_mib for t in self.timings), default=0.0)


def plan_layout(config: Config, n_available: int) -> LayoutPlan:
    """Decide N and the grid: ``--grid``/``--size`` fix the grid, ``--n``/``--all`` fix N.

    With neither, N is the whole dataset up to ``DEFAULT_MAX_IMAGES`` and the grid is the
    near-square one that fits it.
    """
    notes: list[str] = []
    fixed = config.grid or (None if config.size is None else (config.size, config.size))
    if fixed is not None:
        rows, cols = fixed
        wanted = config.n_images or (n_available if config.all_images else rows * cols)
        if wanted > rows * cols:
            raise UsageError(
                f"grid {rows}x{cols} has {rows * cols:,} cells but {wanted:,} images were asked "
                f"for: use a larger --grid or --n {rows * cols} or less"
            )
    else:
        wanted = config.n_images or (n_available if config.all_images else DEFAULT_MAX_IMAGES)
        rows, cols = near_square_grid(min(wanted, n_available))
    n = min(wanted, n_available)
    asked = config.n_images is not None or fixed is not None
    if n < wanted and asked:
        notes.append(f"The dataset has only {n_available:,} images, so all of them are used.")
    if n < rows * cols:
        empty = rows * cols - n
        verb = "stays" if empty == 1 else "stay"
        notes.append(f"{empty:,} of the {rows * cols:,} cells {verb} empty.")
    return LayoutPlan(n_images=n, rows=rows, cols=cols, notes=tuple(notes))


def run(
    config: Config,
    *,
    on_stage: StageCallback | None = None,
    on_progress: ProgressCallback | None = None,
    on_note: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the whole pipeline for ``config`` and return what it made (writes only the cache).

    BLAS is held to one thread meanwhile. The stages split their matrix products over worker
    threads of their own (PCA, neighbours, DPQ), in blocks fixed whatever the thread count:
    OpenBLAS's threads would change the last bits of PCA with their number (and t-SNE magnifies
    them), and its idle pool spins on the cores the workers need (DPQ took 0.25 s instead of
    0.14 s at 2,500 images). openTSNE and scikit-learn, imported only when chosen, get
    ``config.threads`` as their ``n_jobs``. ``--threads 1`` keeps every stage on one core.
    ``on_note`` hears about adjustments that change how long the run takes but not what it
    makes (t-SNE on fewer threads).
    """
    # numba starts on a thread while the images are read (see knn.warm_up); waited for at the
    # end, so no thread outlives the run.
    warm = threading.Thread(target=_warm_up, name="tsnegrid-numba", daemon=True)
    warm.start()
    try:
        with single_thread_blas():
            return _run(config, on_stage, on_progress, on_note)
    finally:
        warm.join()


def _warm_up() -> None:
    from tsnegrid.embed.knn import warm_up

    # Only an early start: the neighbour stage reports any real failure.
    with suppress(Exception):
        warm_up()


def _run(
    config: Config,
    on_stage: StageCallback | None,
    on_progress: ProgressCallback | None,
    on_note: Callable[[str], None] | None,
) -> RunResult:
    timer = _StageTimer(on_stage)
    policy = CachePolicy(root=config.cache_dir, read=not config.force)

    def cached_stage(
        name: str, parts: dict[str, Any], compute: Callable[[], T], kind: type[T]
    ) -> T:
        with timer.stage(name) as outcome:
            value, result = cached(policy, name, parts, compute, kind, time.perf_counter)
            outcome.append(result)
        return value

    with timer.stage("load"):
        everything = _load(config)
        plan = plan_layout(config, everything.n_images)
        index = sample_index(everything.n_images, plan.n_images, seed=config.seed)
        images = subset(everything, index)
        raw = (pixel_features(images.pixels) if config.features is None
               else load_features(config.features, everything.names)[index])  # fmt: skip
        digest = fingerprint(everything)
    features = cached_stage(
        "pca",
        {"input": array_digest(raw), "dims": config.pca, "seed": config.seed,
         "code": code_version("tsnegrid.embed.tsne", "numpy")},
        lambda: reduce_pca(raw, n_components=config.pca, seed=config.seed,
                           threads=config.threads),
        np.ndarray,
    )  # fmt: skip
    cpu_start = sample_cpus()  # how busy the machine is, watched while we search
    with timer.stage("neighbours"):
        # One exact search, shared by t-SNE's affinities and the quality stage.
        neighbours = _neighbours(features, config)
    embedding = cached_stage(
        "tsne",
        {"input": array_digest(features), "perplexity": config.perplexity,
         "iter": config.tsne_iter, "seed": config.seed, "engine": config.tsne,
         "code": code_version("tsnegrid.embed.tsne", "numpy", *TSNE_CODE[config.tsne])},
        lambda: embed_tsne(features, perplexity=config.perplexity, seed=config.seed,
                           max_iter=config.tsne_iter, engine=config.tsne,
                           threads=_tsne_threads(config.threads, on_note, cpu_start),
                           progress=_partial(on_progress, "tsne"), neighbours=neighbours),
        Embedding,
    )  # fmt: skip
    assignment = cached_stage(
        "assignment",
        {"input": array_digest(embedding.points), "grid": [plan.rows, plan.cols],
         "solver": config.solver,
         "code": code_version("tsnegrid.assign.assignment", "tsnegrid.assign.solver", "scipy", "lapjv")},
        lambda: assign_to_grid(
            embedding.points, plan.rows, plan.cols, solver=cast(Solver, config.solver)
        ),
        GridAssignment,
    )  # fmt: skip
    known = None if neighbours is None else neighbours.indices
    with timer.stage("quality"):
        quality = assess_quality(features, embedding.points, assignment.node_of_point,
                                 images.labels, plan.rows, plan.cols, seed=config.seed,
                                 threads=config.threads, neighbours=known,
                                 progress=_partial(on_progress, "quality"))  # fmt: skip
    with timer.stage("figures"):
        figs = _render(images, features, embedding, assignment, threads=config.threads,
                       progress=_partial(on_progress, "figures"))  # fmt: skip
    return RunResult(
        config=config, images=images, n_available=everything.n_images, dataset_sha256=digest,
        plan=plan, features=features, embedding=embedding, assignment=assignment, quality=quality,
        figures=figs, timings=tuple(timer.timings),
    )  # fmt: skip


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _StageTimer:
    """Times stages, records their cache outcome and reports each one as it ends."""

    def __init__(self, on_stage: StageCallback | None) -> None:
        self.on_stage = on_stage
        self.timings: list[StageTime] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[list[CacheOutcome]]:
        outcome: list[CacheOutcome] = []
        start = time.perf_counter()
        yield outcome
        seconds = time.perf_counter() - start
        done = outcome[0] if outcome else CacheOutcome("computed", seconds)
        timing = StageTime(name, seconds, done.status, done.computed_seconds, peak_rss_mib())
        self.timings.append(timing)
        if self.on_stage is not None:
            self.on_stage(timing)


#: What each t-SNE engine's result depends on besides ``tsnegrid.embed.tsne`` (the cache key).
TSNE_CODE = {
    "tsnegrid": ("tsnegrid.embed.bhtsne", "tsnegrid.embed.quadtree", "tsnegrid.embed.knn", "numba"),
    "opentsne": ("tsnegrid.embed.knn", "openTSNE"),
    "sklearn": ("scikit-learn",),
}


def _tsne_threads(
    threads: int, on_note: Callable[[str], None] | None, since: CpuSample | None
) -> int:
    """``threads``, or fewer when other processes kept some of this process's CPUs busy since
    ``since`` (the embedding is the same for any thread count; only its speed changes)."""
    if threads == 1:
        return 1
    cpus = allowed_cpus()
    busy = busy_cores(cpus, since=since)
    used = threads_to_use(threads, len(cpus), busy)
    if used < threads and on_note is not None:
        on_note(
            f"t-SNE runs on {used} of {threads} threads: other processes keep "
            f"{busy or 0:.1f} of the {len(cpus)} CPUs busy (the result is the same)"
        )
    return used


def _neighbours(features: NDArray[np.float64], config: Config) -> Neighbours | None:
    n = len(features)
    if n < 2:
        return None
    k = tsne_neighbour_count(n, config.perplexity)
    return feature_neighbours(features, k, threads=config.threads)


def _load(config: Config) -> ImageSet:
    if config.images is not None:
        return load_image_folder(config.images, thumb_px=config.thumb_px,
                                 strict=config.strict_input)  # fmt: skip
    return load_dataset(config.dataset, data_dir=config.data_dir, threads=config.threads)


def _render(
    images: ImageSet,
    features: NDArray[np.float64],
    embedding: Embedding,
    assignment: GridAssignment,
    *,
    threads: int,
    progress: Progress | None,
) -> tuple[Artifact, ...]:
    """Draw every figure and make the map's files, as bytes (see :func:`render_figures`)."""
    pts, labels, names = embedding.points, images.labels, images.class_names
    nodes, rows, cols = assignment.node_of_point, assignment.rows, assignment.cols
    mosaic = figures.compose_mosaic(images.pixels, nodes, rows, cols)
    figs = (
        NamedFigure("samples", figures.plot_samples(images.pixels, labels, names)),
        NamedFigure("scatter", figures.plot_scatter(pts, labels, names)),
        NamedFigure("overlay", figures.plot_overlay(pts, images.pixels)),
        NamedFigure("grid", figures.plot_grid(rows, cols)),
        NamedFigure("arrows", figures.plot_arrows(pts, nodes, rows, cols, labels, len(names))),
        NamedFigure("map", figures.mosaic_preview(mosaic)),
        NamedFigure("displacement", plot_displacement_map(pts, nodes, rows, cols)),
        NamedFigure("seams", plot_seams(features, nodes, rows, cols)),
    )
    cells = MapCells(images.names, labels, names, nodes, rows, cols)
    return render_figures(figs, mosaic, cells, threads=threads, progress=progress)
