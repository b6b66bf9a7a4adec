"""The stages of one run as :func:`tsnegrid.pipeline.run` calls them: timed, and cached where
recomputing costs.

Each cached stage is keyed by its input's digest, its parameters, the seed and its code (every
module of ours its entry module imports, transitively, and the libraries they import). The
stage functions themselves live in the sub-packages; this module only wires the config to them.
"""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from tsnegrid.config import Config
from tsnegrid.results import (
    Artifact,
    Embedding,
    GridAssignment,
    ImageSet,
    LayoutPlan,
    Neighbours,
    NeighbourSearch,
    PolishedLayout,
    Progress,
    QualityReport,
    StageTime,
)
from tsnegrid.runtime.cache import CacheOutcome, CachePolicy, array_digest, cached, code_version
from tsnegrid.runtime.workers import CpuSample, allowed_cpus, busy_cores, threads_to_use

T = TypeVar("T")
#: Called after each stage (the CLI prints progress with it).
StageCallback = Callable[[StageTime], None]
#: Called during a long stage with its name and the fraction done.
ProgressCallback = Callable[[str, float], None]

#: The module each cached stage runs; its key covers every module of ours that one imports,
#: transitively, and the libraries they import (:func:`~tsnegrid.runtime.cache.code_version`).
STAGE_CODE = {
    "pca": "tsnegrid.embed.pca",
    "neighbours": "tsnegrid.embed.approx",
    "tsne": "tsnegrid.embed.tsne",
    "assignment": "tsnegrid.assign.assignment",
    "polish": "tsnegrid.layout.polish",
}


