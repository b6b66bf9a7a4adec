"""What changed since a baseline report: images added, removed and moved, quality, time, config.

:func:`compare_with_baseline` never raises for a bad baseline: a missing, unreachable or
incompatible one gives :class:`Changes` whose summary says so in ``notes`` (``compared`` false).
Strings taken from the baseline (names, config values, stage names) are cut to a bounded length
but not escaped here: the page and the job summary escape them (``md``), so nothing a baseline
holds is ever rendered as Markdown or HTML.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from numpy.typing import NDArray

from tsnegrid.report.baseline import (
    BaselineError,
    Placement,
    Snapshot,
    as_list,
    as_mapping,
    dig,
    integer,
    json_text,
    number,
    one_line,
    read_baseline,
)

SCHEMA = "tsnegrid.changes"
SCHEMA_VERSION = 1
#: Upper edges (cells) of the move histogram's bins; a last bin takes longer moves.
MOVE_EDGES = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
LIST_LIMIT = 20  # names listed per kind of change (the counts are always complete)
#: Config fields that say where and how a run wrote, not what it laid out.
IGNORED_CONFIG = frozenset({"out", "cache_dir", "force", "data_dir", "templates", "baseline"})
#: (label, path into a quality.json layout) of the measures compared.
QUALITY_MEASURES = (
    ("DPQ16", ("dpq16", "value")),
    ("Neighbourhood preserved, grid, k = 10", ("neighbourhood_preservation", "grid", 9)),
    ("Neighbourhood preserved, t-SNE, k = 10", ("neighbourhood_preservation", "embedding", 9)),
    ("Class coherence", ("class_coherence",)),
    ("Mean displacement (cells)", ("displacement_cells", "mean")),
)


@dataclass(frozen=True)
class Changes:
    """A comparison, ready for the report.

    Attributes
    ----------
    summary
        JSON-ready: what ``changes.json`` holds and the Changes page shows (schema
        ``tsnegrid.changes`` version 1).
    moved_cells
        (rows, cols) float64 on the current grid, row 0 at the bottom: how many cells each
        image moved since the baseline; -1 for an image the baseline lacked, NaN for an empty
        cell. ``None`` when nothing was compared.
    """

    summary: dict[str, Any]
    moved_cells: NDArray[np.float64] | None


def compare_with_baseline(
    location: str | None, current: Snapshot, *, timeout: float = 10.0
) -> Changes:
    """Compare the current run with the report at ``location`` (folder or site URL, or None)."""
    if location is None:
        return _not_compared(
            None,
            "No baseline was given (--baseline DIR_OR_URL compares this "
            "report with an earlier one).",
        )
    try:
        baseline = read_baseline(location, timeout=timeout)
        return compare(baseline, current)
    except BaselineError as exc:
        return _not_compared(location, f"The baseline was not compared: {exc}.")
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        return _not_compared(
            location,
            "The baseline was not compared: its files do not "
            f"describe a tsnegrid run ({type(exc).__name__}).",
        )


def compare(baseline: Snapshot, current: Snapshot) -> Changes:
    """Everything that differs between two snapshots (see :class:`Changes`)."""
    run, base_run = current.manifest["run"], as_mapping(baseline.manifest.get("run"))
    rows, cols = int(run["rows"]), int(run["cols"])
    images, moved_cells = _image_changes(baseline.layout, current.layout, rows, cols)
    summary = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "compared": True,
        "baseline": _baseline_facts(baseline),
        "notes": [one_line(n) for n in baseline.notes],
        "grid": {
            "baseline": [integer(base_run.get("rows")), integer(base_run.get("cols"))],
            "current": [rows, cols],
        },
        "images": images,
        "quality": _quality_changes(baseline.quality, current.quality),
        "timings": _timing_changes(baseline.timings, current.timings),
        "config": _config_changes(baseline.manifest.get("config"), current.manifest["config"]),
    }
    return Changes(summary, moved_cells)


def no_baseline() -> Changes:
    """The changes of a run given no baseline (the page then says how to give one)."""
    return compare_with_baseline(None, Snapshot("", {}, None, None, ()))


def _not_compared(location: str | None, note: str) -> Changes:
    source = None if location is None else one_line(location)
    return Changes(
        {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "compared": False,
            "baseline": {"source": source},
            "notes": [one_line(note, 400)],
        },
        None,
    )


def _image_changes(
    before: Sequence[Placement], after: Sequence[Placement], rows: int, cols: int
) -> tuple[dict[str, Any], NDArray[np.float64]]:
    old = {p.name: p for p in before}
    new = {p.name: p for p in after}
    moves = sorted(
        ((_distance(old[n], p), n) for n, p in new.items() if n in old), key=lambda m: (-m[0], m[1])
    )
    distances = np.array([d for d, _ in moves], dtype=np.float64)
    cells = np.full((rows, cols), np.nan)
    for name, p in new.items():
        if p.row < rows and p.col < cols:
            cells[p.row, p.col] = _distance(old[name], p) if name in old else -1.0
    added = sorted(n for n in new if n not in old)
    removed = sorted(n for n in old if n not in new)
    moved = [_move(old[n], new[n], d) for d, n in moves if d > 0][:LIST_LIMIT]
    return {
        "n_baseline": len(old),
        "n_current": len(new),
        "n_added": len(added),
        "n_removed": len(removed),
        "n_kept": len(distances),
        "n_moved": int(np.count_nonzero(distances)),
        "added": [one_line(n) for n in added[:LIST_LIMIT]],
        "removed": [one_line(n) for n in removed[:LIST_LIMIT]],
        "moved": moved,
        "moves": _move_stats(distances),
    }, cells


def _distance(old: Placement, new: Placement) -> float:
    return math.hypot(new.row - old.row, new.col - old.col)


def _move(old: Placement, new: Placement, distance: float) -> dict[str, Any]:
    return {
        "name": one_line(new.name),
        "from": [old.row, old.col],
        "to": [new.row, new.col],
        "cells": distance,
    }


def _move_stats(distances: NDArray[np.float64]) -> dict[str, Any]:
    """Mean, median, max and a histogram of how far the kept images moved, in cells."""
    edges = [*MOVE_EDGES, math.inf]
    bins = [{"label": "same cell", "count": int(np.count_nonzero(distances == 0))}]
    for low, high in itertools.pairwise(edges):
        inside = (distances > low) & (distances <= high)
        label = f"more than {low:g}" if math.isinf(high) else f"{low:g} to {high:g}"
        label = f"up to {high:g}" if low == 0 else label
        bins.append({"label": label, "count": int(np.count_nonzero(inside))})
    if distances.size == 0:
        return {"mean": None, "median": None, "max": None, "histogram": bins}
    return {
        "mean": float(distances.mean()),
        "median": float(np.median(distances)),
        "max": float(distances.max()),
        "histogram": bins,
    }


def _quality_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """One row per measure and arrangement present in both (``delta`` = current - baseline)."""
    if before is None or after is None:
        return []
    old = {str(q.get("name")): q for q in as_list(before.get("layouts")) if isinstance(q, dict)}
    rows = []
    for layout in as_list(after.get("layouts")):
        if layout.get("name") not in old:
            continue
        for label, path in QUALITY_MEASURES:
            a, b = number(dig(old[layout["name"]], path)), number(dig(layout, path))
            if a is not None and b is not None:
                rows.append(
                    {
                        "layout": one_line(layout["name"]),
                        "measure": label,
                        "baseline": a,
                        "current": b,
                        "delta": b - a,
                    }
                )
    return rows


def _timing_changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Seconds per stage in both runs, then the total (``delta`` = current - baseline)."""
    if before is None or after is None:
        return []
    old = {
        str(s.get("name")): number(s.get("seconds"))
        for s in as_list(before.get("stages"))
        if isinstance(s, dict)
    }
    pairs = [
        (str(s["name"]), old.get(str(s["name"])), number(s["seconds"])) for s in after["stages"]
    ]
    pairs.append(("total", number(before.get("total_seconds")), number(after["total_seconds"])))
    return [
        {
            "stage": one_line(name),
            "baseline": a,
            "current": b,
            "delta": None if a is None or b is None else b - a,
        }
        for name, a, b in pairs
    ]


