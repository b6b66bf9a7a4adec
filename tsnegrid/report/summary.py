"""A short Markdown summary of a written report, for CI job summaries.

``python -m tsnegrid.report.summary docs`` prints dataset, N, grid, cost, optimality and stage times
read from the report's ``manifest.json`` and ``timings.json``, led by what changed since the
baseline when the report has a ``changes.json`` (``--baseline``). Text from a baseline is escaped:
it is shown, never rendered.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: The same escapes as tsnegrid.report.pages.md_escape (importing pages loads the pipeline).
_MD_ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>*_[]|#`\\!~$"})
CHANGES_LIMIT = 5  # moved images and quality rows named in the summary


def _md(text: object) -> str:
    return str(text).translate(_MD_ESCAPES).replace("\n", " ")


def changes_markdown(changes: dict[str, Any]) -> str:
    """What changed since the baseline (a ``tsnegrid.changes`` summary) as Markdown."""
    baseline = changes.get("baseline") or {}
    source = _md(baseline.get("source") or "none")
    if not changes.get("compared"):
        notes = " ".join(_md(n) for n in changes.get("notes", []))
        return f"### Changes since the baseline\n\n> [!NOTE]\n> {notes}\n\n"
    i = changes["images"]
    lines = [
        "### Changes since the baseline",
        "",
        f"Baseline: {source}"
        + (f", built {_md(baseline['build_date'])}" if baseline.get("build_date") else ""),
        "",
        "| Images | Added | Removed | Moved | Mean move (cells) |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {i['n_current']:,} (was {i['n_baseline']:,}) | {i['n_added']:,} | {i['n_removed']:,}"
        f" | {i['n_moved']:,} | {_fixed(i['moves']['mean'])} |",
    ]
    lines += [f"> {_md(n)}" for n in changes.get("notes", [])]
    rows = changes.get("quality", [])
    quality = [q for q in rows if q["layout"] == rows[0]["layout"]] if rows else []
    if quality:
        lines += [
            "",
            f"| Quality ({_md(quality[0]['layout'])}) | Baseline | This run | Delta |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {_md(q['measure'])} | {q['baseline']:.3f} | {q['current']:.3f} | "
            f"{q['delta']:+.3f} |"
            for q in quality[:CHANGES_LIMIT]
        ]
    config = changes.get("config", [])
    if config:
        fields = ", ".join(_md(c["field"]) for c in config)
        lines += ["", f"Settings changed: {fields}."]
    return "\n".join(lines) + "\n\n"


def _fixed(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def summary_markdown(manifest: dict[str, Any], timings: dict[str, Any]) -> str:
    """The summary as Markdown (a heading, a table of the run, a table of stage times)."""
    run = manifest["run"]
    lines = [
        f"### tsnegrid report: {run['dataset']}",
        "",
        "| | |",
        "| --- | --- |",
        f"| Images | {run['n_images']:,} of {run['n_available']:,} |",
        f"| Grid | {run['rows']} x {run['cols']} |",
        f"| Solver | {run['solver']} |",
        f"| Total cost | {run['cost']:.10g}{' (proven optimal)' if run['optimal'] else ''} |",
        f"| Seed | {manifest['seed']} |",
        f"| Config hash | `{manifest['provenance']['config_hash']}` |",
        "",
        "| Stage | Seconds |",
        "| --- | ---: |",
    ]
    lines += [f"| {s['name']} | {s['seconds']:.2f} |" for s in timings["stages"]]
    lines.append(f"| **total** | **{timings['total_seconds']:.2f}** |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Print the summary of the report folder ``argv[0]`` (default ``docs``)."""
    folder = Path(argv[0] if argv else "docs")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        timings = json.loads((folder / "timings.json").read_text())
        changes_file = folder / "changes.json"
        changes = json.loads(changes_file.read_text()) if changes_file.is_file() else None
    except (OSError, ValueError) as exc:
        print(
            f"tsnegrid.report.summary: error: {folder} is not a readable report ({exc})",
            file=sys.stderr,
        )
        return 3
    asked = changes is not None and (changes.get("baseline") or {}).get("source") is not None
    if asked and changes is not None and changes.get("schema") == "tsnegrid.changes":
        sys.stdout.write(changes_markdown(changes))
    sys.stdout.write(summary_markdown(manifest, timings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
