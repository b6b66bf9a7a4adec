"""Every file of the report as bytes: figures, data files, pages, the viewer and the manifest.

Pure: nothing here writes (see :mod:`tsnegrid.report.writer`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tsnegrid.report.changes import Changes, changes_figure, changes_json
from tsnegrid.report.encode import figure_artifact
from tsnegrid.report.pages import render_pages
from tsnegrid.results import Artifact, RunResult

TIMINGS_SCHEMA = "tsnegrid.timings"
SCHEMA_VERSION = 1
#: Files that show stage times (so differ between otherwise identical runs).
TIMED_FILES = frozenset(
    {"timings.json", "timings.md", "index.md", "assignment.md", "changes.md", "changes.json"}
)


def render_artifacts(
    result: RunResult,
    context: Mapping[str, Any],
    *,
    templates: Path | None = None,
    changes: Changes | None = None,
) -> list[Artifact]:
    """Every file of the report, as bytes (figures, data files, pages, manifest)."""
    files = [a for a in result.figures if a.path.startswith("img/")]
    files.append(Artifact("layout.csv", layout_csv(result).encode()))
    files.append(Artifact("timings.json", _json_bytes(timings_json(result))))
    files.append(Artifact("quality.json", _json_bytes(context["quality_json"])))
    # the map's tiles and cells.json
    files += [a for a in result.figures if not a.path.startswith("img/")]
    files += viewer_assets()
    if changes is not None:  # --baseline: changes.json and the picture of the moves
        files.append(Artifact("changes.json", changes_json(changes)))
        figure = changes_figure(changes)
        if figure is not None:
            files.append(figure_artifact("changes", figure))
    images = {_stem(a.path): a.path for a in files if a.path.startswith("img/")}
    files += render_pages(context, images, templates=templates)
    manifest = {**context["manifest"], "files": _file_list(files)}
    files.append(Artifact("manifest.json", _json_bytes(manifest)))
    return files


def viewer_assets() -> list[Artifact]:
    """The map viewer and the vendored OpenSeadragon under ``assets/tsnegrid/`` (copied from
    ``tsnegrid/static``); the tiles and the cell layout come with the run's figures."""
    static = Path(__file__).resolve().parent / "static"
    return [
        Artifact(f"assets/tsnegrid/{p.relative_to(static).as_posix()}", p.read_bytes())
        for p in sorted(static.rglob("*"))
        if p.suffix in (".js", ".css", ".txt")
    ]


def _stem(path: str) -> str:
    return path.removeprefix("img/").rsplit("-", 1)[0]


def _file_list(files: Iterable[Artifact]) -> list[dict[str, Any]]:
    # Files that show stage times change on every run: listing them without size and hash keeps
    # the manifest reproducible.
    return [
        {"path": a.path, "bytes": None, "sha256": None}
        if a.path in TIMED_FILES
        else {"path": a.path, "bytes": len(a.data), "sha256": a.sha256}
        for a in files
    ]


def layout_csv(result: RunResult) -> str:
    """One row per image: ``index,name,label,x,y,row,col,lap_row,lap_col``.

    ``row, col`` is the image's cell on the final map (polished when polishing ran),
    ``lap_row, lap_col`` its cell in the t-SNE + exact assignment layout; row 0 is the bottom
    row (y = 0).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index", "name", "label", "x", "y", "row", "col", "lap_row", "lap_col"])
    images, cols = result.images, result.assignment.cols
    rows_of, cols_of = np.divmod(result.final_nodes, cols)
    lap_rows, lap_cols = np.divmod(result.assignment.node_of_point, cols)
    for i, (x, y) in enumerate(result.embedding.points):
        label = int(images.labels[i])
        name = images.class_names[label] if label >= 0 else ""
        cells = (rows_of[i], cols_of[i], lap_rows[i], lap_cols[i])
        writer.writerow(
            [i, images.names[i], name, repr(float(x)), repr(float(y)), *(int(c) for c in cells)]
        )
    return buf.getvalue()


def timings_json(result: RunResult) -> dict[str, Any]:
    """The seconds of every stage in run order, whether it was computed or loaded from the cache,
    and what computing it took."""
    return {
        "schema": TIMINGS_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "total_seconds": result.total_seconds,
        "peak_mib": result.peak_mib,
        "stages": [
            {
                "name": t.name,
                "seconds": t.seconds,
                "status": t.status,
                "computed_seconds": t.computed_seconds,
                "peak_mib": t.peak_mib,
            }
            for t in result.timings
        ],
    }


def _json_bytes(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
