"""The values the report's templates and ``manifest.json`` are filled from.

:func:`report_context` turns a :class:`~tsnegrid.results.RunResult` and the facts of the
environment (the command the user ran, the folder they ran it in) into plain JSON-ready values:
the one boundary where typed results become the mappings Jinja2 reads.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tsnegrid import __version__
from tsnegrid.embed.tsne import DEFAULT_ITER
from tsnegrid.quality.assess import quality_json
from tsnegrid.report.changes import no_baseline
from tsnegrid.report.encode import FULL_MAP_MAX_PIXELS, has_full_map
from tsnegrid.report.figures import MAX_SAMPLE_CLASSES
from tsnegrid.report.mosaic import map_scale, map_size
from tsnegrid.report.provenance import build_date, git_state, package_versions, thread_settings
from tsnegrid.results import RunResult

#: Names a page lists (classes, skipped files); the counts are complete, and every skipped file
#: is in ``skipped.csv``. A folder of a million files keeps its pages small.
LIST_LIMIT = 100


def report_context(result: RunResult, *, command: list[str], where: Path) -> dict[str, Any]:
    """Everything the templates show, plus the manifest, as JSON-ready values.

    ``command`` is the command line the user ran (``["tsnegrid", "--size", "50"]``), shown as
    the way to reproduce the report; ``where`` the folder they ran it in, whose git commit and
    state the provenance box records.
    """
    provenance = _provenance(result, command, where)
    summary = _run_summary(result)
    quality = quality_json(result.quality)
    return {
        "run": summary,
        "provenance": provenance,
        "timings": _timing_rows(result),
        "quality": [_quality_row(q) for q in quality["layouts"]],
        "quality_json": quality,
        "total_seconds": result.total_seconds,
        "peak_mib": result.peak_mib,
        "manifest": _manifest(result, summary, provenance),
        "changes": no_baseline().summary,  # the CLI replaces it when --baseline is given
    }


def _provenance(result: RunResult, command: list[str], where: Path) -> dict[str, Any]:
    git = git_state(where)
    return {
        "version": __version__,
        "git_commit": git.commit,
        "git_dirty": git.dirty,
        "build_date": build_date(),
        "config_hash": result.config.digest(),
        "command": shlex.join(command),
    }


def _run_summary(result: RunResult) -> dict[str, Any]:
    """What was laid out, how, and the assignment's numbers."""
    cfg, a, plan, images = result.config, result.assignment, result.plan, result.images
    return {
        "dataset": cfg.source_label,
        "source": images.source,
        "dataset_sha256": result.dataset_sha256,
        "n_available": result.n_available,
        "n_images": plan.n_images,
        "rows": plan.rows,
        "cols": plan.cols,
        "n_classes": len(images.class_names),
        "class_names": images.class_names,
        "image_shape": list(images.pixels.shape[1:]),
        "seed": cfg.seed,
        "features_file": None if cfg.features is None else cfg.features.as_posix(),
        "pca_dims": int(result.features.shape[1]),
        "perplexity": result.embedding.perplexity,
        "tsne_engine": TSNE_LABELS[cfg.tsne],
        "tsne_iter": cfg.tsne_iter or DEFAULT_ITER[cfg.tsne],
        "solver": a.solver,
        "cost": a.cost,
        "lower_bound": a.lower_bound,
        "optimal": a.optimal,
        "gap": a.cost - a.lower_bound,
        "notes": list(result.notes),
        "embedding_notes": list(result.embedding.notes),
        "skipped": [{"name": s.name, "reason": s.reason} for s in images.skipped[:LIST_LIMIT]],
        "n_skipped": len(images.skipped),
        "list_limit": LIST_LIMIT,
        "sample_classes": MAX_SAMPLE_CLASSES,
        "usable_cells": None if plan.usable is None else int(plan.usable.sum()),
        "map_scale": map_scale(images.pixels),
        **_map_size(images.pixels, plan.rows, plan.cols),
        "polish": _polish_summary(result),
        "neighbours": None if result.search is None else dataclasses.asdict(result.search),
    }


def _map_size(pixels: NDArray[np.uint8], rows: int, cols: int) -> dict[str, Any]:
    """The map's size in pixels, and whether it is also saved as one picture."""
    height, width = map_size(pixels, rows, cols)
    return {
        "map_height": height,
        "map_width": width,
        "full_map": has_full_map(height, width),
        "full_map_max_mp": FULL_MAP_MAX_PIXELS // 1_000_000,
    }


def _polish_summary(result: RunResult) -> dict[str, Any] | None:
    p = result.polished
    if p is None:
        return None
    return {
        "dpq_before": p.dpq_before,
        "dpq_after": p.dpq_after,
        "exact": p.dpq_exact,
        "moved": p.moved,
        "kept_input": p.kept_input,
        "passes": p.filter_passes,
        "sweeps": p.swap_sweeps,
        "swaps": p.swaps,
    }


#: How the pages name each t-SNE engine.
TSNE_LABELS = {
    "tsnegrid": "tsnegrid's Barnes-Hut engine",
    "opentsne": "openTSNE",
    "sklearn": "scikit-learn's Barnes-Hut, the notebook's",
}


def _quality_row(layout: dict[str, Any]) -> dict[str, Any]:
    """One arrangement's numbers, shaped for the templates."""
    np_ = layout["neighbourhood_preservation"]
    return {
        "name": layout["name"],
        "description": layout["description"],
        "dpq16": layout["dpq16"],
        "np_grid": np_["grid"],
        "np_embedding": np_["embedding"],
        "np_sample": np_["sample"],
        "class_coherence": layout["class_coherence"],
        "displacement": layout["displacement_cells"],
    }


def _timing_rows(result: RunResult) -> list[dict[str, Any]]:
    total = result.total_seconds or 1.0
    rows = [
        {
            "name": t.name,
            "order": i,
            "seconds": t.seconds,
            "share": t.seconds / total,
            "status": t.status,
            "computed_seconds": t.computed_seconds,
            "peak_mib": t.peak_mib,
        }
        for i, t in enumerate(result.timings)
    ]
    return sorted(rows, key=lambda r: -r["seconds"])


def _manifest(
    result: RunResult, summary: dict[str, Any], provenance: dict[str, Any]
) -> dict[str, Any]:
    return {
        "schema": "tsnegrid.manifest",
        "schema_version": 1,
        "config": result.config.to_json(),
        "seed": result.config.seed,
        "run": summary,
        "provenance": provenance,
        "packages": package_versions(),
        "threads": thread_settings(),
    }
