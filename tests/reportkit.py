"""Helpers for tests that build real reports: a small run and a strict MkDocs build of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tsnegrid.config import Config
from tsnegrid.pipeline import run
from tsnegrid.report.context import report_context
from tsnegrid.report.writer import write_docs
from tsnegrid.results import RunResult

ROOT = Path(__file__).resolve().parent.parent


def small_config(out: Path, **overrides: object) -> Config:
    """A fast run: 150 digits, short t-SNE, no cache unless asked for."""
    settings: dict[str, object] = {
        "dataset": "digits",
        "n_images": 150,
        "tsne_iter": 250,
        "pca": 20,
        "out": out,
        "cache_dir": None,
    }
    settings.update(overrides)
    return Config(**settings)  # type: ignore[arg-type]


def build_report(config: Config, argv: list[str] | None = None) -> RunResult:
    result = run(config)
    write_docs(
        result,
        report_context(result, command=["python", "generate.py", *(argv or [])], where=Path.cwd()),
        config.out,
    )
    return result


def mkdocs_build(docs: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of ``docs`` with the project's mkdocs.yml."""
    config_path = docs.parent / f"{docs.name}-mkdocs.yml"
    text = (ROOT / "mkdocs.yml").read_text()
    text = text.replace("docs_dir: docs", f"docs_dir: {docs.resolve()}")
    text = text.replace("site_dir: site", f"site_dir: {site.resolve()}")
    config_path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
