"""Golden pages: every template rendered from one fixed run, compared with tests/golden/.

A change to a template or to the report context shows up here as a diff to review. After an
intended change, rewrite the files with ``TSNEGRID_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden.py`` and commit them with the change.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from tsnegrid.assign.assignment import assign_to_grid
from tsnegrid.config import Config
from tsnegrid.quality.assess import assess_quality
from tsnegrid.report import context as context_mod
from tsnegrid.report.pages import PAGES, render_pages
from tsnegrid.report.provenance import GitState
from tsnegrid.results import (
    Embedding,
    ImageSet,
    LayoutPlan,
    NeighbourSearch,
    PolishedLayout,
    RunResult,
    SkippedFile,
    StageTime,
)

GOLDEN = Path(__file__).resolve().parent / "golden"


def _fixed_run() -> RunResult:
    rng = np.random.default_rng(0)
    n, rows, cols = 7, 3, 3
    points = rng.random((n, 2))
    features = np.column_stack([points, rng.random((n, 2)) * 0.1])
    labels = np.array([0, 0, 1, 1, 2, -1, 2])
    images = ImageSet(
        pixels=rng.integers(0, 255, (n, 4, 4), dtype=np.uint8),
        labels=labels,
        class_names=("cats", "dogs & <wolves>", "birds|fish"),
        names=tuple(f"pets/{i} *star* [x].png" for i in range(n)),
        source="image folder /data/pets",
        skipped=(SkippedFile("pets/# broken.png", "not an image (cannot identify image file)"),),
    )
    # fixed numbers, so that the pages do not follow the solver's last bits
    solved = assign_to_grid(points, rows, cols, solver="scipy")
    assignment = dataclasses.replace(solved, cost=0.42061764, lower_bound=0.42061764 - 2e-12)
    # a polished layout: two images swapped (the numbers are fixed, as a real polish reports)
    final = assignment.node_of_point.copy()
    final[[0, 1]] = final[[1, 0]]
    polished = PolishedLayout(final, 0.61, 0.64, True, 30, 3, 2, 2, False)
    return RunResult(
        config=Config(images=Path("/data/pets"), grid=(rows, cols), seed=5, cache_dir=None),
        images=images,
        n_available=n,
        dataset_sha256="ab" * 32,
        plan=LayoutPlan(n_images=n, rows=rows, cols=cols, notes=("2 of the 9 cells stay empty.",)),
        features=features,
        embedding=Embedding(points=points, perplexity=2.0, notes=("Perplexity 30 is too large.",)),
        assignment=assignment,
        quality=assess_quality(
            features, points, final, labels, rows, cols, seed=5, assigned=assignment.node_of_point
        ),
        figures=(),
        timings=(
            StageTime("load", 0.5, "computed", 0.5, 100.0),
            StageTime("tsne", 2.0, "loaded", 30.0, 120.0),
            StageTime("assignment", 0.25, "computed", 0.25, 130.0),
            StageTime("pca", 0.001, "computed", 0.001, 130.0),  # a share that rounds to 0
        ),
        polished=polished,
        search=NeighbourSearch("approx", 6, 0.9875),
    )


@pytest.fixture
def pages(monkeypatch):
    monkeypatch.setattr(context_mod, "git_state", lambda where: GitState("0123456789abcdef", True))
    monkeypatch.setattr(context_mod, "build_date", lambda: "2026-01-02T03:04:05Z")
    monkeypatch.setattr(context_mod, "package_versions", lambda: {"numpy": "1.0", "lapjv": None})
    monkeypatch.setattr(context_mod, "thread_settings", lambda: {"OMP_NUM_THREADS": "2"})
    run = _fixed_run()
    ctx = context_mod.report_context(
        run,
        command=["python", "generate.py", "--images", "/data/pets", "--grid", "3x3"],
        where=Path(__file__).parent,
    )
    names = (
        "samples",
        "scatter",
        "overlay",
        "grid",
        "arrows",
        "map",
        "map-full",
        "displacement",
        "seams",
        "seams-lap",
    )
    return {
        a.path: a.data.decode() for a in render_pages(ctx, {k: f"img/{k}-0.png" for k in names})
    }


@pytest.mark.parametrize("stem", [stem for stem, _ in PAGES])
def test_page_matches_its_golden_file(pages, stem):
    golden = GOLDEN / f"{stem}.md"
    page = pages[f"{stem}.md"]
    if os.environ.get("TSNEGRID_UPDATE_GOLDEN"):
        golden.write_text(page)
    assert golden.exists(), f"no {golden}: run with TSNEGRID_UPDATE_GOLDEN=1 to write it"
    assert page == golden.read_text()


def test_names_from_users_are_escaped_on_every_page(pages):
    for path, page in pages.items():
        for raw in ("<wolves>", "*star*", "[x]", "birds|fish", "# broken"):
            assert raw not in page, (path, raw)
    assert "dogs &#38; &#60;wolves&#62;" in pages["data.md"]


def test_no_page_has_an_empty_code_span(pages):
    """An empty inline code span renders as two stray backticks (issue 17)."""
    for stem, page in pages.items():
        assert "``" not in page.replace("```", ""), stem