def _config_changes(before: object, after: Mapping[str, Any]) -> list[dict[str, str]]:
    """Config fields whose values differ (as JSON text), ignoring where the report went."""
    old = as_mapping(before)
    keys = sorted((set(old) | set(after)) - IGNORED_CONFIG, key=str)[:200]
    return [
        {
            "field": one_line(k),
            "baseline": json_text(old.get(k, "(absent)")),
            "current": json_text(after.get(k, "(absent)")),
        }
        for k in keys
        if old.get(k, "(absent)") != after.get(k, "(absent)")
    ]


def _baseline_facts(baseline: Snapshot) -> dict[str, Any]:
    provenance = as_mapping(baseline.manifest.get("provenance"))
    run = as_mapping(baseline.manifest.get("run"))
    return {
        "source": one_line(baseline.source),
        "dataset": one_line(run.get("dataset", "")),
        "version": one_line(provenance.get("version", "")),
        "git_commit": one_line(provenance.get("git_commit") or "", 40),
        "config_hash": one_line(provenance.get("config_hash", ""), 40),
        "build_date": one_line(provenance.get("build_date", ""), 40),
    }


def changes_figure(changes: Changes) -> Figure | None:
    """The current grid, each cell coloured by how far its image moved since the baseline
    (new images in orange, empty cells blank); ``None`` when nothing was compared."""
    cells = changes.moved_cells
    if cells is None:
        return None
    rows, cols = cells.shape
    longest = max(rows, cols, 1)
    fig = Figure(
        figsize=(6.0 * cols / longest + 1.6, 6.0 * rows / longest + 0.6),
        dpi=100,
        layout="constrained",
    )
    ax = fig.add_subplot()
    ax.set_title("Where images moved since the baseline (cells)", fontsize=10)
    ax.set_axis_off()
    moved = np.where(cells >= 0, cells, np.nan)
    image = ax.imshow(moved, cmap="viridis", origin="lower", interpolation="nearest", vmin=0.0)
    new = np.where(cells < 0, 1.0, np.nan)
    ax.imshow(new, cmap=ListedColormap(["#ff7f0e"]), origin="lower", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="cells moved (orange: new image)")
    return fig


def changes_json(changes: Changes) -> bytes:
    """``changes.json``: the summary, for the job summary and for tools."""
    return (json.dumps(changes.summary, indent=2, ensure_ascii=False) + "\n").encode()
