"""A short Markdown summary of a written report, for CI job summaries.

``python -m tsnegrid.report.summary docs`` prints dataset, N, grid, cost, optimality and stage times
read from the report's ``manifest.json`` and ``timings.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


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
    except (OSError, ValueError) as exc:
        print(
            f"tsnegrid.report.summary: error: {folder} is not a readable report ({exc})",
            file=sys.stderr,
        )
        return 3
    sys.stdout.write(summary_markdown(manifest, timings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
