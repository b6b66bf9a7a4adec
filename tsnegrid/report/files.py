"""Every file of the report as bytes: figures, data files, pages, the viewer and the manifest.

Pure: nothing here writes (see :mod:`tsnegrid.report.writer`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
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
#: The map's Deep Zoom tiles: thousands of files at scale, so the manifest records them as one
#: tree (count, bytes, one hash) instead of one entry each.
TILE_TREE = "tiles/map_files/"
TILE_TREE_HASH = (
    f"sha256 of one line '<path> <sha256 of the file>\\n' per file under {TILE_TREE}, "
    "sorted by path"
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
    if result.images.skipped:
        files.append(Artifact("skipped.csv", skipped_csv(result).encode()))
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
    manifest = {
        **context["manifest"],
        "files": _file_list(a for a in files if not a.path.startswith(TILE_TREE)),
        "tile_tree": tile_tree((a.path, a.data) for a in files if a.path.startswith(TILE_TREE)),
    }
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


#: What one page may load, in bytes: its Markdown (the HTML adds the theme's frame, the same on
#: every page) and the report's files it shows: its figures and, on the map page, the cell layout
#: and its largest part (the tiles load as the view needs them, a screenful at a time).
PAGE_BUDGET = 2_000_000
#: The Markdown of one page: lists of names are cut at ``context.LIST_LIMIT``.
MARKDOWN_BUDGET = 100_000
_SHOWN = re.compile(r'!\[[^\]]*\]\((img/[^)\s]+)\)|data-layout="([^"]+)"')


def page_weights(files: Iterable[Artifact]) -> dict[str, tuple[int, int]]:
    """Each page's ``(Markdown bytes, bytes of the report's files it loads)``, to hold against
    :data:`MARKDOWN_BUDGET` and :data:`PAGE_BUDGET`."""
    sizes = {a.path: len(a.data) for a in files}
    pages = {a.path: a.data.decode() for a in files if a.path.endswith(".md")}
    weights = {}
    for path, text in pages.items():
        loaded = 0
        for figure, layout in _SHOWN.findall(text):
            if figure:
                loaded += sizes[figure]
            else:
                folder = layout.rsplit("/", 1)[0]
                parts = [n for p, n in sizes.items() if p.startswith(f"{folder}/cells/")]
                loaded += sizes[layout] + max(parts, default=0)
        weights[path] = (len(text.encode()), loaded)
    return weights


def skipped_csv(result: RunResult) -> str:
    """Every file the run could not read: ``name,reason``, one row each."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "reason"])
    writer.writerows((s.name, s.reason) for s in result.images.skipped)
    return buf.getvalue()


def tile_tree(tiles: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The manifest's record of the tiles, ``(path, bytes)`` pairs: how many, their total size
    and one hash (:data:`TILE_TREE_HASH`; :func:`tree_sha256` recomputes it from the files)."""
    total, lines = 0, []
    for path, data in tiles:
        total += len(data)
        lines.append((path, f"{path} {hashlib.sha256(data).hexdigest()}\n"))
    digest = hashlib.sha256("".join(line for _, line in sorted(lines)).encode()).hexdigest()
    return {
        "root": TILE_TREE,
        "files": len(lines),
        "bytes": total,
        "sha256": digest,
        "hash": TILE_TREE_HASH,
    }


def tree_sha256(report: Path) -> str:
    """The tile tree's hash (:data:`TILE_TREE_HASH`) recomputed from a written report."""
    root = report / TILE_TREE
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    tiles = ((p.relative_to(report).as_posix(), p.read_bytes()) for p in files)
    return str(tile_tree(tiles)["sha256"])


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
    xs, ys = np.asarray(result.embedding.points, dtype=np.float64).T
    # Whole columns as Python objects, then one C loop over the rows (0.33 s to 0.20 s at
    # 70,000 images); the same text as row by row: repr of each float, str of each int.
    writer.writerows(
        zip(
            range(len(xs)),
            images.names,
            [images.class_names[k] if k >= 0 else "" for k in np.asarray(images.labels).tolist()],
            map(repr, xs.tolist()),
            map(repr, ys.tolist()),
            rows_of.tolist(),
            cols_of.tolist(),
            lap_rows.tolist(),
            lap_cols.tolist(),
            strict=True,
        )
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
