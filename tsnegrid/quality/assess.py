"""The quality stage: the run's layout scored beside two baselines on the same data and grid.

So that a number means something, every report scores three arrangements of the same sample on
the same grid: t-SNE + exact assignment (ours), a random arrangement, and a sorting-based one
(first principal component along rows, second within each row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid.quality.baselines import random_layout, sorted_layout
from tsnegrid.quality.dpq import dpq_many
from tsnegrid.quality.metrics import (
    evaluate_layout,
    layout_ks,
    nearest_candidates,
    quality_to_json,
)
from tsnegrid.results import QualityReport, ScoredLayout

if TYPE_CHECKING:
    from tsnegrid.results import Progress

QUALITY_SCHEMA = "tsnegrid.quality"
QUALITY_SCHEMA_VERSION = 1


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
) -> QualityReport:
    """Score the layout and the random and sorted baselines (features: the PCA features).

    ``progress`` is called with the fraction done after each of the five steps (the shared
    neighbour search, DPQ of all three arrangements, then the other numbers of each).
    ``neighbours``: each image's exact nearest others in feature space, already found (the
    t-SNE stage's), from which the neighbour search starts.
    """
    n = len(features)
    if n < 2:
        return QualityReport(())  # every measure compares an image with others
    known = labels if np.any(labels >= 0) else None
    arrangements = (
        ("t-SNE + LAP", "t-SNE, then the exact assignment to the grid", node_of_point, points),
        ("random", "a seeded random arrangement", random_layout(n, rows, cols, seed=seed), None),
        (
            "sorted",
            "sorted by PC 1 along rows, by PC 2 within each row",
            sorted_layout(features, rows, cols),
            None,
        ),
    )
    # The slow parts, the feature-space neighbour search and the feature distances behind DPQ,
    # are done once for all three layouts.
    report = progress or (lambda fraction: None)
    shared = nearest_candidates(features, max(layout_ks(n)), start=neighbours)
    report(1 / 5)
    dpqs = dpq_many(features, [a[2] for a in arrangements], rows, cols, seed=seed, threads=threads)
    report(2 / 5)
    scored = []
    for step, ((name, text, nodes, pts), est) in enumerate(
        zip(arrangements, dpqs, strict=True), start=3
    ):
        quality = evaluate_layout(
            features, pts, nodes, known, rows, cols, seed=seed, feature_candidates=shared, dpq16=est
        )
        scored.append(ScoredLayout(name, text, nodes, quality))
        report(step / 5)
    return QualityReport(tuple(scored))


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
