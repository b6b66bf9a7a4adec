"""The quality stage: the run's layout scored beside two baselines on the same data and grid.

So that a number means something, every report scores three arrangements of the same sample on
the same grid: t-SNE + exact assignment (ours), a random arrangement, and a sorting-based one
(first principal component along rows, second within each row).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.quality.baselines import random_layout, sorted_layout
from tsnegrid.quality.dpq import anchors_for, dpq_many
from tsnegrid.quality.metrics import (
    evaluate_layout,
    layout_ks,
    nearest_candidates,
    quality_to_json,
)
from tsnegrid.results import Estimate, LayoutQuality, QualityReport, ScoredLayout
from tsnegrid.runtime.workers import submit, worker_pool

if TYPE_CHECKING:
    from tsnegrid.results import Progress

QUALITY_SCHEMA = "tsnegrid.quality"
QUALITY_SCHEMA_VERSION = 1
#: Above this many images, neighbourhood preservation is averaged over a seeded sample of
#: ``NP_SAMPLE`` of them (their neighbours are still searched among all): exact search is
#: quadratic, and each image's share lies in [0, 1], so the standard error is at most
#: 0.5 / sqrt(5,000) = 0.007.
NP_EXACT_MAX = 100_000
NP_SAMPLE = 5_000


def assess_quality(
    features: NDArray[np.float64],
    points: NDArray[np.float64],
    node_of_point: NDArray[np.intp],
    labels: NDArray[np.int64],
    rows: int,
    cols: int,
    *,
    seed: int,
    threads: int = 1,
    progress: Progress | None = None,
    neighbours: NDArray[np.intp] | None = None,
    assigned: NDArray[np.intp] | None = None,
    usable: NDArray[np.bool_] | None = None,
) -> QualityReport:
    """Score the layout and the random and sorted baselines (features: the PCA features).

    ``progress`` is called with the fraction done after each step (the shared neighbour search,
    DPQ of all arrangements, then the other numbers of each). ``neighbours``: each image's
    nearest others in feature space, already found (the t-SNE stage's), from which the
    neighbour search starts. ``assigned``: when ``node_of_point`` is a polished layout, the
    t-SNE + LAP layout it started from, scored beside it. ``usable``: the cells a mask leaves,
    where the baselines go too.
    """
    n = len(features)
    if n < 2:
        return QualityReport(())  # every measure compares an image with others
    known = labels if np.any(labels >= 0) else None
    arrangements = _arrangements(
        features, points, node_of_point, assigned, rows, cols, seed=seed, usable=usable
    )
    # The slow parts, the feature-space neighbour search and the feature distances behind DPQ,
    # are done once for all three layouts.
    report = progress or (lambda fraction: None)
    sample = _np_rows(n, seed)
    start = neighbours if neighbours is None or sample is None else neighbours[sample]
    shared = nearest_candidates(features, max(layout_ks(n)), start=start, rows=sample)
    steps = len(arrangements) + 2
    report(1 / steps)
    dpqs = dpq_many(
        features,
        [a[2] for a in arrangements],
        rows,
        cols,
        n_anchors=anchors_for(n),
        seed=seed,
        threads=threads,
    )
    report(2 / steps)
    score = partial(
        evaluate_layout,
        features,
        labels=known,
        rows=rows,
        cols=cols,
        seed=seed,
        feature_candidates=shared,
        np_rows=sample,
    )
    scored = _score_each(arrangements, dpqs, score, threads, lambda step: report(step / steps))
    return QualityReport(tuple(scored))


def _score_each(
    arrangements: list[Arrangement],
    dpqs: list[Estimate],
    score: Callable[..., LayoutQuality],
    threads: int,
    done: Callable[[int], None],
) -> list[ScoredLayout]:
    """Each arrangement's other numbers (``score``), its neighbour searches and ranks on a worker
    thread of its own (NumPy, SciPy's k-d tree and the sorts release the GIL); every number is
    its own arrangement's, so the thread count changes none. ``done`` hears steps 3, 4, ..."""
    scored = []
    with worker_pool(min(threads, len(arrangements))) as pool:
        jobs = [
            submit(pool, partial(score, points=pts, node_of_point=nodes, dpq16=est))
            for (_, _, nodes, pts), est in zip(arrangements, dpqs, strict=True)
        ]
        for step, ((name, text, nodes, _), job) in enumerate(
            zip(arrangements, jobs, strict=True), start=3
        ):
            scored.append(ScoredLayout(name, text, nodes, job.result()))
            done(step)
    return scored


def _np_rows(n: int, seed: int) -> NDArray[np.intp] | None:
    """The seeded sample neighbourhood preservation averages over, or None for every image."""
    if n <= NP_EXACT_MAX:
        return None
    rng = np.random.default_rng([seed, 0x4E50])  # a stream of its own, apart from the others
    return np.sort(rng.choice(n, NP_SAMPLE, replace=False)).astype(np.intp)


Arrangement = tuple[str, str, NDArray[np.intp], NDArray[np.float64] | None]


def _arrangements(
    features: NDArray[np.float64],
    points: NDArray[np.float64],
    node_of_point: NDArray[np.intp],
    assigned: NDArray[np.intp] | None,
    rows: int,
    cols: int,
    *,
    seed: int,
    usable: NDArray[np.bool_] | None,
) -> list[Arrangement]:
    """(name, description, cells, t-SNE points or None) of every layout the page compares."""
    lap = "t-SNE, then the exact assignment to the grid"
    if assigned is None:
        ours: list[Arrangement] = [("t-SNE + LAP", lap, node_of_point, points)]
    else:
        polished = "t-SNE + LAP, then polished for distance preservation"
        ours = [
            ("polished", polished, node_of_point, points),
            ("t-SNE + LAP", lap, assigned, points),
        ]
    n = len(features)
    return [
        *ours,
        (
            "random",
            "a seeded random arrangement",
            random_layout(n, rows, cols, seed=seed, usable=usable),
            None,
        ),
        (
            "sorted",
            "sorted by PC 1 along rows, by PC 2 within each row",
            sorted_layout(features, rows, cols, usable=usable),
            None,
        ),
    ]


def quality_json(report: QualityReport) -> dict[str, Any]:
    """``quality.json``: every number of every arrangement, with schema keys."""
    return {
        "schema": QUALITY_SCHEMA,
        "schema_version": QUALITY_SCHEMA_VERSION,
        "layouts": [
            {"name": s.name, "description": s.description, **quality_to_json(s.quality)}
            for s in report.layouts
        ],
    }
