"""The report: Jinja2 templates -> Markdown pages, figures and JSON in the output folder.

Rendering returns strings and bytes; :func:`write_docs` is the only function that writes. It
builds the whole report in a temporary folder beside the target and swaps it in at the end, so a
failed or interrupted run leaves the previous report exactly as it was.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tsnegrid.errors import OutputError
from tsnegrid.pipeline import RunResult
from tsnegrid.report.encode import Artifact

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
#: The pages, in the order of the site's navigation: (file stem, title).
PAGES = (
    ("index", "Overview"), ("data", "Data"), ("embedding", "Embedding"), ("grid", "Grid"),
    ("assignment", "Assignment"), ("map", "Final map"), ("quality", "Quality"),
    ("timings", "Timings"),
    ("run", "Run details"),
)  # fmt: skip
TIMINGS_SCHEMA = "tsnegrid.timings"
SCHEMA_VERSION = 1
#: Files that show stage times (so differ between otherwise identical runs).
TIMED_FILES = frozenset({"timings.json", "timings.md", "index.md", "assignment.md"})
_MD_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>*_[]|#`\\!~$"})


def md_escape(text: object) -> str:
    """Escape text for Markdown and HTML: no name can inject markup or break a table."""
    return str(text).translate(_MD_ESCAPES).replace("\n", " ")


def environment(templates: Path = TEMPLATES) -> Environment:
    """The Jinja2 environment of the report (strict: a missing value is an error)."""
    env = Environment(
        loader=FileSystemLoader(templates),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML: text from users goes through the `md` filter
    )
    env.filters["md"] = md_escape
    env.filters["num"] = lambda v, digits=4: f"{v:,.{digits}g}" if abs(v) < 1e5 else f"{v:,.0f}"
    env.filters["secs"] = lambda v: f"{v:,.2f} s" if v >= 0.1 else f"{v * 1000:,.0f} ms"
    return env


def render_artifacts(result: RunResult, context: Mapping[str, Any]) -> list[Artifact]:
    """Every file of the report, as bytes (figures, data files, pages, manifest)."""
    files = [a for a in result.figures if a.path.startswith("img/")]
    files.append(Artifact("layout.csv", layout_csv(result).encode()))
    files.append(Artifact("timings.json", _json_bytes(timings_json(result))))
    files.append(Artifact("quality.json", _json_bytes(context["quality_json"])))
    # the map's tiles and cells.json
    files += [a for a in result.figures if not a.path.startswith("img/")]
    files += viewer_assets()
    images = {_stem(a.path): a.path for a in files if a.path.startswith("img/")}
    files += render_pages(context, images)
    manifest = {**context["manifest"], "files": _file_list(files)}
    files.append(Artifact("manifest.json", _json_bytes(manifest)))
    return files


def render_pages(context: Mapping[str, Any], images: Mapping[str, str]) -> list[Artifact]:
    """The Markdown pages, from the templates, the context and the figures' file names."""
    env = environment()
    return [
        Artifact(f"{stem}.md",
                 env.get_template(f"{stem}.md.j2").render(**context, img=images,
                                                          page_title=title).encode())
        for stem, title in PAGES
    ]  # fmt: skip


def viewer_assets() -> list[Artifact]:
    """The map viewer and the vendored OpenSeadragon under ``assets/tsnegrid/`` (copied from
    ``tsnegrid/static``); the tiles and the cell layout come with the run's figures."""
    static = Path(__file__).resolve().parent / "static"
    return [
        Artifact(f"assets/tsnegrid/{p.relative_to(static).as_posix()}", p.read_bytes())
        for p in sorted(static.rglob("*")) if p.suffix in (".js", ".css", ".txt")
    ]  # fmt: skip


def _stem(path: str) -> str:
    return path.removeprefix("img/").rsplit("-", 1)[0]


def _file_list(files: Iterable[Artifact]) -> list[dict[str, Any]]:
    # Files that show stage times change on every run: listing them without size and hash keeps
    # the manifest reproducible.
    return [
        {"path": a.path, "bytes": None, "sha256": None} if a.path in TIMED_FILES
        else {"path": a.path, "bytes": len(a.data), "sha256": a.sha256}
        for a in files
    ]  # fmt: skip


def layout_csv(result: RunResult) -> str:
    """One row per image: ``index,name,label,x,y,row,col`` (row 0 is the bottom row, y = 0)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index", "name", "label", "x", "y", "row", "col"])
    images, cols = result.images, result.assignment.cols
    rows_of, cols_of = np.divmod(result.assignment.node_of_point, cols)
    for i, (x, y) in enumerate(result.embedding.points):
        label = int(images.labels[i])
        writer.writerow([
            i, images.names[i], images.class_names[label] if label >= 0 else "",
            repr(float(x)), repr(float(y)), int(rows_of[i]), int(cols_of[i]),
        ])  # fmt: skip
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


def write_docs(result: RunResult, context: Mapping[str, Any], out: Path) -> list[Artifact]:
    """Write the whole report into ``out``, atomically replacing a previous report there."""
    files = render_artifacts(result, context)
    _recover_interrupted(out)
    _check_target(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot create the report folder ({exc.strerror}); "
                          "choose a writable place") from exc  # fmt: skip
    try:
        for artifact in files:
            target = staging / artifact.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.data)
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


def _recover_interrupted(out: Path) -> None:
    """Undo what a run killed mid-write left behind (one report folder per ``out`` at a time).

    A kill between the two renames of :func:`_swap_in` leaves the previous report under
    ``.NAME.old-*`` and no ``out``: put it back. Unfinished ``.NAME.new-*`` folders are removed.
    """
    olds = sorted(out.parent.glob(f".{out.name}.old-*"))
    if olds and not out.exists():
        olds.pop().rename(out)
    for stale in [*olds, *out.parent.glob(f".{out.name}.new-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def check_output(out: Path) -> None:
    """Fail fast, before any work, when ``out`` cannot receive a report."""
    _check_target(out)
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: cannot create the report folder ({ancestor} is not a "
                          "writable folder); choose a writable place")  # fmt: skip


def _check_target(out: Path) -> None:
    """Refuse to replace anything that is not an earlier report (or empty)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder: remove it or choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise OutputError(
            f"--out {out} holds files that are not a tsnegrid report (no manifest.json): "
            "choose an empty or new folder"
        )


def _swap_in(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging`` with two renames (the old report survives a failure)."""
    staging.chmod(0o755)
    if not out.exists():
        staging.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
