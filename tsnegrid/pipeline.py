"""The run: every stage called in order, each timed.

``run(config)`` is a chain of plain function calls; it is the only place that reads the clock.
It writes nothing but the cache: the report is written by :func:`tsnegrid.report.write_docs`.
"""

from __future__ import annotations

import resource
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from tsnegrid.assign.assignment import assign_to_grid
from tsnegrid.assign.grid import near_square_grid
from tsnegrid.config import DEFAULT_MAX_IMAGES, Config
from tsnegrid.data import (
    fingerprint,
    load_dataset,
    load_features,
    load_image_folder,
    sample_index,
    subset,
)
from tsnegrid.embed import (
    embed_tsne,
    feature_neighbours,
    pixel_features,
    reduce_pca,
    tsne_neighbour_count,
)
from tsnegrid.errors import UsageError
from tsnegrid.quality.assess import assess_quality
from tsnegrid.report.draw import draw_figures
from tsnegrid.results import (
    Embedding,
    GridAssignment,
    ImageSet,
    LayoutPlan,
    Neighbours,
    Progress,
    RunResult,
    StageTime,
)
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


#: Called after each stage (the CLI prints progress with it).
StageCallback = Callable[[StageTime], None]
#: Called during a long stage with its name and the fraction done.
ProgressCallback = Callable[[str, float], None]


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
    # numba starts on a thread while the images are read (see _warm_up); waited for at the end,
    # so no thread outlives the run.
    compiling: list[subprocess.Popen[bytes]] = []
    warm = threading.Thread(target=_warm_up, args=(on_note, compiling), name="tsnegrid-numba")
    warm.start()
    try:
        with single_thread_blas():
            return _run(config, on_stage, on_progress, on_note)
    finally:
        warm.join()
        for process in compiling:  # it only fills numba's cache: nothing is lost
            process.kill()
            process.wait()


def _warm_up(
    on_note: Callable[[str], None] | None, compiling: list[subprocess.Popen[bytes]]
) -> None:
    """Start numba early. In a fresh environment, where numba compiles every kernel once, say
    so and compile the last stages' kernels in a second process meanwhile (see
    :mod:`tsnegrid.runtime.kernels`)."""
    from tsnegrid.embed.knn import warm_up
    from tsnegrid.runtime.kernels import start_background_compile, uncompiled

    with suppress(Exception):  # only an early start: the stages report any real failure
        if uncompiled():
            if on_note is not None:
                on_note(FIRST_RUN_NOTE)
            process = start_background_compile()
            compiling.extend([] if process is None else [process])
        warm_up()


FIRST_RUN_NOTE = (
    "first run in this environment: numba compiles tsnegrid's kernels once (about 20 s on two "
    "cores, in two processes); later runs load them in milliseconds"
)


def _run(
    config: Config,
    on_stage: StageCallback | None,
    on_progress: ProgressCallback | None,
    on_note: Callable[[str], None] | None,
) -> RunResult:
    stage = _Stages(config, _StageTimer(on_stage), on_progress)
    with stage.timer.stage("load"):
        everything, images, raw, plan = _load(config)
    features = stage.cached(
        "pca",
        {"input": array_digest(raw), "dims": config.pca},
        lambda: reduce_pca(raw, n_components=config.pca, seed=config.seed, threads=config.threads),
        np.ndarray,
    )
    cpu_start = sample_cpus()  # how busy the machine is, watched while we search
    with stage.timer.stage("neighbours"):
        # One exact search, shared by t-SNE's affinities and the quality stage.
        neighbours = _neighbours(features, config)
    threads = partial(_tsne_threads, config.threads, on_note, cpu_start)
    embedding = stage.tsne(features, neighbours, threads)
    assignment = stage.assign(embedding, plan)
    with stage.timer.stage("quality"):
        quality = assess_quality(
            features,
            embedding.points,
            assignment.node_of_point,
            images.labels,
            plan.rows,
            plan.cols,
            seed=config.seed,
            threads=config.threads,
            neighbours=None if neighbours is None else neighbours.indices,
            progress=stage.progress("quality"),
        )
    with stage.timer.stage("figures"):
        figs = draw_figures(
            images,
            features,
            embedding,
            assignment,
            threads=config.threads,
            progress=stage.progress("figures"),
        )
    return RunResult(
        config=config,
        images=images,
        n_available=everything.n_images,
        dataset_sha256=fingerprint(everything),
        plan=plan,
        features=features,
        embedding=embedding,
        assignment=assignment,
        quality=quality,
        figures=figs,
        timings=tuple(stage.timer.timings),
    )


class _Stages:
    """The cached stages of one run: each keyed by its input, parameters, seed and code."""

    def __init__(
        self, config: Config, timer: _StageTimer, on_progress: ProgressCallback | None
    ) -> None:
        self.config, self.timer, self.on_progress = config, timer, on_progress
        self.policy = CachePolicy(root=config.cache_dir, read=not config.force)

    def progress(self, name: str) -> Progress | None:
        callback = self.on_progress
        return None if callback is None else (lambda fraction: callback(name, fraction))

    def cached(
        self, name: str, parts: dict[str, Any], compute: Callable[[], T], kind: type[T]
    ) -> T:
        parts = {**parts, "seed": self.config.seed, "code": code_version(STAGE_CODE[name])}
        with self.timer.stage(name) as outcome:
            value, result = cached(self.policy, name, parts, compute, kind, time.perf_counter)
            outcome.append(result)
        return value

    def tsne(
        self,
        features: NDArray[np.float64],
        neighbours: Neighbours | None,
        threads: Callable[[], int],
    ) -> Embedding:
        c = self.config
        return self.cached(
            "tsne",
            {
                "input": array_digest(features),
                "perplexity": c.perplexity,
                "iter": c.tsne_iter,
                "engine": c.tsne,
            },
            lambda: embed_tsne(
                features,
                perplexity=c.perplexity,
                seed=c.seed,
                max_iter=c.tsne_iter,
                engine=c.tsne,
                threads=threads(),
                progress=self.progress("tsne"),
                neighbours=neighbours,
            ),
            Embedding,
        )

    def assign(self, embedding: Embedding, plan: LayoutPlan) -> GridAssignment:
        solver = self.config.solver
        return self.cached(
            "assignment",
            {
                "input": array_digest(embedding.points),
                "grid": [plan.rows, plan.cols],
                "solver": solver,
            },
            lambda: assign_to_grid(embedding.points, plan.rows, plan.cols, solver=solver),
            GridAssignment,
        )


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


#: The module each cached stage runs; its key covers every module of ours that one imports,
#: transitively, and the libraries they import (:func:`~tsnegrid.runtime.cache.code_version`).
STAGE_CODE = {
    "pca": "tsnegrid.embed.pca",
    "tsne": "tsnegrid.embed.tsne",
    "assignment": "tsnegrid.assign.assignment",
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


def _load(config: Config) -> tuple[ImageSet, ImageSet, NDArray[np.floating], LayoutPlan]:
    """Every image of the input, the sample laid out, its raw features, and the grid."""
    if config.images is not None:
        everything = load_image_folder(
            config.images, thumb_px=config.thumb_px, strict=config.strict_input
        )
    else:
        everything = load_dataset(config.dataset, data_dir=config.data_dir, threads=config.threads)
    plan = plan_layout(config, everything.n_images)
    index = sample_index(everything.n_images, plan.n_images, seed=config.seed)
    images = subset(everything, index)
    if config.features is None:
        raw: NDArray[np.floating] = pixel_features(images.pixels)
    else:
        raw = load_features(config.features, everything.names)[index]
    return everything, images, raw, plan