class Stages:
    """The stages of one run, with its config, its timer, its cache and its callbacks."""

    def __init__(
        self,
        config: Config,
        on_stage: StageCallback | None,
        on_progress: ProgressCallback | None,
        on_note: Callable[[str], None] | None,
        cluster: Any = None,
    ) -> None:
        self.config, self.on_progress, self.on_note = config, on_progress, on_note
        self.cluster = cluster  # --dask: a checked distributed.Client, for the map's tiles
        self.timer = StageTimer(on_stage)
        self.policy = CachePolicy(root=config.cache_dir, read=not config.force)

    def progress(self, name: str) -> Progress | None:
        callback = self.on_progress
        return None if callback is None else (lambda fraction: callback(name, fraction))

    def cached(
        self,
        name: str,
        parts: Callable[[], dict[str, Any]],
        compute: Callable[[], T],
        kind: type[T],
    ) -> T:
        """The stage ``name``'s result, through the cache; ``parts`` returns what keys it (called
        only where there is a cache: it hashes the stage's input)."""

        def key() -> dict[str, Any]:
            code = code_version(STAGE_CODE[name])
            return {**parts(), "seed": self.config.seed, "code": code}

        with self.timer.stage(name) as outcome:
            value, result = cached(self.policy, name, key, compute, kind, time.perf_counter)
            outcome.append(result)
        return value

    def pca(self, raw: NDArray[np.floating]) -> NDArray[np.float64]:
        from tsnegrid.embed import reduce_pca

        c = self.config
        return self.cached(
            "pca",
            lambda: {"input": array_digest(raw), "dims": c.pca},
            lambda: reduce_pca(raw, n_components=c.pca, seed=c.seed, threads=c.threads),
            np.ndarray,
        )

    def neighbours(self, features: NDArray[np.float64]) -> Neighbours | None:
        """Each image's nearest neighbours, searched once for t-SNE and the quality stage:
        exact, or approximate (with its measured recall) where exact is quadratic. None where
        t-SNE embeds a sample and searches that sample's neighbours itself (the quality stage
        then searches those of its own sample of images)."""
        from tsnegrid.embed import tsne_neighbour_count
        from tsnegrid.embed.approx import resolve_method
        from tsnegrid.embed.tsne import samples

        n = len(features)
        if n < 2 or samples(self.config.tsne, n):
            return None
        k = tsne_neighbour_count(n, self.config.perplexity)
        method = resolve_method(self.config.neighbours, n)
        if method == "exact":  # fast enough that caching it would cost more than it saves
            from tsnegrid.embed import feature_neighbours

            with self.timer.stage("neighbours"):
                return feature_neighbours(features, k, threads=self.config.threads)
        return self.cached(
            "neighbours",
            lambda: {"input": array_digest(features), "k": k, "method": method},
            lambda: _approximate_neighbours(features, k, self.config, self.progress("neighbours")),
            Neighbours,
        )

    def tsne(
        self, features: NDArray[np.float64], neighbours: Neighbours | None, since: CpuSample | None
    ) -> Embedding:
        from tsnegrid.embed import embed_tsne

        c = self.config
        return self.cached(
            "tsne",
            lambda: {
                "input": array_digest(features),
                "perplexity": c.perplexity,
                "iter": c.tsne_iter,
                "engine": c.tsne,
                "neighbours": None if neighbours is None else array_digest(neighbours.indices),
            },
            lambda: embed_tsne(
                features,
                perplexity=c.perplexity,
                seed=c.seed,
                max_iter=c.tsne_iter,
                engine=c.tsne,
                threads=_tsne_threads(c.threads, self.on_note, since),
                progress=self.progress("tsne"),
                neighbours=neighbours,
            ),
            Embedding,
        )

    def assign(self, embedding: Embedding, plan: LayoutPlan) -> GridAssignment:
        from tsnegrid.assign import assign_to_grid

        c = self.config
        usable = plan.usable
        return self.cached(
            "assignment",
            lambda: {
                "input": array_digest(embedding.points),
                "grid": [plan.rows, plan.cols],
                "solver": c.solver,
                "usable": None if usable is None else array_digest(usable),
            },
            lambda: assign_to_grid(
                embedding.points,
                plan.rows,
                plan.cols,
                solver=c.solver,
                usable=usable,
                threads=c.threads,
            ),
            GridAssignment,
        )

    def polish(
        self, features: NDArray[np.float64], assignment: GridAssignment, plan: LayoutPlan
    ) -> PolishedLayout | None:
        from tsnegrid.layout import polish_layout

        c = self.config
        if not c.polish or len(features) < 2:  # one image has no neighbour to be near
            return None
        nodes, usable = assignment.node_of_point, plan.usable
        return self.cached(
            "polish",
            lambda: {
                "input": array_digest(features, nodes),
                "grid": [plan.rows, plan.cols],
                "usable": None if usable is None else array_digest(usable),
            },
            lambda: polish_layout(
                features,
                nodes,
                plan.rows,
                plan.cols,
                usable=usable,
                seed=c.seed,
                threads=c.threads,
                progress=self.progress("polish"),
            ),
            PolishedLayout,
        )

    def quality(
        self,
        features: NDArray[np.float64],
        embedding: Embedding,
        final: NDArray[np.intp],
        labels: NDArray[np.int64],
        plan: LayoutPlan,
        neighbours: Neighbours | None,
        *,
        assigned: NDArray[np.intp] | None,
    ) -> QualityReport:
        from tsnegrid.quality import assess_quality

        c = self.config
        with self.timer.stage("quality"):
            return assess_quality(
                features,
                embedding.points,
                final,
                labels,
                plan.rows,
                plan.cols,
                seed=c.seed,
                threads=c.threads,
                neighbours=None if neighbours is None else neighbours.indices,
                assigned=assigned,
                usable=plan.usable,
                progress=self.progress("quality"),
            )

    def figures(
        self,
        images: ImageSet,
        features: NDArray[np.float64],
        embedding: Embedding,
        assignment: GridAssignment,
        final: NDArray[np.intp],
    ) -> tuple[Artifact, ...]:
        from tsnegrid.report.draw import draw_figures

        with self.timer.stage("figures"):
            return draw_figures(
                images,
                features,
                embedding,
                assignment,
                final,
                threads=self.config.threads,
                progress=self.progress("figures"),
                cluster=self.cluster,
            )


def _approximate_neighbours(
    features: NDArray[np.float64], k: int, config: Config, progress: Progress | None
) -> Neighbours:
    from tsnegrid.embed.approx import approximate_neighbours, neighbour_recall

    found = approximate_neighbours(
        features, k, seed=config.seed, threads=config.threads, progress=progress
    )
    recall = neighbour_recall(features, found.indices, seed=config.seed, threads=config.threads)
    return dataclasses.replace(found, recall=recall)


def search_of(neighbours: Neighbours | None) -> NeighbourSearch | None:
    """What the report says about the neighbour search."""
    if neighbours is None:
        return None
    return NeighbourSearch(neighbours.method, neighbours.indices.shape[1], neighbours.recall)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageTimer:
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
